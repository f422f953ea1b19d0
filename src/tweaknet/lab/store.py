"""The SQLite store of an experiment folder, ``DIR/runs.sqlite``: trials, epoch rows, checkpoints.

Tables::

    experiments(name, source, created, updated)              the experiment file as run
    trials(id, experiment, configuration, seed, spec_json, spec_hash, epochs, status, owner, error, ...)
    epochs(trial_id, epoch, train_loss, train_accuracy, test_loss, test_accuracy, seconds, finished_at,
           val_loss, val_accuracy, node, host, machine)
    checkpoints(trial_id, epoch, state, rng_json, created, digest)   the latest state of each trial
    machines(id, key, record_json, created)                  where epochs were trained (.machine)
    reports(name, key, variants_json, created)               which spec owns the report files NAME.*
    results                                                  view: epochs joined with their trial

Trials are content-addressed: a trial is found by its ``spec_hash`` (:func:`content_key`: every field of
its spec that changes the numbers, so not its experiment's or configuration's name, its description, its
epoch count or its seed; with the fingerprint of its data and whether it is a grid's or a search's
trial) and its seed.  So another spec is another trial, stored beside the first, never a conflict; the
same spec under another name (a configuration copied into another file) is the same trial, trained
once; and more epochs extend a trial.  ``experiment`` and ``configuration`` name a trial as the run
that registered it last called it.

``epoch`` counts completed epochs (1 = after the first).  Epoch rows and the trial's checkpoint
after the last of them are written in one transaction, so the store never holds one without the
other.  A checkpoint is ``model.get_state()`` (weights, optimizer slots and step count) as a NumPy
``.npz`` archive in a BLOB, and ``tweaknet.seeding.get_state()`` as JSON; nothing is pickled.  Its
``digest`` (sha256 of the trial's id and spec hash, the epoch, the state and the random state) ties
it to its trial: a checkpoint that was damaged or copied from another trial, or a trial whose epoch
rows do not run 1..N up to its checkpoint, is found when the trial is registered again, and that
trial is trained again from its start (:meth:`Store.upsert_trials` says which, and why).
``node`` is where the epoch was trained (the Ray node id; in the local pool the host name), ``host``
that machine's name, ``machine`` its record (:mod:`.machine`: CPU and vector width, BLAS and its
threads, versions), one row per distinct record.  A trial's ``status``: 'pending', 'running', 'done', 'failed', 'interrupted',
'pruned' (a search stopped it) or 'diverged' (its loss became NaN or infinite: its numbers are not
an error rate).

One process writes: the driver of a run (:mod:`.engine`); workers send it their epochs.  WAL mode
lets readers work beside it.  Each trial has an ``owner`` (the run that claimed it last); a run that
lost its trial to a newer run cannot commit.  A second run into the same folder waits until the
first has finished (:meth:`Store.hold_run`).  A lock held by another program (an ``sqlite3`` shell
in a transaction) is waited on with a message on stderr, for ``wait`` seconds at most (default 60,
or ``TWEAKNET_STORE_WAIT``), then :class:`StoreLocked` is raised.

Opening checks the store before anything is written (:class:`StoreDamaged`, with what to do): that
it is an SQLite file (not a folder, not garbage), that ``PRAGMA quick_check`` passes, that its
schema version is one this release reads, and that the lab's tables have the lab's columns (not a
foreign ``trials`` table).

Schema versions and migrations
------------------------------
The schema version is SQLite's ``PRAGMA user_version``: 0 for stores written before versions existed
(tweaknet 0.1.0), else the number of migrations applied.  :data:`MIGRATIONS` is the list of steps;
step ``i`` (counting from 1) takes a store from version ``i - 1`` to ``i``.  Opening an older store runs
the missing steps in one transaction (all or nothing, while no other process writes) and sets the
version; a store of a newer version than :data:`SCHEMA_VERSION` is refused (upgrade tweaknet).  A new
store is created by running every step from version 0.

To add a column or a table (the machine record of a trial, content-addressed trials, ...): write a
function ``_vN(conn)`` that makes the change with plain SQL (``ALTER TABLE trials ADD COLUMN machine
TEXT``, ``CREATE TABLE machines(...)``; fill the new fields of existing rows if they can be derived),
append it to :data:`MIGRATIONS` (never edit or reorder a released step), add the columns the lab
now reads to :data:`REQUIRED`, recreate the ``results`` view (:func:`_create_view`) if it should show
them, and add a test that opens ``tests/lab/data/store-0.1.0.sqlite`` (written by tweaknet 0.1.0)
and a store of the previous version and finds the new field.  ``SCHEMA_VERSION`` follows.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

from .spec import trial_hash

#: The ``results`` view from schema version 3: with the machine record of each epoch.
VIEW_V3 = """
CREATE VIEW results AS
    SELECT t.experiment, t.configuration, t.seed, e.epoch, e.train_loss, e.train_accuracy, e.test_loss,
           e.test_accuracy, 1.0 - e.test_accuracy AS test_error, e.seconds, e.finished_at, t.spec_json,
           e.val_loss, e.val_accuracy, 1.0 - e.val_accuracy AS val_error, e.node, e.host, t.status,
           m.record_json AS machine
    FROM epochs e JOIN trials t ON t.id = e.trial_id LEFT JOIN machines m ON m.id = e.machine;
