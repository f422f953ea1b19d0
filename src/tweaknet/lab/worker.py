"""What runs in a worker process: train one trial epoch by epoch, resuming from its checkpoint.

A trial (one configuration and one seed) seeds once, builds its model, then for each epoch runs
``fit(epochs=e + 1, initial_epoch=e)`` and evaluates the test set; after every epoch its row and a
checkpoint (model state and the global random state) are committed together.  Started again, a
trial rebuilds its model from the spec, loads the checkpoint and continues, so an interrupted run
(Ctrl-C, ``kill -9``, a crash) ends with exactly the numbers of an uninterrupted one.

Workers send progress messages to the parent through the queue given to :func:`init_worker`:
``("start", id, first_epoch, epochs)``, ``("epoch", id, epoch, epochs, metrics, seconds)``,
``("done", id, epochs)`` and ``("error", id, text)``.  They exit when their parent dies.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import traceback

from .. import seeding
from ..utils import set_random_seed
from . import build
from .store import OwnershipLost, Store

_QUEUE = None
_STORES: dict[str, Store] = {}


def _send(msg):
    if _QUEUE is not None:
        _QUEUE.put(msg)


def watch_parent(parent: int):
    """Exit this process as soon as ``parent`` is no longer its parent (it was killed)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:  # orphaned: the parent was killed
            os._exit(3)


def init_worker(queue, parent: int):
    """The pool's initializer: progress goes to ``queue``; Ctrl-C is the parent's to handle."""
    global _QUEUE
    _QUEUE = queue
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt stops
    threading.Thread(target=watch_parent, args=(parent,), daemon=True).start()


def run_trial(job: dict) -> dict:
    """Train one trial to its epoch count, resuming from its checkpoint.

    ``job``: ``{'id', 'trial', 'db', 'owner'}``; returns ``{'id', 'status'}`` (``done``, ``failed`` or
    ``lost``, with ``error``).
    """
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
