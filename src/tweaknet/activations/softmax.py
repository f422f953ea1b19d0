"""Softmax, the multiclass output activation paired with categorical cross-entropy."""
from __future__ import annotations

import numpy as np

from ..registry import register
from ..validation import check_int
from .base import Activation, exported


@register("activation", "softmax")
class Softmax(Activation):
    """``softmax(x)_i = e^(x_i - max x) / sum_j e^(x_j - max x)`` along ``axis`` (-1).

    Backward (the Jacobian-vector product): ``dx = y * (dy - sum(dy * y, axis))``.
    With categorical cross-entropy the model skips it and uses the fused ``(y_hat - y) / N``.
    """

    def __init__(self, axis=-1):
        self.axis = check_int("axis", axis)

    def __call__(self, x):
        e = np.exp(x - np.max(x, axis=self.axis, keepdims=True))
        e /= np.sum(e, axis=self.axis, keepdims=True)
        return e

    def backward(self, x, y, dy):
        return y * (dy - np.sum(dy * y, axis=self.axis, keepdims=True))

    def get_config(self):
        return {"axis": self.axis}


def softmax(x, axis=-1):
    """Softmax along ``axis``; see :class:`Softmax`."""
    return Softmax(axis)(np.asarray(x))


softmax = exported(Softmax(), softmax)
