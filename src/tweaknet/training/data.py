"""Checking and batching the data given to fit, evaluate and predict."""
from __future__ import annotations

import numpy as np

from ..validation import as_float_array, check_int, check_number


def check_inputs(x, input_shape, dtype, name="x") -> np.ndarray:
    """Return ``x`` as an array whose sample shape is ``input_shape``: floats become a finite array of
    ``dtype``; integer arrays (uint8 pixels) are kept as they are and cast one batch at a time."""
    try:
        raw = np.asarray(x) if x is not None else None
    except ValueError:  # ragged rows: as_float_array says so
        raw = None
    if raw is not None and raw.ndim > 0 and raw.size and (np.issubdtype(raw.dtype, np.integer) or raw.dtype == bool):
        x = np.ascontiguousarray(raw)
    else:
        x = as_float_array(name, x, dtype)
    if input_shape is not None and tuple(x.shape[1:]) != tuple(input_shape):
        want = ", ".join(map(str, input_shape))
        got = ", ".join(map(str, x.shape[1:]))
        hint = ""
        if len(input_shape) == 1 and x.ndim > 2 and int(np.prod(x.shape[1:])) == input_shape[0]:
            hint = f" Flatten the samples with {name}.reshape(len({name}), -1) or start the model with Flatten()."
        raise ValueError(f"`{name}` has samples of shape ({got}) (array shape {x.shape}), but the model expects "
                         f"({want}): its first layer was built for inputs of shape (None, {want}).{hint}")
    return x


def check_targets(y, n: int, loss, output_shape, dtype, name="y") -> np.ndarray:
    """Return ``y`` as an array that fits ``loss`` and the model output, or raise a clear error."""
    integer = getattr(loss, "integer_targets", False)
    y = as_float_array(name, y, np.float64 if integer else dtype)
    if y.shape[0] != n:
        name_x = name[:-3] + "[0]" if name.endswith("[1]") else "x"  # validation_data[1] goes with [0]
        raise ValueError(f"`{name_x}` has {n} samples but `{name}` has {y.shape[0]}: they must match one to one.")
    if not integer and output_shape[-1:] == (1,) and y.ndim == len(output_shape):
        # One label per sample for a one-unit output: Keras expands the rank, (N,) -> (N, 1); so do we.
        y = y.reshape(*y.shape, 1)
    if loss is not None:
        loss.check_targets(y, (n, *output_shape))
    return y.astype(np.intp) if integer else y


def check_batch_size(batch_size, default=32) -> int:
    return default if batch_size is None else check_int("batch_size", batch_size, low=1)


def check_validation_freq(validation_freq):
    """``fit``'s ``validation_freq`` as a test of the (0-based) epoch, as Keras 3: an integer N >= 1
    validates after every N-th epoch, a list of epoch numbers (1-based) after those epochs."""
    if isinstance(validation_freq, (list, tuple, set, frozenset, range)):
        epochs = [check_int("validation_freq item", e, low=1) for e in validation_freq]
        chosen = frozenset(epochs)
        return lambda epoch: epoch + 1 in chosen
    if isinstance(validation_freq, bool) or not isinstance(validation_freq, (int, np.integer)):
        raise TypeError(f"`validation_freq` must be a positive integer (validate every N epochs) or a list of epoch "
                        f"numbers such as [1, 5, 10], got {validation_freq!r} ({type(validation_freq).__name__}).")
    if validation_freq < 1:
        raise ValueError(f"`validation_freq` must be >= 1 (validate every N epochs), got {validation_freq}; "
                         f"to skip validation, pass no validation_data and validation_split=0.")
    n = int(validation_freq)
    return lambda epoch: (epoch + 1) % n == 0


def check_verbose(verbose) -> int:
    """``fit``'s ``verbose``: 'auto' (1), 0 (silent), 1 (progress bar) or 2 (one line per epoch), as Keras."""
    if verbose == "auto":
        return 1
    if isinstance(verbose, bool) or not isinstance(verbose, (int, np.integer)) or verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 'auto', 0 (silent), 1 (progress bar) or 2 (one line per epoch), "
                         f"got {verbose!r}.")
    return int(verbose)


def split_validation(x, y, validation_split):
    """Keras semantics: the *last* fraction of the samples, taken before any shuffling."""
    frac = check_number("validation_split", validation_split, low=0, high=1, high_open=True)
    if not frac:
        return x, y, None
    cut = int(len(x) * (1.0 - frac))
    if cut == 0 or cut == len(x):
        raise ValueError(f"validation_split={validation_split} leaves no samples for "
                         f"{'training' if cut == 0 else 'validation'} out of {len(x)}.")
    return x[:cut], y[:cut], (x[cut:], y[cut:])


def batches(n: int, batch_size: int, order=None):
    """Yield index objects for consecutive batches: slices, or arrays of the shuffled ``order``."""
    for start in range(0, n, batch_size):
        yield slice(start, start + batch_size) if order is None else order[start:start + batch_size]


def take(x, idx, dtype) -> np.ndarray:
    """The batch ``x[idx]`` in the model's float type (integer data is cast here, batch by batch)."""
    xb = x[idx]
    return xb if xb.dtype == dtype else xb.astype(dtype)
