"""Activation functions with Keras 3 names: linear, sigmoid, tanh, relu, leaky_relu, softplus, elu, selu, softmax.

No overflow, NaN or inf for inputs up to 1e4 in magnitude in float32 and float64.
"""
from .base import Activation, Linear, get
from .rectifiers import Elu, LeakyRelu, Relu, Selu, Softplus, elu, leaky_relu, relu, selu, softplus
from .s_shaped import Sigmoid, Tanh, sigmoid, tanh
from .softmax import Softmax, softmax


def linear(x):
    """Identity: returns ``x`` unchanged."""
    return x


linear.activation_object = Linear()

__all__ = ["Activation", "get", "linear", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu", "selu",
           "softmax"]
