"""Regularization layers: Dropout (Srivastava et al. 2014) and GaussianNoise; active in training only."""
from __future__ import annotations

import numpy as np

from .. import seeding
from ..ops import ZERO, where
from ..registry import register
from ..validation import check_number
from .base import Layer


def dropout_value(x, keep, keep_probability):
    """``x / keep_probability`` where kept, else 0 (Keras divides; a multiplication by the inverse rounds once more)."""
    return where(keep, x / keep_probability, ZERO)


def dropout_keep(draw, rate):
    """Keep a unit when its uniform draw in [0, 1) is at least ``rate``."""
    return draw >= rate


class _Noise(Layer):
    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def rng(self):
        return self._rng if self._rng is not None else seeding.generator()

    def get_rng_state(self):
        """The state of this layer's own generator (a JSON-serialisable dict), or None when the layer
        draws from the global generator (no ``seed``).  Saved with the model for exact resume."""
        return self._rng.bit_generator.state if self._rng is not None else None

    def set_rng_state(self, state) -> None:
        """Restore a state returned by ``get_rng_state``."""
        if self._rng is None:
            raise ValueError(f"Layer {self.name!r} has no seed, so it has no generator state to restore.")
        if not isinstance(state, dict) or state.get("bit_generator") != type(self._rng.bit_generator).__name__:
            raise ValueError(f"Layer {self.name!r}: not a {type(self._rng.bit_generator).__name__} generator "
                             f"state: {state!r}.")
        self._rng.bit_generator.state = state


@register("layer", "dropout")
class Dropout(_Noise):
    """Inverted dropout: in training ``y = x * mask / (1 - rate)`` with ``mask ~ Bernoulli(1 - rate)``;
    at inference ``y = x``.  Backward: ``dx = dy * mask / (1 - rate)``.  Keras 3 and PyTorch alike.
    Draws from its own generator when ``seed`` is given, else from the global one."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.rate = check_number("rate", rate, low=0, high=1, high_open=True)

    def forward(self, x, training=False):
        self._keep = None
        if not training or self.rate == 0.0:
            return x
        self._keep = dropout_keep(self.rng().random(x.shape), self.rate)
        return dropout_value(x, self._keep, x.dtype.type(1.0 - self.rate))

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        if self._keep is None:
            return dy
        return dropout_value(dy, self._keep, dy.dtype.type(1.0 - self.rate))

    def get_config(self):
        return super().get_config() | {"rate": self.rate, "seed": self.seed}


@register("layer", "gaussian_noise")
class GaussianNoise(_Noise):
    """In training ``y = x + N(0, stddev)``; at inference ``y = x``.  Backward: ``dx = dy``."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.stddev = check_number("stddev", stddev, low=0)

    def forward(self, x, training=False):
        if not training or self.stddev == 0.0:
            return x
        return x + self.rng().normal(0.0, self.stddev, x.shape).astype(x.dtype)

    def backward(self, dy):
        return dy if self.needs_input_grad else None

    def get_config(self):
        return super().get_config() | {"stddev": self.stddev, "seed": self.seed}
