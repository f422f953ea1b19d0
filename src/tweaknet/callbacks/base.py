"""Callbacks: the training loop calls hooks; progress, history and early stopping hang on them.

Hook names and signatures are Keras's.  Per-batch hooks are called only for callbacks that
override them, so a plain ``fit`` pays nothing per step.
"""
from __future__ import annotations

import math

#: The one progress rule of both training paths: callbacks with ``on_progress`` hear from a running epoch
#: after every ``PROGRESS_SAMPLES`` samples (rounded down to whole batches, at least one batch), and those
#: with ``progress_steps = N`` also whenever the optimizer's step count reaches a multiple of N.
PROGRESS_SAMPLES = 8192


class Callback:
    """Base class.  ``self.model`` is set before training starts."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_progress(self, seen, logs=None):
        """Progress within an epoch (``seen`` samples, running logs), a few times per epoch on any training
        path; unlike per-batch hooks it does not take training off the compiled path."""

    #: Set to N to have ``on_progress`` called exactly when ``model.optimizer.iterations`` reaches a
    #: multiple of N (once per such step, on either path; the compiled path then runs its epoch in chunks
    #: ending there), instead of a few times per epoch.
    progress_steps = None

    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...


def check_callbacks(callbacks) -> list:
    """``fit``'s ``callbacks`` as a new list: None, or a list (or tuple) of Callback instances."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        raise TypeError(f"`callbacks` must be a list of callbacks, got a single {type(callbacks).__name__}: "
                        f"pass callbacks=[{type(callbacks).__name__}(...)].")
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"`callbacks` must be a list of callbacks, got {type(callbacks).__name__} {callbacks!r}.")
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise TypeError(f"`callbacks[{i}]` must be a tweaknet callback (a subclass of "
                            f"tweaknet.callbacks.Callback, or LambdaCallback for plain functions), got "
                            f"{type(cb).__name__} {cb!r}.")
    return list(callbacks)


def _overrides(cb, hook):
    return getattr(getattr(cb, hook), "__func__", None) is not getattr(Callback, hook)


class CallbackList:
    """Dispatches each hook to the callbacks that define it."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self.batch_callbacks = [cb for cb in self.callbacks
                                if _overrides(cb, "on_train_batch_end") or _overrides(cb, "on_train_batch_begin")]
        self.progress_callbacks = [cb for cb in self.callbacks if _overrides(cb, "on_progress")]
        self.progress_steps = math.gcd(*[int(cb.progress_steps) for cb in self.progress_callbacks
                                         if cb.progress_steps]) or None
        self._model, self._progress_done = model, {}

    def progress_every(self, batch_size) -> int | None:
        """Steps between two progress reports within an epoch (``PROGRESS_SAMPLES`` samples), or None
        when no callback listens to ``on_progress``."""
        return max(1, PROGRESS_SAMPLES // batch_size) if self.progress_callbacks else None

    def on_progress(self, seen, logs=None):
        """Progress between chunks of an epoch: every call for a plain progress callback; for one with
        ``progress_steps = N``, only the calls at a multiple of N optimizer steps, once per step."""
        logs = {} if logs is None else logs
        step = self._model.optimizer.iterations
        for cb in self.progress_callbacks:
            if cb.progress_steps:
                if step % cb.progress_steps or self._progress_done.get(id(cb)) == step:
                    continue
                self._progress_done[id(cb)] = step
            cb.on_progress(seen, logs)

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)
        targets = (self.batch_callbacks if "batch" in hook else
                   self.progress_callbacks if hook == "on_progress" else self.callbacks)
        positional = 0 if hook in _LOGS_ONLY else 1  # arguments before ``logs``

        def call(*args, **kwargs):
            if len(args) <= positional and "logs" not in kwargs:
                args = (*args, {})  # as Keras: every hook gets a logs dict, so ``lambda epoch, logs: ...`` works
            for cb in targets:
                getattr(cb, hook)(*args, **kwargs)
        return call


_LOGS_ONLY = frozenset({"on_train_begin", "on_train_end", "on_test_begin", "on_test_end"})
