"""Train an experiment's registered trials in a pool of spawned worker processes.

Workers are spawned processes with single-threaded BLAS (unless OMP/OPENBLAS/MKL_NUM_THREADS are
set) that run :func:`.worker.run_trial` and exit when their parent dies; their progress messages
go to a :mod:`.display` in the parent.  A worker that dies (killed, out of memory) breaks the
pool: every trial it had not finished is retried once in a new pool, resuming from its checkpoint.
Ctrl-C stops the workers and marks this run's unfinished trials ``interrupted``.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from .display import label, make_display
from .store import Store
from .worker import init_worker, run_trial

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
class Outcome:
    trials: list  # {'id', 'trial', 'done'} per trial, in experiment order
    ran: int = 0  # trials that trained in this invocation
    failed: dict = field(default_factory=dict)  # {trial id: error text}, in the order they failed
    interrupted: bool = False


def pending(rows) -> list:
    """The rows whose trial has fewer stored epochs than it asks for."""
    return [r for r in rows if r["done"] < r["trial"]["train"]["epochs"]]


def _single_threaded_blas():
    saved = {v: os.environ.get(v) for v in _THREAD_VARS}
    for v in _THREAD_VARS:
        os.environ.setdefault(v, "1")
    return saved


def _restore(saved):
    for v, old in saved.items():
        if old is None:
            os.environ.pop(v, None)
        else:
            os.environ[v] = old


def execute(rows, db_path, jobs=None, display="auto", stream=None) -> Outcome:
    """Train every unfinished trial of ``rows`` (from ``Store.upsert_trials``) in ``jobs`` worker processes;
    ``display``: see :func:`.display.make_display`."""
    outcome = Outcome(trials=rows)
    todo = pending(rows)
    if not todo:
        return outcome
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    shown = make_display({r["id"]: label(r["trial"]) for r in rows}, display, stream)
    owner = uuid.uuid4().hex
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    saved = _single_threaded_blas()
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
        tries = {r["id"]: 0 for r in todo}
        while todo:
            pool = ProcessPoolExecutor(min(jobs, len(todo)), mp_context=ctx, initializer=init_worker,
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
                        outcome.failed[r["id"]] = res["error"]
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
                for r in pending(rows):
                    s.finish(r["id"], owner, "interrupted")
        except Exception:  # the store stays consistent either way; resuming does not need the status
            pass
    finally:
        if shown is not None:
            shown.close()
        _restore(saved)
    return outcome
