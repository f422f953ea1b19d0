"""The SQLite store of an experiment folder, ``DIR/runs.sqlite``: trials, epoch rows, checkpoints.

Tables::

    experiments(name, source, created, updated)              the experiment file as run
    trials(id, experiment, configuration, seed, spec_json, spec_hash, epochs, status, owner, error, ...)
    epochs(trial_id, epoch, train_loss, train_accuracy, test_loss, test_accuracy, seconds, finished_at,
           val_loss, val_accuracy, node, host)
    checkpoints(trial_id, epoch, state, rng_json, created)   the latest state of each trial
    results                                                  view: epochs joined with their trial

``epoch`` counts completed epochs (1 = after the first).  Epoch rows and the trial's checkpoint
after the last of them are written in one transaction, so the store never holds one without the
other.  A checkpoint is ``model.get_state()`` (weights, optimizer slots and step count) as a NumPy
``.npz`` archive in a BLOB, and ``tweaknet.seeding.get_state()`` as JSON; nothing is pickled.
``node`` is where the epoch was trained (the Ray node id; in the local pool the host name), ``host``
that machine's name.

One process writes: the driver of a run (:mod:`.engine`); workers send it their epochs.  WAL mode
and a busy timeout let readers (and a second run into the same folder) work beside it.  Each trial
has an ``owner`` (the run that claimed it last); a run that lost its trial to a newer run cannot
commit.  Stores written before a column existed are upgraded in place when opened.
"""
from __future__ import annotations

import io
import json
import sqlite3
import time

import numpy as np

