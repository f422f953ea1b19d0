"""Trying the fixes: each candidate trained like the baseline, in a small pool of processes, and ranked.

Every candidate starts from the blueprint of the model as it was before the diagnosis run (so every
layer the fix does not change has the baseline's initial weights), with the global random state the
baseline's ``fit`` started from (so fresh weights are drawn the same way in every process, and the data
order of every epoch is the baseline's), for the baseline's epochs and batch size.  Then it is scored on
the validation data exactly as the baseline is: ``val_loss`` (the loss function, without weight
penalties) and, for a classifier, ``val_accuracy``.

Candidates train in parallel worker processes where there are cores (``processes > 1``): a
``ProcessPoolExecutor`` of the diagnostics' own, with the ``forkserver`` start method where the platform
has it (else ``spawn``); the workers memory-map the data from temporary ``.npy`` files.  ``Pool`` starts
its workers before the baseline trains, so that their start-up (importing tweaknet, mapping the data,
loading the compiled training code) overlaps the baseline, and ``Pool.speculate`` starts the candidates
already called for before training on the cores the baseline leaves free.  A candidate trains
identically in a worker or in this process (the tests check it).  As with any
``multiprocessing`` code, a script that calls ``diagnose(..., try_fixes=True)`` at its top level needs
the ``if __name__ == "__main__":`` guard.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np

from .. import fast, metrics, seeding
from ..training.data import check_targets
from .blueprint import Blueprint
from .report import Fix

#: A candidate helped when the validation accuracy rose by at least 2 percentage points, or (without an
#: accuracy) the validation loss fell by at least 10%.
HELPED_ACCURACY, HELPED_LOSS = 0.02, 0.10


@dataclass
class TrainingData:
    x: np.ndarray
    y: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


@dataclass
class Job:
    name: str
    finding: str
    change: str
    blueprint: Blueprint
    rng_state: dict
    batch_size: int
    epochs: int
    shuffle: bool = True
    classify: bool = True   # scored by accuracy (a classifier) or by the loss alone


def cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def score(model, data: TrainingData, classify: bool) -> dict:
    """``val_loss`` and, for a classifier, ``val_accuracy`` of ``model`` on the validation data."""
    out_shape = model.layers[-1].output_shape
    y = check_targets(data.y_val, len(data.y_val), model.loss, out_shape, model.flat.params.dtype, "y_val")
    with np.errstate(all="ignore"), fast.numerics():
        out = model.predict(data.x_val, batch_size=1024)
        result = {"val_loss": float(np.mean(model.loss.per_sample(y, out)))}
    if classify:
        result["val_accuracy"] = metrics.resolve("accuracy", y.shape, out.shape).correct(y, out) / len(out)
    return result


def train(job: Job, data: TrainingData) -> tuple:
    """Train one candidate; ``(validation metrics, seconds, error text or None)``."""
    start = time.perf_counter()
    try:
        seeding.set_state(job.rng_state)
        model = job.blueprint.build()  # fresh weights (changed layers only) from the baseline's random state
        seeding.set_state(job.rng_state)  # and the baseline's data order
        with np.errstate(all="ignore"):
            model.fit(data.x, data.y, batch_size=job.batch_size, epochs=job.epochs, shuffle=job.shuffle, verbose=0)
        return score(model, data, job.classify), time.perf_counter() - start, None
    except Exception as exc:  # a candidate that cannot train is reported as such; the others still count
        return {}, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"


_DATA: TrainingData | None = None  # in a worker process: the data, memory-mapped once


def _receive(paths: dict, warm_up: Job | None) -> None:
    global _DATA
    _DATA = TrainingData(**{name: np.load(path, mmap_mode="r") for name, path in paths.items()})
    if warm_up is not None:  # load the compiled training code now, while the baseline trains in the parent
        n = min(len(_DATA.x), 2 * warm_up.batch_size)
        train(Job(**{**warm_up.__dict__, "epochs": 1}), TrainingData(_DATA.x[:n], _DATA.y[:n], _DATA.x_val[:n],
                                                                       _DATA.y_val[:n]))


def _train_in_worker(job: Job) -> tuple:
    return train(job, _DATA)


def _context():
    """``forkserver`` where the platform has it, its server importing tweaknet once (each worker it forks starts
    with tweaknet imported: a fraction of a second instead of importing it again); else ``spawn``."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])  # effective if the server has not started yet
    return context


def _start_workers(executor, n) -> None:
    try:
        for _ in range(n):
            executor.submit(int)
    except (BrokenProcessPool, RuntimeError):  # the pool broke, or was closed first: ``run`` copes
        pass


