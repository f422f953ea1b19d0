"""ModelCheckpoint: save the model (or its weights) every epoch, or only when ``monitor`` improves."""
from __future__ import annotations

import os

from .training_control import _Monitor


class ModelCheckpoint(_Monitor):
    """Keras's arguments: ``filepath`` may hold ``{epoch:02d}`` and log keys (``{val_loss:.4f}``);
    ``save_best_only`` keeps only improvements of ``monitor``; ``save_weights_only`` writes
    safetensors weights instead of a full model file.  Writes are atomic (``tweaknet.saving``)."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto"):
        super().__init__(monitor, mode, 0.0)
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only = bool(save_best_only), bool(save_weights_only)

    def on_train_begin(self, logs=None):
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            current = self._value(logs)
            if self.best is not None and not self._better(current, self.best, 0.0):
                return
            self.best = current
        path = self.filepath.format(epoch=epoch + 1, **logs)
        (self.model.save_weights if self.save_weights_only else self.model.save)(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved {path}")
