"""The global random state behind unseeded initializers and shuffling.

``set_random_seed(seed)`` (exported as ``tweaknet.utils.set_random_seed``) seeds it,
together with Python's ``random`` and NumPy's legacy global state, as Keras does.
The same seed and data give bit-identical weights after training.
``get_state``/``set_state`` capture and restore it (used for exact resume).
"""
from __future__ import annotations

import random as _pyrandom

import numpy as np

_rng = np.random.default_rng()


def generator() -> np.random.Generator:
    """The global NumPy Generator (PCG64) used when no seed is given."""
    return _rng


def set_random_seed(seed: int) -> None:
    """Seed every source of randomness tweaknet uses (and Python's and NumPy's legacy ones)."""
    global _rng
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    seed = int(seed)
    _rng = np.random.default_rng(seed)
    _pyrandom.seed(seed)
    np.random.seed(seed % 2**32)


def get_state() -> dict:
    """The global generator's state, a JSON-serialisable dict."""
    return _rng.bit_generator.state


def set_state(state: dict) -> None:
    """Restore a state returned by ``get_state``."""
    _rng.bit_generator.state = state
