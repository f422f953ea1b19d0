"""Callbacks that steer training, with Keras's names and arguments: EarlyStopping, TerminateOnNaN,
LearningRateScheduler, ReduceLROnPlateau, CSVLogger and LambdaCallback.

Where Keras is known to disappoint, tweaknet does not: EarlyStopping(restore_best_weights=True)
restores the best weights also when training ends without an early stop (and says so);
TerminateOnNaN stops on the step that produced the NaN and leaves the last finite weights;
CSVLogger(append=True) writes no second header; History records ``learning_rate`` every epoch.
"""
from __future__ import annotations

import csv
import os

import numpy as np

from ..validation import check_int, check_number
from .base import Callback


def _better(mode, monitor):
    """The comparison for ``mode`` ('auto': 'max' for accuracy-like monitors, else 'min')."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}.")
    if mode == "max" or (mode == "auto" and ("acc" in monitor or monitor.endswith("auc"))):
        return lambda current, best, delta: current > best + delta
    return lambda current, best, delta: current < best - delta


class _Monitor(Callback):
    def __init__(self, monitor, mode, min_delta):
        super().__init__()
        self.monitor, self.min_delta = monitor, abs(check_number("min_delta", min_delta))
        self._better = _better(mode, monitor)

    def _value(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(f"{type(self).__name__} monitors {self.monitor!r}, which the logs do not have; "
                             f"available: {', '.join(sorted(logs or {}))}. Pass validation data for val_* keys.")
        return value


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the weights of the best epoch are restored when training ends,
    whether it stopped early or ran all its epochs (Keras restores only on an early stop).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience = check_int("patience", patience, low=0)
        self.verbose, self.baseline = verbose, baseline
        self.restore_best_weights, self.start_from_epoch = bool(restore_best_weights), int(start_from_epoch)

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, None
        self.best, self.best_weights = self.baseline, None

    def on_epoch_end(self, epoch, logs=None):
        current = self._value(logs)
        if epoch < self.start_from_epoch:
            return
        if self.best is None or self._better(current, self.best, self.min_delta):
            if self.best_epoch is not None or self.baseline is None or self._better(current, self.baseline, 0):
                self.best, self.best_epoch, self.wait = current, epoch, 0
                if self.restore_best_weights:
                    self.best_weights = self.model.get_weights()
                return
        self.wait += 1
        if self.wait >= self.patience and epoch > 0:  # Keras's rule
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.verbose:
                print(f"Epoch {epoch + 1}: early stopping")

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            if self.verbose:
                print(f"Restoring the weights of epoch {self.best_epoch + 1}, the best {self.monitor} "
                      f"({self.best:.4f}).")


class TerminateOnNaN(Callback):
    """Stop on the step whose loss is NaN or infinite, and put back the weights from before that step.

    It checks every step (a per-batch hook), so training takes the reference path.
    """

    def on_train_batch_begin(self, batch, logs=None):
        self._before = self.model.get_weights()

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            self.model.set_weights(self._before)
            self.model.stop_training = True
            print(f"Batch {batch}: invalid loss, terminating training; the weights are those before this step.")


class LearningRateScheduler(Callback):
    """At each epoch start, ``optimizer.learning_rate = schedule(epoch, learning_rate)``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError("LearningRateScheduler needs a function schedule(epoch, lr) -> lr.")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.schedule(epoch, self.model.optimizer.learning_rate))
        self.model.optimizer.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement, down to ``min_lr``."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        self.factor = check_number("factor", factor, low=0, low_open=True, high=1, high_open=True)
        self.patience, self.cooldown = check_int("patience", patience, low=0), check_int("cooldown", cooldown, low=0)
        self.min_lr, self.verbose = check_number("min_lr", min_lr, low=0), verbose

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._value(logs)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.best is None or self._better(current, self.best, self.min_delta):
            self.best, self.wait = current, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            opt = self.model.optimizer
            new = max(opt.learning_rate * self.factor, self.min_lr)
            if new < opt.learning_rate:
                opt.learning_rate = new
                if self.verbose:
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
            self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """One CSV row per epoch (``epoch`` then the log keys); ``append=True`` continues a file without a
    second header."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, bool(append)

    def on_train_begin(self, logs=None):
        resume = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self.keys = None
        if resume:
            with open(self.filename, newline="") as f:
                header = next(csv.reader(f, delimiter=self.separator), None)
            self.keys = header[1:] if header else None
        self._file = open(self.filename, "a" if resume else "w", newline="")
        self._writer = csv.writer(self._file, delimiter=self.separator)
        self._header_written = resume and self.keys is not None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if not self._header_written:
            self._writer.writerow(["epoch", *self.keys])
            self._header_written = True
        self._writer.writerow([epoch, *(logs.get(k, "NA") for k in self.keys)])
        self._file.flush()

    def on_train_end(self, logs=None):
        self._file.close()


class LambdaCallback(Callback):
    """A callback from functions: ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``,
    ``on_batch_begin(batch, logs)``, ``on_batch_end(batch, logs)``, ``on_train_begin(logs)``,
    ``on_train_end(logs)``."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None, on_batch_end=None,
                 on_train_begin=None, on_train_end=None):
        super().__init__()
        for hook, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_train_batch_begin", on_batch_begin), ("on_train_batch_end", on_batch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end)):
            if fn is not None:
                setattr(self, hook, fn)
