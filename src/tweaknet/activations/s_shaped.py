"""The S-shaped functions of the chapter's Figure 5-2: logistic sigmoid and tanh.

Both saturate: their derivative vanishes for large |x|, the cause of the vanishing
gradient problem the chapter opens with.
"""
from __future__ import annotations

import numpy as np

from ..ops import ONE, ZERO, tanh as ops_tanh, where
from ..registry import register
from .base import Activation, as_float, exported


def sigmoid_value(z):
    """``1 / (1 + exp(-z))`` without overflow: ``e / (1 + e)`` with ``e = exp(-|z|)`` for negative z."""
    e = np.exp(-np.abs(z))
    r = ONE / (ONE + e)
    return where(z >= ZERO, r, e * r)


def sigmoid_grad(z, a, d):
    return d * a * (ONE - a)


def tanh_value(z):
    return ops_tanh(z)


def tanh_grad(z, a, d):
    return d * (ONE - a * a)


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic sigmoid of any array, without overflow (used by softplus and binary cross-entropy)."""
    return sigmoid_value(as_float(x))


@register("activation", "sigmoid")
class Sigmoid(Activation):
    """Logistic sigmoid ``S(x) = 1 / (1 + e^-x)``; ``S'(x) = S(x)(1 - S(x))``, at most 0.25."""

    max_derivative = 0.25
    value, grad = staticmethod(sigmoid_value), staticmethod(sigmoid_grad)


@register("activation", "tanh")
class Tanh(Activation):
    """Hyperbolic tangent ``tanh(x)``; derivative ``1 - tanh(x)^2``, at most 1."""

    max_derivative = 1.0
    value, grad = staticmethod(tanh_value), staticmethod(tanh_grad)


sigmoid = exported(Sigmoid(), lambda x: stable_sigmoid(np.asarray(x)))
tanh = exported(Tanh(), lambda x: np.tanh(x))
sigmoid.__doc__, tanh.__doc__ = Sigmoid.__doc__, Tanh.__doc__
