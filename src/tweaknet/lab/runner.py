"""Run an experiment's trials in parallel worker processes, resumably, with progress.

A trial (one configuration and one seed) trains epoch by epoch: seed once, build the model, then
``fit(epochs=e + 1, initial_epoch=e)`` and evaluate the test set; after every epoch its row and a
checkpoint (model state and the global random state) are committed together.  Started again, a
trial rebuilds its model from the spec, loads the checkpoint and continues, so an interrupted run
(Ctrl-C, ``kill -9``, a crash) ends with exactly the numbers of an uninterrupted one.

Workers are spawned processes with single-threaded BLAS (unless OMP/OPENBLAS/MKL_NUM_THREADS
are set) that exit when their parent dies.  They send progress messages to the parent, which
shows one bar per running trial on a terminal and one line per finished epoch otherwise.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import signal
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from .spec import trial_hash
from .store import OwnershipLost, Store

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_QUEUE = None
_STORES: dict[str, Store] = {}


def label(trial: dict) -> str:
    return f"{trial['configuration']} seed {trial['seed']}"


# -- worker side ----------------------------------------------------------------------------------------
def _send(msg):
    if _QUEUE is not None:
        _QUEUE.put(msg)


def _watch_parent(parent: int):
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:  # orphaned: the parent was killed
            os._exit(3)


def _init_worker(queue, parent: int):
    global _QUEUE
    _QUEUE = queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt stops
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def run_trial(job: dict) -> dict:
    """Train one trial to its epoch count, resuming from its checkpoint (runs in a worker process)."""
    from .. import seeding
    from ..utils import set_random_seed
    from . import build
    trial, tid, owner, key = job["trial"], job["id"], job["owner"], job["id"]
    store = _STORES.get(job["db"]) or _STORES.setdefault(job["db"], Store(job["db"]))
    store.claim(tid, owner)
    try:
        data = build.load_data(trial["data"])
        if trial.get("data_fingerprint", data.fingerprint) != data.fingerprint:
            raise ValueError(f"this worker reads other data (fingerprint {data.fingerprint}) than the run was "
                             f"registered with ({trial['data_fingerprint']}): did TWEAKNET_DATA change?")
        set_random_seed(trial["seed"])
        model = build.build_model(trial, data)
        start, epochs = 0, trial["train"]["epochs"]
        ck = store.checkpoint(tid)
        if ck is not None:
            start, state, rng = ck
            model.set_state(state)
            seeding.set_state(rng)
        _send(("start", key, start, epochs))
        for e in range(start, epochs):
            t0 = time.perf_counter()
            hist = model.fit(data.x_train, data.y_train, batch_size=trial["train"]["batch_size"], epochs=e + 1,
                             initial_epoch=e, shuffle=trial["train"]["shuffle"], verbose=0).history
            ev = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
            seconds = time.perf_counter() - t0
            metrics = {"train_loss": hist["loss"][-1], "train_accuracy": hist["accuracy"][-1],
                       "test_loss": ev["loss"], "test_accuracy": ev["accuracy"]}
            store.commit_epoch(tid, owner, e + 1, metrics, seconds, model.get_state(), seeding.get_state())
            _send(("epoch", key, e + 1, epochs, metrics, seconds))
        store.finish(tid, owner)
        _send(("done", key, epochs))
        return {"id": tid, "status": "done"}
    except OwnershipLost as exc:
        _send(("error", key, str(exc)))
        return {"id": tid, "status": "lost", "error": str(exc)}
    except Exception:
        tb = traceback.format_exc()
        store.finish(tid, owner, "failed", tb)
        _send(("error", key, tb))
        return {"id": tid, "status": "failed", "error": tb}


# -- progress display (parent side) --------------------------------------------------------------------
def _epoch_line(name, e, epochs, m, seconds):
    return (f"{name}: epoch {e}/{epochs}  loss {m['train_loss']:.4f}  acc {m['train_accuracy']:.4f}  "
            f"test loss {m['test_loss']:.4f}  test acc {m['test_accuracy']:.4f}  "
            f"test error {100 * (1 - m['test_accuracy']):.2f}%  ({seconds:.2f} s)")


class LineDisplay:
    """One line per finished epoch per trial (for logs and pipes)."""

    def __init__(self, names, stream=None):
        self.names, self.stream = names, stream or sys.stdout

    def write(self, text):
        print(text, file=self.stream, flush=True)

    def handle(self, msg):
        kind, key = msg[0], msg[1]
        name = self.names[key]
        if kind == "start" and msg[2] > 0:
            self.write(f"{name}: resuming after epoch {msg[2]}/{msg[3]}")
        elif kind == "epoch":
            self.write(_epoch_line(name, *msg[2:]))
        elif kind == "error":
            self.write(f"{name}: FAILED: {msg[2].strip().splitlines()[-1]}")

    def close(self):
        pass


class BarDisplay(LineDisplay):
    """A tqdm bar of epochs per running trial; finished epochs print above the bars.

    Progress is per epoch, never per batch: a per-batch callback would take ``fit`` off its compiled
    path, whose numbers differ from the reference path's in the last bits.
    """

    def __init__(self, names, stream=None):
        super().__init__(names, stream)
        import tqdm
        self.tqdm, self.bars = tqdm.tqdm, {}

    def write(self, text):
        self.tqdm.write(text, file=self.stream)

    def handle(self, msg):
        kind, key = msg[0], msg[1]
        if kind == "start":
            start, epochs = msg[2:]
            self.bars[key] = self.tqdm(total=epochs, initial=start, desc=self.names[key], unit="epoch",
                                       leave=False, file=self.stream, dynamic_ncols=True)
            if start:
                super().handle(msg)
        elif kind == "epoch" and key in self.bars:
            bar = self.bars[key]
            bar.update(msg[2] - bar.n)
            bar.set_postfix_str(f"test error {100 * (1 - msg[4]['test_accuracy']):.2f}%")
            super().handle(msg)
        elif kind in ("done", "error"):
            bar = self.bars.pop(key, None)
            if bar is not None:
                bar.close()
            super().handle(msg)

    def close(self):
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def make_display(names, mode="auto", stream=None):
    """``mode``: 'auto' (bars on a terminal, lines otherwise), 'bars', 'lines' or 'none'."""
    stream = stream or sys.stdout
    if mode == "none":
        return None
    if mode == "bars" or (mode == "auto" and stream.isatty()):
        try:
            return BarDisplay(names, stream)
        except ImportError:
            pass
    return LineDisplay(names, stream)


# -- parent side -----------------------------------------------------------------------------------------
@dataclass
class Outcome:
    trials: list  # {'id', 'trial', 'done'} per trial, in experiment order
    ran: int = 0  # trials that trained in this invocation
    failed: list = field(default_factory=list)  # (trial, error text)
    interrupted: bool = False


def validate(experiment, overrides=(), check=True) -> list[dict]:
    """The experiment's trials, each with the fingerprint of its data; with ``check``, each distinct
    configuration is built and trained for a few steps first (see ``build.check_trial``), so that a
    spec that cannot train fails here, before anything is stored."""
    from . import build
    trials = experiment.trials(overrides)
    seen = set()
    for t in trials:
        t["data_fingerprint"] = build.load_data(t["data"]).fingerprint
        h = trial_hash({**t, "seed": 0})
        if check and h not in seen:
            seen.add(h)
            build.check_trial(t)
    build.clear_cache()  # the workers load their own copy
    return trials


def prepare(experiment, out_dir, overrides=(), restart=False, check=True):
    """Validate everything, open the store and register the trials; return ``(store, rows)``."""
    trials = validate(experiment, overrides, check)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = Store(out_dir / "runs.sqlite")
    if restart:
        store.delete_experiment(experiment.name)
    store.register_experiment(experiment.name, experiment.source)
    return store, store.upsert_trials(trials)


def execute(rows, db_path, jobs=None, display="auto", stream=None) -> Outcome:
    """Train every unfinished trial of ``rows`` in ``jobs`` worker processes."""
    outcome = Outcome(trials=rows)
    pending = [r for r in rows if r["done"] < r["trial"]["train"]["epochs"]]
    if not pending:
        return outcome
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(pending)))
    names = {r["id"]: label(r["trial"]) for r in rows}
    shown = make_display(names, display, stream)
    owner = uuid.uuid4().hex
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    saved = {v: os.environ.get(v) for v in _THREAD_VARS}
    for v in _THREAD_VARS:
        os.environ.setdefault(v, "1")
    pool = None

    def drain(timeout):
        try:
            msg = q.get(timeout=timeout)
            while True:
                if shown is not None:
                    shown.handle(msg)
                msg = q.get_nowait()
        except queue_mod.Empty:
            pass

    try:
        # A worker that dies (killed, out of memory) breaks the whole pool: every trial it had not finished
        # is then retried once in a new pool, resuming from its checkpoint, so that the others still finish.
        todo, tries = list(pending), {r["id"]: 0 for r in pending}
        while todo:
            pool = ProcessPoolExecutor(min(jobs, len(todo)), mp_context=ctx, initializer=_init_worker,
                                       initargs=(q, os.getpid()))
            futures = {pool.submit(run_trial, {"id": r["id"], "trial": r["trial"], "db": str(db_path),
                                               "owner": owner}): r for r in todo}
            left, todo = set(futures), []
            while left:
                drain(0.1)
                done, left = wait(left, timeout=0, return_when=FIRST_COMPLETED)
                for f in done:
                    r = futures[f]
                    try:
                        res = f.result()
                    except BrokenProcessPool as exc:  # this trial's worker, or another one, died
                        tries[r["id"]] += 1
                        if tries[r["id"]] < 2:
                            todo.append(r)
                            continue
                        res = {"status": "failed", "error": f"worker process failed twice: {exc!r}"}
                    except Exception as exc:
                        res = {"status": "failed", "error": f"worker process failed: {exc!r}"}
                    outcome.ran += 1
                    if res["status"] != "done":
                        outcome.failed.append((r["trial"], res["error"]))
            time.sleep(0.05)
            drain(0.05)
            pool.shutdown(wait=True)
    except KeyboardInterrupt:
        outcome.interrupted = True
        if pool is not None:
            for p in list((getattr(pool, "_processes", None) or {}).values()):  # the workers this call started
                p.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
        try:  # trials this run was training are no longer 'running' (a newer run's trials are not touched)
            with Store(db_path) as s:
                for r in pending:
                    s.finish(r["id"], owner, "interrupted")
        except Exception:  # the store stays consistent either way; resuming does not need the status
            pass
    finally:
        if shown is not None:
            shown.close()
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
    return outcome
