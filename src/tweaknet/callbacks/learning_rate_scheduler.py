"""LearningRateScheduler: set the optimizer's learning rate from a function of the epoch, as Keras does."""
from __future__ import annotations

from .base import Callback


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
