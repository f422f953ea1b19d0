"""The arrays of a saved file: safetensors (imported only when saving or loading) and packing named
arrays into safetensors bytes."""
from __future__ import annotations

import numpy as np


def safetensors():
    """safetensors's ``(save, load)`` for NumPy arrays, or an ImportError saying how to install it."""
    try:
        from safetensors.numpy import load, save
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError("Saving needs safetensors: pip install 'tweaknet[lab]' (or safetensors)") from None
    return save, load


def pack_arrays(named: dict) -> bytes:
    """The safetensors bytes of the ``{name: array}`` dict (arrays made contiguous)."""
    save, _ = safetensors()
    return save({k: np.ascontiguousarray(v) for k, v in named.items()})
