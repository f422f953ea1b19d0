"""Activation functions: value and derivative side by side.

Each activation is a small class with ``__call__(x) -> y`` and
``backward(x, y, dy) -> dx`` (the chain rule through the function, using the
cached input ``x`` and output ``y`` so nothing is recomputed).  Layers resolve
``activation='tanh'`` through the registry; the lower-case module functions
(``tweaknet.activations.tanh(x)``) evaluate the same objects.
"""
from __future__ import annotations

import numpy as np

from ..registry import get as _get
from ..registry import register


class Activation:
    """Base class for an elementwise (or row-wise, for softmax) activation function."""

    #: Largest value of the derivative, used by diagnostics to define saturation (None: not saturating).
    max_derivative: float | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

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

    def __call__(self, x):
        return x

    def backward(self, x, y, dy):
        return dy


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
