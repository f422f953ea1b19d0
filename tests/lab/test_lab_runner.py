"""End to end, in child processes: kill -9 and resume, and a short ``tweaknet table5-1`` run."""
from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

SMALL = """
name = "resume"
[data]
dataset = "synthetic"
train_samples = 4000
test_samples = 300
[model]
loss = "categorical_crossentropy"
[[model.layers]]
units = 32
activation = "tanh"
batch_norm = "before"
[[model.layers]]
units = 10
activation = "softmax"
[optimizer]
name = "sgd"
learning_rate = 0.05
momentum = 0.9
clipnorm = 1.0
[optimizer.schedule]
name = "exponential_decay"
decay_steps = 1000
decay_rate = 0.9
[train]
batch_size = 2
epochs = 8
seeds = [7]
[grid]   # one trial on the reference path (batch norm), one on the compiled path where numba is installed
"model.layers.0.batch_norm" = ["before", "none"]
"""
RESULTS = ("SELECT configuration, seed, epoch, train_loss, train_accuracy, test_loss, test_accuracy "
           "FROM results ORDER BY configuration, seed, epoch")


def tweaknet(*args):
    return [sys.executable, "-m", "tweaknet", *map(str, args)]


def rows(db, sql="SELECT trial_id, epoch, finished_at FROM epochs ORDER BY trial_id, epoch"):
    with sqlite3.connect(db) as c:
        return c.execute(sql).fetchall()


def count(db):
    try:
        return len(rows(db))
    except sqlite3.Error:  # not created yet
        return 0


def start_and_await_first_epoch(args, out, **popen):
    """Start ``tweaknet`` with ``args`` in a child process; return it, and its database, once the run has
    committed its first epoch."""
    child = subprocess.Popen(tweaknet(*args), **popen)
    db, deadline = out / "runs.sqlite", time.monotonic() + 120
    while count(db) < 1:
        assert child.poll() is None and time.monotonic() < deadline, "the run ended before its first epoch"
        time.sleep(0.01)
    return child, db


