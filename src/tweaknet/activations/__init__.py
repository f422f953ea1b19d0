"""Activation functions with Keras 3 names: linear, sigmoid, tanh, relu, leaky_relu, softplus, elu, selu, softmax.

No overflow, NaN or inf for inputs up to 1e4 in magnitude in float32 and float64.
"""
import warnings

from .base import Activation, Linear, get, serialize
from .rectifiers import ELU, LeakyReLU, ReLU, SELU, Softplus, elu, leaky_relu, relu, selu, softplus
from .s_shaped import Sigmoid, Tanh, sigmoid, tanh
from .softmax import Softmax, softmax


def linear(x):
    """Identity: returns ``x`` unchanged."""
    return x


linear.activation_object = Linear()

__all__ = ["Activation", "get", "serialize", "linear", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu", "selu",
           "softmax"]


_RENAMED = {"Relu": "ReLU", "LeakyRelu": "LeakyReLU", "Elu": "ELU", "Selu": "SELU"}


def __getattr__(name):
    # The classes were spelled Relu, LeakyRelu, Elu, Selu before 0.2; the layers and Keras write ReLU, ELU...
    if name in _RENAMED:
        warnings.warn(f"tweaknet.activations.{name} is now {_RENAMED[name]}", DeprecationWarning, stacklevel=2)
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module 'tweaknet.activations' has no attribute {name!r}")
