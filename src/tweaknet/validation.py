"""Checks for user input that raise clear errors naming the problem and the fix."""
from __future__ import annotations

import inspect
import numbers
import os

import numpy as np


def check_number(name: str, value, *, low=None, low_open=False, high=None, high_open=False, allow_none=False):
    """Return ``float(value)`` after checking it is a real number within bounds."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number, got {value!r} ({type(value).__name__}).")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value!r}.")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"`{name}` must be {'>' if low_open else '>='} {low}, got {value!r}.")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"`{name}` must be {'<' if high_open else '<='} {high}, got {value!r}.")
    return value


def check_int(name: str, value, *, low=None, allow_none=False):
    """Return ``int(value)`` after checking it is an integer >= low."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer, got {value!r} ({type(value).__name__}).")
    if low is not None and value < low:
        raise ValueError(f"`{name}` must be >= {low}, got {value!r}.")
    return int(value)


def physical_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the platform does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_allocation(nbytes: float, what: str, fix: str) -> None:
    """A MemoryError naming ``what`` and the GiB it needs when ``nbytes`` exceeds this machine's physical
    memory: raised before allocating, because with memory overcommit a huge allocation can succeed and the
    process is killed later, when the pages are touched."""
    total = physical_memory()
    if total is not None and nbytes > total:
        raise MemoryError(f"{what} needs {nbytes / 2**30:.3g} GiB, more than this machine's "
                          f"{total / 2**30:.3g} GiB of memory; {fix}")


def as_float_array(name: str, data, dtype) -> np.ndarray:
    """Convert ``data`` to a finite float array of ``dtype``, or explain why it cannot be."""
    if data is None:
        raise ValueError(f"`{name}` is None: pass a NumPy array.")
    if isinstance(data, (dict, str, bytes)) or inspect.isgenerator(data) or inspect.isasyncgen(data) \
            or type(data).__name__ in ("map", "filter", "zip"):
        raise TypeError(f"`{name}` must be a NumPy array (or a list of numbers), got a {type(data).__name__}: "
                        f"dicts, strings, generators and datasets are not supported; convert with np.asarray(...) "
                        f"or np.stack(list(...)).")
    try:
        arr = np.asarray(data)
    except ValueError as exc:  # ragged lists: rows of different lengths
        raise ValueError(f"`{name}` is ragged: its rows have different lengths, so it is not a rectangular array; "
                         f"pad or trim the rows to one length ({exc}).") from None
    except Exception as exc:
        raise ValueError(f"`{name}` could not be converted to an array: {exc}") from None
    if np.iscomplexobj(arr):
        raise TypeError(f"`{name}` holds complex numbers; tweaknet trains on real numbers (its imaginary part would "
                        f"be dropped): pass x.real, np.abs(x), or the real and imaginary parts as features.")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"`{name}` must hold numbers, got an array of dtype {arr.dtype}.")
    if arr.ndim == 0:
        raise ValueError(f"`{name}` must have a batch axis, got a scalar.")
    if arr.shape[0] == 0:
        raise ValueError(f"`{name}` is empty (0 samples): pass at least one sample.")
    if arr.size == 0:
        raise ValueError(f"`{name}` has samples of shape {arr.shape[1:]}, which hold no values: each sample needs "
                         f"at least one feature.")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not _all_finite(arr):
        bad = np.argwhere(~np.isfinite(arr))[0]
        kind = "NaN" if np.isnan(arr[tuple(bad)]) else "inf"
        raise ValueError(
            f"`{name}` contains {kind} (first at index {tuple(int(i) for i in bad)}); "
            f"clean or impute the data before training."
        )
    return arr


def _all_finite(arr: np.ndarray) -> bool:
    """True when ``arr`` (a contiguous float array) holds no NaN and no inf.  A NaN or an inf makes the sum
    non-finite, so a finite sum clears the array in one pass without a mask of its size (twice as fast on MNIST); a
    sum that overflowed is checked value by value.  (Not a product with ones on BLAS's threads, though twice as fast
    again: OpenBLAS's threads then spin for about 0.1 s, and the compiled epoch that follows shares the cores with
    them: width 256, batch 512, 0.45 against 0.37 s per epoch.)"""
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is no error here: it sends us value by value
        total = np.add.reduce(arr.reshape(-1))
    return bool(np.isfinite(total) or np.isfinite(arr).all())
