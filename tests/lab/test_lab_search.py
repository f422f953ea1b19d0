"""Searches with real Optuna: the [search] table is checked before anything is written; a small search finds the
learning rate a grid of the same budget finds; only the best trials see the test set; a search killed with SIGKILL
continues where it stopped."""
from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tweaknet import lab
from tweaknet.cli import main

optuna = pytest.importorskip("optuna")

BASE = """
name = "lr"
[data]
dataset = "synthetic"
train_samples = 1500
test_samples = 300
validation_split = 0.2
[model]
loss = "categorical_crossentropy"
[[model.layers]]
units = 24
activation = "tanh"
[[model.layers]]
units = 10
activation = "softmax"
[optimizer]
name = "sgd"
[train]
batch_size = 16
epochs = 4
seeds = [3]
"""
GRID = BASE + """
[grid]  # 8 learning rates, log-spaced from 1e-4 to 10
"optimizer.learning_rate" = [1e-4, 5.2e-4, 2.7e-3, 1.4e-2, 7.2e-2, 0.37, 1.9, 10.0]
"""
SEARCH = BASE + """
[search]
trials = 8
startup_trials = 3
pruner = "none"
[search.space]
"optimizer.learning_rate" = { log_uniform = [1e-4, 10.0] }
"""


def final_val_error(epochs):
    acc = epochs[-1]["val_accuracy"]
    return 1 - acc if acc is not None and math.isfinite(acc) else 1.0


