"""History: the per-epoch logs that ``fit`` returns."""
from __future__ import annotations

from .base import Callback


class History(Callback):
    """``history.history`` maps each log key ('loss', 'accuracy', 'val_loss', ...) to a list per epoch;
    ``history.epoch`` lists the epoch indices."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