def test_killed_run_resumes_to_the_uninterrupted_numbers(tmp_path):
    exp = tmp_path / "small.toml"
    exp.write_text(SMALL)
    a, b = tmp_path / "a", tmp_path / "b"
    done = subprocess.run(tweaknet("run", exp, "--out", a, "--jobs", 2), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(rows(a / "runs.sqlite")) == 16

    # One worker, so that the first trial is killed part-way through its epochs (with two workers
    # the quicker trial can finish all its epochs before the other commits its first).
    child, db = start_and_await_first_epoch(("run", exp, "--out", b, "--jobs", 1), b, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    time.sleep(1.5)  # orphaned workers notice within 0.5 s and exit
    before = rows(db)
    assert 1 <= len(before) < 8, "killed too late to test resuming a trial part-way"
    time.sleep(0.5)
    assert rows(db) == before  # nothing trains after the kill

    again = subprocess.run(tweaknet("run", exp, "--out", b, "--jobs", 2), capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr
    assert "resuming after epoch" in again.stdout
    after = rows(db)
    assert len(after) == 16
    assert set(before) <= set(after)  # finished epochs kept, with their timestamps: not recomputed
    assert rows(db, RESULTS) == rows(a / "runs.sqlite", RESULTS)  # exactly the uninterrupted floats


def _workers(parent: int) -> list[int]:
    """The pool's worker processes of ``parent`` (spawned: ``spawn_main`` on their command line)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if ppid == parent and b"spawn_main" in cmd:
            found.append(int(entry))
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the worker processes through /proc (Linux)")
def test_a_killed_worker_does_not_abandon_the_run(tmp_path):
    exp = tmp_path / "small.toml"
    exp.write_text(SMALL)
    a, b = tmp_path / "a", tmp_path / "b"
    assert subprocess.run(tweaknet("run", exp, "--out", a, "--jobs", 2), capture_output=True,
                          timeout=120).returncode == 0
    child, db = start_and_await_first_epoch(("run", exp, "--out", b, "--jobs", 2), b, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True)
    victims = _workers(child.pid)
    assert victims, "no worker process found"
    os.kill(victims[0], signal.SIGKILL)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert rows(db, RESULTS) == rows(a / "runs.sqlite", RESULTS)  # every trial finished, with the same numbers


def test_ctrl_c_stops_the_run_and_marks_its_trials_interrupted(tmp_path):
    exp = tmp_path / "small.toml"
    exp.write_text(SMALL)
    child, db = start_and_await_first_epoch(("run", exp, "--out", tmp_path, "--jobs", 2), tmp_path,
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "run the same command again" in out
    statuses = {s for (s,) in rows(db, "SELECT status FROM trials")}
    assert "running" not in statuses and "interrupted" in statuses, statuses


def test_short_table5_1_run(tmp_path):
    out = tmp_path / "t51"
    cmd = tweaknet("table5-1", "--epochs", 1, "--train-samples", 600, "--test-samples", 200, "--jobs", 2,
                   "--out", out)
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    confs = [f"conf{i}" for i in range(1, 6)]
    for c in confs:  # not a terminal: one line per finished epoch per trial, and the table
        assert f"{c} seed 1: epoch 1/1" in run.stdout
        assert any(line.startswith(c + " ") and "%" in line for line in run.stdout.splitlines())

    db = out / "runs.sqlite"
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        trials = c.execute("SELECT configuration, seed, epochs, status, spec_json FROM trials ORDER BY id").fetchall()
        epochs = c.execute("SELECT * FROM results ORDER BY configuration").fetchall()
        checkpoints = c.execute("SELECT COUNT(*), MIN(epoch), MAX(epoch) FROM checkpoints").fetchone()
    assert [t[:4] for t in trials] == [(c, 1, 1, "done") for c in confs]
    specs = [json.loads(t[4]) for t in trials]
    assert all(s["data"]["train_samples"] == 600 and s["data"]["test_samples"] == 200 for s in specs)
    assert specs[1]["optimizer"]["learning_rate"] == 10.0 and specs[4]["train"]["batch_size"] == 64
    assert len(epochs) == 5 and checkpoints == (5, 1, 1)
    for r in epochs:
        assert r[3] == 1 and 0 <= r[7] <= 1 and r[9] > 0  # epoch, test accuracy, seconds

    # A quick look is a variant of the preset: it writes its own files, named after what it changed, and
    # leaves table5-1.* to the run of the preset as shipped.
    quick = "table5-1+test_samples=200+train_samples=600+epochs=1"
    assert f"{quick}.png" in run.stdout and not (out / "table5-1.png").exists()
    with open(out / f"{quick}.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [r["configuration"] for r in table] == confs
    assert all(r["epoch"] == "1" and abs(float(r["test_error"]) + float(r["test_accuracy"]) - 1) < 1e-12
               for r in table)
    with open(out / f"{quick}-summary.csv", newline="") as fh:
        assert [r["configuration"] for r in csv.DictReader(fh)] == confs
    png = (out / f"{quick}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    image = pytest.importorskip("matplotlib.image").imread(out / f"{quick}.png")
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert "trained on: " in run.stdout  # the machine, under the table

    # Started again: everything is complete, nothing retrains.
    first = rows(db)
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0 and "5 already complete, 0 to train" in rerun.stdout
    assert rows(db) == first
    # Another spec into the same folder: new trials beside the stored ones, with files of their own.
    other = subprocess.run(tweaknet("table5-1", "--epochs", 1, "--train-samples", 500, "--test-samples", 200,
                                    "--jobs", 2, "--out", out), capture_output=True, text=True, timeout=180)
    assert other.returncode == 0, other.stderr
    assert "0 already complete, 5 to train" in other.stdout
    assert set(first) < set(rows(db)) and len(rows(db)) == 10
    assert (out / "table5-1+test_samples=200+train_samples=500+epochs=1.png").exists()
    assert (out / f"{quick}.png").read_bytes() == png
