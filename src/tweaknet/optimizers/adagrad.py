"""AdaGrad (Duchi, Hazan & Singer 2011): per-parameter rates shrinking with the sum of squared gradients."""
from __future__ import annotations

import numpy as np

from ..registry import register
from ..validation import check_number
from .base import Optimizer


def adagrad_rule(g, accumulator, lr, epsilon):
    """The step (``w -= step``) and the new accumulator."""
    accumulator = accumulator + g * g
    return lr * g / np.sqrt(accumulator + epsilon), accumulator


def adagrad_scalars(lr, t, state, epsilon):
    return lr, epsilon


@register("optimizer", "adagrad")
class Adagrad(Optimizer):
    """Keras 3 defaults ``learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7``.

    Update rule::

        a += g^2
        w -= lr * g / sqrt(a + epsilon)

    Keras vs PyTorch: ``torch.optim.Adagrad`` starts the accumulator at 0, puts epsilon (1e-10)
    outside the square root and defaults to lr=0.01.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.initial_accumulator_value = check_number("initial_accumulator_value", initial_accumulator_value, low=0)
        self.epsilon = self._epsilon(epsilon)

    rule, scalars = staticmethod(adagrad_rule), staticmethod(adagrad_scalars)
    rule_slots = ("accumulator",)
    nonnegative_slots = ("accumulator",)

    def slot_initial_values(self):
        return {"accumulator": self.initial_accumulator_value}

    def constants(self):
        return (self.epsilon,)

    def get_config(self):
        return super().get_config() | {"initial_accumulator_value": self.initial_accumulator_value,
                                       "epsilon": self.epsilon}
