"""ModelCheckpoint: save the model (or its weights) every epoch or every ``save_freq`` batches, or only
when ``monitor`` improves."""
from __future__ import annotations

import os

from .monitor import Monitor


class ModelCheckpoint(Monitor):
    """Keras's arguments: ``filepath`` may hold ``{epoch:02d}``, ``{batch}`` (with an integer
    ``save_freq``) and log keys (``{val_loss:.4f}``); ``save_best_only`` keeps only improvements of
    ``monitor``; ``save_weights_only`` writes safetensors weights instead of a full model file.

    ``save_freq='epoch'`` saves at each epoch end; an integer N saves whenever the optimizer's step
    count reaches a multiple of N (every N batches, counted across epochs, for a new model), judged
    on the running logs of the epoch so far; through ``on_progress``, so training keeps the compiled
    path.  ``initial_value_threshold`` is the value the first save must
    beat with ``save_best_only``.  Epochs whose logs lack ``monitor`` (``validation_freq > 1``) are
    skipped with a warning.  Writes are atomic (``tweaknet.saving``); a missing folder is created, as Keras
    does.  A file name that formats a key the logs lack (``{val_loss}`` without validation data) raises a
    KeyError naming the key, the keys there are and the fix (Keras raises a KeyError too)."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, 0.0)
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only = bool(save_best_only), bool(save_weights_only)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"save_freq must be 'epoch' or a positive integer (batches), got {save_freq!r}.")
        self.save_freq = save_freq
        self.initial_value_threshold = (None if initial_value_threshold is None
                                        else float(initial_value_threshold))
        if save_freq != "epoch":  # no per-batch hook: on_progress at every multiple of save_freq steps
            self.progress_steps = save_freq
            self.on_progress = self._progress

    def on_train_begin(self, logs=None):
        if self.save_best_only and self.save_freq != "epoch" and self.monitor.startswith("val_"):
            raise ValueError(f"ModelCheckpoint(save_freq={self.save_freq}, save_best_only=True) judges the batch "
                             f"logs, which have no {self.monitor!r}; monitor a training key such as 'loss', "
                             f"or use save_freq='epoch'.")
        self._reset_monitor()
        self.best = self.initial_value_threshold
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _progress(self, seen, logs=None):  # called at each multiple of save_freq steps (``progress_steps``)
        batch = -(-seen // self.params["batch_size"]) - 1  # the epoch's batch index just trained
        self._save(self._epoch, dict(logs or {}), batch=batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, logs or {})

    def on_train_end(self, logs=None):
        if self.save_best_only:
            self._check_monitor_seen()

    def _save(self, epoch, logs, batch=None):
        if self.save_best_only:
            current = self._value(logs)
            if current is None:
                return
            if self.best is not None and not self._better(current, self.best, 0.0):
                if self.verbose:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            self.best = current
        fields = dict(logs, epoch=epoch + 1)
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            path = self.filepath.format(**fields)
        except KeyError as exc:
            key = exc.args[0] if exc.args else "?"
            hint = (" pass validation_data= (or validation_split=) to fit so that val_* keys exist, or"
                    if str(key).startswith("val_") else "")
            raise KeyError(f"ModelCheckpoint cannot name its file: filepath {self.filepath!r} uses {{{key}}}, which "
                           f"the logs of epoch {epoch + 1} lack (they hold: {', '.join(sorted(fields))});{hint} "
                           f"use one of those keys.") from None
        except (ValueError, IndexError) as exc:
            raise ValueError(f"ModelCheckpoint cannot name its file: filepath {self.filepath!r} is not a valid "
                             f"format string for the logs of epoch {epoch + 1} ({exc}).") from None
        folder = os.path.dirname(path)
        if folder and not os.path.isdir(folder):
            os.makedirs(folder, exist_ok=True)  # as Keras
        (self.model.save_weights if self.save_weights_only else self.model.save)(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved {path}")
