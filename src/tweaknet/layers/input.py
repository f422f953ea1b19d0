"""``Input(shape)``: declares the input shape of a Sequential model, as ``keras.Input``."""
from __future__ import annotations

from ..registry import register
from .base import Layer


@register("layer", "input_layer")
class InputLayer(Layer):
    """Placeholder for the model input, shape without the batch axis, e.g. ``Input(shape=(784,))``."""

    def __init__(self, shape=None, batch_size=None, name=None, **kwargs):
        if shape is None and "input_shape" in kwargs:
            shape = kwargs.pop("input_shape")
        if shape is None:
            raise ValueError("Input needs a `shape`, e.g. Input(shape=(784,)).")
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if any((s is not None and (not isinstance(s, int) or s < 1)) for s in shape):
            raise ValueError(f"Input shape entries must be positive integers, got {shape}.")
        super().__init__(name=name, input_shape=shape, **kwargs)

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy


def Input(shape=None, batch_size=None, name=None, dtype=None):
    """Return an input placeholder for ``Sequential([Input(shape=(784,)), ...])``."""
    return InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype)
