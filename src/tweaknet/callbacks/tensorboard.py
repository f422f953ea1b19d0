"""TensorBoard: per-epoch scalars in event files that the real TensorBoard reads (``tensorboard`` extra).

Layout as Keras writes it: ``log_dir/train`` holds ``epoch_loss``, ``epoch_accuracy`` (each metric),
``epoch_learning_rate``; ``log_dir/validation`` holds the ``val_`` logs under the same names.
The writer is tensorboardX's (``pip install 'tweaknet[tensorboard]'``).
"""
from __future__ import annotations

import os

from .base import Callback


class TensorBoard(Callback):
    """Write the epoch logs to ``log_dir`` (default ``logs``) for TensorBoard."""

    def __init__(self, log_dir="logs"):
        super().__init__()
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ImportError("The TensorBoard callback needs tensorboardX: pip install 'tweaknet[tensorboard]'") \
                from None
        self.log_dir, self._writer_class, self._writers = os.fspath(log_dir), SummaryWriter, {}

    def _writer(self, split):
        if split not in self._writers:
            self._writers[split] = self._writer_class(os.path.join(self.log_dir, split))
        return self._writers[split]

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            self._writer(split).add_scalar(f"epoch_{name}", float(value), epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
