"""LearningRateScheduler: set the optimizer's learning rate from a function of the epoch, as Keras does."""
from __future__ import annotations

import numpy as np

from .base import Callback


class LearningRateScheduler(Callback):
    """At each epoch start, ``optimizer.learning_rate = schedule(epoch, learning_rate)``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError("LearningRateScheduler needs a function schedule(epoch, lr) -> lr.")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        value = self.schedule(epoch, self.model.optimizer.learning_rate)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(value) or value < 0:
            raise TypeError(f"LearningRateScheduler: the schedule must return a finite number >= 0 (the learning "
                            f"rate), got {value!r} ({type(value).__name__}) for epoch {epoch}.")
        lr = float(value)
        self.model.optimizer.learning_rate = lr
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")
