"""``Trainer``: Keras's compile / fit / evaluate / predict, for a model with ``layers``, ``flat`` and a build.

Keras 3 keeps these in its own ``Trainer`` class that ``Model`` inherits; so does tweaknet: ``Sequential``
(``sequential.py``) holds the structure and the weights, this file the training API.  ``fit`` validates its
arguments, picks the epoch runner once (the compiled path's, where it serves the model, else the reference
path's ``ReferenceEpoch``) and hands it every epoch; callbacks observe through their hooks.
"""
from __future__ import annotations

import numpy as np

from .. import config, fast, losses, optimizers, seeding
from ..callbacks import CallbackList, History, ProgressLogger
from ..callbacks.base import check_callbacks
from ..metrics import check as check_metric
from ..metrics import resolve as resolve_metric
from ..training import loop
from ..training.data import (check_batch_size, check_inputs, check_targets, check_validation_freq, check_verbose,
                             split_validation, take)
from ..validation import check_int

_IGNORED_COMPILE_ARGS = ("run_eagerly", "jit_compile", "steps_per_execution", "auto_scale_loss")


class Trainer:
    """The training API of a model; see the module docstring."""

    #: The callback class ``fit(diagnostics=True)`` adds (``tweaknet.diagnostics.Diagnostics``, set at the root).
    diagnostics_callback = None

    # -- compile ------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs) -> None:
        """Set the optimizer (name or instance), the loss (name, function or instance) and metrics."""
        unknown = [k for k in kwargs if k not in _IGNORED_COMPILE_ARGS]
        if unknown:
            raise TypeError(f"compile got an unsupported argument {unknown[0]!r}.")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        if isinstance(metrics, (str, dict)) or (metrics is not None and not isinstance(metrics, (list, tuple))):
            metrics = [metrics]
        for metric in metrics or []:
            check_metric(metric)
        self._metric_ids = list(metrics or [])
        self.compiled_metrics = []
        if self.built:
            self._connect_optimizer()

    def _connect_optimizer(self):
        if self.optimizer is None or not self.built:
            return
        layout = [(a, b) for a, b in self.flat.segments]
        if not self.optimizer.built or self.optimizer._segments != layout:
            self.optimizer.build(layout, self.flat.size, self.flat.params.dtype)
        act = self.layers[-1].output_activation
        self.fused_output = self.loss is not None and act is not None and self.loss.can_fuse(act)

    def _require_compiled(self, what):
        if self.optimizer is None or self.loss is None:
            raise RuntimeError(f"Call model.compile(optimizer=..., loss=...) before model.{what}().")

    def _prepare(self, x, y, name_x="x", name_y="y"):
        dtype = self.flat.params.dtype if self.built else np.dtype(self._dtype())
        x = check_inputs(x, self._input_shape, dtype, name_x)
        self._ensure_built(x.shape)
        y = check_targets(y, len(x), self.loss, self.layers[-1].output_shape, dtype, name_y)
        if not self.compiled_metrics and self._metric_ids:
            out_shape = (len(x), *self.layers[-1].output_shape)
            self.compiled_metrics = [resolve_metric(m, y.shape, out_shape) for m in self._metric_ids]
        return x, y

    def _dtype(self):
        return self.layers[0].dtype if self.layers else config.floatx()

    # -- training -----------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0, validation_batch_size=None, validation_freq=1,
            diagnostics=False, **kwargs):
        """Train for ``epochs`` epochs; return a :class:`History` (also kept as ``model.history``).

        Training logs are running means over the epoch; ``val_*`` logs evaluate the whole validation set
        at the end of the epoch in inference mode, as in Keras.  ``diagnostics=True`` adds a
        :class:`~tweaknet.diagnostics.Diagnostics` callback (records in ``model.diagnostics_``, the Report in
        ``history.diagnostics``, printed at the end when ``verbose > 0``).
        Callbacks find the training arrays (after ``validation_split``) in ``params["training_data"]``.
        """
        for k, v in kwargs.items():
            if v is not None:
                raise TypeError(f"fit's argument {k!r} is not supported by tweaknet.")
        self._require_compiled("fit")
        batch_size = check_batch_size(batch_size)
        epochs = check_int("epochs", epochs, low=0)
        initial_epoch = check_int("initial_epoch", initial_epoch, low=0)
        validates = check_validation_freq(validation_freq)
        validation_batch_size = check_int("validation_batch_size", validation_batch_size, low=1, allow_none=True)
        verbose = check_verbose(verbose)
        cbs = check_callbacks(callbacks)
        x, y = self._prepare(x, y)
        x, y, val = split_validation(x, y, validation_split)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val).")
            val = self._prepare(*validation_data, name_x="validation_data[0]", name_y="validation_data[1]")
        history = History()
        if diagnostics and not any(isinstance(c, self.diagnostics_callback) for c in cbs):
            cbs.append(self.diagnostics_callback())
        if verbose:
            cbs.append(ProgressLogger(verbose))
        cbs.append(history)
        cb = CallbackList(cbs, self, {"epochs": epochs, "samples": len(x), "batch_size": batch_size,
                                      "verbose": verbose, "training_data": (x, y)})
        self.stop_training = False
        # The path is chosen once per fit: compiled where it serves this model, else the reference path.
        work = len(x) * max(epochs - initial_epoch, 0)  # samples to train: short fits are not worth a compile
        runner = fast.epoch_runner(self, batch_size, cb, work) or loop.ReferenceEpoch(self, batch_size)
        threads = fast.threads_for(self, batch_size)
        cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cb.on_epoch_begin(epoch)
            order = seeding.generator().permutation(len(x)) if shuffle else np.arange(len(x))
            with fast.numerics(threads):
                logs = runner.run(x, y, order, cb)
            if val is not None and validates(epoch):
                vlogs = self._evaluate(*val, max(validation_batch_size or batch_size, 256), work)
                logs.update({f"val_{k}": v for k, v in vlogs.items()})
            logs["learning_rate"] = self.optimizer.learning_rate  # the rate of the epoch's next step
            cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cb.on_train_end()
        # the Report of a Diagnostics callback (tweaknet.diagnostics, wired at the root), if one ran
        history.diagnostics = next((c.report for c in cbs if self.diagnostics_callback is not None
                                    and isinstance(c, self.diagnostics_callback)), None)
        self.history = history
        return history

    def train_on_batch(self, x, y):
        """One optimizer step on one batch; returns the loss (and metrics, as a list) before the update."""
        self._require_compiled("train_on_batch")
        x, y = self._prepare(x, y)
        x = take(x, slice(None), self.flat.params.dtype)
        value, out = loop.train_step(self, x, y)
        if not self.compiled_metrics:
            return value
        return [value, *(m.correct(y, out) / len(x) for m in self.compiled_metrics)]

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False):
        """Loss and metrics on ``(x, y)`` in inference mode: a scalar, a list ``[loss, *metrics]`` or a dict."""
        self._require_compiled("evaluate")
        x, y = self._prepare(x, y)
        logs = self._evaluate(x, y, max(check_batch_size(batch_size), 256), len(x))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto"):
        """Model outputs for ``x`` in inference mode, computed in batches."""
        x = check_inputs(x, self._input_shape, self._dtype())
        self._ensure_built(x.shape)
        bs = max(check_batch_size(batch_size), 256)
        compiled = fast.inference_runner(self, bs, len(x))
        if compiled is not None:
            with fast.numerics(fast.threads_for(self, bs)):
                return compiled.predict(x)
        dtype = self.flat.params.dtype
        return np.concatenate([loop.forward(self, take(x, slice(i, i + bs), dtype), False)
                               for i in range(0, len(x), bs)])

    def _evaluate(self, x, y, batch_size, work) -> dict:
        """Loss and metrics in inference mode, on the compiled path where it serves this model and ``work``
        (the samples of the evaluation, or of the fit it belongs to) is worth a compile."""
        compiled = fast.inference_runner(self, batch_size, work)
        if compiled is None:
            return loop.evaluate_arrays(self, x, y, batch_size)
        with fast.numerics(fast.threads_for(self, batch_size)):
            return compiled.evaluate(x, y)

    def __call__(self, x, training=False):
        x = check_inputs(x, self._input_shape, self._dtype())
        self._ensure_built(x.shape)
        return loop.forward(self, take(x, slice(None), self.flat.params.dtype), training)

