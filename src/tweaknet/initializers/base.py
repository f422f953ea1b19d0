"""Initializer base class and the fan computation.

Kernel layout, stated once for the whole library: a Dense kernel has shape
``(fan_in, fan_out)`` = ``(inputs, units)``, as in Keras.  (PyTorch's
``nn.Linear.weight`` is the transpose, ``(out, in)``.)
"""
from __future__ import annotations

import numpy as np

from .. import config, seeding
from ..registry import get as _get


def compute_fans(shape) -> tuple[float, float]:
    """Return ``(fan_in, fan_out)`` for a weight of ``shape``, as Keras computes them.

    1-D: both are ``shape[0]``; 2-D ``(in, out)``: ``(in, out)``; N-D (convolution
    kernels ``(*receptive_field, in, out)``): both multiplied by the receptive field size.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    receptive = float(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: ``initializer(shape, dtype=None)`` returns a new array.

    A seeded initializer returns the same values at every call (Keras 3 semantics);
    an unseeded one draws from the global generator seeded by ``utils.set_random_seed``.
    """

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"`seed` must be None or a non-negative integer, got {seed!r}.")
        self.seed = seed

    def _rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed) if self.seed is not None else seeding.generator()

    def __call__(self, shape, dtype=None) -> np.ndarray:
        dtype = np.dtype(dtype or config.floatx())
        shape = tuple(int(s) for s in np.atleast_1d(shape)) if not isinstance(shape, tuple) else shape
        return np.asarray(self.generate(shape, self._rng()), dtype=dtype)

    def generate(self, shape, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"seed": self.seed}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def truncated_normal(rng: np.random.Generator, shape, mean: float, stddev: float) -> np.ndarray:
    """Normal draws re-drawn until all lie within two standard deviations of the mean."""
    x = rng.standard_normal(shape)
    bad = np.abs(x) >= 2.0
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(x) >= 2.0
    return mean + stddev * x


def get(identifier):
    """Resolve an initializer from a name, config dict, instance or class."""
    return _get("initializer", identifier, base=Initializer)
