"""The compiled whole-epoch training path, chosen automatically where it applies.

``fit`` asks :func:`epoch_runner` for a compiled runner; when numba is installed and the model
is one the kernels serve (see ``plan.py``), the whole epoch runs in one compiled call over the
model's own flat buffers and optimizer slots.  Otherwise the readable reference path in
``tweaknet.training.loop`` runs.  Both end with the same weights up to float round-off (the
tests check every supported layer, activation, loss, optimizer and clipping mode), so a user
never picks a path and never sees a difference except the time.  (One internal difference: the
compiled path does not keep the model's gradient buffer ``model.flat.grads`` up to date.)  Compiled code is cached on
disk (numba ``cache=True``), so only the very first run pays the compile time.
"""
from __future__ import annotations

import contextlib
import importlib.util
import os

_disabled = os.environ.get("TWEAKNET_REFERENCE_ONLY", "") not in ("", "0")


def available() -> bool:
    """True when numba and scipy (numba's BLAS bindings for batched matrix products) are importable."""
    return not _disabled and all(importlib.util.find_spec(m) is not None for m in ("numba", "scipy"))


@contextlib.contextmanager
def reference_only():
    """Run the reference path inside this block (used by the tests that compare the two paths)."""
    global _disabled
    old, _disabled = _disabled, True
    try:
        yield
    finally:
        _disabled = old


@contextlib.contextmanager
def numerics():
    """The mode training runs in, on the reference and the compiled path alike, where the ``fast`` extra
    is installed: subnormals flushed to zero (see ``denormals.py``) and one BLAS thread.

    One thread: the per-step matrix products of these networks are far too small to share, and an
    idle OpenBLAS thread spins for a while after each call; with two OpenBLAS libraries loaded (NumPy's
    and SciPy's, used by the compiled path) the spinning threads of one slow the other down.  Run
    trials in parallel processes instead (the lab does).
    """
    with contextlib.ExitStack() as stack:
        if importlib.util.find_spec("numba") is not None:
            from .denormals import flush_denormals
            stack.enter_context(flush_denormals())
        if importlib.util.find_spec("threadpoolctl") is not None:
            stack.enter_context(_blas_controller().limit(limits=1, user_api="blas"))
        yield


_CONTROLLERS: dict = {}


def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, kept: finding them reads the process's memory
    map (a few ms, which every epoch and every diagnostics record paid).  It is found again once SciPy's
    own OpenBLAS (the compiled path's, loaded with ``scipy.linalg``) has joined NumPy's."""
    import sys

    from threadpoolctl import ThreadpoolController
    key = "scipy.linalg" in sys.modules
    if key not in _CONTROLLERS:
        _CONTROLLERS[key] = ThreadpoolController()
    return _CONTROLLERS[key]


def explain(model, batch_hooks=False):
    """None when the compiled path serves ``model`` in ``fit``, else the reason it does not."""
    from .plan import explain as _explain
    return _explain(model, batch_hooks)


def epoch_runner(model, batch_size, callbacks):
    """An ``EpochPlan`` for the model (``run(x, y, order, callbacks)``, as the reference path's
    ``ReferenceEpoch``), or None when the reference path must run."""
    if _disabled or explain(model, bool(callbacks.batch_callbacks)) is not None:
        return None
    from .plan import EpochPlan
    return EpochPlan(model, batch_size)