class Pool:
    """Candidates trained by ``processes`` worker processes holding ``data`` (with ``processes <= 1``, in this
    process, one after the other).  Use as a context manager.

    ``speculate(jobs)`` starts candidates before the baseline has finished, on ``processes - 1`` workers
    (one core stays with the baseline): those of the findings already visible before training (the first
    step's size, the inputs' scale, the initial gradients and saturation).  ``run(jobs)`` returns the results
    of the candidates actually needed, in order: a speculative run of the same change is reused, the
    others are dropped.  With every core busy from the start, the whole run takes about
    ``(1 + candidates) / processes`` baseline trainings, plus the workers' start-up.
    """

    def __init__(self, data: TrainingData, processes: int, warm_up: Job | None = None):
        self.data, self.processes = data, max(1, int(processes))
        self.executor, self.futures, self.pending, self.lock = None, {}, [], threading.RLock()
        self.folder = None
        if self.processes > 1:
            # The workers memory-map the data from files (written once, shared through the page cache)
            # instead of receiving a pickled copy each: MNIST's 55 MB took 0.7 s per worker through a pipe.
            self.folder = tempfile.mkdtemp(prefix="tweaknet-diagnose-")
            paths = {name: os.path.join(self.folder, f"{name}.npy") for name in ("x", "y", "x_val", "y_val")}
            for name, path in paths.items():
                np.save(path, np.asarray(getattr(data, name)))
            self.executor = ProcessPoolExecutor(self.processes, mp_context=_context(), initializer=_receive,
                                                initargs=(paths, warm_up))
            # start every worker now (the executor would start them one by one, as tasks come), from a thread:
            # starting a process takes the forkserver a fraction of a second that the baseline need not wait for
            threading.Thread(target=_start_workers, args=(self.executor, self.processes), daemon=True).start()

    def speculate(self, jobs) -> None:
        """Start ``jobs`` (``[(key, Job)]``) on ``processes - 1`` workers, one after the other, until ``run``.
        Returns at once: submitting may have to wait for a worker process to start."""
        if self.executor is None:
            return
        with self.lock:
            self.pending = [(key, job) for key, job in jobs if key not in self.futures]
        for _ in range(self.processes - 1):
            threading.Thread(target=self._next, daemon=True).start()

    def _next(self, finished=None):
        with self.lock:
            if self.pending and self.executor is not None:
                key, job = self.pending.pop(0)
                try:
                    self.futures[key] = future = self.executor.submit(_train_in_worker, job)
                except (BrokenProcessPool, RuntimeError):  # a broken or closed pool: ``run`` trains it here
                    self.pending = []
                    return
                future.add_done_callback(self._next)

    def run(self, jobs) -> list:
        """Train ``jobs`` (``[(key, Job)]``, a key naming the change) and return their results in order.

        Where the workers cannot run (a process died; a script without the ``__main__`` guard, whose
        workers cannot start), the candidates train in this process instead, with a warning."""
        jobs = list(jobs)
        if self.executor is None:
            return self._here(jobs)
        try:
            with self.lock:
                self.pending = []
                needed = {key for key, _ in jobs}
                for key, future in self.futures.items():
                    if key not in needed:
                        future.cancel()  # a speculative run that turned out unneeded (if it has not started)
                # the slowest first (batch normalization runs on the reference path), so the workers end together
                for key, job in sorted(jobs, key=lambda kj: not any(p.class_name == "BatchNormalization"
                                                                    for p in kj[1].blueprint.layers)):
                    if key not in self.futures:
                        self.futures[key] = self.executor.submit(_train_in_worker, job)
            return [self.futures[key].result() for key, _ in jobs]
        except (BrokenProcessPool, OSError) as exc:
            warnings.warn(f"diagnose: the worker processes failed ({type(exc).__name__}: {exc}); the candidate "
                          f"fixes train in this process instead", RuntimeWarning, stacklevel=3)
            self.close()
            return self._here(jobs)

    def _here(self, jobs) -> list:
        saved = seeding.get_state()  # this process's random state is the caller's: give it back
        try:
            return [train(job, self.data) for _, job in jobs]
        finally:
            seeding.set_state(saved)

    def close(self):
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None
        if self.folder is not None:  # the workers' mappings outlive the files
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def gain(before: dict, after: dict) -> float:
    """The improvement: validation accuracy after minus before, or the relative fall of the validation loss."""
    if "val_accuracy" in before:
        return after.get("val_accuracy", math.nan) - before["val_accuracy"]
    b, a = before["val_loss"], after.get("val_loss", math.nan)
    return (b - a) / b if b and math.isfinite(b) else (math.inf if math.isfinite(a) else math.nan)


def ranked(jobs, results, before: dict) -> list:
    """The candidates as :class:`Fix` objects, best first (by ``gain``; NaN last)."""
    fixes = []
    for job, (after, seconds, error) in zip(jobs, results):
        g = gain(before, after)
        helped = math.isfinite(g) and g >= (HELPED_ACCURACY if "val_accuracy" in before else HELPED_LOSS)
        fixes.append(Fix(job.name, job.change, job.finding, dict(before), after, g, bool(helped), seconds, error))
    return sorted(fixes, key=lambda f: -f.gain if not math.isnan(f.gain) else math.inf)
