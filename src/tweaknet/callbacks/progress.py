"""Progress output in Keras's format, without flooding logs.

``verbose=2``: one line per epoch, ``Epoch 5/20`` then
``60000/60000 - 3s - loss: 0.0131 - accuracy: 0.9274 - val_loss: 0.0125 - val_accuracy: 0.9309``.
``verbose=1``: on a terminal, the same line redrawn in place at most 4 times a second during the
epoch; elsewhere (CI, a log file) exactly what verbose=2 prints.
"""
from __future__ import annotations

import sys
import time

from .base import Callback


def format_logs(logs: dict) -> str:
    """Keras's ``loss: 0.0131 - accuracy: 0.9274`` (the learning rate is in History, not on the line)."""
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items()
                      if isinstance(v, (int, float)) and k != "learning_rate")


def format_seconds(s: float) -> str:
    return f"{s:.0f}s" if s >= 1 else f"{s * 1000:.0f}ms"


class ProgressLogger(Callback):
    """Prints Keras-style progress; see the module docstring for the two verbosity levels."""

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.stream = stream or sys.stdout
        self.live = verbose == 1 and getattr(self.stream, "isatty", lambda: False)()
        if self.live:
            self.on_train_batch_end = self._live_update

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._last = time.perf_counter()
        print(f"Epoch {epoch + 1}/{self.params.get('epochs')}", file=self.stream, flush=True)

    def _live_update(self, batch, logs=None):
        now = time.perf_counter()
        if now - self._last < 0.25:
            return
        self._last = now
        seen, total = logs.get("seen", 0), self.params.get("samples", 0)
        eta = (now - self._start) / max(seen, 1) * (total - seen)
        shown = {k: v for k, v in logs.items() if k != "seen"}
        self.stream.write(f"\r{seen}/{total} - ETA: {format_seconds(eta)} - {format_logs(shown)}\x1b[K")
        self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        total = self.params.get("samples", 0)
        took = time.perf_counter() - self._start
        prefix = "\r" if self.live else ""
        print(f"{prefix}{total}/{total} - {format_seconds(took)} - {format_logs(logs or {})}"
              + ("\x1b[K" if self.live else ""), file=self.stream, flush=True)
