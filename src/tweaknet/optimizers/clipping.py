"""Gradient clipping as pure functions over flat gradient buffers (reused by diagnostics and the compiled path).

A model's gradients live in one contiguous buffer; ``segments`` lists each variable's
``(start, stop)`` slice so per-variable operations stay exact.  Formulas are Keras 3's:

    clip_by_value:        g = clip(g, -v, v)
    clip_by_norm:         g_i = g_i * c / max(||g_i||, c)          (each variable i separately)
    clip_by_global_norm:  g = g * c * min(1 / ||g||, 1 / c)          (||g|| over all variables)

Written in the subset of NumPy that Numba compiles: the compiled path runs these same functions
(``clip_value_rule`` per element), with ``segments`` as an (n, 2) integer array.
"""
from __future__ import annotations

import numpy as np


def clip_value_rule(g, value):
    """One gradient entry (or array) clipped to ``[-value, value]``."""
    return np.minimum(np.maximum(g, -value), value)


def global_norm(flat: np.ndarray) -> float:
    """The L2 norm of all gradients together."""
    return float(np.sqrt(np.dot(flat, flat)))


def clip_by_value(flat: np.ndarray, value: float) -> None:
    """Clip every entry to ``[-value, value]``, in place."""
    flat[:] = clip_value_rule(flat, value)


def clip_by_norm(flat: np.ndarray, segments, clip_norm: float) -> None:
    """Rescale each variable's gradient whose L2 norm exceeds ``clip_norm``, in place."""
    for k in range(len(segments)):
        g = flat[segments[k][0]:segments[k][1]]
        norm = np.sqrt(np.dot(g, g))
        if norm > clip_norm:
            g *= clip_norm
            g /= norm


def clip_by_global_norm(flat: np.ndarray, clip_norm: float) -> float:
    """Rescale all gradients together when their global norm exceeds ``clip_norm``; return the norm."""
    norm = float(np.sqrt(np.dot(flat, flat)))
    scale = clip_norm * min(1.0 / norm if norm > 0 else np.inf, 1.0 / clip_norm)
    if not np.isfinite(norm):
        flat[:] = np.nan  # Keras propagates a non-finite norm into every gradient
    elif scale != 1.0:
        flat *= scale
    return norm
