"""Numba implementations of ``tweaknet.ops``: the operations the techniques' math shares beyond ufuncs.

The compiled path calls the techniques' own functions on scalars (elementwise rules) and on single rows
(row-wise rules such as softmax); these overloads give ``where`` and the reductions their meaning there:
``where`` on a scalar condition is a conditional expression, a reduction over the last axis of a row is a
scalar (``last_*_kept`` too, which then broadcasts like the kept axis does in NumPy), over a 2-D array it
is one value per row.  Importing this module registers them.
"""
import numpy as np
from numba import types
from numba.extending import overload

from .. import ops


def _is_array(t, ndim=None):
    return isinstance(t, types.Array) and (ndim is None or t.ndim == ndim)


@overload(ops.where, inline="always")
def _where(cond, a, b):
    if isinstance(cond, types.Boolean):
        return lambda cond, a, b: a if cond else b
    if _is_array(cond):
        return lambda cond, a, b: np.where(cond, a, b)


def _rows(reduce_row, dtype_of):
    """An implementation for 2-D arrays: ``reduce_row`` on each row."""
    def impl(a):
        out = np.empty(a.shape[0], dtype_of(a))
        for i in range(a.shape[0]):
            out[i] = reduce_row(a[i])
        return out
    return impl


@overload(ops.last_sum, inline="always")
def _last_sum(a):
    if _is_array(a, 1):
        return lambda a: np.sum(a)


@overload(ops.last_mean, inline="always")
def _last_mean(a):
    if _is_array(a, 1):
        one = a.dtype(1) if isinstance(a.dtype, types.Float) else 1.0
        return lambda a: np.sum(a) * (one / a.size)


@overload(ops.last_max, inline="always")
def _last_max(a):
    if _is_array(a, 1):
        return lambda a: np.max(a)
    if _is_array(a, 2):
        def impl(a):
            out = np.empty(a.shape[0], a.dtype)
            for i in range(a.shape[0]):
                out[i] = np.max(a[i])
            return out
        return impl


@overload(ops.last_argmax, inline="always")
def _last_argmax(a):
    if _is_array(a, 1):
        return lambda a: np.argmax(a)


def _exponent_bits(dtype):
    """The unsigned type of a float's width and the mask of its exponent bits (all set: NaN or infinity).

    Finiteness is tested on the bits: the generated code runs with fast-math flags, under which LLVM may
    assume that no value is NaN or infinite and fold ``np.isfinite`` to True."""
    if isinstance(dtype, types.Float):
        if dtype.bitwidth == 32:
            return np.uint32, np.uint32(0x7F800000)
        return np.uint64, np.uint64(0x7FF0000000000000)
    return None, None


@overload(ops.is_finite, inline="always")
def _is_finite(a):
    if _is_array(a, 1):
        bits, mask = _exponent_bits(a.dtype)
        if bits is not None:
            return lambda a: (np.ascontiguousarray(a).view(bits) & mask) != mask


@overload(ops.last_all_finite, inline="always")
def _last_all_finite(a):
    if _is_array(a, 1):
        bits, mask = _exponent_bits(a.dtype)
        if bits is not None:
            def impl(a):
                for v in np.ascontiguousarray(a).view(bits):
                    if v & mask == mask:
                        return False
                return True
            return impl


@overload(ops.last_sum_kept, inline="always")
def _last_sum_kept(a):
    if _is_array(a, 1):
        return lambda a: np.sum(a)
    if _is_array(a, 2):
        def impl(a):
            out = np.empty((a.shape[0], 1), a.dtype)
            for i in range(a.shape[0]):
                out[i, 0] = np.sum(a[i])
            return out
        return impl


@overload(ops.last_max_kept, inline="always")
def _last_max_kept(a):
    if _is_array(a, 1):
        return lambda a: np.max(a)
    if _is_array(a, 2):
        def impl(a):
            out = np.empty((a.shape[0], 1), a.dtype)
            for i in range(a.shape[0]):
                out[i, 0] = np.max(a[i])
            return out
        return impl


@overload(ops.expand_last, inline="always")
def _expand_last(a):
    if isinstance(a, (types.Number, types.Boolean)):
        return lambda a: a
    if _is_array(a, 1):
        return lambda a: a.reshape(-1, 1)


@overload(ops.first_sum, inline="always")
def _first_sum(a):
    if _is_array(a, 2):
        def impl(a):
            n, m = a.shape
            out = np.zeros(m, a.dtype)
            for i in range(n):
                for j in range(m):
                    out[j] += a[i, j]
            return out
        return impl


@overload(ops.first_mean, inline="always")
def _first_mean(a):
    if _is_array(a, 2):
        def impl(a):
            n, m = a.shape
            out = np.zeros(m, a.dtype)
            for i in range(n):
                for j in range(m):
                    out[j] += a[i, j]
            for j in range(m):
                out[j] = out[j] / n
            return out
        return impl
