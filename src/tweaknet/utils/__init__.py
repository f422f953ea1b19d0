"""Utilities with Keras's names: ``to_categorical`` and ``set_random_seed``."""
from __future__ import annotations

import numpy as np

from ..layers.base import clear_session
from ..seeding import set_random_seed
from ..validation import check_allocation


def to_categorical(x, num_classes=None, dtype="float32"):
    """One-hot encode integer class labels: shape (N,) -> (N, num_classes) (a trailing axis of 1 is dropped).

    ``num_classes`` defaults to ``max(x) + 1``.  Labels must be integers in ``[0, num_classes)``.
    """
    x = np.asarray(x)
    if x.size and not np.all(np.mod(x, 1) == 0):
        raise ValueError("to_categorical needs integer class labels, got non-integer values.")
    x = x.astype(np.int64)
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x.reshape(x.shape[:-1])
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(f"to_categorical needs labels in [0, {num_classes - 1}], got values from {x.min()} "
                         f"to {x.max()}.")
    what = f"to_categorical: {x.size} labels x {num_classes} classes"
    fix = "check num_classes, or keep integer labels with loss='sparse_categorical_crossentropy'."
    nbytes = float(x.size) * num_classes * np.dtype(dtype).itemsize
    check_allocation(nbytes, what, fix)
    try:
        out = np.zeros((*x.shape, num_classes), dtype=dtype)
    except MemoryError:
        raise MemoryError(f"{what} need {nbytes / 2**30:.3g} GiB, which could not be allocated; {fix}") from None
    np.put_along_axis(out, x[..., None], 1, axis=-1)
    return out


__all__ = ["to_categorical", "set_random_seed", "clear_session"]
