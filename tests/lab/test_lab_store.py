"""The SQLite store: checkpoint round trip, atomic epoch commits, ownership, spec conflicts, in-process resume."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from tweaknet import seeding
from tweaknet.lab import build, runner, spec, store
from tweaknet.lab.store import OwnershipLost, Store, StoreError
from tweaknet.lab.worker import run_trial

SMALL = """
name = "small"
[data]
dataset = "synthetic"
train_samples = 300
test_samples = 100
[model]
loss = "categorical_crossentropy"
[[model.layers]]
units = 12
activation = "tanh"
batch_norm = "after"
[[model.layers]]
units = 10
activation = "softmax"
[optimizer]
name = "adam"
clipnorm = 1.0
[optimizer.schedule]
name = "exponential_decay"
decay_steps = 50
decay_rate = 0.5
[train]
batch_size = 8
epochs = 3
seeds = [3]
"""

METRICS = {"train_loss": 0.5, "train_accuracy": 0.8, "test_loss": 0.6, "test_accuracy": 0.75}


def _model_state():
    (t,) = spec.loads(SMALL).trials()
    data = build.load_data(t["data"])
    model = build.build_model(t, data)
    model.fit(data.x_train, data.y_train, batch_size=8, epochs=1, verbose=0)
    return model.get_state()


def test_state_round_trip_is_exact_and_pickle_free():
    state = _model_state()
    blob = store.pack_state(state)
    np.load(io.BytesIO(blob), allow_pickle=False)  # a plain .npz archive
    back = store.unpack_state(blob)
    assert len(back["weights"]) == len(state["weights"]) == 10  # Normalization mean/variance, 2 x (kernel, bias), BN gamma/beta/mean/var
    for a, b in zip(state["weights"], back["weights"]):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert back["optimizer"]["iterations"] == state["optimizer"]["iterations"] > 0
    assert set(back["optimizer"]) == set(state["optimizer"])
    for k, v in state["optimizer"].items():
        assert np.array_equal(v, back["optimizer"][k])


def test_epoch_rows_and_checkpoints(tmp_path):
    trials = spec.loads(SMALL).trials()
    with Store(tmp_path / "runs.sqlite") as s:
        (row,) = s.upsert_trials(trials)
        assert row["done"] == 0 and s.checkpoint(row["id"]) is None
        s.claim(row["id"], "me")
        seeding.set_random_seed(5)
        rng = seeding.get_state()
        state = _model_state()
        s.commit_epoch(row["id"], "me", 1, METRICS, 1.25, state, rng)
        epoch, back, rng_back = s.checkpoint(row["id"])
        assert epoch == 1 and rng_back == rng and json.loads(json.dumps(rng_back)) == rng
        assert all(np.array_equal(a, b) for a, b in zip(state["weights"], back["weights"]))
        (e,) = s.epochs([row["id"]])
        assert {k: e[k] for k in METRICS} == METRICS and e["epoch"] == 1 and e["seconds"] == 1.25
        with pytest.raises(Exception):  # the same epoch twice: rejected, nothing half-written
            s.commit_epoch(row["id"], "me", 1, METRICS, 1.0, state, rng)
        assert len(s.epochs()) == 1
        # another run claims the trial: the old owner can no longer commit
        s.claim(row["id"], "newer")
        with pytest.raises(OwnershipLost):
            s.commit_epoch(row["id"], "me", 2, METRICS, 1.0, state, rng)
        assert s.checkpoint(row["id"])[0] == 1 and len(s.epochs()) == 1
        # the view has the spec as JSON
        spec_json = s.conn.execute("SELECT spec_json FROM results").fetchone()[0]
        assert json.loads(spec_json) == trials[0]
        # same trial again: found with its progress; more epochs are allowed
        (again,) = s.upsert_trials(spec.loads(SMALL).trials([("train.epochs", 5)]))
        assert again["id"] == row["id"] and again["done"] == 1
        # another spec under the same name: refused, naming the difference
        with pytest.raises(StoreError, match=r"optimizer.learning_rate: 0.001 -> 0.1"):
            s.upsert_trials(spec.loads(SMALL).trials([("optimizer.learning_rate", 0.1)]))
        assert s.delete_experiment("small") == 1 and s.epochs() == [] and s.trials() == []


def _run_in_process(db, trial, owner="o"):
    with Store(db) as s:
        (row,) = s.upsert_trials([trial])
    return run_trial({"id": row["id"], "trial": trial, "db": str(db), "owner": owner})


def test_resumed_trial_equals_an_uninterrupted_one(tmp_path):
    (t5,) = spec.loads(SMALL).trials([("train.epochs", 5)])
    (t2,) = spec.loads(SMALL).trials([("train.epochs", 2)])
    assert _run_in_process(tmp_path / "a.sqlite", t5)["status"] == "done"
    assert _run_in_process(tmp_path / "b.sqlite", t2)["status"] == "done"
    with Store(tmp_path / "b.sqlite") as s:
        first = s.epochs()
    assert _run_in_process(tmp_path / "b.sqlite", t5, owner="o2")["status"] == "done"
    cols = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy")
    with Store(tmp_path / "a.sqlite") as a, Store(tmp_path / "b.sqlite") as b:
        ea, eb = a.epochs(), b.epochs()
        assert [[r[c] for c in cols] for r in ea] == [[r[c] for c in cols] for r in eb]
        assert eb[:2] == first  # the first two epochs were not recomputed
        ca, cb = a.checkpoint(1), b.checkpoint(1)
        assert ca[0] == cb[0] == 5 and ca[2] == cb[2]
        assert all(np.array_equal(x, y) for x, y in zip(ca[1]["weights"], cb[1]["weights"]))


def test_the_same_spec_on_other_data_is_refused_not_mixed(tmp_path, monkeypatch):
    """Where the data comes from is not in the spec (TWEAKNET_DATA, a user loader): its fingerprint is."""
    (tmp_path / "mydata.py").write_text(
        "import os\nimport numpy as np\n"
        "def load():\n"
        "    rng = np.random.default_rng(int(os.environ['MYDATA_SEED']))\n"
        "    x = rng.integers(0, 256, (200, 28, 28)).astype(np.uint8)\n"
        "    y = (np.arange(200) % 10).astype(np.uint8)\n"
        "    return (x[:150], y[:150]), (x[150:], y[150:])\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    text = SMALL.replace('dataset = "synthetic"\ntrain_samples = 300\ntest_samples = 100',
                         'dataset = "mydata:load"')
    monkeypatch.setenv("MYDATA_SEED", "1")
    store1, rows1 = runner.prepare(spec.loads(text), tmp_path / "out")
    fingerprint = rows1[0]["trial"]["data_fingerprint"]
    assert len(fingerprint) == 16
    store1.close()
    store2, rows2 = runner.prepare(spec.loads(text), tmp_path / "out")  # the same data: the same trial
    assert rows2[0]["id"] == rows1[0]["id"]
    store2.close()
    monkeypatch.setenv("MYDATA_SEED", "2")
    build.clear_cache()
    with pytest.raises(StoreError, match="data_fingerprint"):
        runner.prepare(spec.loads(text), tmp_path / "out")
    # and a worker that reads other data than the run registered refuses to train
    (t,) = spec.loads(text).trials()
    t["data_fingerprint"] = fingerprint
    result = _run_in_process(tmp_path / "w.sqlite", t)
    assert result["status"] == "failed" and "other data" in result["error"]
