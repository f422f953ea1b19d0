"""Editing an experiment never overwrites another's results (issue 16): trials are stored under their spec, so
variants live side by side in one folder, each writes its own report files, and every epoch records the
machine it was trained on.  Also: a store of schema version 2 or of tweaknet 0.1.0 gains all of it."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tweaknet import lab
from tweaknet.lab import machine, runner, spec, variants
from tweaknet.lab.store import MIGRATIONS, Store, content_key

DATA = Path(__file__).parent / "data"
EXP = """
description = "two optimizers"
data = { dataset = "synthetic", train_samples = 200, test_samples = 50 }
optimizer = { name = "sgd", learning_rate = 0.05 }
train = { batch_size = 20, epochs = 2, seeds = [1] }

[model]
loss = "categorical_crossentropy"
layers = [{ units = 8, activation = "tanh" }, { units = 10, activation = "softmax" }]

[[configurations]]
name = "plain"

[[configurations]]
name = "momentum"
"optimizer.momentum" = 0.9
"""
EDITED = EXP.replace('"optimizer.momentum" = 0.9', '"optimizer.momentum" = 0.5') + """
[[configurations]]
name = "adam"
optimizer = { name = "adam" }
"""


def _numbers(results):
    return {t.configuration: [(e["epoch"], e["train_loss"], e["test_accuracy"]) for e in t.epochs]
            for t in results.trials}


def _write(tmp_path, name, text):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return lab.load(path)


def test_variants_live_side_by_side_and_write_their_own_files(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "runs"
    exp = _write(tmp_path, "exp", EXP)
    assert exp.name == "exp"  # no name in the file: its stem

    # a quick look first: it is a variant of the file as written, with its own files
    quick = lab.run(exp, out=out, overrides={"train.epochs": 1, "data.train_samples": 100})
    assert quick.name == "exp+train_samples=100+epochs=1"
    assert quick.description == "variant of exp: data.train_samples 200 -> 100, train.epochs 2 -> 1"
    assert set(quick.write_all()) == {"csv", "summary", "png"} and not (out / "exp.png").exists()

    full = lab.run(exp, out=out)
    assert full.name == "exp" and full.trained == 2
    png = full.write_all()["png"]
    figure = png.read_bytes()

    # the quick look again, after the full run: no refusal, nothing retrained, the full run's figure untouched
    again = lab.run(exp, out=out, overrides={"train.epochs": 1, "data.train_samples": 100})
    assert again.trained == 0 and _numbers(again) == _numbers(quick)
    again.write_all()
    assert png.read_bytes() == figure

    # an edited copy that kept the name: the unchanged configuration is reused, the others are new trials
    edited = lab.run(lab.loads(EDITED, "exp"), out=out)
    assert edited.trained == 2  # momentum 0.5 and adam; plain was stored
    assert _numbers(edited)["plain"] == _numbers(full)["plain"]
    assert edited.name == "exp+momentum.momentum=0.5+adam"
    assert "momentum: optimizer.momentum 0.9 -> 0.5" in edited.description and "+adam" in edited.description
    edited.write_all()
    assert png.read_bytes() == figure
    assert {p.name for p in out.glob("*.png")} == {"exp.png", "exp+train_samples=100+epochs=1.png",
                                                  "exp+momentum.momentum=0.5+adam.png"}

    # the original again: found complete, its numbers as they were
    back = lab.run(exp, out=out)
    assert back.trained == 0 and _numbers(back) == _numbers(full)
    # --restart forgets exactly the trials of this run's specs; the variants keep theirs
    with Store(out / "runs.sqlite") as s:
        before = len(s.trials())
    restarted = lab.run(exp, out=out, restart=True)
    assert restarted.trained == 2 and _numbers(restarted) == _numbers(full)
    with Store(out / "runs.sqlite") as s:
        assert len(s.trials()) == before


def test_every_epoch_records_the_machine_and_the_table_shows_it(tmp_path):
    results = lab.run(lab.loads(EXP, "exp"), out=tmp_path)
    here = machine.record()
    (m,) = results.machines
    assert m["cpu"] == here["cpu"] and m["numpy"] == here["numpy"] and m["tweaknet"] == here["tweaknet"]
    assert m["blas"] and all(b["threads"] >= 1 for b in m["blas"])
    assert f"trained on: {machine.describe(m)}" in results.format_table()
    with sqlite3.connect(tmp_path / "runs.sqlite") as c:
        stored = [json.loads(r[0]) for r in c.execute("SELECT machine FROM results")]
    assert len(stored) == 4 and all(r["python"] == here["python"] for r in stored)


def test_a_configuration_written_twice_trains_once(tmp_path):
    twice = EXP + '\n[[configurations]]\nname = "plain-again"\n'
    results = lab.run(lab.loads(twice, "twice"), out=tmp_path)
    assert results.trained == 2
    by = _numbers(results)
    assert by["plain-again"] == by["plain"] and len(by["plain"]) == 2


def test_variant_names():
    base = spec.loads(EXP, "exp").variants()
    assert variants.report_name("exp", base, spec.loads(EXP, "exp").variants([("train.seeds", [1, 2, 3])])) \
        == ("exp", "")  # more seeds refine the same figure
    name, what = variants.report_name("exp", base, spec.loads(EXP, "exp").variants([("optimizer.clipnorm", 1.0)]))
    assert name == "exp+clipnorm=1.0" and what == "optimizer.clipnorm unset -> 1.0"
    long = [("model.layers.0.units", 9), ("data.test_samples", 10), ("train.shuffle", False),
            ("data.train_samples", 100), ("train.epochs", 7)]
    name, _ = variants.report_name("exp", base, spec.loads(EXP, "exp").variants(long))
    assert name.startswith("exp+variant-") and len(name) == len("exp+variant-") + 8


def _v2_store(path):
    """A store of schema version 2 with one complete trial, as the release before content addressing wrote it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("BEGIN")
    for step in MIGRATIONS[:2]:
        step(conn)
    conn.execute("PRAGMA user_version = 2")
    conn.execute("COMMIT")
    conn.close()


