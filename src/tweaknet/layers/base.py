"""Layer base class: build, forward(x, training), backward(dy), and three kinds of arrays.

- ``params``: trainable weights (the optimizer updates them);
- ``grads``:  their gradients, same names and shapes, written by ``backward``;
- ``buffers``: non-trainable state such as batch-norm moving statistics (the optimizer never sees them).

Once a model is built, ``params`` and ``grads`` entries are views into the model's contiguous
buffers, so layers must update them in place (``w[...] = ...``), never rebind them.

Forward caches what backward needs (inputs, outputs); backward never recomputes the forward pass.
"""
from __future__ import annotations

import contextvars
import copy
import difflib
import inspect
import itertools
from collections import defaultdict
from types import MappingProxyType

import numpy as np

from .. import config
from ..initializers import get as get_initializer
from ..registry import snake_case
from ..validation import check_allocation

_NAME_COUNTERS: dict[str, itertools.count] = defaultdict(itertools.count)
#: True inside :func:`planned_weights`: ``add_weight`` then allocates nothing (a zero-strided array).
_PLANNING = contextvars.ContextVar("tweaknet_planning_weights", default=False)


def planned_weights(layer, input_shape: tuple):
    """The weights ``layer`` would create for inputs of ``input_shape``, without allocating them:
    ``([(name, shape, dtype, trainable), ...], output_shape)``.

    The layer itself is left as it was (a shallow copy is built, its weights zero-strided views of one element),
    so a reader can check a file's arrays against the architecture before building anything: a
    600-byte file declaring ``Dense(100000)`` on 100,000 inputs must not cost 74 GiB to refuse."""
    plan = copy.copy(layer)  # its own attribute dict; the containers build fills are fresh
    plan.params, plan.grads, plan.buffers, plan._weight_order = {}, {}, {}, []
    token = _PLANNING.set(True)
    try:
        plan.build(tuple(input_shape))
    finally:
        _PLANNING.reset(token)
    weights = [(n, tuple(plan._weight_dict(n)[n].shape), plan._weight_dict(n)[n].dtype,
                plan.trainable and n in plan.params) for n in plan._weight_order]
    return weights, tuple(plan.output_shape)


def clear_session() -> None:
    """Reset automatic layer naming (``dense``, ``dense_1``, ...), as ``keras.backend.clear_session``."""
    _NAME_COUNTERS.clear()


def unique_name(base: str) -> str:
    n = next(_NAME_COUNTERS[base])
    return base if n == 0 else f"{base}_{n}"


