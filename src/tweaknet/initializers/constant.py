"""Constant initializers: Zeros, Ones, Constant.  Zeros is the default (and the book's) bias initializer."""
from __future__ import annotations

import numpy as np

from ..registry import register
from .base import Initializer


@register("initializer", "zeros", "zero")
class Zeros(Initializer):
    """All zeros: ``w = 0``."""

    def __init__(self):
        super().__init__(None)

    def generate(self, shape, rng):
        return np.zeros(shape)

    def get_config(self):
        return {}


@register("initializer", "ones", "one")
class Ones(Initializer):
    """All ones: ``w = 1`` (batch normalization's gamma)."""

    def __init__(self):
        super().__init__(None)

    def generate(self, shape, rng):
        return np.ones(shape)

    def get_config(self):
        return {}


@register("initializer", "constant")
class Constant(Initializer):
    """Every entry equal to ``value`` (default 0.0)."""

    def __init__(self, value=0.0):
        super().__init__(None)
        self.value = float(value)

    def generate(self, shape, rng):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}
