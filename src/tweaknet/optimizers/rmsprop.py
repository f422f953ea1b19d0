"""RMSProp (Hinton, Coursera lecture 6e): divide by a running root mean square of the gradient."""
from __future__ import annotations

import numpy as np

from ..registry import register
from ..validation import check_number
from .base import Optimizer


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

    def slot_initial_values(self):
        slots = {"velocity": 0.0}
        if self.momentum:
            slots["momentum"] = 0.0
        if self.centered:
            slots["average_gradient"] = 0.0
        return slots

    def update_step(self, g, w, lr):
        rho, s = self.rho, self._state
        v = s["velocity"]
        v *= rho
        v += (1.0 - rho) * (g * g)
        if self.centered:
            a = s["average_gradient"]
            a *= rho
            a += (1.0 - rho) * g
            denominator = v - a * a + self.epsilon
        else:
            denominator = v + self.epsilon
        step = lr * g / np.sqrt(denominator)
        if self.momentum:
            m = s["momentum"]
            m *= self.momentum
            m += step
            w -= m
        else:
            w -= step

    def get_config(self):
        return super().get_config() | {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                                       "centered": self.centered}
