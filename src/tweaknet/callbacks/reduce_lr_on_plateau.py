"""ReduceLROnPlateau: lower the learning rate when a monitored quantity has stopped improving, with
Keras's arguments."""
from __future__ import annotations

from ..validation import check_int, check_number
from .monitor import Monitor


class ReduceLROnPlateau(Monitor):
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
