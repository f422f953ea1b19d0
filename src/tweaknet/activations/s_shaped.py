"""The S-shaped functions of the chapter's Figure 5-2: logistic sigmoid and tanh.

Both saturate: their derivative vanishes for large |x|, the cause of the vanishing
gradient problem the chapter opens with.
"""
from __future__ import annotations

import numpy as np

from ..registry import register
from .base import Activation, exported


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` without overflow: ``e / (1 + e)`` with ``e = exp(-|x|)`` for negative x."""
    e = np.exp(-np.abs(x))
    r = 1.0 / (1.0 + e)
    return np.where(x >= 0, r, e * r).astype(np.result_type(x, np.float32), copy=False)


@register("activation", "sigmoid")
class Sigmoid(Activation):
    """Logistic sigmoid ``S(x) = 1 / (1 + e^-x)``; ``S'(x) = S(x)(1 - S(x))``, at most 0.25."""

    max_derivative = 0.25

    def __call__(self, x):
        return stable_sigmoid(x)

    def backward(self, x, y, dy):
        return dy * y * (1.0 - y)


@register("activation", "tanh")
class Tanh(Activation):
    """Hyperbolic tangent ``tanh(x)``; derivative ``1 - tanh(x)^2``, at most 1."""

    max_derivative = 1.0

    def __call__(self, x):
        return np.tanh(x)

    def backward(self, x, y, dy):
        return dy * (1.0 - y * y)


sigmoid = exported(Sigmoid(), lambda x: stable_sigmoid(np.asarray(x)))
tanh = exported(Tanh(), lambda x: np.tanh(x))
sigmoid.__doc__, tanh.__doc__ = Sigmoid.__doc__, Tanh.__doc__
