"""Weight penalties added to the loss (Keras 3 formulas, no 1/2 factor): ``l1``, ``l2``, ``l1_l2``.

    L1(l1):        penalty = l1 * sum|w|             gradient l1 * sign(w)
    L2(l2):        penalty = l2 * sum w^2            gradient 2 l2 w
    L1L2(l1, l2):  both

Keras's defaults: ``l1(0.01)``, ``l2(0.01)``, ``l1_l2(l1=0.01, l2=0.01)``.  PyTorch's
``weight_decay`` in SGD adds ``weight_decay * w`` to the gradient, i.e. L2 with l2 = weight_decay / 2.
"""
from __future__ import annotations

import numpy as np

from .registry import get as _get
from .registry import register
from .validation import check_number


def penalty_terms(w, l1, l2):
    """Each weight's share of the penalty, elementwise: ``l1 |w| + l2 w^2``."""
    return l1 * np.abs(w) + l2 * (w * w)


def penalty_value(w, l1, l2):
    """``sum(l1 |w| + l2 w^2)`` (the penalty added to the loss)."""
    return np.sum(penalty_terms(w, l1, l2))


def penalty_grad(w, l1, two_l2):
    """Its gradient, elementwise: ``l1 * sign(w) + 2 l2 * w``."""
    return l1 * np.sign(w) + two_l2 * w


@register("regularizer", "l1_l2")
class L1L2:
    """The penalty ``penalty_value`` and its gradient ``penalty_grad``, written once for both training paths
    (``value_args``/``grad_args`` give their arguments in the weights' float type)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = check_number("l1", l1, low=0), check_number("l2", l2, low=0)

    def value_args(self, dtype) -> tuple:
        return dtype.type(self.l1), dtype.type(self.l2)

    def grad_args(self, dtype) -> tuple:
        return dtype.type(self.l1), dtype.type(2.0 * self.l2)

    def __call__(self, w) -> float:
        return float(penalty_value(w, *self.value_args(w.dtype)))

    def gradient(self, w) -> np.ndarray:
        return penalty_grad(w, *self.grad_args(w.dtype))

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


@register("regularizer", "l1")
class L1(L1L2):
    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


@register("regularizer", "l2")
class L2(L1L2):
    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1, l2)


l1, l2 = L1, L2


def get(identifier):
    """A regularizer from None, a name ('l2'), a config dict or an instance."""
    return _get("regularizer", identifier, base=L1L2)
