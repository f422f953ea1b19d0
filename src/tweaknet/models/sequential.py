"""``Sequential``: a stack of layers, its weights and its config; the training API (compile, fit, evaluate,
predict) comes from ``Trainer`` (``trainer.py``), as in Keras 3."""
from __future__ import annotations

import warnings

import numpy as np

from ..layers.base import Layer, unique_name
from ..layers.input import InputLayer
from ..registry import register
from ..saving import load_weights, save_model, save_weights
from .parameters import FlatParameters
from .summary import summary
from .trainer import Trainer


@register("model")
class Sequential(Trainer):
    """A linear stack of layers: ``Sequential([Dense(25, activation='tanh', input_shape=(784,)), Dense(10)])``.

    ``model.diagnose(x, y)`` and ``fit(..., diagnostics=True)`` are implemented in ``tweaknet.diagnostics``,
    which depends on models (never the reverse); the package root wires them in (``tweaknet/__init__.py``).
    """

    def __init__(self, layers=None, name=None):
        self.name = name or unique_name("sequential")
        self.layers: list[Layer] = []
        self._layer_ids: set[int] = set()  # refuses a layer instance added twice, in O(1)
        self._input_shape = None
        self._built = False
        self._flat = None
        self.optimizer = self.loss = None
        self.compiled_metrics = []
        self._metric_ids = []
        self.stop_training = False
        self.history = None
        self.fused_output = False
        for layer in layers or []:
            self.add(layer)

    # -- structure ------------------------------------------------------------------------------
    def add(self, layer) -> None:
        """Append a layer (an ``Input(...)`` may come first to declare the input shape).

        As in Keras, a model whose input shape is known builds at once: the new layer gets its weights
        here, from the previous layer's output shape.  The model's flat parameter buffer (and the
        optimizer's slots) are repacked once, the next time they are needed, so ``add`` costs O(1) and
        building a model of n layers O(n) (a file of 12,000 layers loads in linear time).

        A layer instance may appear once per model: its weights are views into the model's single
        parameter buffer, so a second use would not tie the weights, it would overwrite the first use's
        gradient with the second's (Keras shares the weights; tweaknet refuses, with a ValueError)."""
        if isinstance(layer, InputLayer):
            if self.layers:
                raise ValueError("Input(...) must come before the first layer of a Sequential model.")
            self._input_shape = layer.input_shape_arg
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a tweaknet layer, got {layer!r} ({type(layer).__name__}).")
        index = next((i for i, other in enumerate(self.layers) if other is layer), None) \
            if id(layer) in self._layer_ids else None  # the scan runs only when the id is known: O(1) otherwise
        if index is not None:
            raise ValueError(
                f"Layer {layer.name!r} is already layer {index} of model {self.name!r}: a layer instance can be used "
                f"once per model. Tied weights would fight over the model's single parameter buffer (only the last "
                f"use's gradient would be applied). Create a second {type(layer).__name__}(...) instead "
                f"(it has its own weights).")
        if not self.layers and layer.input_shape_arg is not None:
            self._input_shape = layer.input_shape_arg
        if self._input_shape is not None:  # as Keras: a model whose input shape is known builds at once
            shape = tuple(self.layers[-1].output_shape) if self.layers else tuple(self._input_shape)
            self._build_layer(layer, shape)
            layer.needs_input_grad = bool(self.layers)
        self.layers.append(layer)
        self._layer_ids.add(id(layer))
        self._built = False  # the flat buffer is repacked on next use (``built``, ``flat``)

    def __setstate__(self, state):
        """A copied or unpickled model holds new layer objects: their ids are recomputed."""
        self.__dict__.update(state)
        self._layer_ids = {id(layer) for layer in self.layers}

    @staticmethod
    def _build_layer(layer, shape) -> None:
        if not layer.built:
            layer.build(shape)
        elif tuple(layer.input_shape) != shape:
            raise ValueError(f"Layer {layer.name!r} was built for inputs {layer.input_shape}, but receives {shape}.")

    @property
    def built(self) -> bool:
        """True once every layer has its weights and the model its flat parameter buffer (built on demand
        after ``add`` when the input shape is known, as Keras builds at once)."""
        if not self._built and self._input_shape is not None and self.layers:
            self.build()
        return self._built

    @property
    def flat(self):
        """The contiguous parameter and gradient arrays (``FlatParameters``), None before the model is built."""
        return self._flat if self.built else None

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
            self._build_layer(layer, shape)
            layer.needs_input_grad = True
            shape = layer.output_shape
        self.layers[0].needs_input_grad = False
        self._flat = FlatParameters(self.layers)
        self._built = True
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
        chunks, i = [], 0
        for layer in self.layers:  # every array checked before any is set: a refused call changes nothing
            n = len(layer.weight_names)
            chunks.append(layer.check_weights(weights[i:i + n]))
            i += n
        for layer, chunk in zip(self.layers, chunks):
            layer.set_weights(chunk)

    def count_params(self) -> int:
        self._build_if_shape_known()
        if not self.built:
            raise ValueError("The model is not built yet: give an input shape or call fit/predict first.")
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=None):
        """Print a Keras-style table of layers, output shapes and parameter counts."""
        if not self.built:
            self._ensure_built()
        (print_fn or print)(summary(self))

    def get_state(self) -> dict:
        """Everything training changes: weights (Keras order) and optimizer state (for exact resume)."""
        return {"weights": self.get_weights(),
                "optimizer": self.optimizer.get_state() if self.optimizer is not None else None}

    def set_state(self, state: dict) -> None:
        self.set_weights(state["weights"])
        if state.get("optimizer") is not None:
            self.optimizer.set_state(state["optimizer"])

    def save(self, path) -> None:
        """Save architecture, weights, compile settings, optimizer state and random state (``tweaknet.saving``);
        a ``.keras`` name writes Keras 3's format instead (no random state), which real Keras opens."""
        save_model(self, path)

    def save_weights(self, path) -> None:
        """Save the weights alone: Keras's HDF5 layout for a ``.weights.h5`` name, else safetensors."""
        save_weights(self, path)

    def load_weights(self, path) -> None:
        """Load weights saved by ``save_weights`` (or by Keras: ``.weights.h5``, ``.keras``) into this model."""
        self._build_if_shape_known()
        load_weights(self, path)

    def get_config(self) -> dict:
        return {"name": self.name, "input_shape": list(self._input_shape) if self._input_shape else None,
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self.layers]}
