"""Flatten: (N, d1, d2, ...) -> (N, d1 * d2 * ...), e.g. MNIST's 28x28 images to 784 inputs."""
from __future__ import annotations

import numpy as np

from ..registry import register
from .base import Layer


@register("layer", "flatten")
class Flatten(Layer):
    """Flattens all axes but the batch axis.  Accepts ``input_shape=(28, 28)`` as the first layer."""

    def compute_output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._shape) if self.needs_input_grad else None
