"""Monitor: the base of the callbacks that watch a logged quantity (``monitor``, such as ``val_loss``)
and act when it improves or stops improving: EarlyStopping, ReduceLROnPlateau and ModelCheckpoint.

It reads the monitored value from the epoch's logs, compares it with ``mode`` ('min', 'max' or
'auto') and ``min_delta``, skips (with one warning) the epochs that did not validate, and reports a
misspelt monitor at the end of the first epoch rather than after all of them.
"""
from __future__ import annotations

import warnings

from ..validation import check_number
from .base import Callback


def _better(mode, monitor):
    """The comparison for ``mode`` ('auto': 'max' for accuracy-like monitors, else 'min')."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}.")
    if mode == "max" or (mode == "auto" and ("acc" in monitor or monitor.endswith("auc"))):
        return lambda current, best, delta: current > best + delta
    return lambda current, best, delta: current < best - delta


class Monitor(Callback):
    """The base of the callbacks that watch a logged quantity ``monitor`` (EarlyStopping,
    ReduceLROnPlateau, ModelCheckpoint): ``_value(logs)`` gives the value or None, ``_better(current,
    best, delta)`` compares two values in the direction of ``mode``.

    Reads ``monitor`` from the logs.  An epoch that did not validate (``validation_freq > 1`` leaves the
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
