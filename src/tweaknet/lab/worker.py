"""What runs in a worker (a local process or a Ray task): train one trial for a few epochs from a checkpoint.

:func:`train_epochs` is the whole contract between the driver and its workers, for both backends.
It takes a job (the trial's spec, the checkpoint to start from, how many epochs) and returns the
epochs' metrics and the checkpoint after the last of them; it touches no file and no database, so a
worker needs no shared file system, and a job lost with its process or node is simply submitted
again.  A trial seeds once, builds its model; each later job rebuilds the model from the spec, loads
the checkpoint (model state and the global random state) and continues, so a trial trained in
pieces, anywhere, ends with exactly the numbers of one trained in one go.  A worker runs a data loader
written in Python (``dataset = {python = ...}``) without asking: only a driver sends it jobs, and the
driver ran that loader first, with the user's consent (``--allow-code``).

An epoch runs ``fit(epochs=e + 1, initial_epoch=e)`` on the training samples, then evaluates the
validation split (``data.validation_split``) and, unless the job says otherwise, the test set.
"""
from __future__ import annotations

import math
import os
import signal
import socket
import sys
import threading
import time
import traceback

from .. import fast, seeding
from ..utils import set_random_seed
from . import build, machine
from .store import pack_state, unpack_state


def watch_parent(parent: int):
    """Exit this process as soon as ``parent`` is no longer its parent (it was killed)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:  # orphaned: the parent was killed
            os._exit(3)


def init_worker(parent: int):
    """The local pool's initializer: Ctrl-C is the parent's to handle; exit when the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt stops
    threading.Thread(target=watch_parent, args=(parent,), daemon=True).start()


def where() -> tuple[str, str]:
    """``(node, host)`` of this process: the Ray node id inside a Ray worker (else the host name), and
    the host name."""
    host = socket.gethostname()
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        return ray.get_runtime_context().get_node_id(), host
    return host, host


def diverged(metrics: dict) -> bool:
    """Whether an epoch's loss (training, validation or test) is NaN or infinite: the trial diverged, and its
    accuracies say nothing (a network that outputs NaN is not a network that errs 91% of the time)."""
    return any(v is not None and not math.isfinite(v) for k, v in metrics.items() if k.endswith("loss"))


def _evaluate(model, x, y):
    ev = model.evaluate(x, y, verbose=0, return_dict=True)
    return ev["loss"], ev["accuracy"]


def train_epochs(job: dict) -> dict:
    """Train ``job['epochs']`` epochs of ``job['trial']`` from ``job['checkpoint']`` (None: from the start).

    ``checkpoint``: ``{'epoch', 'state' (packed .npz bytes), 'rng'}``; ``test``: evaluate the test set
    after each epoch (default True).  Returns ``{'status': 'ok', 'epochs': [{'epoch', 'metrics',
    'seconds'}, ...], 'state', 'rng', 'node', 'host'}``, or ``{'status': 'failed', 'error': traceback}``
    if the trial itself fails (a bad spec, other data than registered).  An epoch whose loss is not finite
    (:func:`diverged`) is the job's last.
    """
    trial, ck = job["trial"], job.get("checkpoint")
    node, host = where()
    try:
        data = build.load_data(trial["data"], allow_code=True)
        if trial.get("data_fingerprint", data.fingerprint) != data.fingerprint:
            raise ValueError(f"this worker reads other data (fingerprint {data.fingerprint}) than the run was "
                             f"registered with ({trial['data_fingerprint']}): did TWEAKNET_DATA change?")
        set_random_seed(trial["seed"])
        model = build.build_model(trial, data)
        start = 0
        if ck is not None:
            start = ck["epoch"]
            model.set_state(unpack_state(ck["state"]))
            seeding.set_state(ck["rng"])
        stop = min(start + job.get("epochs", 1), trial["train"]["epochs"])
        epochs = []
        for e in range(start, stop):
            t0, c0 = time.perf_counter(), fast.compile_seconds()
            hist = model.fit(data.x_train, data.y_train, batch_size=trial["train"]["batch_size"], epochs=e + 1,
                             initial_epoch=e, shuffle=trial["train"]["shuffle"], verbose=0).history
            metrics = {"train_loss": hist["loss"][-1], "train_accuracy": hist["accuracy"][-1]}
            if data.x_val is not None:
                metrics["val_loss"], metrics["val_accuracy"] = _evaluate(model, data.x_val, data.y_val)
            if job.get("test", True):
                metrics["test_loss"], metrics["test_accuracy"] = _evaluate(model, data.x_test, data.y_test)
            # The epoch's time without compiling (a first run compiles for a few seconds in its first epoch).
            seconds = time.perf_counter() - t0 - (fast.compile_seconds() - c0)
            epochs.append({"epoch": e + 1, "metrics": metrics, "seconds": seconds})
            if diverged(metrics):  # the driver stores the trial as diverged: training on would mean nothing
                break
        return {"status": "ok", "epochs": epochs, "state": pack_state(model.get_state()),
                "rng": seeding.get_state(), "node": node, "host": host, "machine": machine.record()}
    except Exception:
        return {"status": "failed", "error": traceback.format_exc(), "node": node, "host": host}


def evaluate_test(trial: dict, state: bytes) -> tuple[float, float]:
    """``(test_loss, test_accuracy)`` of a trial's model restored from a packed checkpoint (the global
    random state is left as it was)."""
    data = build.load_data(trial["data"], allow_code=True)
    saved = seeding.get_state()
    try:
        model = build.build_model(trial, data)
    finally:
        seeding.set_state(saved)
    model.set_state(unpack_state(state))
    return _evaluate(model, data.x_test, data.y_test)