class Layer:
    """Base class for layers.  Keyword arguments every layer takes: ``name``, ``input_shape``
    (or ``input_dim``) for the first layer of a Sequential model, ``trainable``, ``dtype``."""

    #: Weight penalties by weight name (``Dense`` sets its own from ``kernel_regularizer`` ...); read-only here.
    regularizers = MappingProxyType({})

    def __init__(self, name=None, input_shape=None, input_dim=None, trainable=True, dtype=None, **kwargs):
        if kwargs:
            bad = next(iter(kwargs))
            valid = ["name", "input_shape", "input_dim", "trainable", "dtype"]
            # ... and the layer's own arguments (the likeliest typos: 'activaton', 'kernel_initialiser').
            valid += [p for p in inspect.signature(type(self).__init__).parameters if p not in ("self", "kwargs")]
            close = difflib.get_close_matches(bad, valid, n=1)
            raise TypeError(f"{type(self).__name__} got an unexpected argument {bad!r}."
                            + (f" Did you mean {close[0]!r}?" if close else ""))
        self.name = name or unique_name(snake_case(type(self).__name__))
        if input_dim is not None and input_shape is None:
            input_shape = (int(input_dim),)
        self.input_shape_arg = tuple(input_shape) if input_shape is not None else None
        self.trainable = bool(trainable)
        self.dtype = np.dtype(dtype or config.floatx())
        self.built = False
        self.input_shape = self.output_shape = None
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self._weight_order: list[str] = []
        #: False for the first layer of a model: its input gradient is never used, so backward may skip it.
        self.needs_input_grad = True

    # -- construction -------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer, trainable=True) -> np.ndarray:
        """Create a weight; trainable ones get a zero gradient array of the same shape."""
        if _PLANNING.get():  # planned_weights: the shape only, one element of memory
            value = np.lib.stride_tricks.as_strided(np.zeros(1, self.dtype), tuple(shape), (0,) * len(shape))
        else:
            what = f"Layer {self.name!r} weight {name!r} of shape {tuple(shape)} ({self.dtype})"
            fix = "check the layer's size (units) and its input shape."
            check_allocation(np.prod(shape, dtype=float) * self.dtype.itemsize, what, fix)
            try:
                value = get_initializer(initializer)(tuple(shape), dtype=self.dtype)
            except MemoryError:
                raise MemoryError(f"{what} needs {np.prod(shape, dtype=float) * self.dtype.itemsize / 2**30:.3g} "
                                  f"GiB, which could not be allocated; {fix}") from None
            value = np.asarray(value)
            if value.shape != tuple(shape):
                raise ValueError(f"Layer {self.name!r}: the initializer of {name!r} returned shape {value.shape}, "
                                 f"expected {tuple(shape)}.")
            if value.dtype != self.dtype:  # as Keras: the layer's float type wins
                value = value.astype(self.dtype)
        (self.params if trainable else self.buffers)[name] = value
        if trainable:
            self.grads[name] = value if _PLANNING.get() else np.zeros_like(value)
        self._weight_order.append(name)
        return value

    def build(self, input_shape: tuple) -> None:
        """Create weights for inputs of ``input_shape`` (without the batch axis)."""
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(self.compute_output_shape(self.input_shape))
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    # -- computation --------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray | None:  # pragma: no cover - abstract
        raise NotImplementedError

    #: The activation at this layer's output, if any (the model fuses it with a matching loss).
    output_activation = None

    @property
    def preactivation(self) -> np.ndarray | None:
        """The input of :attr:`output_activation` in the last forward pass (``z`` for ``Dense``, the layer's
        input for an activation layer); None for a layer without one or before any forward pass.
        Diagnostics read it to measure saturated and dead units."""
        return None

    def backward_from_preactivation(self, dz: np.ndarray) -> np.ndarray | None:
        """Backward from the gradient at the output activation's input (used by the fused loss)."""
        raise TypeError(f"{type(self).__name__} has no output activation to fuse with.")

    def __call__(self, x, training=False):
        """Apply the layer to a batch (building it on first use)."""
        x = np.asarray(x, dtype=self.dtype)
        if not self.built:
            self.build(x.shape[1:])
        return self.forward(x, training=training)

    # -- weights in Keras order ---------------------------------------------------------------
    def _weight_dict(self, name):
        return self.params if name in self.params else self.buffers

    @property
    def weights(self) -> list[np.ndarray]:
        return [self._weight_dict(n)[n] for n in self._weight_order]

    @property
    def weight_names(self) -> list[str]:
        return list(self._weight_order)

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The weights the optimizer updates (live arrays, Keras order); none when ``trainable=False``."""
        return [self.params[n] for n in self._weight_order if n in self.params] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The other weights (live arrays): buffers such as batch-norm moving statistics, and every weight
        of a layer with ``trainable=False``.  ``trainable_weights + non_trainable_weights`` hold ``weights``."""
        trainable = self.trainable_weights
        return [w for w in self.weights if not any(w is t for t in trainable)]

    def __getattr__(self, name):
        """Weights by their Keras names, as live arrays: ``dense.kernel``, ``dense.bias``, ``bn.moving_mean``."""
        for store in ("params", "buffers"):
            table = self.__dict__.get(store, {})
            if name in table:
                return table[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def get_weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        weights = self.check_weights(weights)
        for name, value in zip(self._weight_order, weights):
            self._weight_dict(name)[name][...] = value

    def check_weights(self, weights) -> list:
        """``weights`` as arrays after checking they fit this layer (count, shapes, finite values)."""
        weights = [np.asarray(w) for w in weights]
        if len(weights) != len(self._weight_order):
            raise ValueError(f"Layer {self.name!r} expects {len(self._weight_order)} weight arrays "
                             f"({', '.join(self._weight_order)}), got {len(weights)}.")
        for name, value in zip(self._weight_order, weights):
            target = self._weight_dict(name)[name]
            if value.shape != target.shape:
                raise ValueError(f"Layer {self.name!r} weight {name!r} has shape {target.shape}, "
                                 f"got an array of shape {value.shape}.")
            if np.issubdtype(value.dtype, np.number) and not np.all(np.isfinite(value)):
                raise ValueError(f"Layer {self.name!r} weight {name!r}: the array holds NaN or infinite values; "
                                 f"refused (a model with them predicts NaN). Keras accepts them silently.")
        return weights

    def count_params(self) -> int:
        return int(sum(w.size for w in self.weights))

    def trainable_count(self) -> int:
        return int(sum(w.size for w in self.params.values())) if self.trainable else 0

    def get_config(self) -> dict:
        cfg = {"name": self.name, "trainable": self.trainable}
        if self.input_shape_arg is not None:
            cfg["input_shape"] = list(self.input_shape_arg)
        return cfg

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"
