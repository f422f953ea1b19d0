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


@register("regularizer", "l1_l2")
class L1L2:
    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = check_number("l1", l1, low=0), check_number("l2", l2, low=0)

    def __call__(self, w) -> float:
        return float(self.l1 * np.sum(np.abs(w)) + self.l2 * np.sum(np.square(w)))

    def gradient(self, w) -> np.ndarray:
        return self.l1 * np.sign(w) + (2.0 * self.l2) * w

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
