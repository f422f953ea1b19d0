"""Pacing (``fast/pace.py``): each chunk of an epoch on all the step's threads or on one, chosen by the chunks' own
times, and the numbers the same whichever count ran each chunk.

The policy is tested on given times (seconds per step for each count, as a loaded or a quiet machine gives them);
the runner on the real compiled path with two threads, with a pace that switches the count at every chunk."""
from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("numba")

import tweaknet as tn  # noqa: E402
from tweaknet import fast  # noqa: E402
from tweaknet.fast import pace  # noqa: E402


def drive(times, chunks, threads=2, seconds=0.2):
    """Run a :class:`pace.Pace` for ``chunks`` chunks; ``times(i, count)`` is the seconds per step of chunk ``i`` on
    ``count`` threads.  Returns the count of every chunk and the steps of every chunk."""
    p = pace.Pace(threads, seconds)
    counts, steps = [], []
    for i in range(chunks):
        n = p.steps(10 ** 9)
        counts.append(p.now)
        steps.append(n)
        p.record(n, n * times(i, p.now))
    return counts, steps


def test_a_quiet_machine_pays_one_probe():
    counts, steps = drive(lambda i, c: 0.001 if c == 2 else 0.0018, 60)
    assert counts.count(1) == 1
    assert counts[:3] == [2, 2, 1]  # after one chunk of full length
    assert steps[0] == pace.FIRST
    assert steps[1] == 200  # 0.2 s at 1 ms per step
    assert steps[2] == 50  # a probe: a quarter of that


def test_noise_below_the_threshold_never_probes_again():
    jitter = [1.0, 1.2, 1.1, 1.24, 1.05]
    counts, _ = drive(lambda i, c: 0.001 * jitter[i % 5] if c == 2 else 0.0018, 100)
    assert counts.count(1) == 1


def test_a_busy_core_moves_the_step_to_one_thread_and_back_when_it_is_free():
    busy = range(20, 120)  # another process takes a core: two threads 4x slower, one thread as before
    counts, _ = drive(lambda i, c: (0.004 if i in busy else 0.001) if c == 2 else 0.0018, 200)
    assert counts[20] == 2 and counts[21] == 1  # the slow chunk, then a probe of one thread
    on_one = [i for i in busy if counts[i] == 1]
    assert len(on_one) >= 0.8 * len(busy)
    probes = [i for i in range(22, 120) if counts[i] == 2]
    gaps = np.diff(probes)
    assert list(gaps[:4]) == [3, 5, 9, 17]  # the wait doubles each time all threads lose (1 chunk between, 2, 4...)
    assert max(gaps) <= pace.PATIENCE + 1
    back = next(i for i in range(120, 200) if counts[i] == 2)
    assert back <= 120 + pace.PATIENCE + 1
    assert all(c == 2 for c in counts[back:])


def test_a_machine_slower_for_every_count_keeps_all_threads():
    counts, _ = drive(lambda i, c: (0.002 if i >= 10 else 0.001) if c == 2 else 0.0036, 200)
    assert counts[:10].count(1) == 1
    assert counts[10:].count(1) == 1  # one probe: then the slower speed is the mark


def test_one_thread_faster_from_the_start():
    counts, _ = drive(lambda i, c: 0.004 if c == 2 else 0.0018, 100)
    assert counts[:4] == [2, 2, 1, 1]
    assert counts[2:].count(2) <= 8


def test_steps_never_pass_the_remaining_steps_and_are_at_least_one():
    p = pace.Pace(2, 0.2)
    assert p.steps(2) == 2
    p.record(4, 40.0)  # 10 s per step
    assert p.steps(100) == 1
    p.record(1, 1e-9)
    assert p.steps(7) == 7


def test_pacing_is_off_with_zero_seconds_or_one_thread(monkeypatch):
    assert pace.paces(2) and not pace.paces(1)
    monkeypatch.setattr(pace, "SECONDS", 0.0)
    assert not pace.paces(2)


@pytest.mark.parametrize("text", ["fast", "-1", "nan", "inf", ""])
def test_a_bad_pace_setting_names_the_variable_and_the_values_it_takes(text):
    with pytest.raises(ValueError, match=r"TWEAKNET_PACE_SECONDS must be a number of seconds, 0 or more.*" +
                       re.escape(repr(text))):
        pace._seconds(text)
    assert pace._seconds("0") == 0.0 and pace._seconds("0.5") == 0.5


# -- the runner ---------------------------------------------------------------------------------------------------

class Alternate(pace.Pace):
    """Two steps per chunk, the count switched at every chunk: the most a pace can switch."""

    runs: list = []

    def steps(self, remaining):
        return min(remaining, 2)

    def record(self, steps, seconds):
        Alternate.runs.append((self.now, steps))
        self.now = 1 if self.now == self.threads else self.threads


def model(width):
    m = tn.Sequential([tn.layers.Input(shape=(12,)), tn.layers.Dense(width, activation="relu"),
                       tn.layers.Dense(width, activation="tanh"), tn.layers.Dense(4, activation="softmax")])
    m.compile(optimizer=tn.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    return m


def fit(batch_size, width):
    tn.utils.set_random_seed(5)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 12)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 96)]
    m = model(width)
    history = m.fit(x, y, batch_size=batch_size, epochs=2, verbose=0)
    return m.flat.params.copy(), history.history["loss"], m.predict(x)


@pytest.mark.parametrize("batch_size, width", [(8, 160), (40, 160), (1, 16)])
def test_the_numbers_do_not_depend_on_the_threads_each_chunk_ran_on(batch_size, width, monkeypatch):
    """Batch 8: the row pass on the path's threads; 40: the shared products; 1: the parallel loops.  Each chunk of
    two steps on the other count gives the bits of epochs on two threads throughout."""
    from tweaknet.fast.compose import Composer
    monkeypatch.setenv("TWEAKNET_THREADS", "2")
    monkeypatch.setattr(fast, "PARALLEL_PARAMS", 0)
    monkeypatch.setattr(fast, "PARALLEL_MACS", 0)
    monkeypatch.setattr(fast, "SPLIT_WEIGHTS", 0)
    c = Composer(model(width), batch_size)
    assert (c.parallel if batch_size == 1 else c.split) and c.threads == 2
    monkeypatch.setattr(pace, "SECONDS", 0.0)
    fixed = fit(batch_size, width)
    monkeypatch.setattr(pace, "SECONDS", 0.2)
    monkeypatch.setattr(pace, "Pace", Alternate)
    Alternate.runs = []
    paced = fit(batch_size, width)
    counts = {count for count, _ in Alternate.runs}
    assert counts == {1, 2}
    assert sum(steps for _, steps in Alternate.runs) == 2 * -(-96 // batch_size)  # every step, once
    assert np.array_equal(fixed[0], paced[0])
    assert fixed[1] == paced[1]
    assert np.array_equal(fixed[2], paced[2])


def test_a_pace_is_kept_for_the_next_fit_of_the_same_model(monkeypatch):
    from tweaknet.fast import runner
    monkeypatch.setenv("TWEAKNET_THREADS", "2")
    monkeypatch.setattr(fast, "PARALLEL_MACS", 0)
    monkeypatch.setattr(fast, "SPLIT_WEIGHTS", 0)
    m = model(160)
    x = np.zeros((96, 12), np.float32)
    y = np.eye(4, dtype=np.float32)[np.arange(96) % 4]
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    kept = runner._PACES[m][(8, 2)]
    chunks = kept.chunks
    assert chunks >= 2
    m.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert runner._PACES[m][(8, 2)] is kept and kept.chunks > chunks
