"""Normalization: input standardization inside the model (the chapter's "input standardization").

Putting the standardization in the model lets the data stay in its compact original type
(MNIST's uint8 pixels: 47 MB instead of 188 MB as float32): ``fit`` casts each batch as it goes,
as Keras does.
"""
from __future__ import annotations

import numpy as np

from .. import config
from ..registry import register
from .base import Layer


def normalization_value(x, mean, denominator, invert):
    """``(x - mean) / denominator``, or back with ``invert``: ``x * denominator + mean``."""
    if invert:
        return x * denominator + mean
    return (x - mean) / denominator


def normalization_grad(dy, denominator, invert):
    if invert:
        return dy * denominator
    return dy / denominator


@register("layer", "normalization")
class Normalization(Layer):
    """``y = (x - mean) / max(sqrt(variance), epsilon)``, with ``mean``/``variance`` given or learned by ``adapt``.

    ``axis=-1`` keeps one statistic per feature (Keras's default); ``axis=None`` one scalar over all
    values, as the book standardizes MNIST (mean pixel ~33.3, std ~78.6).  ``adapt(data)`` computes
    the mean and the (population) variance of the training data.  ``invert=True`` maps back:
    ``y = x * sqrt(variance) + mean``.  The statistics are non-trainable buffers.

    Keras 3 semantics (epsilon = 1e-7); Keras also keeps a sample ``count`` weight, which we omit.
    PyTorch has no layer for this (``torchvision.transforms.Normalize`` works on data).
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is not None and axis != -1:
            raise ValueError("Normalization supports axis=-1 (per feature) or axis=None (one scalar).")
        if (mean is None) != (variance is None):
            raise ValueError("Normalization needs both `mean` and `variance`, or neither (then call adapt()).")
        self.axis, self.invert = axis, bool(invert)
        self._given = None if mean is None else (np.asarray(mean, np.float64), np.asarray(variance, np.float64))
        if self._given is not None and np.any(self._given[1] < 0):
            raise ValueError("Normalization `variance` must be >= 0.")

    def _stat_shape(self, input_shape):
        return (1,) if self.axis is None else (input_shape[-1],)

    def build(self, input_shape):
        shape = self._stat_shape(input_shape)
        self.add_weight("mean", shape, "zeros", trainable=False)
        self.add_weight("variance", shape, "ones", trainable=False)
        if self._given is not None:
            mean, var = self._given
            self.buffers["mean"][...] = np.broadcast_to(mean, shape)
            self.buffers["variance"][...] = np.broadcast_to(var, shape)
        super().build(input_shape)

    def adapt(self, data) -> None:
        """Set mean and variance from ``data`` (samples along axis 0), computed in float64."""
        data = np.asarray(data)
        if data.size == 0:
            raise ValueError("Normalization.adapt got empty data.")
        if not self.built:
            self.build(data.shape[1:])
        axes = None if self.axis is None else tuple(range(data.ndim - 1))
        mean = np.mean(data, axis=axes, dtype=np.float64)
        var = np.mean(np.square(data - mean, dtype=np.float64), axis=axes)
        self.buffers["mean"][...] = np.reshape(mean, self.buffers["mean"].shape)
        self.buffers["variance"][...] = np.reshape(var, self.buffers["variance"].shape)

    def denominator(self) -> np.ndarray:
        return np.maximum(np.sqrt(self.buffers["variance"]), np.asarray(config.epsilon(), self.dtype))

    def forward(self, x, training=False):
        return normalization_value(x, self.buffers["mean"], self.denominator(), self.invert)

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        return normalization_grad(dy, self.denominator(), self.invert)

    def get_config(self):
        return super().get_config() | {"axis": self.axis, "invert": self.invert}
