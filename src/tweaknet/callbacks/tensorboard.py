"""TensorBoard: scalars (and weight histograms) in event files that the real TensorBoard reads
(``tensorboard`` extra).

Layout as Keras writes it: ``log_dir/train`` holds ``epoch_loss``, ``epoch_accuracy`` (each metric),
``epoch_learning_rate``; ``log_dir/validation`` holds the ``val_`` logs under the same names.  With
``update_freq`` a number of batches, ``log_dir/train`` also holds ``batch_loss``, ``batch_accuracy``
(running means over the epoch so far) at the optimizer's step count; with ``histogram_freq`` it holds
``<layer>/<weight>/histogram`` every ``histogram_freq`` epochs.
The writer is tensorboardX's (``pip install 'tweaknet[tensorboard]'``).
"""
from __future__ import annotations

import math
import os
import time
import warnings

from ..validation import check_int
from .base import Callback


class TensorBoard(Callback):
    """Write the logs to ``log_dir`` (default ``logs``) for TensorBoard, with Keras 3's arguments.

    Implemented: ``histogram_freq`` (weight histograms every that many epochs, 0: none),
    ``update_freq`` ('epoch'; 'batch' or an integer N: batch scalars, the running means of the epoch so
    far, whenever the optimizer's step count reaches a multiple of N; through ``on_progress``, so
    training keeps the compiled path), ``write_steps_per_second`` (``epoch_steps_per_second``).
    Accepted for compatibility: ``write_graph`` (tweaknet writes no graph), and, with a warning that
    they are ignored, ``write_images``, ``profile_batch`` and ``embeddings_freq`` when they ask for
    something (``embeddings_metadata`` is ignored with them).
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ImportError("The TensorBoard callback needs tensorboardX: pip install 'tweaknet[tensorboard]'") \
                from None
        self.log_dir, self._writer_class, self._writers = os.fspath(log_dir), SummaryWriter, {}
        self.histogram_freq = check_int("histogram_freq", histogram_freq, low=0)
        self.write_graph, self.write_images = bool(write_graph), bool(write_images)
        self.write_steps_per_second = bool(write_steps_per_second)
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, int)
                                       or update_freq < 1):
            raise ValueError(f"update_freq must be 'epoch', 'batch' or a positive integer, got {update_freq!r}.")
        self.update_freq = update_freq
        self.profile_batch, self.embeddings_freq = profile_batch, embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        for name, asked in (("write_images", self.write_images), ("profile_batch", profile_batch),
                            ("embeddings_freq", embeddings_freq)):
            if asked:
                warnings.warn(f"TensorBoard({name}={asked!r}) is accepted for Keras compatibility but ignored "
                              f"by tweaknet.", stacklevel=2)
        if self.update_freq != "epoch":
            # Batch scalars at every multiple of N optimizer steps, through on_progress (no per-batch hook),
            # so that training keeps the compiled path.
            self.progress_steps = self.update_freq
            self.on_progress = self._progress

    def _writer(self, split):
        if split not in self._writers:
            self._writers[split] = self._writer_class(os.path.join(self.log_dir, split))
        return self._writers[split]

    def _progress(self, seen, logs=None):  # called at each multiple of update_freq steps (``progress_steps``)
        writer = self._writer("train")
        for key, value in (logs or {}).items():
            writer.add_scalar(f"batch_{key}", float(value), self.model.optimizer.iterations)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            split, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            self._writer(split).add_scalar(f"epoch_{name}", float(value), epoch)
        if self.write_steps_per_second and self.params.get("samples") and self.params.get("batch_size"):
            steps = math.ceil(self.params["samples"] / self.params["batch_size"])
            elapsed = max(time.perf_counter() - self._epoch_start, 1e-9)
            self._writer("train").add_scalar("epoch_steps_per_second", steps / elapsed, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            writer = self._writer("train")
            for layer in self.model.layers:
                for name, weight in zip(layer.weight_names, layer.weights):
                    writer.add_histogram(f"{layer.name}/{name}/histogram", weight, epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
