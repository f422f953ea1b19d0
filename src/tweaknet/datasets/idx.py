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
_CHUNK = 1 << 20  # bytes per read while streaming a payload
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


def _open(path):
    """Return ``(name for messages, binary file object)``; ``path`` may be a path or an importlib Traversable."""
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)
    source = Path(path) if isinstance(path, (str, os.PathLike)) else path
    try:
        return name, source.open("rb")
    except FileNotFoundError:
        raise DataError(f"{name}: file not found") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot be read: {exc}") from None


def _size(fh) -> int | None:
    """The size in bytes of a seekable file object (position restored to 0), else None."""
    try:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(0)
        return size
    except (OSError, ValueError, AttributeError):
        return None


def _read_upto(stream, n: int) -> bytes:
    """Up to ``n`` bytes (fewer only at the end of the stream)."""
    parts, got = [], 0
    while got < n:
        part = stream.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _count_rest(stream) -> int:
    """Read the stream to its end, a chunk at a time; return how many bytes were left."""
    count = 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return count
        count += len(chunk)


def read_idx(path, expected_magic: int | None = None, expected_shape=None,
             expected_sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (gzipped or not, told by its first bytes) into a uint8 array of the declared shape.

    ``expected_shape`` may use ``None`` for "any size"; ``expected_sha256`` is the hex digest of the
    *decompressed* bytes. Every problem raises :class:`DataError` naming the file, what was expected
    and what was found.

    The file is streamed (decompressed on the fly) straight into the returned array: the only
    full-size buffer is the array itself, which the caller owns and may modify.
    """
    name, fh = _open(path)
    with fh:
        size = _size(fh)
        try:
            gz = _read_upto(fh, 2) == _GZIP_MAGIC
            fh.seek(0)
        except OSError as exc:
            raise DataError(f"{name}: cannot be read: {exc}") from None
        if gz:
            # Deflate expands at most ~1032:1, which bounds what a header may honestly declare.
            bound = None if size is None else size * 1100 + 1024
            try:
                with gzip.GzipFile(fileobj=fh, mode="rb") as stream:
                    return _parse(name, stream, bound, expected_magic, expected_shape, expected_sha256)
            except (OSError, EOFError, zlib.error) as exc:
                raise DataError(f"{name}: corrupt gzip stream ({exc}); the file is damaged or incomplete") from None
        try:
            return _parse(name, fh, size, expected_magic, expected_shape, expected_sha256)
        except OSError as exc:
            raise DataError(f"{name}: cannot be read: {exc}") from None


def _parse(name, stream, bound, expected_magic, expected_shape, expected_sha256) -> np.ndarray:
    """Check the header read from ``stream``, then read the payload into a new array and check it."""
    head = _read_upto(stream, 4)
    if len(head) < 4:
        raise DataError(f"{name}: truncated: an IDX header needs at least 4 bytes, found {len(head)}")
    magic = int.from_bytes(head, "big")
    if expected_magic is not None and magic != expected_magic:
        raise DataError(f"{name}: wrong magic number: expected {_describe_magic(expected_magic)}, "
                        f"found {_describe_magic(magic)}")
    if magic >> 16:
        raise DataError(f"{name}: not an IDX file: the magic number must start with two zero bytes, "
                        f"found 0x{magic:08X}")
    code, ndim = head[2], head[3]
    if code != 0x08:
        kind = _TYPE_NAMES.get(code, "unknown")
        raise DataError(f"{name}: unsupported dtype code: expected 0x08 (uint8), found 0x{code:02X} ({kind})")
    if ndim == 0:
        raise DataError(f"{name}: the header declares 0 dimensions; expected at least 1")

    header = 4 + 4 * ndim
    dims = _read_upto(stream, 4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f"{name}: truncated: a {ndim}-D IDX header needs {header} bytes, found {4 + len(dims)}")
    shape = tuple(int.from_bytes(dims[4 * i: 4 + 4 * i], "big") for i in range(ndim))
    if expected_shape is not None:
        expected_shape = tuple(expected_shape)
        if len(expected_shape) != ndim:
            raise DataError(f"{name}: wrong number of dimensions: expected {len(expected_shape)} "
                            f"({_dims(expected_shape)}), found {ndim} ({_dims(shape)})")
        if any(e is not None and e != s for e, s in zip(expected_shape, shape)):
            raise DataError(f"{name}: wrong shape: expected {_dims(expected_shape)}, found {_dims(shape)}")

    declared = math.prod(shape)

    def size_error(found):
        what = "truncated" if found < declared else f"oversize ({found - declared} extra bytes)"
        return DataError(f"{name}: {what}: header declares {_dims(shape)} = {declared} bytes of data, "
                         f"found {found}")

    if bound is not None and header + declared > bound:
        # The file cannot hold that much: don't allocate it, just count what is there.
        raise size_error(_count_rest(stream))
    arr = np.empty(shape, dtype=np.uint8)  # owns its memory: the array handed out, no copy later
    view = memoryview(arr.reshape(-1))
    found = 0
    while found < declared:
        got = stream.readinto(view[found: found + _CHUNK])
        if not got:
            break
        found += got
    del view
    if found < declared:
        raise size_error(found)
    extra = _count_rest(stream)  # also makes gzip check its CRC and length trailer
    if extra:
        raise size_error(declared + extra)

    if expected_sha256 is not None:
        sha = hashlib.sha256(head)
        sha.update(dims)
        sha.update(arr)
        digest = sha.hexdigest()
        if digest != expected_sha256.lower():
            raise DataError(f"{name}: checksum mismatch (sha256 of the decompressed bytes): "
                            f"expected {expected_sha256.lower()}, found {digest}")
    return arr
