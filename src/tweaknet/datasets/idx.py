"""A strict reader for the IDX format of the MNIST files (LeCun et al.), gzipped or plain.

An IDX file is a 4-byte magic number ``00 00 TT NN`` (``TT`` the element type, ``NN`` the number
of dimensions), then ``NN`` big-endian uint32 sizes, then ``prod(sizes)`` elements in C order.
Only the type used by MNIST, ``0x08`` (unsigned byte), is supported.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["DataError", "read_idx", "IMAGES_MAGIC", "LABELS_MAGIC"]

IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions (n, rows, cols)
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension (n,)

_GZIP_MAGIC = b"\x1f\x8b"
_TYPE_NAMES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}


class DataError(ValueError):
    """A data file is missing, malformed, or not the file it should be."""


def _describe_magic(magic: int) -> str:
    """``0x00000803 (uint8, 3-D)``: the magic number and what it declares."""
    code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    kind = _TYPE_NAMES.get(code, f"unknown type code 0x{code:02X}")
    if magic >> 16:
        kind = "not an IDX header"
    return f"0x{magic:08X} ({kind}, {ndim}-D)"


def _dims(shape) -> str:
    """``60000x28x28``."""
    return "x".join("?" if d is None else str(d) for d in shape)


def _read_raw(path) -> tuple[str, bytes]:
    """Return ``(name for messages, file bytes)``; ``path`` may be a path or an importlib Traversable."""
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)
    source = path if hasattr(path, "read_bytes") else Path(path)
    try:
        return name, source.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{name}: file not found") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot be read: {exc}") from None


def read_idx(path, expected_magic: int | None = None, expected_shape=None,
             expected_sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not, told by its first bytes) into a uint8 array of the declared shape.

    ``expected_shape`` may use ``None`` for "any size"; ``expected_sha256`` is the hex digest of the
    *decompressed* bytes. Every problem raises :class:`DataError` naming the file, what was expected
    and what was found.
    """
    name, data = _read_raw(path)
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{name}: corrupt gzip stream ({exc}); the file is damaged or incomplete") from None

    if len(data) < 4:
        raise DataError(f"{name}: truncated: an IDX header needs at least 4 bytes, found {len(data)}")
    magic = int.from_bytes(data[:4], "big")
    if expected_magic is not None and magic != expected_magic:
        raise DataError(f"{name}: wrong magic number: expected {_describe_magic(expected_magic)}, "
                        f"found {_describe_magic(magic)}")
    if magic >> 16:
        raise DataError(f"{name}: not an IDX file: the magic number must start with two zero bytes, "
                        f"found 0x{magic:08X}")
    code, ndim = data[2], data[3]
    if code != 0x08:
        kind = _TYPE_NAMES.get(code, "unknown")
        raise DataError(f"{name}: unsupported dtype code: expected 0x08 (uint8), found 0x{code:02X} ({kind})")
    if ndim == 0:
        raise DataError(f"{name}: the header declares 0 dimensions; expected at least 1")

    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated: a {ndim}-D IDX header needs {header} bytes, found {len(data)}")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if expected_shape is not None:
        expected_shape = tuple(expected_shape)
        if len(expected_shape) != ndim:
            raise DataError(f"{name}: wrong number of dimensions: expected {len(expected_shape)} "
                            f"({_dims(expected_shape)}), found {ndim} ({_dims(shape)})")
        if any(e is not None and e != s for e, s in zip(expected_shape, shape)):
            raise DataError(f"{name}: wrong shape: expected {_dims(expected_shape)}, found {_dims(shape)}")

    declared, found = math.prod(shape), len(data) - header
    if found != declared:
        what = "truncated" if found < declared else f"oversize ({found - declared} extra bytes)"
        raise DataError(f"{name}: {what}: header declares {_dims(shape)} = {declared} bytes of data, "
                        f"found {found}")

    if expected_sha256 is not None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected_sha256.lower():
            raise DataError(f"{name}: checksum mismatch (sha256 of the decompressed bytes): "
                            f"expected {expected_sha256.lower()}, found {digest}")

    return np.frombuffer(data, dtype=np.uint8, count=declared, offset=header).reshape(shape).copy()
