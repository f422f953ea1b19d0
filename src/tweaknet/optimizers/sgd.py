"""Stochastic gradient descent, with momentum (Polyak 1964) and Nesterov momentum (Nesterov 1983)."""
from __future__ import annotations

from ..registry import register
from ..validation import check_number
from .base import Optimizer


def sgd_rule(g, m, lr, momentum, nesterov):
    """The step (``w -= step``) and the new velocity ``m``."""
    if momentum == 0:
        return lr * g, m
    m = m * momentum - lr * g
    if nesterov:
        return -(momentum * m - lr * g), m
    return -m, m


def sgd_scalars(lr, t, state, momentum, nesterov):
    return lr, momentum, nesterov


@register("optimizer", "sgd")
class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum; Keras 3 defaults ``learning_rate=0.01, momentum=0.0``.

    Update rule::

        momentum == 0:  w -= lr * g
        otherwise:      m = momentum * m - lr * g
                        w += m                          (classic)
                        w += momentum * m - lr * g      (nesterov=True)

    Keras vs PyTorch: Keras folds the learning rate into the velocity ``m``; ``torch.optim.SGD``
    keeps ``b = momentum * b + g`` and steps ``w -= lr * b``.  With a constant rate the two are the
    same; with a changing rate they differ.  PyTorch's dampening has no Keras counterpart.
    """

    rule, scalars = staticmethod(sgd_rule), staticmethod(sgd_scalars)
    rule_slots = ("m",)

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.momentum = check_number("momentum", momentum, low=0, high=1)
        self.nesterov = bool(nesterov)

    def slot_initial_values(self):
        return {"m": 0.0} if self.momentum else {}

    def constants(self):
        return float(self.momentum), float(self.nesterov)

    def linear_in_gradient(self):
        return self.momentum == 0

    def get_config(self):
        return super().get_config() | {"momentum": self.momentum, "nesterov": self.nesterov}
