"""The store's schema version and migrations: a store written by tweaknet 0.1.0 (a committed fixture,
``tests/lab/data/store-0.1.0.sqlite``) opens, is upgraded in place, and its complete trials resume as
complete; a store of a newer version is refused, naming what to do."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tweaknet import lab
from tweaknet.lab import store as store_mod
from tweaknet.lab.store import SCHEMA_VERSION, Store, StoreDamaged

DATA = Path(__file__).parent / "data"
LOADER = """
name = "fixture-loader"
data = { dataset = { python = "fixloader:load" } }
[model]
loss = "categorical_crossentropy"
[[model.layers]]
units = 3
activation = "softmax"
[optimizer]
name = "sgd"
learning_rate = 0.05
[train]
batch_size = 10
epochs = 2
seeds = 1
"""


def _rows(db):
    with sqlite3.connect(db) as c:
        return (c.execute("SELECT id, experiment, configuration, seed, epochs, status FROM trials ORDER BY id")
                .fetchall(),
                c.execute("SELECT trial_id, epoch, train_loss, test_accuracy FROM epochs ORDER BY 1, 2").fetchall(),
                c.execute("SELECT trial_id, epoch, state FROM checkpoints ORDER BY 1").fetchall())


@pytest.fixture
def old_store(tmp_path):
    db = tmp_path / "runs.sqlite"
    shutil.copy(DATA / "store-0.1.0.sqlite", db)
    return db


def test_a_store_of_0_1_0_is_upgraded_in_place_and_keeps_every_row(old_store):
    before = _rows(old_store)
    with sqlite3.connect(old_store) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 0
    with Store(old_store) as s:
        assert s.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(store_mod.MIGRATIONS)
        assert len(s.trials()) == 3 and len(s.epochs()) == 6
    assert _rows(old_store) == before  # trials, epochs and checkpoints all kept, byte for byte
    with sqlite3.connect(old_store) as c:
        specs = {r[0]: json.loads(r[1]) for r in c.execute("SELECT experiment, spec_json FROM trials")}
        digests = c.execute("SELECT digest FROM checkpoints").fetchall()
    assert specs["fixture-loader"]["data"]["dataset"] == {"python": "fixloader:load"}  # the loader marked as code
    assert specs["fixture"]["data"]["dataset"] == "synthetic"
    assert all(d[0] and len(d[0]) == 64 for d in digests)
    with Store(old_store) as s:  # opened again: nothing to do, nothing changed
        assert s.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert _rows(old_store) == before


def test_the_trials_of_a_0_1_0_store_resume_as_complete(old_store, monkeypatch):
    """The same experiments run into the upgraded store: nothing trained again, the stored numbers reported."""
    before = _rows(old_store)
    text = (DATA / "store-0.1.0.toml").read_text()
    res = lab.run(lab.loads(text), out=old_store.parent, jobs=1)
    assert res.trained == 0 and [t.status for t in res.trials] == ["done", "done"]
    assert [len(t.epochs) for t in res.trials] == [2, 2]
    monkeypatch.syspath_prepend(str(DATA))
    res = lab.run(lab.loads(LOADER), out=old_store.parent, jobs=1, allow_code=True)
    assert res.trained == 0 and res.trials[0].status == "done"
    after = _rows(old_store)
    assert after[1] == before[1] and after[2] == before[2]


def test_a_store_of_a_newer_version_is_refused_untouched(old_store):
    with sqlite3.connect(old_store) as c:
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    data = old_store.read_bytes()
    with pytest.raises(StoreDamaged, match=r"newer tweaknet .*upgrade tweaknet"):
        Store(old_store)
    assert old_store.read_bytes() == data


def test_a_failing_migration_leaves_the_store_as_it_was(old_store, monkeypatch):
    """All steps run in one transaction: a step that fails leaves version 0 and every row."""
    def broken(conn):
        conn.execute("ALTER TABLE trials ADD COLUMN machine TEXT")
        raise RuntimeError("step failed")
    monkeypatch.setattr(store_mod, "MIGRATIONS", (*store_mod.MIGRATIONS, broken))
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", len(store_mod.MIGRATIONS))
    before = _rows(old_store)
    with pytest.raises(RuntimeError, match="step failed"):
        Store(old_store)
    with sqlite3.connect(old_store) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 0
        assert "machine" not in {r[1] for r in c.execute("PRAGMA table_info(trials)")}
        assert "digest" not in {r[1] for r in c.execute("PRAGMA table_info(checkpoints)")}
    assert _rows(old_store) == before


def test_a_later_step_adds_a_column_through_the_migrations(old_store, monkeypatch):
    """How another change adds a field (the docstring's recipe): append a step; old and current stores gain it."""
    def v_next(conn):
        conn.execute("ALTER TABLE trials ADD COLUMN machine TEXT")
    with Store(old_store):
        pass  # now at the current version
    monkeypatch.setattr(store_mod, "MIGRATIONS", (*store_mod.MIGRATIONS, v_next))
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", len(store_mod.MIGRATIONS))
    with Store(old_store) as s:
        assert "machine" in {r[1] for r in s.conn.execute("PRAGMA table_info(trials)")}
        assert s.conn.execute("PRAGMA user_version").fetchone()[0] == len(store_mod.MIGRATIONS)
