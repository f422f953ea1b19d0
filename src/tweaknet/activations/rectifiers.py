"""The ReLU family of the chapter's Figures 5-9 to 5-11: ReLU, leaky ReLU, ELU, SELU and softplus.

Derivative at exactly 0: 0 for ReLU and leaky ReLU's positive branch is taken for x > 0 only,
as Keras/TensorFlow and PyTorch do (the book notes any value works; we match the frameworks).
"""
from __future__ import annotations

import numpy as np

from ..ops import ONE, ZERO, where
from ..registry import register
from ..validation import check_number
from .base import Activation, exported
from .s_shaped import sigmoid_value


def relu_value(z):
    return np.maximum(z, ZERO)


def relu_grad(z, a, d):
    return d * (z > ZERO)


def relu_general_value(z, negative_slope, max_value, threshold):
    """ReLU with Keras's arguments (``max_value`` = inf for none)."""
    return np.minimum(where(z > threshold, z, negative_slope * (z - threshold)), max_value)


def relu_general_grad(z, a, d, negative_slope, max_value, threshold):
    return d * where(z >= max_value, ZERO, where(z > threshold, ONE, negative_slope))


def leaky_relu_value(z, negative_slope):
    return where(z > ZERO, z, negative_slope * z)


def leaky_relu_grad(z, a, d, negative_slope):
    return where(z > ZERO, d, negative_slope * d)


def elu_value(z, alpha):
    return where(z > ZERO, z, alpha * np.expm1(np.minimum(z, ZERO)))


def elu_grad(z, a, d, alpha):
    return where(z > ZERO, d, d * (a + alpha))


def selu_value(z, alpha, scale):
    return scale * where(z > ZERO, z, alpha * np.expm1(np.minimum(z, ZERO)))


def selu_grad(z, a, d, alpha, scale):
    return where(z > ZERO, scale * d, d * (a + scale * alpha))


def softplus_value(z):
    return np.maximum(z, ZERO) + np.log1p(np.exp(-np.abs(z)))


def softplus_grad(z, a, d):
    return d * sigmoid_value(z)


@register("activation", "relu", "Relu")  # Relu: the class name before 0.2 (saved files)
class ReLU(Activation):
    """Rectified linear unit ``max(x, 0)`` (Glorot, Bordes & Bengio 2011).

    Keras's optional arguments: ``negative_slope`` (0.0), ``max_value`` (None), ``threshold`` (0.0):
    ``y = x if x > threshold else negative_slope * (x - threshold)``, then ``min(y, max_value)``.
    """

    def __init__(self, negative_slope=0.0, max_value=None, threshold=0.0):
        self.negative_slope = check_number("negative_slope", negative_slope, low=0)
        self.max_value = check_number("max_value", max_value, low=0, allow_none=True)
        self.threshold = check_number("threshold", threshold)
        if not self.is_plain:  # the rules with Keras's arguments
            self.value, self.grad = relu_general_value, relu_general_grad

    value, grad = staticmethod(relu_value), staticmethod(relu_grad)

    @property
    def is_plain(self) -> bool:
        """True for plain ``max(x, 0)`` (no ``negative_slope``, ``max_value`` or ``threshold``)."""
        return self.negative_slope == 0.0 and self.max_value is None and self.threshold == 0.0

    def rule_args(self, dtype):
        if self.is_plain:
            return ()
        top = np.inf if self.max_value is None else self.max_value
        return dtype.type(self.negative_slope), dtype.type(top), dtype.type(self.threshold)

    def get_config(self):
        return {"negative_slope": self.negative_slope, "max_value": self.max_value, "threshold": self.threshold}


@register("activation", "leaky_relu", "LeakyRelu")  # LeakyRelu: the class name before 0.2 (saved files)
class LeakyReLU(Activation):
    """Leaky ReLU ``x if x > 0 else negative_slope * x`` (Maas et al. 2013; Xu et al. 2015).

    Keras's function default ``negative_slope`` is 0.2, its ``LeakyReLU`` layer's is 0.3;
    PyTorch's ``nn.LeakyReLU`` uses 0.01.
    """

    value, grad = staticmethod(leaky_relu_value), staticmethod(leaky_relu_grad)

    def __init__(self, negative_slope=0.2):
        self.negative_slope = check_number("negative_slope", negative_slope, low=0)

    def rule_args(self, dtype):
        return (dtype.type(self.negative_slope),)

    def get_config(self):
        return {"negative_slope": self.negative_slope}


@register("activation", "elu", "Elu")  # Elu: the class name before 0.2 (saved files)
class ELU(Activation):
    """Exponential linear unit ``x if x > 0 else alpha (e^x - 1)`` (Clevert et al. 2016); alpha=1.0.

    Derivative ``1`` for x > 0, ``alpha e^x = y + alpha`` otherwise.  ``expm1`` on ``min(x, 0)``
    keeps it exact near 0 and free of overflow.
    """

    value, grad = staticmethod(elu_value), staticmethod(elu_grad)

    def __init__(self, alpha=1.0):
        self.alpha = check_number("alpha", alpha)

    def rule_args(self, dtype):
        return (dtype.type(self.alpha),)

    def get_config(self):
        return {"alpha": self.alpha}


@register("activation", "selu", "Selu")  # Selu: the class name before 0.2 (saved files)
class SELU(Activation):
    """Scaled ELU ``scale * elu(x, alpha)`` with alpha=1.67326324, scale=1.05070098 (Klambauer et al. 2017)."""

    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946
    value, grad = staticmethod(selu_value), staticmethod(selu_grad)

    def rule_args(self, dtype):
        return dtype.type(self.alpha), dtype.type(self.scale)


@register("activation", "softplus")
class Softplus(Activation):
    """Softplus ``log(1 + e^x)`` (Dugas et al. 2001), computed as ``max(x, 0) + log1p(e^-|x|)``; derivative S(x)."""

    value, grad = staticmethod(softplus_value), staticmethod(softplus_grad)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """ReLU, with Keras's optional arguments; see :class:`ReLU`."""
    return ReLU(negative_slope, max_value, threshold)(np.asarray(x))


def leaky_relu(x, negative_slope=0.2):
    """Leaky ReLU; see :class:`LeakyReLU`."""
    return LeakyReLU(negative_slope)(np.asarray(x))


def elu(x, alpha=1.0):
    """ELU; see :class:`ELU`."""
    return ELU(alpha)(np.asarray(x))


relu, leaky_relu, elu = exported(ReLU(), relu), exported(LeakyReLU(), leaky_relu), exported(ELU(), elu)
selu = exported(SELU(), lambda x: SELU()(np.asarray(x)))
softplus = exported(Softplus(), lambda x: Softplus()(np.asarray(x)))
selu.__doc__, softplus.__doc__ = SELU.__doc__, Softplus.__doc__
