"""The driver: the one process that hands out work and writes ``runs.sqlite``, whatever runs the trials.

A run's trials are trained as *jobs* of ``epochs_per_task`` epochs each (one by default): the driver
submits a job (the trial's spec and its latest checkpoint) to a backend, the worker trains and sends
back the epochs' metrics with the checkpoint after them (:func:`.worker.train_epochs`), the driver
commits them in one transaction and submits the trial's next job.  So the store has one writer, no
worker needs the file system the store is on, and a job lost with its worker process or its node
costs at most the epochs in flight: the driver submits it again from the last stored checkpoint (up
to :data:`RESUBMITS` times), never from epoch 0, and never stores an epoch twice.

Backends (:mod:`.pool` for local processes, :mod:`.cluster` for Ray) offer ``capacity()``,
``describe()``, ``submit(job) -> handle``, ``wait(handles, timeout) -> [(handle, result, lost)]`` (a
result dict, or ``lost``: why the job's worker or node went away), ``cancel(handles)`` and ``close()``.
A *source* says which trials to train: :class:`Grid` (a fixed list) or a search (:mod:`.search`),
which decides after every epoch whether the trial goes on.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from .display import label
from .worker import diverged

#: How many times a job lost with its worker process or node is submitted again before its trial fails.
RESUBMITS = 2


class BackendError(RuntimeError):
    """The backend cannot run the trials (Ray missing, a cluster that does not answer); nothing was written."""


@dataclass
class Outcome:
    trials: list  # {'id', 'trial', 'done'} per trial, in experiment order
    ran: int = 0  # trials that trained in this invocation
    failed: dict = field(default_factory=dict)  # {trial id: error text}, in the order they failed
    interrupted: bool = False


def pending(rows) -> list:
    """The rows whose trial has fewer stored epochs than it asks for (a diverged trial is not trained on:
    ``--restart`` trains it again from its start)."""
    return [r for r in rows if r["done"] < r["trial"]["train"]["epochs"] and r.get("status") != "diverged"]


class Grid:
    """A source of a fixed list of trials: every unfinished one, in order; none is ever stopped early."""

    def __init__(self, rows):
        seen = set()  # a trial listed twice (the same spec under two names) trains once
        self.waiting = [r for r in pending(rows) if not (r["id"] in seen or seen.add(r["id"]))]

    def next(self):
        return self.waiting.pop(0) if self.waiting else None

    def epoch(self, row, epoch, metrics) -> bool:
        return True

    def finished(self, row, status) -> None:
        pass

    def left(self) -> int:
        return len(self.waiting)

    def epochs_left(self) -> int:
        """Epochs still to train in the trials not started yet."""
        return sum(r["trial"]["train"]["epochs"] - r["done"] for r in self.waiting)


@dataclass
class _Flight:
    row: dict
    done: int                      # epochs stored
    checkpoint: dict | None        # {'epoch', 'state', 'rng'} after `done` epochs
    losses: int = 0                # consecutive losses of the job in flight


class Driver:
    """Train what ``source`` hands out on ``backend``, committing every returned epoch into ``store``.

    ``display``: a :mod:`.display` (or None); ``epochs_per_task``: epochs per job; ``test``: evaluate
    the test set after each epoch (a search does not).
    """

    def __init__(self, store, backend, display=None, epochs_per_task=1, test=True):
        self.store, self.backend, self.display = store, backend, display
        self.chunk, self.test = epochs_per_task, test
        self.owner = uuid.uuid4().hex
        self.flights: dict = {}   # handle -> _Flight
        self.outcome = Outcome(trials=[])
        self.finished = 0
        self._shown = None

    # -- messages to the display -------------------------------------------------------------------
    def show(self, *msg):
        if self.display is not None:
            self.display.handle(msg)

    def status(self, source, force=False):
        """Send ``status`` when the backend or the count of finished trials changed, and ``tick`` (the same
        counts, with the epochs still to train where the source knows them) on every turn of the loop."""
        counts = {"cluster": self.backend.describe(), "running": len(self.flights), "waiting": source.left(),
                  "done": self.finished}
        key = (counts["cluster"], counts["done"])
        if force or key != self._shown:
            self._shown = key
            self.show("status", None, counts)
        waiting = getattr(source, "epochs_left", None)
        left = None if waiting is None else waiting() + sum(
            f.row["trial"]["train"]["epochs"] - f.done for f in self.flights.values())
        self.show("tick", None, dict(counts, epochs_left=left))

    # -- one trial ---------------------------------------------------------------------------------
    def submit(self, flight):
        job = {"trial": flight.row["trial"], "checkpoint": flight.checkpoint, "epochs": self.chunk, "test": self.test}
        self.flights[self.backend.submit(job)] = flight

    def start(self, row, source):
        tid, target = row["id"], row["trial"]["train"]["epochs"]
        if self.display is not None:
            self.display.names[tid] = label(row["trial"])
        ck = self.store.checkpoint(tid, packed=True) if row["done"] else None
        flight = _Flight(row, ck[0] if ck else 0, {"epoch": ck[0], "state": ck[1], "rng": ck[2]} if ck else None)
        if flight.done >= target:  # a search may ask for a trial that is stored complete
            self.end(flight, source, "done", trained=False)
            return
        self.store.claim(tid, self.owner)
        self.show("start", tid, flight.done, target)
        self.submit(flight)

    def end(self, flight, source, status, error=None, trained=True):
        tid = flight.row["id"]
        self.store.finish(tid, self.owner, status, error)
        self.finished += 1
        self.outcome.ran += trained
        if status == "failed":
            self.outcome.failed[tid] = error
            self.show("error", tid, error)
        elif status == "diverged":
            self.show("diverged", tid, flight.done)
        else:
            self.show("done" if status == "done" else "pruned", tid, flight.done)
        source.finished(flight.row, status)

    def returned(self, results, source):
        """Commit the epochs of every job that came back (one transaction), then go on with each trial."""
        batch, lost = [], []
        for handle, res, why in results:
            flight = self.flights.pop(handle)
            if why is not None:
                lost.append((flight, why))
            elif res["status"] != "ok":
                self.end(flight, source, "failed", res["error"])
            else:
                batch.append((flight, res))
        taken = self.store.commit(self.owner, [(f.row["id"], r) for f, r in batch]) if batch else set()
        for flight, res in batch:
            tid, target = flight.row["id"], flight.row["trial"]["train"]["epochs"]
            if tid in taken:
                self.end(flight, source, "failed", f"trial {tid} was claimed by another run")
                continue
            go_on = True
            for e in res["epochs"]:
                flight.done = e["epoch"]
                self.show("epoch", tid, e["epoch"], target, e["metrics"], e["seconds"])
                go_on = source.epoch(flight.row, e["epoch"], e["metrics"]) and go_on
            flight.checkpoint = {"epoch": flight.done, "state": res["state"], "rng": res["rng"]}
            flight.losses = 0
            if diverged(res["epochs"][-1]["metrics"]):  # stored as such, never averaged as an error rate
                self.end(flight, source, "diverged", f"the loss became NaN or infinite at epoch {flight.done}")
            elif flight.done >= target:
                self.end(flight, source, "done")
            elif not go_on:
                self.end(flight, source, "pruned")
            else:
                self.submit(flight)
        for flight, why in lost:
            flight.losses += 1
            tid = flight.row["id"]
            if flight.losses > RESUBMITS:
                self.end(flight, source, "failed", f"lost {flight.losses} times in a row: {why}")
            else:
                self.show("lost", tid, why, flight.done)
                self.submit(flight)

    # -- the loop ----------------------------------------------------------------------------------
    def run(self, source, rows=()) -> Outcome:
        """Train until ``source`` has nothing more and nothing is in flight; Ctrl-C stops the backend's jobs,
        marks the trials in flight ``interrupted`` and returns with ``interrupted`` set."""
        self.outcome.trials = list(rows)
        try:
            while True:
                while len(self.flights) < self.backend.capacity():
                    row = source.next()
                    if row is None:
                        break
                    self.start(row, source)
                self.status(source)
                if not self.flights:
                    break
                self.returned(self.backend.wait(list(self.flights), 0.5), source)
        except KeyboardInterrupt:
            self.outcome.interrupted = True
            self.backend.cancel(list(self.flights))
            try:  # the trials this run was training are no longer 'running'
                self.store.close_interrupted()
                self.store.interrupt(self.owner)
            except Exception:  # the store stays consistent either way; resuming does not need the status
                pass
        finally:
            if self.display is not None:
                self.display.close()
        return self.outcome
