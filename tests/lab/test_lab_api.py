"""The lab from Python: ``tweaknet.lab.run`` returns what the store holds and the command writes; it resumes."""
from __future__ import annotations

import csv
import sqlite3

import pytest

from tweaknet import lab
from tweaknet.cli import main
from tweaknet.lab import SpecError, presets

SMALL = """
name = "api"
data = { dataset = "synthetic", train_samples = 200, test_samples = 50 }
optimizer = { name = "sgd", learning_rate = 0.05 }
train = { batch_size = 20, epochs = 2, seeds = [1, 2] }

[model]
loss = "categorical_crossentropy"
layers = [{ units = 8, activation = "tanh" }, { units = 10, activation = "softmax" }]

[[configurations]]
name = "plain"

[[configurations]]
name = "momentum"
"optimizer.momentum" = 0.9
"""
METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")


def _numbers(results):
    """{(configuration, seed): [(epoch, metrics...), ...]} of a Results object."""
    return {(t.configuration, t.seed): [(e["epoch"], *(e[k] for k in METRICS)) for e in t.epochs]
            for t in results.trials}


def _stored(db):
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT configuration, seed, epoch, " + ", ".join(METRICS) + ", finished_at FROM results "
                         "ORDER BY configuration, seed, epoch").fetchall()
    out = {}
    for conf, seed, *rest in rows:
        out.setdefault((conf, seed), []).append(tuple(rest))
    return out


def test_run_returns_the_stored_metrics_and_resumes(tmp_path):
    path = tmp_path / "api.toml"
    path.write_text(SMALL)
    results = lab.run(path, out=tmp_path / "a", jobs=2)
    assert results.name == "api" and results.trained == 4 and not results.interrupted and results.failed == []
    assert [(t.configuration, t.seed, t.status) for t in results.trials] == [
        ("plain", 1, "done"), ("plain", 2, "done"), ("momentum", 1, "done"), ("momentum", 2, "done")]
    assert all(t.spec["train"]["epochs"] == 2 and t.error is None for t in results.trials)
    assert results.trials[2].spec["optimizer"]["momentum"] == 0.9
    numbers = _numbers(results)
    assert all([e[0] for e in epochs] == [1, 2] for epochs in numbers.values())
    stored = _stored(results.store)
    assert results.store == tmp_path / "a" / "runs.sqlite"
    assert {k: [s[:5] for s in v] for k, v in stored.items()} == numbers
    assert all(e["seconds"] > 0 for t in results.trials for e in t.epochs)

    # One worker, another folder: the same numbers, float for float.
    assert _numbers(lab.run(lab.loads(SMALL), out=tmp_path / "b", jobs=1)) == numbers

    # Again: nothing trains (the finished epochs keep their timestamps), the same results.
    again = lab.run(SMALL, out=tmp_path / "a")
    assert again.trained == 0 and _numbers(again) == numbers and _stored(again.store) == stored
    assert [t.epochs for t in again.trials] == [t.epochs for t in results.trials]
    # Fewer epochs (overrides as a dict): the first one of each trial, nothing trains.
    first = lab.run(SMALL, out=tmp_path / "a", overrides={"train.epochs": 1})
    assert first.trained == 0 and _numbers(first) == {k: v[:1] for k, v in numbers.items()}

    # The command on the same folder trains nothing and writes the same numbers to the CSV.
    assert main(["run", str(path), "--out", str(tmp_path / "a"), "--progress", "none"]) == 0
    with open(tmp_path / "a" / "api.csv", newline="") as fh:
        written = {}
        for r in csv.DictReader(fh):
            written.setdefault((r["configuration"], int(r["seed"])), []).append(
                (int(r["epoch"]), *(float(r[k]) for k in METRICS)))
    assert written == numbers
    assert _stored(results.store) == stored
    assert results.format_table().splitlines()[0] == "api: final test error (mean over seeds)"


def test_run_rejects_a_bad_spec_before_storing(tmp_path):
    with pytest.raises(SpecError, match="model.layers.0.units: must be >= 1"):
        lab.run(SMALL.replace("units = 8", "units = 0"), out=tmp_path / "o")
    with pytest.raises(SpecError, match="jobs: must be >= 1"):
        lab.run(SMALL, out=tmp_path / "o", jobs=0)
    assert not (tmp_path / "o").exists()


def test_experiment_trial_by_name_or_number():
    exp = presets.get("table5-1")
    first = exp.trial()
    assert (first["configuration"], first["seed"]) == ("conf1", 1)
    assert exp.trial("conf3") == exp.trial("3") == exp.trial(3) == exp.trials()[2]
    assert exp.trial(2, seed=7) == dict(exp.trials()[1], seed=7)
    assert exp.trial("conf4", overrides=[("train.epochs", 3)])["train"]["epochs"] == 3
    named = lab.loads(SMALL)
    assert named.trial("momentum", seed=2) == named.trials()[3]
    with pytest.raises(SpecError) as info:
        exp.trial("conf9")
    assert info.value.path == "configuration"
    assert "no configuration 'conf9'; choose from conf1, conf2, conf3, conf4, conf5" in str(info.value)
    with pytest.raises(SpecError, match="choose from momentum, plain"):
        named.trial(1)
