"""``Sequential``: a stack of layers with Keras's compile / fit / evaluate / predict API."""
from __future__ import annotations

import warnings

import numpy as np

from .. import fast, losses, optimizers
from ..callbacks import CallbackList, Diagnostics, History, ProgressLogger
from ..layers.base import Layer, unique_name
from ..layers.input import InputLayer
from ..training import loop
from ..training.data import check_batch_size, check_inputs, check_targets, split_validation, take
from ..training.metrics import check as check_metric
from ..training.metrics import resolve as resolve_metric
from ..registry import register
from ..validation import check_int
from .parameters import FlatParameters
from .summary import summary as _summary

_IGNORED_COMPILE_ARGS = ("run_eagerly", "jit_compile", "steps_per_execution", "auto_scale_loss")


@register("model")
class Sequential:
    """A linear stack of layers: ``Sequential([Dense(25, activation='tanh', input_shape=(784,)), Dense(10)])``."""

    def __init__(self, layers=None, name=None):
        self.name = name or unique_name("sequential")
        self.layers: list[Layer] = []
        self._input_shape = None
        self.built = False
        self.optimizer = self.loss = None
        self.compiled_metrics = []
        self._metric_ids = []
        self.stop_training = False
        self.history = None
        self.flat = None
        self.fused_output = False
        for layer in layers or []:
            self.add(layer)

    # -- structure ------------------------------------------------------------------------------
    def add(self, layer) -> None:
        """Append a layer (an ``Input(...)`` may come first to declare the input shape)."""
        if isinstance(layer, InputLayer):
            if self.layers:
                raise ValueError("Input(...) must come before the first layer of a Sequential model.")
            self._input_shape = layer.input_shape_arg
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a tweaknet layer, got {layer!r} ({type(layer).__name__}).")
        if not self.layers and layer.input_shape_arg is not None:
            self._input_shape = layer.input_shape_arg
        self.layers.append(layer)
        self.built = False
        if self._input_shape is not None:  # as Keras: a model whose input shape is known builds at once
            self.build()

    def build(self, input_shape=None) -> None:
        """Create all weights for inputs of ``input_shape`` (Keras style ``(None, 784)`` or ``(784,)``)."""
        if input_shape is not None:
            shape = tuple(input_shape)
            self._input_shape = shape[1:] if shape and shape[0] is None else shape
        if self._input_shape is None:
            raise ValueError("The model's input shape is unknown: pass input_shape= to the first layer, start with "
                             "Input(shape=...), or call fit/predict once.")
        if not self.layers:
            raise ValueError("The model has no layers: add some with model.add(...).")
        shape = tuple(self._input_shape)
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            elif tuple(layer.input_shape) != shape:
                raise ValueError(f"Layer {layer.name!r} was built for inputs {layer.input_shape}, but receives {shape}.")
            layer.needs_input_grad = True
            shape = layer.output_shape
        self.layers[0].needs_input_grad = False
        self.flat = FlatParameters(self.layers)
        self.built = True
        self._connect_optimizer()

    @property
    def store(self):
        """Deprecated name of :attr:`flat` (the flat parameter and gradient arrays)."""
        warnings.warn("model.store is deprecated: use model.flat (the flat parameter and gradient arrays)",
                      DeprecationWarning, stacklevel=2)
        return self.flat

    @property
    def input_shape(self):
        return (None, *self._input_shape) if self._input_shape is not None else None

    @property
    def output_shape(self):
        return (None, *self.layers[-1].output_shape) if self.built else None

    def _ensure_built(self, x_shape=None):
        if not self.built:
            if self._input_shape is None and x_shape is not None:
                self._input_shape = tuple(x_shape[1:])
            self.build()

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
        from .. import config
        return self.layers[0].dtype if self.layers else config.floatx()

    # -- training -----------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0, validation_batch_size=None, validation_freq=1,
            diagnostics=False, **kwargs):
        """Train for ``epochs`` epochs; return a :class:`History` (also kept as ``model.history``).

        Training logs are running means over the epoch; ``val_*`` logs evaluate the whole validation set
        at the end of the epoch in inference mode, as in Keras.  ``diagnostics=True`` adds a
        :class:`~tweaknet.callbacks.Diagnostics` callback (records in ``model.diagnostics_``).
        """
        for k, v in kwargs.items():
            if v is not None:
                raise TypeError(f"fit's argument {k!r} is not supported by tweaknet.")
        self._require_compiled("fit")
        batch_size = check_batch_size(batch_size)
        epochs = check_int("epochs", epochs, low=0)
        initial_epoch = check_int("initial_epoch", initial_epoch, low=0)
        x, y = self._prepare(x, y)
        x, y, val = split_validation(x, y, validation_split)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val).")
            val = self._prepare(*validation_data, name_x="validation_data[0]", name_y="validation_data[1]")
        verbose = 1 if verbose == "auto" else verbose
        history = History()
        cbs = list(callbacks or [])
        if diagnostics and not any(isinstance(c, Diagnostics) for c in cbs):
            cbs.append(Diagnostics())
        self._fit_data = (x, y)
        if verbose:
            cbs.append(ProgressLogger(verbose))
        cbs.append(history)
        cb = CallbackList(cbs, self, {"epochs": epochs, "samples": len(x), "batch_size": batch_size,
                                      "verbose": verbose})
        self.stop_training = False
        compiled = fast.epoch_runner(self, batch_size, bool(cb.batch_callbacks))
        cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cb.on_epoch_begin(epoch)
            with fast.numerics():
                logs = loop.run_epoch(self, x, y, batch_size, shuffle, cb, compiled)
            if val is not None and (epoch + 1) % validation_freq == 0:
                vlogs = loop.evaluate_arrays(self, *val, max(validation_batch_size or batch_size, 256))
                logs.update({f"val_{k}": v for k, v in vlogs.items()})
            logs["learning_rate"] = self.optimizer.learning_rate  # the rate of the epoch's next step
            cb.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cb.on_train_end()
        self.history = history
        return history

    def diagnose(self, x, y, epochs=1, batch_size=None, probe_size=256, **fit_kwargs):
        """Train this model (as ``fit`` does: its weights change) with diagnostics, and return a
        :class:`~tweaknet.diagnostics.Report`: findings (code, layer, evidence, fix) and metrics."""
        from ..diagnostics import diagnose, input_findings
        probe = Diagnostics(probe_size=probe_size)
        self.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=fit_kwargs.pop("verbose", 0),
                 callbacks=[probe, *fit_kwargs.pop("callbacks", [])], **fit_kwargs)
        seen = probe.probe[0]
        for layer in self.layers:  # inputs as the first weighted layer sees them (after Normalization)
            if layer.params:
                break
            seen = layer.forward(take(seen, slice(None), self.flat.params.dtype), False)
        return diagnose(probe.records, self.loss.name, input_findings(seen))

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
        logs = loop.evaluate_arrays(self, x, y, max(check_batch_size(batch_size), 256))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto"):
        """Model outputs for ``x`` in inference mode, computed in batches."""
        x = check_inputs(x, self._input_shape, self._dtype())
        self._ensure_built(x.shape)
        bs = max(check_batch_size(batch_size), 256)
        dtype = self.flat.params.dtype
        return np.concatenate([loop.forward(self, take(x, slice(i, i + bs), dtype), False)
                               for i in range(0, len(x), bs)])

    def __call__(self, x, training=False):
        x = check_inputs(x, self._input_shape, self._dtype())
        self._ensure_built(x.shape)
        return loop.forward(self, take(x, slice(None), self.flat.params.dtype), training)

    # -- weights ------------------------------------------------------------------------------
    def _build_if_shape_known(self):
        # Keras builds a model as soon as its input shape is known (Input(...) or input_shape=).
        if not self.built and self._input_shape is not None and self.layers:
            self.build()

    @property
    def weights(self) -> list[np.ndarray]:
        self._build_if_shape_known()
        return [w for layer in self.layers for w in layer.weights]

    def get_weights(self) -> list[np.ndarray]:
        """All weights in Keras order (per layer: Dense kernel (in, out) then bias; BN gamma, beta,
        moving_mean, moving_variance), as copies."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        weights = list(weights)
        self._build_if_shape_known()
        expected = sum(len(layer.weight_names) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"set_weights expects {expected} arrays for model {self.name!r}, got {len(weights)}.")
        i = 0
        for layer in self.layers:
            n = len(layer.weight_names)
            layer.set_weights(weights[i:i + n])
            i += n

    def count_params(self) -> int:
        self._build_if_shape_known()
        if not self.built:
            raise ValueError("The model is not built yet: give an input shape or call fit/predict first.")
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=None):
        """Print a Keras-style table of layers, output shapes and parameter counts."""
        if not self.built:
            self._ensure_built()
        (print_fn or print)(_summary(self))

    def get_state(self) -> dict:
        """Everything training changes: weights (Keras order) and optimizer state (for exact resume)."""
        return {"weights": self.get_weights(),
                "optimizer": self.optimizer.get_state() if self.optimizer is not None else None}

    def set_state(self, state: dict) -> None:
        self.set_weights(state["weights"])
        if state.get("optimizer") is not None:
            self.optimizer.set_state(state["optimizer"])

    def save(self, path) -> None:
        """Save architecture, weights, compile settings, optimizer state and random state (``tweaknet.saving``)."""
        from ..saving import save_model
        save_model(self, path)

    def save_weights(self, path) -> None:
        """Save the weights alone (safetensors)."""
        from ..saving import save_weights
        save_weights(self, path)

    def load_weights(self, path) -> None:
        """Load weights saved by ``save_weights`` into this model."""
        from ..saving import load_weights
        self._build_if_shape_known()
        load_weights(self, path)

    def get_config(self) -> dict:
        return {"name": self.name, "input_shape": list(self._input_shape) if self._input_shape else None,
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self.layers]}