from .spec import trial_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments(
    name TEXT PRIMARY KEY, source TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS trials(
    id INTEGER PRIMARY KEY,
    experiment TEXT NOT NULL, configuration TEXT NOT NULL, seed INTEGER NOT NULL,
    spec_json TEXT NOT NULL, spec_hash TEXT NOT NULL, epochs INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', owner TEXT, error TEXT,
    created REAL NOT NULL, updated REAL NOT NULL,
    UNIQUE(experiment, configuration, seed));
CREATE TABLE IF NOT EXISTS epochs(
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    train_loss REAL, train_accuracy REAL, test_loss REAL, test_accuracy REAL,
    seconds REAL NOT NULL, finished_at REAL NOT NULL,
    val_loss REAL, val_accuracy REAL, node TEXT, host TEXT,
    PRIMARY KEY(trial_id, epoch));
CREATE TABLE IF NOT EXISTS checkpoints(
    trial_id INTEGER PRIMARY KEY REFERENCES trials(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL, state BLOB NOT NULL, rng_json TEXT NOT NULL, created REAL NOT NULL);
"""
VIEW = """
CREATE VIEW results AS
    SELECT t.experiment, t.configuration, t.seed, e.epoch, e.train_loss, e.train_accuracy, e.test_loss,
           e.test_accuracy, 1.0 - e.test_accuracy AS test_error, e.seconds, e.finished_at, t.spec_json,
           e.val_loss, e.val_accuracy, 1.0 - e.val_accuracy AS val_error, e.node, e.host, t.status
    FROM epochs e JOIN trials t ON t.id = e.trial_id;
"""
#: Columns added to ``epochs`` after the first release: added in place to older stores.
ADDED_COLUMNS = (("val_loss", "REAL"), ("val_accuracy", "REAL"), ("node", "TEXT"), ("host", "TEXT"))
#: An epoch's metrics; the validation ones are None without ``data.validation_split``, the test ones
#: None in a search (which never looks at the test set while it trains).
METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy")


class StoreError(RuntimeError):
    """The store holds something that conflicts with the request (e.g. a trial with another spec)."""


# -- checkpoints as .npz bytes ----------------------------------------------------------------------
def pack_state(state: dict) -> bytes:
    """``model.get_state()`` as the bytes of an ``.npz`` archive."""
    arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(state["weights"])}
    arrays["n_weights"] = np.asarray(len(state["weights"]), dtype=np.int64)
    for k, v in (state.get("optimizer") or {}).items():
        arrays[f"opt_{k}"] = np.asarray(v, dtype=np.int64) if k == "iterations" else np.asarray(v)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def unpack_state(blob: bytes) -> dict:
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        n = int(z["n_weights"])
        weights = [z[f"w{i}"] for i in range(n)]
        opt = {k[4:]: z[k] for k in z.files if k.startswith("opt_")}
    if "iterations" in opt:
        opt["iterations"] = int(opt["iterations"])
    return {"weights": weights, "optimizer": opt or None}


def _real(v):
    return None if v is None else float(v)


def _diff(a, b, path=""):
    """Dotted paths where two JSON-like values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            yield from _diff(a.get(k), b.get(k), f"{path}.{k}" if path else k)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from _diff(x, y, f"{path}.{i}")
    elif a != b:
        yield f"{path}: {json.dumps(a)} -> {json.dumps(b)}"


class Store:
    """One connection to ``path`` (create the schema if needed)."""

    def __init__(self, path, timeout: float = 120.0):
        self.path = str(path)
        self.conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")  # in WAL mode: durable across process crashes
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.executescript("BEGIN IMMEDIATE;" + SCHEMA)
        try:
            self._upgrade()
        finally:
            self.conn.execute("COMMIT")

    def _upgrade(self):
        """Add the columns an older store lacks, and (re)create the ``results`` view with them."""
        have = {r[1] for r in self.conn.execute("PRAGMA table_info(epochs)")}
        for name, kind in ADDED_COLUMNS:
            if name not in have:
                self.conn.execute(f"ALTER TABLE epochs ADD COLUMN {name} {kind}")
        view = {r[1] for r in self.conn.execute("PRAGMA table_info(results)")}
        if "host" not in view or "status" not in view:
            self.conn.execute("DROP VIEW IF EXISTS results")
            self.conn.execute(VIEW)

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def transaction(self):
        store = self

        class _Tx:
            def __enter__(self):
                store.conn.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind, *rest):
                store.conn.execute("COMMIT" if kind is None else "ROLLBACK")
        return _Tx()

    # -- experiments and trials -------------------------------------------------------------------
    def register_experiment(self, name: str, source: str) -> None:
        now = time.time()
        with self.transaction():
            self.conn.execute("INSERT INTO experiments VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                              "source = excluded.source, updated = excluded.updated", (name, source, now, now))

    def delete_experiment(self, name: str) -> int:
        """Forget every trial (epochs, checkpoints) of experiment ``name``; return how many trials."""
        with self.transaction():
            cur = self.conn.execute("DELETE FROM trials WHERE experiment = ?", (name,))
            self.conn.execute("DELETE FROM experiments WHERE name = ?", (name,))
        return cur.rowcount

    def upsert_trials(self, trials: list[dict]) -> list[dict]:
        """Insert new trials, match stored ones; return ``{'id', 'trial', 'done'}`` per trial, in order.

        A stored trial with the same experiment, configuration and seed must have the same spec up to
        the epoch count (raising :class:`StoreError` otherwise); its target epoch count is updated.
        """
        out, now = [], time.time()
        with self.transaction():
            for t in trials:
                key = (t["experiment"], t["configuration"], t["seed"])
                h = trial_hash(t)
                row = self.conn.execute("SELECT id, spec_json, spec_hash FROM trials WHERE experiment = ? AND "
                                        "configuration = ? AND seed = ?", key).fetchone()
                if row is None:
                    cur = self.conn.execute(
                        "INSERT INTO trials(experiment, configuration, seed, spec_json, spec_hash, epochs, created, "
                        "updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (*key, json.dumps(t), h, t["train"]["epochs"],
                                                                     now, now))
                    tid = cur.lastrowid
                else:
                    if row["spec_hash"] != h:
                        old = json.loads(row["spec_json"])
                        old["train"].pop("epochs", None)
                        new = json.loads(json.dumps(t))
                        new["train"].pop("epochs", None)
                        old.pop("description", None), new.pop("description", None)
                        diff = "; ".join(list(_diff(old, new))[:4])
                        raise StoreError(
                            f"{self.path} already holds trial {key[0]}/{key[1]}/seed {key[2]} trained with a "
                            f"different spec ({diff}). Use another --out folder, or --restart to discard the "
                            f"stored trials of experiment {key[0]!r}.")
                    tid = row["id"]
                    self.conn.execute("UPDATE trials SET spec_json = ?, epochs = ?, updated = ? WHERE id = ?",
                                      (json.dumps(t), t["train"]["epochs"], now, tid))
                done = self.conn.execute("SELECT COALESCE(MAX(epoch), 0) FROM checkpoints WHERE trial_id = ?",
                                         (tid,)).fetchone()[0]
                out.append({"id": tid, "trial": t, "done": done})
        return out

    def claim(self, trial_id: int, owner: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE trials SET owner = ?, status = 'running', error = NULL, updated = ? "
                              "WHERE id = ?", (owner, time.time(), trial_id))

    def finish(self, trial_id: int, owner: str, status: str = "done", error: str | None = None) -> None:
        with self.transaction():
            self.conn.execute("UPDATE trials SET status = ?, error = ?, updated = ? WHERE id = ? AND owner = ?",
                              (status, error, time.time(), trial_id, owner))

    # -- epochs and checkpoints ----------------------------------------------------------------------
    def commit(self, owner: str, batch) -> set:
        """Write what workers sent, in one transaction: ``batch`` is a list of ``(trial_id, result)``, each
        result a dict of ``epochs`` (``{'epoch', 'metrics', 'seconds'}`` per epoch, in order), ``state``
        (the packed checkpoint after the last of them), ``rng``, ``node`` and ``host``.  Trials that
        ``owner`` no longer owns are skipped; their ids are returned."""
        lost, now = set(), time.time()
        with self.transaction():
            for trial_id, res in batch:
                row = self.conn.execute("SELECT owner FROM trials WHERE id = ?", (trial_id,)).fetchone()
                if row is None or row["owner"] != owner:
                    lost.add(trial_id)
                    continue
                for e in res["epochs"]:
                    m = e["metrics"]
                    self.conn.execute(
                        "INSERT INTO epochs(trial_id, epoch, " + ", ".join(METRICS) + ", seconds, finished_at, node, "
                        "host) VALUES (" + ", ".join("?" * (len(METRICS) + 6)) + ")",
                        (trial_id, e["epoch"], *(_real(m.get(k)) for k in METRICS), float(e["seconds"]), now,
                         res.get("node"), res.get("host")))
                self.conn.execute("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?) ON CONFLICT(trial_id) DO UPDATE "
                                  "SET epoch = excluded.epoch, state = excluded.state, rng_json = excluded.rng_json, "
                                  "created = excluded.created",
                                  (trial_id, res["epochs"][-1]["epoch"], res["state"], json.dumps(res["rng"]), now))
                self.conn.execute("UPDATE trials SET updated = ? WHERE id = ?", (now, trial_id))
        return lost

    def set_test(self, trial_id: int, epoch: int, test_loss: float, test_accuracy: float) -> None:
        """Store the test metrics of a trial's epoch afterwards (a search tests only its best trials)."""
        with self.transaction():
            self.conn.execute("UPDATE epochs SET test_loss = ?, test_accuracy = ? WHERE trial_id = ? AND epoch = ?",
                              (float(test_loss), float(test_accuracy), trial_id, epoch))

    def checkpoint(self, trial_id: int, packed: bool = False):
        """``(epoch, model_state, rng_state)`` of the trial's latest checkpoint, or None; with ``packed``
        the model state stays the ``.npz`` bytes (as workers take it)."""
        row = self.conn.execute("SELECT epoch, state, rng_json FROM checkpoints WHERE trial_id = ?",
                                (trial_id,)).fetchone()
        if row is None:
            return None
        return row["epoch"], bytes(row["state"]) if packed else unpack_state(row["state"]), json.loads(row["rng_json"])

    def epochs(self, trial_ids=None, max_epoch: int | None = None) -> list[dict]:
        """Epoch rows joined with their trial (configuration, seed), ordered by trial and epoch."""
        sql = ("SELECT e.trial_id, t.experiment, t.configuration, t.seed, e.epoch, e.train_loss, e.train_accuracy, "
               "e.test_loss, e.test_accuracy, e.seconds, e.finished_at, e.val_loss, e.val_accuracy, e.node, e.host "
               "FROM epochs e JOIN trials t ON t.id = e.trial_id")
        cond, args = [], []
        if trial_ids is not None:
            cond.append(f"e.trial_id IN ({','.join('?' * len(trial_ids))})")
            args += list(trial_ids)
        if max_epoch is not None:
            cond.append("e.epoch <= ?")
            args.append(max_epoch)
        if cond:
            sql += " WHERE " + " AND ".join(cond)
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY e.trial_id, e.epoch", args)]

    def trials(self, experiment: str | None = None) -> list[dict]:
        sql = "SELECT id, experiment, configuration, seed, spec_json, epochs, status, error FROM trials"
        rows = self.conn.execute(sql + (" WHERE experiment = ?" if experiment else "") + " ORDER BY id",
                                 (experiment,) if experiment else ())
        return [dict(r) for r in rows]
