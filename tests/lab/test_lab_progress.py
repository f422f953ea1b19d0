"""Progress that respects the user (issue 16): an overall line in line mode, an overall bar above the trials'
bars, widgets in a notebook, and seconds per epoch without the compile time."""
from __future__ import annotations

import io
import re

import pytest

from tweaknet import fast
from tweaknet.lab.display import BarDisplay, LineDisplay, duration, make_display

COUNTS = {"cluster": "2 local processes", "running": 2, "waiting": 3, "done": 0}


def feed(display, messages):
    for msg in messages:
        display.handle(msg)


def messages(epochs_left_after):
    """Two trials of 4 epochs running, 3 more waiting: one epoch of one trial done."""
    return [("status", None, COUNTS), ("start", 1, 0, 4), ("start", 2, 0, 4), ("tick", None, dict(COUNTS, epochs_left=20)),
            ("epoch", 1, 1, 4, {"train_loss": 0.5, "train_accuracy": 0.8, "test_loss": 0.4, "test_accuracy": 0.9}, 0.3),
            ("tick", None, dict(COUNTS, epochs_left=epochs_left_after))]


def test_line_mode_prints_an_overall_line_with_the_time_left():
    out = io.StringIO()
    display = LineDisplay({1: "conf1 seed 1", 2: "conf2 seed 1"}, out, overall_every=0.0)
    feed(display, messages(19))
    lines = out.getvalue().splitlines()
    overall = [line for line in lines if line.startswith("[overall: ")]
    assert overall, lines
    assert re.fullmatch(r"\[overall: 0/5 trials done, 2 running; \d+ s elapsed, about \d+ s left\]", overall[-1])
    assert "conf1 seed 1: epoch 1/4" in out.getvalue()
    # before the first epoch there is no rate yet: no time left is guessed
    assert "left" not in overall[0]


def test_line_mode_overall_lines_are_spaced():
    out = io.StringIO()
    display = LineDisplay({1: "a", 2: "b"}, out, overall_every=3600.0)
    feed(display, messages(19) * 3)
    assert "[overall: " not in out.getvalue()  # none within the interval


def test_the_overall_bar_sits_above_the_trials_bars_and_counts_epochs():
    pytest.importorskip("tqdm")
    out = io.StringIO()
    display = BarDisplay({1: "conf1 seed 1", 2: "conf2 seed 1"}, out)
    assert display.overall is not None and display.overall.pos == 0  # created first: the top line
    feed(display, messages(19))
    assert all(abs(bar.pos) > abs(display.overall.pos) for bar in display.bars.values())
    assert display.overall.unit == "epoch" and display.overall.total == 20 and display.overall.n == 1
    display.close()
    assert "conf1 seed 1: epoch 1/4" in out.getvalue()


def test_a_search_counts_trials_in_the_overall_bar():
    pytest.importorskip("tqdm")
    display = BarDisplay({1: "a"}, io.StringIO())
    feed(display, [("status", None, COUNTS), ("tick", None, dict(COUNTS, done=1, epochs_left=None))])
    assert display.overall.unit == "trial" and display.overall.total == 6 and display.overall.n == 1
    display.close()


def test_auto_mode_is_lines_in_a_pipe():
    assert isinstance(make_display({}, "auto", io.StringIO()), LineDisplay)
    assert make_display({}, "none", io.StringIO()) is None


def test_duration():
    assert [duration(s) for s in (4.6, 65, 3725)] == ["5 s", "1 min 05 s", "1 h 02 min"]


def test_compile_time_is_counted_so_the_lab_can_take_it_out_of_an_epoch():
    numba = pytest.importorskip("numba")
    from tweaknet.fast import compiler

    fn = numba.njit(lambda x: x * 3.0 + 1.0)  # new each time: never in the disk cache
    before = fast.compile_seconds()
    compiler.prepare(fn, (1.0,), "a test function")
    assert fast.compile_seconds() > before
    again = fast.compile_seconds()
    compiler.prepare(fn, (2.0,), "a test function")  # compiled already: nothing to count
    assert fast.compile_seconds() == again


def test_explain_reads_as_a_sentence_at_the_prompt():
    import tweaknet as keras
    model = keras.Sequential([keras.layers.Flatten(input_shape=(4, 4)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    info = fast.explain(model)
    assert info is not None and repr(info).startswith("<Explanation: ") and str(info) in repr(info)
    assert ("compiled path" in str(info)) == info.compiled


def test_the_first_overall_line_comes_after_two_seconds():
    out = io.StringIO()
    display = LineDisplay({1: "a", 2: "b"}, out)
    display.clock.started -= 2.5  # as if the run had started 2.5 s ago, in silence (workers starting, compiling)
    display.last -= 2.5
    display.handle(("tick", None, dict(COUNTS, epochs_left=20)))
    assert out.getvalue().startswith("[overall: 0/5 trials done, 2 running; 2 s elapsed]") or \
        out.getvalue().startswith("[overall: 0/5 trials done, 2 running; 3 s elapsed]")
    display.handle(("tick", None, dict(COUNTS, epochs_left=20)))
    assert out.getvalue().count("[overall: ") == 1  # the next one 5 s later