def test_a_store_of_version_2_and_one_of_0_1_0_become_content_addressed(tmp_path):
    old = tmp_path / "old" / "runs.sqlite"
    old.parent.mkdir()
    shutil.copy(DATA / "store-0.1.0.sqlite", old)
    with sqlite3.connect(old) as c:
        before = c.execute("SELECT trial_id, epoch, train_loss FROM epochs ORDER BY 1, 2").fetchall()
    fixture = spec.loads((DATA / "store-0.1.0.toml").read_text(), "fixture")
    store, rows = runner.prepare(fixture, old.parent, check=False)
    try:
        assert [r["done"] for r in rows] == [2, 2]  # complete: the checkpoints' digests follow the new address
        assert all(r["reset"] is None for r in rows)
        for r in rows:
            (h,) = store.conn.execute("SELECT spec_hash FROM trials WHERE id = ?", (r["id"],)).fetchone()
            assert h == content_key(r["trial"])
        assert [tuple(r) for r in store.conn.execute("SELECT trial_id, epoch, train_loss FROM epochs ORDER BY 1, 2")] \
            == before
        assert [r[0] for r in store.conn.execute("SELECT machine FROM results")] == [None] * len(before)
        # the same names with another spec: a new trial, which the old UNIQUE constraint refused
        changed = fixture.trials([("optimizer.learning_rate", 0.5)])
        assert all(r["done"] == 0 for r in store.upsert_trials(changed))
    finally:
        store.close()

    v2 = tmp_path / "v2.sqlite"
    _v2_store(v2)
    with Store(v2) as s:
        assert s.conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        tables = {r[0] for r in s.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"machines", "reports", "trials", "epochs", "checkpoints"} <= tables
        fks = s.conn.execute("PRAGMA foreign_key_list(epochs)").fetchall()
        assert {(f[2], f[3]) for f in fks} == {("trials", "trial_id"), ("machines", "machine")}
