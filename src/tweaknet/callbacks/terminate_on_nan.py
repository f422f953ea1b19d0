"""TerminateOnNaN: stop training on the step that produced a NaN (or infinite) loss or weights.

Unlike Keras, it leaves the last finite weights (and optimizer state), so training can go on from there.
"""
from __future__ import annotations

import numpy as np

from .base import Callback


class TerminateOnNaN(Callback):
    """Stop on the step whose loss or weights are NaN or infinite, and put back the last weights that
    were all finite (those from before that step).

    After every step it checks the loss and the weights (one sum over the flat parameter buffer) and
    keeps a copy of the weights and of the optimizer's slots and step counter while they are finite;
    a step can overflow the weights to ``inf`` while its loss is still finite, and it is that step
    that stops training.  Weights and optimizer are put back as they were before it, so training can
    go on from there (with a smaller learning rate, say); Keras leaves the non-finite weights.  It checks every step (a
    per-batch hook), so training takes the reference path.  ``raise_error=True`` (recent Keras) raises
    ``RuntimeError`` instead of stopping quietly, after restoring the weights.
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = bool(raise_error)

    # The weights: the flat buffer of trainable parameters plus the other weights (BatchNormalization's
    # moving statistics, frozen layers), which live outside it.
    def _extra_weights(self):
        flat = getattr(self.model, "flat", None)
        if flat is None:
            return list(self.model.weights)
        return [w for w in self.model.weights if not np.may_share_memory(w, flat.params)]

    def _finite(self, arrays):
        for a in arrays:
            if a.size and not np.isfinite(a.sum()):
                if not np.isfinite(a).all():  # the sum alone can overflow for large finite weights
                    return False
        return True

    def _snapshot(self, extra):
        """Keep copies of the flat parameter buffer, the ``extra`` weights and the optimizer's state."""
        flat = getattr(self.model, "flat", None)
        if flat is not None:
            if getattr(self, "_params", None) is None or self._params.shape != flat.params.shape:
                self._params = flat.params.copy()
            else:
                np.copyto(self._params, flat.params)
        self._extra = [w.copy() for w in extra]
        optimizer = getattr(self.model, "optimizer", None)
        self._opt = optimizer.get_state() if optimizer is not None and optimizer.built else None

    def _restore(self, extra):
        """Put the kept copies back into the live arrays (``extra``: as given to ``_snapshot``)."""
        flat = getattr(self.model, "flat", None)
        if flat is not None and self._params is not None:
            flat.params[...] = self._params
        for live, kept in zip(extra, self._extra):
            live[...] = kept
        if self._opt is not None:  # slots and step counter as they were: fit can go on from here
            self.model.optimizer.set_state(self._opt)

    def on_train_begin(self, logs=None):
        self._params, self._extra = None, []
        self.stopped_batch = None
        self._snapshot(self._extra_weights())

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        flat = getattr(self.model, "flat", None)
        extra = self._extra_weights()
        bad_loss = loss is not None and not np.isfinite(loss)
        if not bad_loss and self._finite(([flat.params] if flat is not None else []) + extra):
            self._snapshot(extra)
            return
        self._restore(extra)
        self.stopped_batch = batch
        self.model.stop_training = True
        what = f"invalid loss ({loss})" if bad_loss else "non-finite weights"
        message = f"Batch {batch}: {what}, terminating training; the weights are the last finite ones."
        if self.raise_error:
            raise RuntimeError(message)
        print(message)
