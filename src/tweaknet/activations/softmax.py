"""Softmax, the multiclass output activation paired with categorical cross-entropy."""
from __future__ import annotations

import numpy as np

from ..ops import last_max_kept, last_sum_kept
from ..registry import register
from ..validation import check_int
from .base import Activation, as_float, exported


def softmax_value(z):
    """Softmax over the last axis (row by row)."""
    e = np.exp(z - last_max_kept(z))
    return e / last_sum_kept(e)


def softmax_grad(z, a, d):
    """The Jacobian-vector product over the last axis."""
    return a * (d - last_sum_kept(d * a))


@register("activation", "softmax")
class Softmax(Activation):
    """``softmax(x)_i = e^(x_i - max x) / sum_j e^(x_j - max x)`` along ``axis`` (-1).

    Backward (the Jacobian-vector product): ``dx = y * (dy - sum(dy * y, axis))``.
    With categorical cross-entropy the model skips it and uses the fused ``(y_hat - y) / N``.
    """

    rowwise = True
    value, grad = staticmethod(softmax_value), staticmethod(softmax_grad)

    def __init__(self, axis=-1):
        self.axis = check_int("axis", axis)

    def __call__(self, x):
        return np.moveaxis(softmax_value(np.moveaxis(as_float(x), self.axis, -1)), -1, self.axis)

    def backward(self, x, y, dy):
        last = [np.moveaxis(a, self.axis, -1) for a in (x, y, dy)]
        return np.moveaxis(softmax_grad(*last), -1, self.axis)

    def get_config(self):
        return {"axis": self.axis}


def softmax(x, axis=-1):
    """Softmax along ``axis``; see :class:`Softmax`."""
    return Softmax(axis)(np.asarray(x))


softmax = exported(Softmax(), softmax)
