"""Progress output in Keras's format, without flooding logs.

``verbose=2``: one line per epoch, ``Epoch 5/20`` then
``60000/60000 - 3s - loss: 0.0131 - accuracy: 0.9274 - val_loss: 0.0125 - val_accuracy: 0.9309``.
``verbose=1``: on a terminal, a live tqdm bar (steps, ETA, running loss and metrics) refreshed at
most 4 times a second (a plain redrawn line where tqdm is not installed); elsewhere (CI, a log
file) exactly what verbose=2 prints.  The bar is fed by ``on_progress``, a few times per epoch, so
it does not take training off the compiled path.
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
            self.on_progress = self._live_update
        self._bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._last = time.perf_counter()
        print(f"Epoch {epoch + 1}/{self.params.get('epochs')}", file=self.stream, flush=True)
        if self.live:
            try:
                from tqdm import tqdm
                self._bar = tqdm(total=self.params.get("samples", 0), file=self.stream, mininterval=0.25,
                                 unit="sample", leave=False, dynamic_ncols=True)
            except ImportError:
                self._bar = None

    def _live_update(self, seen, logs=None):
        now = time.perf_counter()
        if self._bar is not None:
            self._bar.update(seen - self._bar.n)
            self._bar.set_postfix_str(format_logs(logs or {}), refresh=False)
            return
        if now - self._last < 0.25:
            return
        self._last = now
        total = self.params.get("samples", 0)
        eta = (now - self._start) / max(seen, 1) * (total - seen)
        self.stream.write(f"\r{seen}/{total} - ETA: {format_seconds(eta)} - {format_logs(logs or {})}\x1b[K")
        self.stream.flush()

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        total = self.params.get("samples", 0)
        took = time.perf_counter() - self._start
        prefix = "\r" if self.live else ""
        print(f"{prefix}{total}/{total} - {format_seconds(took)} - {format_logs(logs or {})}"
              + ("\x1b[K" if self.live else ""), file=self.stream, flush=True)
