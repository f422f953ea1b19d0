"""Gradient clipping as pure functions over flat gradient buffers (reused by diagnostics).

A model's gradients live in one contiguous buffer; ``segments`` lists each variable's
``(start, stop)`` slice so per-variable operations stay exact.  Formulas are Keras 3's:

    clip_by_value:        g = clip(g, -v, v)
    clip_by_norm:         g_i = g_i * c / max(||g_i||, c)          (each variable i separately)
    clip_by_global_norm:  g = g * c * min(1 / ||g||, 1 / c)          (||g|| over all variables)
"""
from __future__ import annotations

import numpy as np


def global_norm(flat: np.ndarray) -> float:
    """The L2 norm of all gradients together."""
    return float(np.sqrt(np.dot(flat, flat)))


def clip_by_value(flat: np.ndarray, value: float) -> None:
    """Clip every entry to ``[-value, value]``, in place."""
    np.clip(flat, -value, value, out=flat)


def clip_by_norm(flat: np.ndarray, segments, clip_norm: float) -> None:
    """Rescale each variable's gradient whose L2 norm exceeds ``clip_norm``, in place."""
    for start, stop in segments:
        g = flat[start:stop]
        norm = np.sqrt(np.dot(g, g))
        if norm > clip_norm:
            g *= clip_norm
            g /= norm


def clip_by_global_norm(flat: np.ndarray, clip_norm: float) -> float:
    """Rescale all gradients together when their global norm exceeds ``clip_norm``; return the norm."""
    norm = global_norm(flat)
    scale = clip_norm * min(1.0 / norm if norm > 0 else np.inf, 1.0 / clip_norm)
    if not np.isfinite(norm):
        flat[...] = np.nan  # Keras propagates a non-finite norm into every gradient
    elif scale != 1.0:
        flat *= scale
    return norm
