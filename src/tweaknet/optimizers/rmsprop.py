"""RMSProp (Hinton, Coursera lecture 6e): divide by a running root mean square of the gradient."""
from __future__ import annotations

import numpy as np

from ..registry import register
from ..validation import check_number
from .base import Optimizer


def rmsprop_rule(g, v, a, m, lr, rho, one_minus_rho, epsilon, momentum, centered):
    """The step (``w -= step``) and the new ``velocity``, ``average_gradient`` and ``momentum`` slots."""
    v = v * rho + one_minus_rho * (g * g)
    if centered:
        a = a * rho + one_minus_rho * g
        step = lr * g / np.sqrt(v - a * a + epsilon)
    else:
        step = lr * g / np.sqrt(v + epsilon)
    if momentum == 0:
        return step, v, a, m
    m = m * momentum + step
    return m, v, a, m


def rmsprop_scalars(lr, t, state, rho, momentum, epsilon, centered):
    return lr, rho, 1.0 - rho, epsilon, momentum, centered


@register("optimizer", "rmsprop")
class RMSprop(Optimizer):
    """Keras 3 defaults ``learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False``.

    Update rule::

        v = rho * v + (1 - rho) * g^2
        centered:  a = rho * a + (1 - rho) * g;  d = v - a^2 + epsilon
        else:      d = v + epsilon
        step = lr * g / sqrt(d)                 # epsilon inside the square root
        momentum > 0:  m = momentum * m + step;  w -= m
        else:          w -= step

    Keras vs PyTorch: ``torch.optim.RMSprop`` adds epsilon (1e-8) *outside* the square root,
    defaults to rho (alpha) = 0.99 and lr = 0.01.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.rho = check_number("rho", rho, low=0, high=1)
        self.momentum = check_number("momentum", momentum, low=0, high=1)
        self.epsilon = self._epsilon(epsilon)
        self.centered = bool(centered)

    rule, scalars = staticmethod(rmsprop_rule), staticmethod(rmsprop_scalars)
    rule_slots = ("velocity", "average_gradient", "momentum")
    nonnegative_slots = ("velocity",)

    def slot_initial_values(self):
        slots = {"velocity": 0.0}
        if self.momentum:
            slots["momentum"] = 0.0
        if self.centered:
            slots["average_gradient"] = 0.0
        return slots

    def constants(self):
        return self.rho, self.momentum, self.epsilon, float(self.centered)

    def get_config(self):
        return super().get_config() | {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                                       "centered": self.centered}
