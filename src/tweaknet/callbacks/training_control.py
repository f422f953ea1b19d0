"""Callbacks that steer training, with Keras's names and arguments: EarlyStopping, TerminateOnNaN,
LearningRateScheduler, ReduceLROnPlateau, CSVLogger and LambdaCallback.

Where Keras is known to disappoint, tweaknet does not: EarlyStopping(restore_best_weights=True)
restores the best weights also when training ends without an early stop (and says so);
TerminateOnNaN stops on the step that produced the NaN and leaves the last finite weights;
CSVLogger(append=True) writes no second header; History records ``learning_rate`` every epoch.
"""
from __future__ import annotations

import csv
import io
import locale
import logging
import os
import warnings

import numpy as np

from ..saving import atomic_write
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
    """Reads ``monitor`` from the logs.  An epoch that did not validate (``validation_freq > 1`` leaves the
    ``val_*`` keys out between validations) is skipped for a ``val_*`` monitor, with one warning, as
    Keras does (so is every epoch when fit has no validation data, unless another callback adds the
    key).  A monitor the logs cannot have (a misspelling: the epoch validated, or the key is not a
    ``val_*`` one) is an error at the end of the first epoch, naming the keys the logs do have; never
    after all the epochs, which would lose the training just done."""

    def __init__(self, monitor, mode, min_delta):
        super().__init__()
        self.monitor, self.min_delta = monitor, abs(check_number("min_delta", min_delta))
        self._better = _better(mode, monitor)
        self._reset_monitor()

    def _reset_monitor(self):
        self._monitor_seen, self._monitor_warned, self._keys_seen = False, False, set()

    def _message(self, keys):
        return (f"{type(self).__name__} monitors {self.monitor!r}, which the logs do not have; "
                f"available: {', '.join(sorted(keys)) or 'none'}. Pass validation data for val_* keys "
                f"(with validation_freq > 1 they appear only on the epochs that validate).")

    def _value(self, logs):
        """The monitored value, or None (skip this epoch) when the logs lack it."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            self._keys_seen.update(k for k in (logs or {}) if k != "seen")
            validated = any(k.startswith("val_") for k in (logs or {}))
            if not self.monitor.startswith("val_") or validated:  # the logs can never have it: a typo
                raise ValueError(self._message(self._keys_seen))
            if not self._monitor_warned:
                self._monitor_warned = True
                warnings.warn(self._message(logs or {}) + " Skipping the epochs without it.", stacklevel=3)
            return None
        self._monitor_seen = True
        return value

    def _check_monitor_seen(self):
        """At the end of training: a monitor that never appeared (validation_freq beyond the last epoch)
        is a warning; an error here would lose the training just done."""
        if not self._monitor_seen and self._keys_seen and not getattr(self.model, "stop_training", False):
            warnings.warn(self._message(self._keys_seen) + " It never appeared, so it had no effect.",
                          stacklevel=3)


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
        self._reset_monitor()
        self.wait, self.stopped_epoch, self.best_epoch, self.restored_epoch = 0, 0, None, None
        self.best, self.best_weights = self.baseline, None

    def on_epoch_end(self, epoch, logs=None):
        current = self._value(logs)
        if current is None or epoch < self.start_from_epoch:
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
        """Restore the best weights (``restored_epoch`` records the epoch index, None when nothing was
        restored); the message is printed with ``verbose`` and always logged (logger ``tweaknet``)."""
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
            self.restored_epoch = self.best_epoch
            how = "early stop" if self.stopped_epoch else "end of training"
            message = (f"Restoring the weights of epoch {self.best_epoch + 1}, the best {self.monitor} "
                       f"({self.best:.4f}), at the {how}.")
            if self.verbose:
                print(message)
            logging.getLogger("tweaknet").info(message)
        self._check_monitor_seen()


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
        store = getattr(self.model, "store", None)
        if store is None:
            return list(self.model.weights)
        return [w for w in self.model.weights if not np.may_share_memory(w, store.params)]

    def _finite(self, arrays):
        for a in arrays:
            if a.size and not np.isfinite(a.sum()):
                if not np.isfinite(a).all():  # the sum alone can overflow for large finite weights
                    return False
        return True

    def _snapshot(self, extra):
        """Keep copies of the flat parameter buffer, the ``extra`` weights and the optimizer's state."""
        store = getattr(self.model, "store", None)
        if store is not None:
            if getattr(self, "_params", None) is None or self._params.shape != store.params.shape:
                self._params = store.params.copy()
            else:
                np.copyto(self._params, store.params)
        self._extra = [w.copy() for w in extra]
        optimizer = getattr(self.model, "optimizer", None)
        self._opt = optimizer.get_state() if optimizer is not None and optimizer.built else None

    def _restore(self, extra):
        """Put the kept copies back into the live arrays (``extra``: as given to ``_snapshot``)."""
        store = getattr(self.model, "store", None)
        if store is not None and self._params is not None:
            store.params[...] = self._params
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
        store = getattr(self.model, "store", None)
        extra = self._extra_weights()
        bad_loss = loss is not None and not np.isfinite(loss)
        if not bad_loss and self._finite(([store.params] if store is not None else []) + extra):
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
        self._reset_monitor()
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._value(logs)
        if current is None:
            return
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

    def on_train_end(self, logs=None):
        self._check_monitor_seen()


