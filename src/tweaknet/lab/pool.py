"""The local backend: jobs run in a pool of spawned worker processes on this machine (the default).

Workers are spawned processes with single-threaded BLAS (unless OMP/OPENBLAS/MKL_NUM_THREADS are
set) that run :func:`.worker.train_epochs` and exit when their parent dies.  A worker that dies
(killed, out of memory) breaks the pool, even one that dies while it sends its result (``_release``):
the jobs in flight come back as lost (the driver submits them again from their checkpoints) and the
next job starts a new pool.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from .worker import init_worker, train_epochs

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def single_threaded_blas() -> dict:
    """``{var: '1'}`` for each BLAS thread variable that is not set: what every worker runs with."""
    return {v: "1" for v in THREAD_VARS if v not in os.environ}


#: Seconds a dead worker may leave its pool unbroken before ``LocalPool.wait`` breaks it (``_stuck``).
STUCK_SECONDS = 5.0


def _workers(pool) -> list:
    """The worker processes of ``pool`` (a ``ProcessPoolExecutor``; CPython keeps them in ``_processes``)."""
    return list((getattr(pool, "_processes", None) or {}).values())


def _release(pool) -> None:
    """Stop every worker of ``pool`` (a ``ProcessPoolExecutor``) so that the executor's thread ends and the pool
    breaks: its jobs in flight then come back as lost.  A worker stopped (or killed) while it was sending its
    result leaves part of a message in the result pipe: the executor's thread waits for the rest, and the
    interpreter, at exit, for that thread, forever (CPython's executor keeps this end of the pipe open too, so the
    read never sees end-of-file).  With the workers gone, closing this end ends that read; and a job half written
    to a worker that died no longer holds up the executor's shutdown."""
    workers = _workers(pool)
    for p in workers:
        p.terminate()
    for p in workers:
        p.join(10)
    writer = getattr(getattr(pool, "_result_queue", None), "_writer", None)
    if writer is not None:
        writer.close()
    calls = getattr(pool, "_call_queue", None)
    if calls is not None:
        calls.cancel_join_thread()


class LocalPool:
    """``jobs`` spawned worker processes (see :mod:`.engine` for the backend protocol)."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self.ctx = mp.get_context("spawn")
        self.pool = None
        self.origin = {}  # future -> the pool it was submitted to
        self.env = single_threaded_blas()
        self.dead_since = None  # when a worker was first seen dead while the pool did not break (``_stuck``)
        os.environ.update(self.env)  # inherited by the spawned workers

    def capacity(self) -> int:
        return self.jobs

    def describe(self) -> str:
        return f"{self.jobs} local process{'es' if self.jobs > 1 else ''}"

    def submit(self, job):
        if self.pool is None:
            self.pool = ProcessPoolExecutor(self.jobs, mp_context=self.ctx, initializer=init_worker,
                                            initargs=(os.getpid(),))
        future = self.pool.submit(train_epochs, job)
        self.origin[future] = self.pool
        return future

    def wait(self, handles, timeout):
        done, _ = wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        if not done and self._stuck():  # a worker died while it sent its result: the pool never says so itself
            _release(self.pool)
            done, _ = wait(handles, timeout=STUCK_SECONDS, return_when=FIRST_COMPLETED)
        out = []
        for f in done:
            pool = self.origin.pop(f, None)
            try:
                out.append((f, f.result(), None))
            except BrokenProcessPool as exc:  # this job's worker, or another one, died
                out.append((f, None, f"a worker process died ({exc})"))
                if pool is self.pool:
                    self._drop()
            except Exception as exc:  # the job could not be sent or its result not received
                out.append((f, {"status": "failed", "error": f"worker process failed: {exc!r}"}, None))
        return out

    def _drop(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None

    def _stuck(self) -> bool:
        """Whether a worker of the pool has been dead for :data:`STUCK_SECONDS` without the pool breaking: the
        executor's thread then waits for the rest of a result that worker was sending when it died."""
        try:
            workers = _workers(self.pool)
        except RuntimeError:  # the executor's thread changed its table of workers meanwhile: look again next time
            return False
        if self.pool is None or getattr(self.pool, "_broken", False) or all(p.exitcode is None for p in workers):
            self.dead_since = None
            return False
        now = time.monotonic()
        self.dead_since = self.dead_since or now
        return now - self.dead_since >= STUCK_SECONDS

    def cancel(self, handles):
        pool, self.pool = self.pool, None
        if pool is not None:
            _release(pool)
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self):
        self._drop()
        for v in self.env:
            os.environ.pop(v, None)
