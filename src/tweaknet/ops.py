"""The few operations the techniques' shared math needs beyond NumPy's elementwise ufuncs.

Every technique writes its math once, in the subset of NumPy that Numba compiles, so that one
function serves both training paths: the reference path calls it on whole arrays (batches), the
compiled path (``tweaknet.fast``) inlines it per element or per row inside its loops.  Two things
of NumPy do not carry over to Numba and are provided here instead:

- ``where(cond, a, b)``: ``np.where`` here; a plain ``a if cond else b`` in compiled code on scalars;
- reductions that keep their axis or run over the last or first axis (Numba has no ``keepdims`` and
  no ``axis`` for ``max``/``mean``/``argmax``): ``last_sum``, ``last_mean``, ``last_max``,
  ``last_argmax``, ``is_finite``, ``last_all_finite``, ``last_sum_kept``, ``last_max_kept``, ``first_sum``, ``first_mean`` and
  ``expand_last``.  The
  compiled path gives each a Numba implementation for the rows it passes (``fast/ops.py``);
- ``tanh``: NumPy's here; a vectorizable polynomial for float32 in compiled code.

Constants are float32 NumPy scalars (``ZERO``, ``ONE``, ...): they keep float32 arithmetic in float32
on both paths and promote to float64 with float64 operands.  A bare ``1.0`` would make compiled code
compute in float64 (and stop vectorizing).
"""
from __future__ import annotations

import numpy as np

ZERO, HALF, ONE, TWO = np.float32(0.0), np.float32(0.5), np.float32(1.0), np.float32(2.0)


def where(cond, a, b):
    """``a`` where ``cond`` holds, else ``b`` (``np.where``)."""
    return np.where(cond, a, b)


def last_sum(a):
    """Sum over the last axis (one value per row)."""
    return np.sum(a, axis=-1)


def last_mean(a):
    """Mean over the last axis (one value per row)."""
    return np.mean(a, axis=-1)


def last_max(a):
    """Maximum over the last axis (one value per row)."""
    return np.max(a, axis=-1)


def is_finite(a):
    """True where a value is finite (``np.isfinite``; the compiled path tests the bits, which fast-math
    optimizations cannot assume away)."""
    return np.isfinite(a)


def last_all_finite(a):
    """True where every value of the row is finite (one value per row)."""
    return np.all(np.isfinite(a), axis=-1)


def last_argmax(a):
    """Index of the first maximum over the last axis (one value per row)."""
    return np.argmax(a, axis=-1)


def last_sum_kept(a):
    """Sum over the last axis, kept as an axis of length 1 (broadcasts against the rows)."""
    return np.sum(a, axis=-1, keepdims=True)


def last_max_kept(a):
    """Maximum over the last axis, kept as an axis of length 1."""
    return np.max(a, axis=-1, keepdims=True)


def expand_last(a):
    """``a`` with a new last axis of length 1 (one value per row, broadcast along the row)."""
    return np.asarray(a)[..., None]


def first_sum(a):
    """Sum over the first axis (one value per feature, over the batch)."""
    return np.sum(a, axis=0)


def first_mean(a):
    """Mean over the first axis (one value per feature, over the batch)."""
    return np.mean(a, axis=0)


def tanh(a):
    """``np.tanh``.  The compiled path evaluates float32 values with a polynomial that LLVM vectorizes
    (``fast/ops.py``; Numba's ``np.tanh`` is the C library's scalar ``tanhf``, ten times slower per
    element), within 2 units in the last place of NumPy's ``tanh``."""
    return np.tanh(a)