class CSVLogger(Callback):
    """One CSV row per epoch (``epoch`` then the log keys, sorted); ``append=True`` continues a file
    without a second header.

    When a key appears that the header lacks (``val_*`` added on resume, or first seen on the second
    epoch with ``validation_freq=2``), the file is rewritten atomically with the union of the columns;
    the earlier rows get empty cells there.  A key missing from a row is written ``NA``, as Keras does.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, bool(append)
        self._file = None

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

    def _widen(self, new_keys):
        """Rewrite the file atomically (``tweaknet.saving.atomic_write``) with ``new_keys`` as columns."""
        self._file.close()
        with open(self.filename, newline="") as f:
            rows = list(csv.reader(f, delimiter=self.separator))
        old = rows[0] if rows else ["epoch", *self.keys]
        header = ["epoch", *new_keys]
        where = {name: i for i, name in enumerate(old)}
        text = io.StringIO(newline="")
        writer = csv.writer(text, delimiter=self.separator)
        writer.writerow(header)
        for row in rows[1:]:
            writer.writerow([row[where[k]] if k in where and where[k] < len(row) else "" for k in header])
        # the encoding open() uses for this file elsewhere in the class
        atomic_write(self.filename, text.getvalue().encode(locale.getpreferredencoding(False)))
        self.keys = list(new_keys)
        self._file = open(self.filename, "a", newline="")
        self._writer = csv.writer(self._file, delimiter=self.separator)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        elif not set(logs) <= set(self.keys):
            keys = sorted(set(self.keys) | set(logs))
            if self._header_written:
                self._widen(keys)
            else:
                self.keys = keys
        if not self._header_written:
            self._writer.writerow(["epoch", *self.keys])
            self._header_written = True
        self._writer.writerow([epoch, *(logs.get(k, "NA") for k in self.keys)])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
          "on_train_batch_end", "on_test_begin", "on_test_end", "on_progress")


class LambdaCallback(Callback):
    """A callback from functions, with Keras 3's arguments: ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``, ``on_train_end(logs)``,
    ``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)``; ``on_batch_begin`` and
    ``on_batch_end`` (Keras 2's names) are aliases of the last two, and the other hooks
    (``on_test_begin``, ``on_test_end``, ``on_progress``) may be given by keyword too."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, on_batch_begin=None, on_batch_end=None,
                 **kwargs):
        super().__init__()
        for alias, name, fn in (("on_batch_begin", "on_train_batch_begin", on_train_batch_begin),
                                ("on_batch_end", "on_train_batch_end", on_train_batch_end)):
            given = on_batch_begin if alias == "on_batch_begin" else on_batch_end
            if given is not None and fn is not None:
                raise TypeError(f"LambdaCallback: pass {name} or its alias {alias}, not both.")
        unknown = sorted(set(kwargs) - set(_HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback got unknown hooks {', '.join(unknown)}; "
                            f"tweaknet calls {', '.join(_HOOKS)}.")
        hooks = dict(kwargs, on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin or on_batch_begin,
                     on_train_batch_end=on_train_batch_end or on_batch_end)
        for hook, fn in hooks.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"LambdaCallback: {hook} must be a function, got {type(fn).__name__}.")
                setattr(self, hook, fn)
