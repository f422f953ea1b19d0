"""EarlyStopping: stop training when a monitored quantity has stopped improving, with Keras's arguments.

Where Keras is known to disappoint, tweaknet does not: ``restore_best_weights=True`` restores the
best weights also when training ends without an early stop (and says so).
"""
from __future__ import annotations

import logging

from ..validation import check_int
from .monitor import Monitor


class EarlyStopping(Monitor):
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
