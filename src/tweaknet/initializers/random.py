"""Plain random initializers: RandomUniform (the book's +-0.1 weights), RandomNormal, TruncatedNormal."""
from __future__ import annotations

from ..registry import register
from ..validation import check_number
from .base import Initializer, truncated_normal


@register("initializer", "random_uniform", "uniform")
class RandomUniform(Initializer):
    """Uniform on ``[minval, maxval)``; Keras defaults ``minval=-0.05, maxval=0.05``.

    The book's configurations 1 and 2 use ``RandomUniform(minval=-0.1, maxval=0.1)``.
    PyTorch's equivalent is ``nn.init.uniform_(w, a, b)``.
    """

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval = check_number("minval", minval)
        self.maxval = check_number("maxval", maxval)
        if self.maxval < self.minval:
            raise ValueError(f"RandomUniform needs minval <= maxval, got minval={minval}, maxval={maxval}.")

    def generate(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


@register("initializer", "random_normal", "normal")
class RandomNormal(Initializer):
    """Normal with ``mean`` (0.0) and ``stddev`` (0.05), untruncated."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean = check_number("mean", mean)
        self.stddev = check_number("stddev", stddev, low=0)

    def generate(self, shape, rng):
        return rng.normal(self.mean, self.stddev, size=shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@register("initializer", "truncated_normal")
class TruncatedNormal(RandomNormal):
    """Normal with ``mean`` and ``stddev``, values beyond two standard deviations re-drawn.

    The result's standard deviation is about ``0.88 * stddev`` (Keras semantics; PyTorch's
    ``trunc_normal_`` truncates at absolute bounds a=-2, b=2 instead).
    """

    def generate(self, shape, rng):
        return truncated_normal(rng, shape, self.mean, self.stddev)
