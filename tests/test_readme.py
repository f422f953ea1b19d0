"""The README's Python examples run as pasted: each is read from README.md, shortened (fewer epochs, a subset
of MNIST) by replacing exact text that the test first checks is there, and run."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(after: str) -> str:
    """The first ```python block of the README after the line that contains ``after``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(after)
    match = re.compile(r"```python\n(.*?)```", re.S).search(text, start)
    assert match, f"no python block after {after!r} in README.md"
    return match.group(1)


def shorten(code: str, replacements) -> str:
    for old, new in replacements:
        assert code.count(old) == 1, f"the README example no longer contains {old!r} once: update this test"
        code = code.replace(old, new)
    return code


def test_the_keras_example_runs_as_pasted(capsys):
    code = python_block("The book's Keras code runs")
    assert "..." not in code  # nothing hidden: it runs as pasted
    load = "keras.datasets.mnist.load_data()\n"
    short = shorten(code, [
        (load, load + "train_images, train_labels = train_images[:8000], train_labels[:8000]  # test: a subset\n"
                      "test_images, test_labels = test_images[:1000], test_labels[:1000]\n"),
        ("epochs=20", "epochs=2"),
    ])
    scope = {"__name__": "readme"}
    exec(compile(short, "README.md (Keras example)", "exec"), scope)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "8000/8000 - " in out
    h = scope["history"].history
    assert scope["train_labels"].shape == (8000, 10)  # one-hot, as the example says
    assert abs(float(scope["train_images"].mean())) < 0.05  # standardized with the full training set's numbers
    assert h["loss"][1] < h["loss"][0] and h["val_accuracy"][-1] > 0.4  # chance: 0.1


def test_the_lab_example_runs_as_pasted(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    code = python_block("The same from Python, without the command line")
    monkeypatch.chdir(tmp_path)
    short = shorten(code, [('overrides={"train.epochs": 2}',
                            'overrides={"train.epochs": 2, "data.train_samples": 1000, "data.test_samples": 300}')])
    exec(compile(short, "README.md (lab example)", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "final test error" in out
    assert sum(line.startswith("conf") and " done " in line for line in out.splitlines()) == 5
    assert (tmp_path / "runs" / "table5-1" / "runs.sqlite").exists()
