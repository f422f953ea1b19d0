"""The arrays of a saved file: safetensors (imported only when saving), packing named arrays into
safetensors bytes, and reading them back with bounds.

Reading does not trust the file: ``read_arrays`` reads the 8-byte length and the JSON header (at most
``HEADER_LIMIT`` bytes), checks every entry (dtype, shape, offsets tiling the data exactly), lets the
caller compare the declared shapes with what the architecture expects, and only then reads the data,
no more than the header declared.  A file that declares more than it holds fails at its true size, so
memory never exceeds what the file really contains (a zip entry's declared size can lie).
"""
from __future__ import annotations

import json
import math

import numpy as np

#: The largest JSON entry (config.json, state.json) read from a model file, uncompressed.  A config of
#: 200,000 layers is about 20 MB; a real model's is a few kilobytes.
JSON_LIMIT = 64 * 2**20
#: The largest safetensors header read (safetensors itself refuses headers over 100 MB); a header costs
#: about 80 bytes per array.
HEADER_LIMIT = 64 * 2**20
#: The floating-point types tweaknet writes (little-endian, as safetensors stores them).
DTYPES = {"F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8")}


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


class ArraysError(ValueError):
    """A safetensors stream that is damaged or does not fit; the reader adds the file's name."""


def read_json(read, limit: int = JSON_LIMIT):
    """Parse JSON from ``read(n)`` (a file's or zip entry's read), reading at most ``limit`` bytes;
    an ArraysError for a larger, undecodable or too deeply nested text."""
    raw = read(limit + 1)
    if len(raw) > limit:
        raise ArraysError(f"larger than {limit // 2**20} MiB uncompressed (a real model's is a few kilobytes); "
                          f"refused unread")
    try:
        return json.loads(raw)
    except RecursionError:
        raise ArraysError("nested too deeply to be a model's description") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArraysError(f"not valid JSON ({exc})") from None


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def read_header(read) -> tuple[dict, int]:
    """``({name: (dtype, shape, start, stop)}, data_size)`` from the start of a safetensors stream."""
    head = read(8)
    if len(head) < 8:
        raise ArraysError(f"is truncated: a safetensors stream starts with an 8-byte header length, found "
                          f"{len(head)} byte(s)")
    n = int.from_bytes(head, "little")
    if n > HEADER_LIMIT:
        raise ArraysError(f"declares a header of {n} bytes, over the limit of {HEADER_LIMIT // 2**20} MiB")
    try:
        meta = read_json(lambda _: read(n), n)
    except ArraysError as exc:
        raise ArraysError(f"has a header that is {exc}") from None
    if not isinstance(meta, dict):
        raise ArraysError(f"has a header holding a {type(meta).__name__}, not a JSON object")
    if not isinstance(meta.pop("__metadata__", {}), dict):
        raise ArraysError("has a header whose __metadata__ is not a JSON object")
    entries, spans = {}, []
    for name, e in meta.items():
        if not isinstance(e, dict) or e.get("dtype") not in DTYPES or not isinstance(e.get("shape"), list) \
                or not all(_int(d) for d in e["shape"]) or not isinstance(e.get("data_offsets"), list) \
                or len(e["data_offsets"]) != 2 or not all(_int(d) for d in e["data_offsets"]):
            raise ArraysError(f"has an invalid header entry for array {name!r}: {str(e)[:200]} (tweaknet writes "
                              f"float arrays: {', '.join(DTYPES)})")
        dtype, shape, (start, stop) = DTYPES[e["dtype"]], tuple(e["shape"]), e["data_offsets"]
        if stop - start != math.prod(shape) * dtype.itemsize:
            raise ArraysError(f"declares array {name!r} of shape {shape} and dtype {e['dtype']}, which needs "
                              f"{math.prod(shape) * dtype.itemsize} bytes, its offsets give {stop - start}")
        entries[name] = (dtype, shape, start, stop)
        spans.append((start, stop))
    end = 0
    for start, stop in sorted(spans):
        if start != end:
            raise ArraysError("declares arrays whose offsets overlap or leave gaps")
        end = stop
    return dict(sorted(entries.items(), key=_order)), end


def _order(item):
    """Arrays in the order of their numeric prefix (``0009`` before ``10000``), then by name."""
    digits = len(item[0]) - len(item[0].lstrip("0123456789"))
    return (int(item[0][:digits]) if digits else -1, item[0])


def read_data(read, entries: dict, size: int) -> dict:
    """Read exactly ``size`` bytes of data (no more: a trailing byte is damage) and return the arrays."""
    data = read(size)
    if len(data) < size:
        raise ArraysError(f"is truncated: the header declares {size} bytes of data, the file holds {len(data)}")
    if read(1):
        raise ArraysError("has bytes after the data its header declares")
    return {name: np.frombuffer(data, dtype, math.prod(shape), start).reshape(shape)
            for name, (dtype, shape, start, _) in entries.items()}


def non_finite(array) -> int:
    """The number of NaN and infinite values in ``array``."""
    return int(array.size - np.count_nonzero(np.isfinite(array)))
