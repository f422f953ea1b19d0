"""Global numeric settings, with Keras 3's names.

``floatx`` is the dtype of new weights and of the data that ``fit`` casts to:
float32 by default (as in Keras and PyTorch), float64 for gradient checks and
oracle comparisons.  ``epsilon`` is the fuzz factor Keras uses to clip
probabilities in the cross-entropy losses (1e-7).
"""
from __future__ import annotations

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7


def floatx() -> str:
    """Return the default float type of new weights, as a string ('float32')."""
    return _FLOATX


def set_floatx(value: str) -> None:
    """Set the default float type: 'float32' or 'float64' (float16 is not supported)."""
    global _FLOATX
    if value not in ("float32", "float64"):
        raise ValueError(
            f"Unknown floatx {value!r}: tweaknet supports 'float32' and 'float64'."
        )
    _FLOATX = value


def epsilon() -> float:
    """Return the fuzz factor (1e-7) used to clip probabilities in losses."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    """Set the fuzz factor used to clip probabilities in losses."""
    global _EPSILON
    if not value > 0:
        raise ValueError(f"epsilon must be positive, got {value!r}.")
    _EPSILON = float(value)


def dtype():
    """The NumPy dtype of ``floatx()``."""
    return np.dtype(_FLOATX)
