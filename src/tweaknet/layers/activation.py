"""Activation layers: ``Activation(name)`` and the parameterised ``ReLU``, ``LeakyReLU``, ``ELU``, ``Softmax``.

An activation in its own layer behaves exactly like one inside ``Dense(activation=...)``:
in particular sigmoid/softmax outputs fuse with cross-entropy losses either way.
"""
from __future__ import annotations

import warnings

from .. import activations
from ..registry import register
from .base import Layer


@register("layer", "activation")
class Activation(Layer):
    """Applies an activation function: ``y = f(x)``, ``dx = f'(x) dy``.  No weights."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    @property
    def output_activation(self):
        return self.activation

    @property
    def preactivation(self):
        return self.__dict__.get("_x")

    def forward(self, x, training=False):
        self._x = x
        self._y = y = self.activation(x)
        return y

    def backward(self, dy):
        return self.activation.backward(self._x, self._y, dy)

    def backward_from_preactivation(self, dz):
        return dz

    def __getattr__(self, name):
        """The activation's own arguments, as Keras's layers expose them: ``LeakyReLU().negative_slope``."""
        activation = self.__dict__.get("activation")
        if activation is not None and name in activation.get_config():
            return getattr(activation, name)
        return super().__getattr__(name)

    def get_config(self):
        return super().get_config() | {"activation": activations.serialize(self.activation)}


def _own_config(layer, **args):
    return Layer.get_config(layer) | args


@register("layer", "relu_layer")
class ReLU(Activation):
    """ReLU layer with Keras's arguments ``max_value=None, negative_slope=0.0, threshold=0.0``."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(activations.ReLU(negative_slope, max_value, threshold), **kwargs)

    def get_config(self):
        a = self.activation
        return _own_config(self, max_value=a.max_value, negative_slope=a.negative_slope, threshold=a.threshold)


@register("layer", "leaky_relu_layer")
class LeakyReLU(Activation):
    """Leaky ReLU layer, ``negative_slope=0.3`` as in Keras 3 (``alpha=`` accepted with a warning)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            warnings.warn("LeakyReLU's `alpha` is deprecated; use `negative_slope`.", DeprecationWarning, 2)
            negative_slope = kwargs.pop("alpha")
        super().__init__(activations.LeakyReLU(negative_slope), **kwargs)

    def get_config(self):
        return _own_config(self, negative_slope=self.activation.negative_slope)


@register("layer", "elu_layer")
class ELU(Activation):
    """ELU layer, ``alpha=1.0``."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(activations.ELU(alpha), **kwargs)

    def get_config(self):
        return _own_config(self, alpha=self.activation.alpha)


@register("layer", "softmax_layer")
class Softmax(Activation):
    """Softmax layer along ``axis=-1``."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(activations.Softmax(axis), **kwargs)

    def get_config(self):
        return _own_config(self, axis=self.activation.axis)
