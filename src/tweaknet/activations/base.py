"""Activation functions: value and derivative side by side, written once for both training paths.

Each activation's math is two module-level functions in the subset of NumPy that Numba compiles
(``tweaknet.ops``): ``value(z, *args) -> a`` and ``grad(z, a, d, *args) -> dz``, the chain rule through
the function from the cached input ``z`` and output ``a`` (nothing is recomputed).  They are elementwise
(softmax: row-wise, ``rowwise = True``), so the reference path calls them on whole batches and the
compiled path inlines them per element (per row) in its loops.  The class holds the arguments
(``rule_args(dtype)``: negative slope, alpha, ... in the arrays' float type) and the Keras API:
``__call__(x) -> y`` and ``backward(x, y, dy) -> dx``.  Layers resolve ``activation='tanh'`` through
the registry; the lower-case module functions (``tweaknet.activations.tanh(x)``) evaluate the same objects.
"""
from __future__ import annotations

import numpy as np

from ..registry import get as _get
from ..registry import register


def as_float(x) -> np.ndarray:
    """``x`` as a floating-point array (integers become float64, as NumPy's ufuncs would make them)."""
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.result_type(x, np.float32))


class Activation:
    """Base class: subclasses set ``value`` and ``grad`` (see the module docstring) and ``rule_args``."""

    #: Largest value of the derivative, used by diagnostics to define saturation (None: not saturating).
    max_derivative: float | None = None
    #: True when ``value``/``grad`` work on whole rows (the last axis) instead of element by element.
    rowwise = False

    @staticmethod
    def value(z):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def grad(z, a, d):  # pragma: no cover - abstract
        raise NotImplementedError

    def rule_args(self, dtype) -> tuple:
        """The extra arguments of ``value`` and ``grad``, as scalars of ``dtype``."""
        return ()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = as_float(x)
        return self.value(x, *self.rule_args(x.dtype))

    def backward(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
        return self.grad(x, y, dy, *self.rule_args(dy.dtype))

    def derivative(self, x: np.ndarray) -> np.ndarray:
        """Elementwise derivative dy/dx (for plots and diagnostics)."""
        x = np.asarray(x)
        return self.backward(x, self(x), np.ones_like(x))

    @property
    def name(self) -> str:
        return self._registry_name

    def get_config(self) -> dict:
        return {}

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self), tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


@register("activation", "linear")
class Linear(Activation):
    """Identity: ``y = x``, ``dy/dx = 1`` (a layer with no activation)."""

    @staticmethod
    def value(z):
        return z

    @staticmethod
    def grad(z, a, d):
        return d

    def __call__(self, x):
        return x


def get(identifier) -> Activation:
    """Resolve an activation: None (linear), a name, a tweaknet activation function or an instance."""
    if identifier is None:
        return Linear()
    wrapped = getattr(identifier, "activation_object", None)
    if wrapped is not None:
        return wrapped
    obj = _get("activation", identifier, base=Activation)
    if not isinstance(obj, Activation):
        raise TypeError(
            f"Activation {identifier!r} has no derivative tweaknet knows: pass a name such as 'relu', a "
            f"tweaknet.activations function, or subclass tweaknet.activations.Activation with __call__ and backward."
        )
    return obj


def serialize(activation: Activation):
    """An activation as its name, or as a config dict when it has non-default arguments (layers' configs)."""
    config = activation.get_config()
    if config == type(activation)().get_config():
        return activation.name
    return {"class_name": type(activation).__name__, "config": config}


def exported(obj: Activation, fn):
    """Attach the activation object to its module-level function so ``get(fn)`` finds it."""
    fn.activation_object = obj
    return fn