"""

#: The view of epochs joined with their trial (recreated by migrations that change what it shows).
VIEW = """
CREATE VIEW results AS
    SELECT t.experiment, t.configuration, t.seed, e.epoch, e.train_loss, e.train_accuracy, e.test_loss,
           e.test_accuracy, 1.0 - e.test_accuracy AS test_error, e.seconds, e.finished_at, t.spec_json,
           e.val_loss, e.val_accuracy, 1.0 - e.val_accuracy AS val_error, e.node, e.host, t.status
    FROM epochs e JOIN trials t ON t.id = e.trial_id;
"""
#: An epoch's metrics; the validation ones are None without ``data.validation_split``, the test ones
#: None in a search (which never looks at the test set while it trains).
METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy")


def _create_view(conn, sql=None) -> None:
    conn.execute("DROP VIEW IF EXISTS results")
    conn.execute(sql or VIEW)


def content_key(trial: dict, scope: str = "grid") -> str:
    """The address of a trial's computation in a store: a hash of its spec without what does not change the
    numbers (the experiment's and the configuration's names, the description), without the epoch count (more
    epochs extend the trial) and the seed (the other half of the address), with ``scope``: ``'grid'`` (tested
    after every epoch) or ``'search'`` (never tested while it trains), which store different metrics."""
    t = json.loads(json.dumps(trial))
    for k in ("experiment", "configuration", "description", "seed"):
        t.pop(k, None)
    t.get("train", {}).pop("epochs", None)
    t["scope"] = scope
    return hashlib.sha256(json.dumps(t, sort_keys=True).encode()).hexdigest()[:16]


def _rebuild_trials(conn) -> None:
    """Drop ``UNIQUE(experiment, configuration, seed)`` from ``trials``: SQLite cannot drop a constraint, so
    the table is built again, with its children (``epochs``, ``checkpoints``: created as they are, pointing
    at the new table, so that dropping the old one cascades to nothing)."""
    import re
    _script(conn, """
    CREATE TABLE trials_v3(
        id INTEGER PRIMARY KEY,
        experiment TEXT NOT NULL, configuration TEXT NOT NULL, seed INTEGER NOT NULL,
        spec_json TEXT NOT NULL, spec_hash TEXT NOT NULL, epochs INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending', owner TEXT, error TEXT,
        created REAL NOT NULL, updated REAL NOT NULL);
    INSERT INTO trials_v3(id, experiment, configuration, seed, spec_json, spec_hash, epochs, status, owner, error,
                          created, updated)
        SELECT id, experiment, configuration, seed, spec_json, spec_hash, epochs, status, owner, error, created,
               updated FROM trials
    """)
    for child in ("epochs", "checkpoints"):
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (child,)).fetchone()
        sql = re.sub(rf'^CREATE TABLE\s+(IF NOT EXISTS\s+)?"?{child}"?', f"CREATE TABLE {child}_v3", sql.strip())
        sql = re.sub(r'REFERENCES\s+"?trials"?\s*\(', "REFERENCES trials_v3(", sql)
        conn.execute(sql)
        conn.execute(f"INSERT INTO {child}_v3 SELECT * FROM {child}")
    _script(conn, """
    DROP VIEW IF EXISTS results;
    DROP TABLE checkpoints;
    DROP TABLE epochs;
    DROP TABLE trials;
    ALTER TABLE trials_v3 RENAME TO trials;
    ALTER TABLE epochs_v3 RENAME TO epochs;
    ALTER TABLE checkpoints_v3 RENAME TO checkpoints
    """)


def _v3(conn) -> None:
    """Content-addressed trials and the machine record (issue 16).  ``trials`` loses
    ``UNIQUE(experiment, configuration, seed)`` (another spec under the same names is another trial) and
    gains an index on ``(spec_hash, seed)``; ``spec_hash`` becomes :func:`content_key` (a stored trial is a
    search's when one of its epochs was not tested) and the checkpoints' digests follow it; ``epochs``
    gains ``machine`` (None for the epochs trained before), the tables ``machines`` and ``reports`` appear,
    and the ``results`` view shows the machine."""
    _rebuild_trials(conn)
    _script(conn, """
    CREATE INDEX trials_content ON trials(spec_hash, seed);
    CREATE TABLE machines(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, record_json TEXT NOT NULL,
                          created REAL NOT NULL);
    CREATE TABLE reports(name TEXT PRIMARY KEY, key TEXT NOT NULL, variants_json TEXT NOT NULL,
                         created REAL NOT NULL);
    ALTER TABLE epochs ADD COLUMN machine INTEGER REFERENCES machines(id)
    """)
    searched = {r[0] for r in conn.execute("SELECT DISTINCT trial_id FROM epochs WHERE test_accuracy IS NULL")}
    for tid, spec_json in conn.execute("SELECT id, spec_json FROM trials").fetchall():
        try:
            h = content_key(json.loads(spec_json), "search" if tid in searched else "grid")
        except (ValueError, TypeError, AttributeError):
            continue  # not a spec: left as it is (opening reports it when it is used)
        conn.execute("UPDATE trials SET spec_hash = ? WHERE id = ?", (h, tid))
    for tid, h, epoch, state, rng in conn.execute(
            "SELECT c.trial_id, t.spec_hash, c.epoch, c.state, c.rng_json FROM checkpoints c "
            "JOIN trials t ON t.id = c.trial_id").fetchall():
        conn.execute("UPDATE checkpoints SET digest = ? WHERE trial_id = ?",
                     (checkpoint_digest(tid, h, epoch, state, rng), tid))
    _create_view(conn, VIEW_V3)


def _script(conn, sql: str) -> None:
    """Run several statements inside the open transaction (``executescript`` would commit it first)."""
    for statement in sql.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1(conn) -> None:
    """The schema of tweaknet 0.1.0: the four tables, the columns added to ``epochs`` during 0.1.0's
    development (a store of that time gains them), and the view."""
    _script(conn, """
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
    """)
    have = {r[1] for r in conn.execute("PRAGMA table_info(epochs)")}
    for name, kind in (("val_loss", "REAL"), ("val_accuracy", "REAL"), ("node", "TEXT"), ("host", "TEXT")):
        if name not in have:
            conn.execute(f"ALTER TABLE epochs ADD COLUMN {name} {kind}")
    _create_view(conn)


def _v2(conn) -> None:
    """Checkpoints tied to their trial (``checkpoints.digest``, computed for the stored ones), and data
    loaders marked as code: a trial stored with ``data.dataset = 'module:function'`` now says
    ``{'python': 'module:function'}`` (its spec hash follows), so that it resumes under the new form."""
    for row in conn.execute("SELECT id, spec_json FROM trials").fetchall():
        try:
            t = json.loads(row[1])
            dataset = t["data"]["dataset"]
        except (ValueError, TypeError, KeyError):
            continue  # not a spec this step can read: left as it is (opening reports it when it is used)
        if isinstance(dataset, str) and ":" in dataset:
            t["data"]["dataset"] = {"python": dataset}
            conn.execute("UPDATE trials SET spec_json = ?, spec_hash = ? WHERE id = ?",
                         (json.dumps(t), trial_hash(t), row[0]))
    conn.execute("ALTER TABLE checkpoints ADD COLUMN digest TEXT")
    for tid, h, epoch, state, rng in conn.execute(
            "SELECT c.trial_id, t.spec_hash, c.epoch, c.state, c.rng_json FROM checkpoints c "
            "JOIN trials t ON t.id = c.trial_id").fetchall():
        conn.execute("UPDATE checkpoints SET digest = ? WHERE trial_id = ?",
                     (checkpoint_digest(tid, h, epoch, state, rng), tid))


#: The schema's steps, in order (see the module's docstring): never edit a released one, append.
MIGRATIONS = (_v1, _v2, _v3)
SCHEMA_VERSION = len(MIGRATIONS)
#: The columns the lab reads from each of its tables: a table of these names without them is not the lab's.
REQUIRED = {
    "experiments": {"name", "source", "created", "updated"},
    "trials": {"id", "experiment", "configuration", "seed", "spec_json", "spec_hash", "epochs", "status", "owner",
               "error", "created", "updated"},
    "epochs": {"trial_id", "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds",
               "finished_at", "val_loss", "val_accuracy", "node", "host", "machine"},
    "checkpoints": {"trial_id", "epoch", "state", "rng_json", "created", "digest"},
    "machines": {"id", "key", "record_json"},
    "reports": {"name", "key", "variants_json"},
}
#: What a table must have had in any released version (checked before a store of version 0 is upgraded).
REQUIRED_V0 = {"trials": {"id", "experiment", "configuration", "seed", "spec_json", "spec_hash", "epochs"},
               "epochs": {"trial_id", "epoch", "seconds"}, "checkpoints": {"trial_id", "epoch", "state"},
               "experiments": {"name", "source"}}
#: Seconds to wait for a lock held by another program (``TWEAKNET_STORE_WAIT`` overrides it).
WAIT = 60.0
SQLITE_MAGIC = b"SQLite format 3\x00"


def checkpoint_digest(trial_id, spec_hash, epoch, state, rng_json) -> str:
    """What ties a checkpoint to its trial: sha256 of the trial's id and spec hash, the epoch, the state and
    the random state."""
    h = hashlib.sha256(f"{trial_id}:{spec_hash}:{epoch}:".encode())
    h.update(bytes(state))
    h.update(str(rng_json).encode())
    return h.hexdigest()


class StoreError(RuntimeError):
    """The store holds something that conflicts with the request (e.g. a trial with another spec), or
    cannot be used (damaged, locked, read-only); the message names the file and what to do."""


class StoreDamaged(StoreError):
    """The file is not a lab store this release can use: a folder, not SQLite, damaged, foreign tables, a
    newer schema.  ``tweaknet run --restart`` moves it aside (:func:`move_aside`) and starts a new one."""


class StoreLocked(StoreError):
    """Another program held the store's lock for longer than the wait allowed."""


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


def _busy(exc) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _notice(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _what_to_do(path) -> str:
    return (f"rerun with --restart to move it aside (kept as {Path(path).name}.damaged-TIME) and start a new "
            f"store, or give another --out folder")


def move_aside(path) -> Path:
    """Rename a damaged store (and its ``-wal`` and ``-shm`` files) to ``PATH.damaged-YYYYmmdd-HHMMSS``;
    return the new path.  Nothing is deleted."""
    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    return target


def open_for_run(path, restart: bool = False, notice=None) -> "Store":
    """The store a run writes: opened (created or upgraded), the folder's run lock held (a second run waits
    for the first, :meth:`Store.hold_run`).  With ``restart``, a damaged store (:class:`StoreDamaged`) is
    moved aside (:func:`move_aside`, nothing deleted) and a new one started, with a message."""
    notice = notice or _notice
    try:
        store = Store(path, notice=notice)
    except StoreDamaged as exc:
        if not restart:
            raise
        moved = move_aside(path)
        notice(f"tweaknet: {str(exc).split(':')[0]}; moved it to {moved} and started a new store")
        store = Store(path, notice=notice)
    try:
        store.hold_run()
    except BaseException:
        store.close()
        raise
    return store


class Store:
    """One connection to ``path``: checked, created or upgraded to :data:`SCHEMA_VERSION` (see the module's
    docstring).  ``wait``: seconds to wait for a lock held by another program (default
    ``TWEAKNET_STORE_WAIT`` or 60); ``notice``: called with the message shown while waiting (default:
    print it on stderr).  Raises :class:`StoreDamaged`, :class:`StoreLocked` or :class:`StoreError`."""

    def __init__(self, path, wait: float | None = None, notice=None):
        self.path = str(path)
        if wait is None:
            try:
                wait = float(os.environ.get("TWEAKNET_STORE_WAIT", WAIT))
            except ValueError:
                wait = WAIT
        self.wait, self.notice = wait, notice or _notice
        self._run_lock = None
        self._check_file()
        try:
            self.conn = sqlite3.connect(self.path, timeout=1.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store ({self.path}): {exc}; check that its folder exists and "
                             f"is writable") from None
        try:
            self.conn.row_factory = sqlite3.Row
            # Text damaged on disk (not UTF-8) reads as U+FFFD, never as a decoding error deep in a query.
            self.conn.text_factory = lambda b: b.decode("utf-8", "replace")
            self._retry(self._open)
        except BaseException:
            self.conn.close()
            raise

    # -- opening -----------------------------------------------------------------------------------
    def _check_file(self):
        path = Path(self.path)
        if path.is_dir():
            raise StoreDamaged(f"the store is a folder, not a file ({path}): {_what_to_do(path)}")
        try:
            with open(path, "rb") as fh:
                head = fh.read(len(SQLITE_MAGIC))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot read the store ({path}): {exc.strerror or exc}; check its permissions") \
                from None
        if head and head != SQLITE_MAGIC:
            raise StoreDamaged(f"the store is not an SQLite database ({path}): {_what_to_do(path)}")

    def _retry(self, step):
        """Run ``step()``; while another program holds the lock, say so once and retry, up to ``wait`` s."""
        deadline = None
        while True:
            try:
                return step()
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise self._explain(exc) from None
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.wait
                    self.notice(f"tweaknet: waiting for the store ({self.path}): another program holds its lock; "
                                f"waiting up to {self.wait:.0f} s (TWEAKNET_STORE_WAIT)")
                if now >= deadline:
                    raise StoreLocked(f"the store is locked by another program ({self.path}): waited "
                                      f"{self.wait:.0f} s; close the program that holds it (an sqlite3 shell, a "
                                      f"database browser) and run the same command again") from None
            except sqlite3.DatabaseError as exc:
                raise self._explain(exc) from None
            except UnicodeDecodeError:  # SQLite's message quotes a damaged schema's bytes
                raise StoreDamaged(f"the store is damaged ({self.path}): its schema is not UTF-8 text; "
                                   f"{_what_to_do(self.path)}") from None

    def _explain(self, exc) -> StoreError:
        text = str(exc)
        if "readonly" in text or "read-only" in text or "unable to open" in text:
            return StoreError(f"cannot write the store ({self.path}): {text}; make the file and its folder "
                              f"writable, or give another --out folder")
        if "disk is full" in text or "disk I/O" in text:
            return StoreError(f"cannot write the store ({self.path}): {text}; free some space and run the "
                              f"same command again (what was stored is kept)")
        return StoreDamaged(f"the store is damaged ({self.path}): {text}; {_what_to_do(self.path)}")

    def _open(self):
        c = self.conn
        c.execute("PRAGMA busy_timeout = 1000")
        check = [r[0] for r in c.execute("PRAGMA quick_check")]
        if check != ["ok"]:
            raise StoreDamaged(f"the store is damaged ({self.path}): {'; '.join(check[:3])}; "
                               f"{_what_to_do(self.path)}")
        version = c.execute("PRAGMA user_version").fetchone()[0]
        self._check_version(version)
        if version < SCHEMA_VERSION:  # every check before the first write (WAL mode changes the file's header)
            tables = self._check_tables(REQUIRED_V0)
            if version == 0 and tables and not set(tables) & set(REQUIRED):
                raise StoreDamaged(f"the file is an SQLite database but not a lab store (tables "
                                   f"{', '.join(sorted(tables))}) ({self.path}): {_what_to_do(self.path)}")
        else:
            self._check_tables(REQUIRED)
        if c.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            c.execute("PRAGMA journal_mode = WAL")
        c.execute("PRAGMA synchronous = NORMAL")  # in WAL mode: durable across process crashes
        c.execute("PRAGMA foreign_keys = ON")
        if version < SCHEMA_VERSION:
            self._migrate()
        self._check_tables(REQUIRED)

    def _check_version(self, version):
        if version > SCHEMA_VERSION:
            raise StoreDamaged(f"the store was written by a newer tweaknet (schema version {version}; this one "
                               f"reads up to {SCHEMA_VERSION}) ({self.path}): upgrade tweaknet, or give another "
                               f"--out folder")

    def _tables(self) -> dict:
        names = [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: {r[1] for r in self.conn.execute(f'PRAGMA table_info("{n}")')} for n in names}

    def _check_tables(self, required):
        tables = self._tables()
        for name, columns in required.items():
            if name in tables and not columns <= tables[name]:
                missing = ", ".join(sorted(columns - tables[name]))
                raise StoreDamaged(f"the store holds a table {name!r} that tweaknet did not write (no column "
                                   f"{missing}) ({self.path}): {_what_to_do(self.path)}")
        return tables

    def _migrate(self):
        """Run the missing :data:`MIGRATIONS` in one transaction and set the schema version."""
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            version = c.execute("PRAGMA user_version").fetchone()[0]  # another process may have upgraded it
            self._check_version(version)
            if version == 0:
                tables = self._check_tables(REQUIRED_V0)
                if tables and not set(tables) & set(REQUIRED):
                    raise StoreDamaged(f"the file is an SQLite database but not a lab store (tables "
                                       f"{', '.join(sorted(tables))}) ({self.path}): {_what_to_do(self.path)}")
            for step in MIGRATIONS[version:]:
                step(c)
            c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def close(self):
        self.release_run()
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close_interrupted(self) -> None:
        """Roll back a transaction that Ctrl-C left open (the interrupt can land between ``BEGIN`` and the block
        that follows, or inside ``COMMIT``): its writes were not committed, and the store takes new ones."""
        if self.conn is not None and self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def transaction(self):
        store = self

        class _Tx:
            def __enter__(self):
                store._retry(lambda: store.conn.execute("BEGIN IMMEDIATE"))

            def __exit__(self, kind, *rest):
                if kind is None:
                    store._retry(lambda: store.conn.execute("COMMIT"))
                else:
                    store.conn.execute("ROLLBACK")
        return _Tx()

    # -- one run at a time -------------------------------------------------------------------------
    def hold_run(self, wait_notice=None) -> None:
        """Take the folder's run lock (``runs.sqlite.run-lock``, an advisory ``flock`` the system releases
        when the process ends, even by ``kill -9``): a second run into the same folder waits here, with a
        message, until the first has finished, then finds its trials complete and trains only what is
        left.  Where ``fcntl`` does not exist (Windows) this does nothing."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return
        lock_path = f"{self.path}.run-lock"
        try:
            fh = open(lock_path, "a+")
        except OSError as exc:
            raise StoreError(f"cannot create the run lock ({lock_path}): {exc.strerror or exc}; make the folder "
                             f"writable") from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            (wait_notice or self.notice)(
                f"tweaknet: another run ({holder}) is training into {Path(self.path).parent}; waiting for it to "
                f"finish (Ctrl-C to stop waiting; nothing is trained twice)")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX)
            except BaseException:
                fh.close()
                raise
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        self._run_lock = fh

    def release_run(self) -> None:
        if self._run_lock is not None:
            self._run_lock.close()  # closing the file releases the flock
            self._run_lock = None

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

    def upsert_trials(self, trials: list[dict], scope: str = "grid") -> list[dict]:
        """Insert new trials, match stored ones by their content (:func:`content_key` with ``scope``) and seed;
        return ``{'id', 'trial', 'done', 'status', 'reset'}`` per trial, in order.

        A stored trial is renamed to the names it has here and its target epoch count updated; a spec that
        differs in anything that changes the numbers is another trial, inserted beside the stored one.  Two
        trials of ``trials`` with the same content and seed (a configuration written twice) get one row."""
        out, now = [], time.time()
        with self.transaction():
            for t in trials:
                h = content_key(t, scope)
                names = (t["experiment"], t["configuration"])
                row = self.conn.execute("SELECT id FROM trials WHERE spec_hash = ? AND seed = ? ORDER BY id LIMIT 1",
                                        (h, t["seed"])).fetchone()
                if row is None:
                    cur = self.conn.execute(
                        "INSERT INTO trials(experiment, configuration, seed, spec_json, spec_hash, epochs, created, "
                        "updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (*names, t["seed"], json.dumps(t), h,
                                                                     t["train"]["epochs"], now, now))
                    tid = cur.lastrowid
                else:
                    tid = row["id"]
                    self.conn.execute("UPDATE trials SET experiment = ?, configuration = ?, spec_json = ?, epochs = ?, "
                                      "updated = ? WHERE id = ?", (*names, json.dumps(t), t["train"]["epochs"], now,
                                                                   tid))
                done, problem = self._resume_point(tid, h)
                if problem:
                    self.conn.execute("DELETE FROM epochs WHERE trial_id = ?", (tid,))
                    self.conn.execute("DELETE FROM checkpoints WHERE trial_id = ?", (tid,))
                    self.conn.execute("UPDATE trials SET status = 'pending', error = NULL WHERE id = ?", (tid,))
                    done = 0
                status = self.conn.execute("SELECT status FROM trials WHERE id = ?", (tid,)).fetchone()[0]
                if done >= t["train"]["epochs"] and status not in ("done", "diverged", "pruned"):
                    status = "done"  # complete, whatever an interrupted run wrote (stores of 0.1.0)
                    self.conn.execute("UPDATE trials SET status = 'done', error = NULL WHERE id = ?", (tid,))
                out.append({"id": tid, "trial": t, "done": done, "status": status, "reset": problem})
        return out

    def forget(self, trials: list[dict], scope: str = "grid") -> int:
        """Delete the stored trials (epochs, checkpoints) with the content and seed of ``trials``, as
        ``--restart`` does; return how many."""
        with self.transaction():
            return sum(self.conn.execute("DELETE FROM trials WHERE spec_hash = ? AND seed = ?",
                                         (content_key(t, scope), t["seed"])).rowcount for t in trials)

    # -- the report files' owners ----------------------------------------------------------------------
    def report_owner(self, name: str, key: str, variants: list) -> tuple[str, list]:
        """``(key, variants)`` of the spec that owns the report files ``NAME.*`` in this folder: the one stored,
        else (first come) ``key`` and ``variants``, stored now."""
        with self.transaction():
            row = self.conn.execute("SELECT key, variants_json FROM reports WHERE name = ?", (name,)).fetchone()
            if row is not None:
                return row["key"], json.loads(row["variants_json"])
            self.conn.execute("INSERT INTO reports VALUES (?, ?, ?, ?)", (name, key, json.dumps(variants),
                                                                          time.time()))
        return key, variants

    # -- machines --------------------------------------------------------------------------------------
    def _machine_id(self, record) -> int | None:
        """The row of a machine record (inserted the first time it is seen); None for no record."""
        if not record:
            return None
        text = json.dumps(record, sort_keys=True)
        key = hashlib.sha256(text.encode()).hexdigest()[:16]
        row = self.conn.execute("SELECT id FROM machines WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return row["id"]
        return self.conn.execute("INSERT INTO machines(key, record_json, created) VALUES (?, ?, ?)",
                                 (key, text, time.time())).lastrowid

    def machines(self, trial_ids) -> list[dict]:
        """The machine records the epochs of ``trial_ids`` were trained on, in the order first used, each
        with ``epochs``: how many of those epochs; epochs trained before records were kept are left out."""
        ids = list(trial_ids)
        if not ids:
            return []
        rows = self.conn.execute(
            f"SELECT m.record_json, COUNT(*) AS n, MIN(e.finished_at) AS first FROM epochs e JOIN machines m "
            f"ON m.id = e.machine WHERE e.trial_id IN ({','.join('?' * len(ids))}) GROUP BY m.id ORDER BY first",
            ids).fetchall()
        return [{**json.loads(r["record_json"]), "epochs": r["n"]} for r in rows]

    def _resume_point(self, tid: int, spec_hash: str):
        """``(epochs stored, None)``, or ``(0, why)`` when the trial's checkpoint or epoch rows cannot be trusted:
        a checkpoint not tied to this trial (copied, damaged), epoch rows that do not run 1..N up to it."""
        ck = self.conn.execute("SELECT epoch, state, rng_json, digest FROM checkpoints WHERE trial_id = ?",
                               (tid,)).fetchone()
        rows = [r[0] for r in self.conn.execute("SELECT epoch FROM epochs WHERE trial_id = ? ORDER BY epoch", (tid,))]
        if ck is None:
            return 0, (f"{len(rows)} epoch row(s) but no checkpoint" if rows else None)
        if ck["digest"] != checkpoint_digest(tid, spec_hash, ck["epoch"], ck["state"], ck["rng_json"]):
            return 0, f"its checkpoint after epoch {ck['epoch']} is damaged or belongs to another trial"
        missing = sorted(set(range(1, ck["epoch"] + 1)) - set(rows))
        if missing:
            return 0, f"epoch row(s) {', '.join(map(str, missing[:5]))} of {ck['epoch']} are missing"
        return ck["epoch"], None

    def claim(self, trial_id: int, owner: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE trials SET owner = ?, status = 'running', error = NULL, updated = ? "
                              "WHERE id = ?", (owner, time.time(), trial_id))

    def finish(self, trial_id: int, owner: str, status: str = "done", error: str | None = None) -> None:
        """Set the trial's status (if ``owner`` still owns it); after Ctrl-C, :meth:`interrupt`."""
        with self.transaction():
            self.conn.execute("UPDATE trials SET status = ?, error = ?, updated = ? WHERE id = ? AND owner = ?",
                              (status, error, time.time(), trial_id, owner))

    def interrupt(self, owner: str) -> None:
        """After Ctrl-C: every trial ``owner`` still has 'running' becomes 'interrupted', or 'done' where all its
        epochs are stored.  By owner, not by the trials the engine holds in flight: the interrupt can land between a
        claim and the engine's record of it, or after a trial's last epoch was committed and before it was marked."""
        stored = "(SELECT COALESCE(MAX(epoch), 0) FROM checkpoints WHERE trial_id = trials.id)"
        now = time.time()
        with self.transaction():
            self.conn.execute(f"UPDATE trials SET status = 'done', updated = ? WHERE owner = ? AND status = 'running' "
                              f"AND {stored} >= epochs", (now, owner))
            self.conn.execute("UPDATE trials SET status = 'interrupted', updated = ? WHERE owner = ? "
                              "AND status = 'running'", (now, owner))

    # -- epochs and checkpoints ----------------------------------------------------------------------
    def commit(self, owner: str, batch) -> set:
        """Write what workers sent, in one transaction: ``batch`` is a list of ``(trial_id, result)``, each
        result a dict of ``epochs`` (``{'epoch', 'metrics', 'seconds'}`` per epoch, in order), ``state``
        (the packed checkpoint after the last of them), ``rng``, ``node``, ``host`` and ``machine`` (the
        worker's :func:`.machine.record`, or None).  Trials that
        ``owner`` no longer owns are skipped; their ids are returned."""
        lost, now = set(), time.time()
        with self.transaction():
            for trial_id, res in batch:
                row = self.conn.execute("SELECT owner, spec_hash FROM trials WHERE id = ?", (trial_id,)).fetchone()
                if row is None or row["owner"] != owner:
                    lost.add(trial_id)
                    continue
                machine = self._machine_id(res.get("machine"))
                for e in res["epochs"]:
                    m = e["metrics"]
                    self.conn.execute(
                        "INSERT INTO epochs(trial_id, epoch, " + ", ".join(METRICS) + ", seconds, finished_at, node, "
                        "host, machine) VALUES (" + ", ".join("?" * (len(METRICS) + 7)) + ")",
                        (trial_id, e["epoch"], *(_real(m.get(k)) for k in METRICS), float(e["seconds"]), now,
                         res.get("node"), res.get("host"), machine))
                epoch, rng = res["epochs"][-1]["epoch"], json.dumps(res["rng"])
                digest = checkpoint_digest(trial_id, row["spec_hash"], epoch, res["state"], rng)
                self.conn.execute("INSERT INTO checkpoints(trial_id, epoch, state, rng_json, created, digest) VALUES "
                                  "(?, ?, ?, ?, ?, ?) ON CONFLICT(trial_id) DO UPDATE SET epoch = excluded.epoch, "
                                  "state = excluded.state, rng_json = excluded.rng_json, created = excluded.created, "
                                  "digest = excluded.digest", (trial_id, epoch, res["state"], rng, now, digest))
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