@pytest.mark.parametrize("table, words", [
    ('trials = 8\nsampler = "tpe"\nprunner = "median"\n[search.space]\n"optimizer.learning_rate" = { uniform = [0.1, 1] }',
     "search.prunner: unknown key; did you mean 'pruner'?"),
    ('[search.space]\n"optimizer.learnin_rate" = { log_uniform = [1e-4, 1.0] }',
     "search.space.optimizer.learnin_rate: unknown key; did you mean 'learning_rate'?"),
    ('[search.space]\n"optimizer.learning_rate" = { log_uniform = [1.0, 1.0] }',
     "search.space.optimizer.learning_rate: the range [1.0, 1.0] is empty: log_uniform needs LOW < HIGH"),
    ('[search.space]\n"model.layers.0.units" = { int = [64, 16] }',
     "search.space.model.layers.0.units: the range [64, 16] is empty"),
    ('[search.space]\n"optimizer.learning_rate" = { log_uniform = [0, 1] }',
     "search.space.optimizer.learning_rate: log_uniform needs LOW > 0"),
    ('[search.space]\n"model.layers.0.activation" = { choice = [] }',
     "search.space.model.layers.0.activation: choice needs a non-empty array"),
    ('[search.space]\n"model.layers.0.activation" = { choose = ["relu"] }',
     "search.space.model.layers.0.activation: did you mean 'choice'? a distribution must be one of"),
    ('[search.space]\n"model.layers.0.units" = { int = [0, 8] }',
     "search.space.model.layers.0.units: must be >= 1, got 0 (with the value 0)"),
    ('[search.space]\n"model.layers.0.activation" = { choice = ["tanh", "relu", "swishy"] }',
     "search.space.model.layers.0.activation: "),
    ('metric = "test_accuracy"\n[search.space]\n"optimizer.learning_rate" = { uniform = [0.1, 1] }',
     "search.metric: must be one of 'val_accuracy', 'val_loss'"),
    ('trials = 8', "search.space: required key is missing"),
])
def test_a_bad_search_table_is_one_clear_error_and_nothing_is_written(tmp_path, capsys, table, words):
    path = tmp_path / "bad.toml"
    path.write_text(BASE + "[search]\n" + table + "\n")
    out = tmp_path / "out"
    assert main(["search", str(path), "--out", str(out), "--progress", "none"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tweaknet: error: ") and words in err and err.count("\n") == 1, err
    assert not out.exists()


def test_search_and_run_do_not_mix_and_a_search_needs_a_validation_split(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(SEARCH)
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "search: this experiment holds a [search] table: run it with `tweaknet search FILE`" in capsys.readouterr().err
    path.write_text(BASE)
    assert main(["search", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "search: this experiment has no [search] table" in capsys.readouterr().err
    path.write_text(SEARCH.replace("validation_split = 0.2", "validation_split = 0.0"))
    assert main(["search", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "data.validation_split: a search needs a validation split > 0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    path.write_text(SEARCH)
    assert main(["search", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "study lr/default: 8 trials of 4 epochs at most" in out and "optimizer.learning_rate: log_uniform" in out


def test_a_small_search_finds_the_learning_rate_of_a_grid_and_tests_only_its_best(tmp_path):
    grid = lab.run(GRID, out=tmp_path / "grid", jobs=2)
    assert len(grid.trials) == 8 and not grid.failed
    best_grid = min(grid.trials, key=lambda t: final_val_error(t.epochs))
    grid_lr = best_grid.spec["optimizer"]["learning_rate"]

    found = lab.search(SEARCH, out=tmp_path / "search", jobs=2)
    (study,) = found.studies
    assert len(study.trials) == 8 and all(t.state == "complete" for t in study.trials)
    best = study.best[0]
    assert best.value == max(t.value for t in study.trials)  # maximize val_accuracy
    search_lr = best.values["optimizer.learning_rate"]
    assert 1e-4 <= search_lr <= 10.0
    assert abs(math.log10(search_lr) - math.log10(grid_lr)) <= 1, (search_lr, grid_lr)  # within a decade
    assert final_val_error(best.epochs) <= final_val_error(best_grid.epochs) + 0.05

    # The test set: measured once, after the search, for the best trials only (test_best = 3).
    db = tmp_path / "search" / "runs.sqlite"
    with sqlite3.connect(db) as c:
        tested = c.execute("SELECT t.configuration, e.epoch FROM epochs e JOIN trials t ON t.id = e.trial_id "
                           "WHERE e.test_accuracy IS NOT NULL ORDER BY 1").fetchall()
        val = c.execute("SELECT COUNT(*) FROM epochs WHERE val_accuracy IS NULL").fetchone()[0]
    assert sorted(tested) == sorted((t.configuration, 4) for t in study.best) and len(tested) == 3
    assert val == 0  # every epoch has its validation metrics
    assert best.test_error is not None and 0 <= best.test_error <= 1
    assert (tmp_path / "search" / "search.sqlite").exists()
    assert found.trial_epochs == 8 * 4

    # Called again: nothing to ask for, nothing trains, the same best.
    again = lab.search(SEARCH, out=tmp_path / "search")
    assert again.trained == 0 and again.studies[0].best[0].values == best.values
    text = again.format_table()
    assert "lr/default: 8 trials (8 complete), 32 trial-epochs" in text and "learning_rate" in text
    paths = again.write_all()
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(paths["csv"].read_text().splitlines()) == 1 + 8


def tweaknet(*args):
    return [sys.executable, "-m", "tweaknet", *map(str, args)]


def test_a_search_killed_with_sigkill_continues_where_it_stopped(tmp_path):
    path = tmp_path / "s.toml"
    slow = SEARCH.replace("train_samples = 1500", "train_samples = 6000").replace("batch_size = 16", "batch_size = 1")
    path.write_text(slow.replace("trials = 8", "trials = 4").replace("epochs = 4", "epochs = 6"))
    out = tmp_path / "out"
    db = out / "runs.sqlite"
    child = subprocess.Popen(tweaknet("search", path, "--out", out, "--jobs", 1, "--progress", "lines"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120

    def part_way():  # the second trial has stored some of its epochs, not all
        try:
            with sqlite3.connect(db) as c:
                n = c.execute("SELECT COUNT(*) FROM epochs GROUP BY trial_id ORDER BY trial_id").fetchall()
        except sqlite3.Error:
            return False
        return len(n) == 2 and 1 <= n[1][0] <= 4

    while not part_way():
        assert child.poll() is None and time.monotonic() < deadline, "the search ended before it was killed"
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    time.sleep(1.0)  # the orphaned worker notices and exits
    with sqlite3.connect(db) as c:
        before = c.execute("SELECT trial_id, epoch, finished_at FROM epochs ORDER BY 1, 2").fetchall()
    assert 7 <= len(before) <= 10

    again = subprocess.run(tweaknet("search", path, "--out", out, "--jobs", 1, "--progress", "lines"),
                           capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr
    assert "resuming after epoch" in again.stdout  # the killed trial went on from its checkpoint
    with sqlite3.connect(db) as c:
        after = c.execute("SELECT trial_id, epoch, finished_at FROM epochs ORDER BY 1, 2").fetchall()
        per_trial = c.execute("SELECT trial_id, COUNT(*), MIN(epoch), MAX(epoch) FROM epochs GROUP BY 1").fetchall()
    assert set(before) <= set(after)  # no stored epoch trained again
    assert len(per_trial) == 4 and all(n == 6 and lo == 1 and hi == 6 for _, n, lo, hi in per_trial)
    study = optuna.load_study(study_name="lr/default", storage=f"sqlite:///{out / 'search.sqlite'}")
    states = [t.state.name for t in study.trials]
    # the trial the kill left running was failed and asked again with the same values
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == 1 and "RUNNING" not in states
    (resumed,) = [t for t in study.trials if "resumes" in t.user_attrs]
    assert resumed.params == study.trials[resumed.user_attrs["resumes"]].params
