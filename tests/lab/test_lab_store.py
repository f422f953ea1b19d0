"""The SQLite store: checkpoint round trip, atomic epoch commits, ownership, spec conflicts, upgrades of older
stores; the worker: a trial trained in pieces from its own checkpoints equals one trained in one go."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from tweaknet import seeding
from tweaknet.lab import build, runner, spec, store
from tweaknet.lab.store import Store, StoreError
from tweaknet.lab.worker import train_epochs

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

METRICS = {"train_loss": 0.5, "train_accuracy": 0.8, "val_loss": None, "val_accuracy": None, "test_loss": 0.6,
           "test_accuracy": 0.75}


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
        blob = store.pack_state(state)

        def sent(epoch, seconds=1.0):  # what a worker sends back
            return {"epochs": [{"epoch": epoch, "metrics": METRICS, "seconds": seconds}], "state": blob, "rng": rng,
                    "node": "n1", "host": "h1"}

        assert s.commit("me", [(row["id"], sent(1, 1.25))]) == set()
        epoch, back, rng_back = s.checkpoint(row["id"])
        assert epoch == 1 and rng_back == rng and json.loads(json.dumps(rng_back)) == rng
        assert all(np.array_equal(a, b) for a, b in zip(state["weights"], back["weights"]))
        assert s.checkpoint(row["id"], packed=True)[1] == blob
        (e,) = s.epochs([row["id"]])
        assert {k: e[k] for k in METRICS} == METRICS and e["epoch"] == 1 and e["seconds"] == 1.25
        assert (e["node"], e["host"]) == ("n1", "h1")
        with pytest.raises(Exception):  # the same epoch twice: rejected, nothing half-written
            s.commit("me", [(row["id"], sent(1))])
        assert len(s.epochs()) == 1
        # another run claims the trial: the old owner can no longer commit
        s.claim(row["id"], "newer")
        assert s.commit("me", [(row["id"], sent(2))]) == {row["id"]}
        assert s.checkpoint(row["id"])[0] == 1 and len(s.epochs()) == 1
        # the view has the spec as JSON
        spec_json = s.conn.execute("SELECT spec_json FROM results").fetchone()[0]
        assert json.loads(spec_json) == trials[0]
        # same trial again: found with its progress; more epochs are allowed
        (again,) = s.upsert_trials(spec.loads(SMALL).trials([("train.epochs", 5)]))
        assert again["id"] == row["id"] and again["done"] == 1
        # another spec under the same name: another trial, stored beside the first (content-addressed)
        (other,) = s.upsert_trials(spec.loads(SMALL).trials([("optimizer.learning_rate", 0.1)]))
        assert other["id"] != row["id"] and other["done"] == 0
        # the same spec under other names (a copy of the file): the same trial, renamed, with its progress
        (copy,) = s.upsert_trials(spec.loads(SMALL.replace('name = "small"', 'name = "copy"')).trials())
        assert copy["id"] == row["id"] and copy["done"] == 1
        assert {t["experiment"] for t in s.trials()} == {"copy", "small"}
        assert s.forget(spec.loads(SMALL).trials()) == 1 and len(s.trials()) == 1 and s.epochs() == []


def _pieces(trial, sizes):
    """Train ``trial`` in jobs of ``sizes`` epochs, each from the checkpoint the last one sent back (no store)."""
    ck, epochs = None, []
    for n in sizes:
        res = train_epochs({"trial": trial, "checkpoint": ck, "epochs": n})
        assert res["status"] == "ok", res.get("error")
        assert [e["epoch"] for e in res["epochs"]] == list(range(len(epochs) + 1, len(epochs) + n + 1))
        epochs += res["epochs"]
        ck = {"epoch": len(epochs), "state": res["state"], "rng": res["rng"]}
    return [(e["epoch"], e["metrics"]) for e in epochs], ck


def test_a_trial_trained_in_pieces_equals_one_trained_in_one_go():
    (t5,) = spec.loads(SMALL).trials([("train.epochs", 5)])
    whole, ck_whole = _pieces(t5, [5])
    for sizes in ([1, 1, 1, 1, 1], [2, 3]):
        pieces, ck = _pieces(t5, sizes)
        assert pieces == whole  # every metric, float for float
        assert ck["rng"] == ck_whole["rng"] and ck["state"] == ck_whole["state"]  # the same bytes
    assert all("val_loss" not in m and m["test_accuracy"] > 0 for _, m in whole)
    # a job asking for more epochs than the trial has stops at the trial's last epoch
    res = train_epochs({"trial": t5, "checkpoint": _pieces(t5, [4])[1], "epochs": 3})
    assert [e["epoch"] for e in res["epochs"]] == [5]
    # without the test set (a search), the same training: the same checkpoint
    quiet = train_epochs({"trial": t5, "checkpoint": None, "epochs": 5, "test": False})
    assert quiet["state"] == ck_whole["state"] and "test_loss" not in quiet["epochs"][0]["metrics"]


def test_an_older_store_is_upgraded_in_place(tmp_path):
    """A store written before validation metrics and nodes were recorded opens, keeps its rows, gains the columns."""
    import sqlite3
    db = tmp_path / "runs.sqlite"
    with sqlite3.connect(db) as c:
        c.executescript("""
            CREATE TABLE trials(id INTEGER PRIMARY KEY, experiment TEXT NOT NULL, configuration TEXT NOT NULL,
                seed INTEGER NOT NULL, spec_json TEXT NOT NULL, spec_hash TEXT NOT NULL, epochs INTEGER NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending', owner TEXT, error TEXT, created REAL NOT NULL,
                updated REAL NOT NULL, UNIQUE(experiment, configuration, seed));
            CREATE TABLE epochs(trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
                epoch INTEGER NOT NULL, train_loss REAL, train_accuracy REAL, test_loss REAL, test_accuracy REAL,
                seconds REAL NOT NULL, finished_at REAL NOT NULL, PRIMARY KEY(trial_id, epoch));
            CREATE VIEW results AS SELECT t.experiment, e.epoch FROM epochs e JOIN trials t ON t.id = e.trial_id;
            INSERT INTO trials VALUES (1, 'old', 'conf1', 1, '{}', 'h', 2, 'done', 'o', NULL, 0, 0);
            INSERT INTO epochs VALUES (1, 1, 0.5, 0.8, 0.6, 0.7, 1.0, 5.0);
        """)
    with Store(db) as s:
        (e,) = s.epochs()
        assert (e["test_accuracy"], e["val_accuracy"], e["node"]) == (0.7, None, None)
        row = s.conn.execute("SELECT test_error, val_error, node, status FROM results").fetchone()
        assert tuple(row) == (1 - 0.7, None, None, "done")
    with Store(db) as s:  # opened again: nothing to upgrade, nothing changed
        assert s.epochs() == [e]


def test_the_same_spec_on_other_data_is_kept_apart_not_mixed(tmp_path, monkeypatch):
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
                         'dataset = { python = "mydata:load" }')
    monkeypatch.setenv("MYDATA_SEED", "1")
    monkeypatch.setenv("TWEAKNET_ALLOW_CODE", "1")  # the loader is code: allowed
    store1, rows1 = runner.prepare(spec.loads(text), tmp_path / "out")
    fingerprint = rows1[0]["trial"]["data_fingerprint"]
    assert len(fingerprint) == 16
    store1.close()
    store2, rows2 = runner.prepare(spec.loads(text), tmp_path / "out")  # the same data: the same trial
    assert rows2[0]["id"] == rows1[0]["id"]
    store2.close()
    monkeypatch.setenv("MYDATA_SEED", "2")
    build.clear_cache()
    store3, rows3 = runner.prepare(spec.loads(text), tmp_path / "out")  # other data: another trial, beside
    assert rows3[0]["id"] != rows1[0]["id"] and rows3[0]["done"] == 0
    assert rows3[0]["trial"]["data_fingerprint"] != fingerprint
    store3.close()
    # and a worker that reads other data than the run registered refuses to train
    (t,) = spec.loads(text).trials()
    t["data_fingerprint"] = fingerprint
    result = train_epochs({"trial": t, "checkpoint": None})
    assert result["status"] == "failed" and "other data" in result["error"]


def test_interrupt_marks_every_trial_the_run_still_has_running(tmp_path):
    """After Ctrl-C the engine marks its trials by owner (``Store.interrupt``), not by what it holds in flight: the
    interrupt can land between a claim and the engine's record of it, or between a trial's last commit and its
    'done'.  Still running and incomplete -> 'interrupted'; all epochs stored -> 'done'; other owners' trials and
    finished ones untouched."""
    text = SMALL.replace("seeds = [3]", "seeds = [1, 2, 3, 4]").replace("epochs = 3", "epochs = 1")
    with Store(tmp_path / "runs.sqlite") as s:
        rows = s.upsert_trials(spec.loads(text).trials())
        ids = [r["id"] for r in rows]
        seeding.set_random_seed(5)
        sent = {"epochs": [{"epoch": 1, "metrics": METRICS, "seconds": 1.0}],
                "state": store.pack_state(_model_state()), "rng": seeding.get_state(), "node": "n1", "host": "h1"}
        for tid in ids[:3]:
            s.claim(tid, "me")
        s.claim(ids[3], "other")
        assert s.commit("me", [(ids[0], sent)]) == set()  # complete (1 epoch of 1), not yet marked
        s.finish(ids[2], "me", "failed", "boom")
        s.interrupt("me")
        status = dict(s.conn.execute("SELECT id, status FROM trials").fetchall())
    assert [status[t] for t in ids] == ["done", "interrupted", "failed", "running"]
