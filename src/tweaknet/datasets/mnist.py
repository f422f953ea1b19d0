"""MNIST handwritten digits, as ``keras.datasets.mnist``; shipped with the package, nothing downloads.

``load_data(path=None)`` looks, in order, at ``path``, the ``TWEAKNET_DATA`` environment variable and
the packaged copy. A path may be a folder holding the four IDX files (``*.gz`` or plain; a folder with
an ``mnist/`` subfolder or an ``mnist.npz`` also works) or a Keras ``mnist.npz`` file.
IDX files are checked against the sha256 of the original MNIST (of the decompressed bytes), the
arrays of an ``.npz`` against the sha256 of the original arrays; ``verify=False`` accepts other data
of the same layout (uint8 images of 28x28, labels 0..9), for example a subset.

Memory: each call reads the files afresh (nothing is cached), streaming each file straight into
the array it returns, so a load holds one full-size buffer per array, owned by the caller.
"""
from __future__ import annotations

import hashlib
import os
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np

from .idx import IMAGES_MAGIC, LABELS_MAGIC, DataError, read_idx

__all__ = ["load_data", "ENV_VAR"]

ENV_VAR = "TWEAKNET_DATA"
N_TRAIN, N_TEST, ROWS, COLS = 60000, 10000, 28, 28

# key -> (file stem, magic, shape, sha256 of the decompressed bytes)
FILES = {
    "x_train": ("train-images-idx3-ubyte", IMAGES_MAGIC, (N_TRAIN, ROWS, COLS),
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "y_train": ("train-labels-idx1-ubyte", LABELS_MAGIC, (N_TRAIN,),
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "x_test": ("t10k-images-idx3-ubyte", IMAGES_MAGIC, (N_TEST, ROWS, COLS),
               "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "y_test": ("t10k-labels-idx1-ubyte", LABELS_MAGIC, (N_TEST,),
               "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
KEYS = tuple(FILES)

# key -> sha256 of the array's raw bytes (C order, uint8, no header), as in Keras's mnist.npz, which
# holds exactly the arrays of the IDX files. Computed from the packaged files with
#   hashlib.sha256(np.ascontiguousarray(arr, np.uint8).tobytes()).hexdigest()
# for each array of load_data(), and cross-checked as the sha256 of each decompressed IDX file
# past its header (16 bytes for images, 8 for labels).
ARRAY_SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
_FIX = (f"point ${ENV_VAR} or path= to the original MNIST (the four IDX files or Keras's mnist.npz), "
        f"or pass verify=False to load other data of the MNIST layout")


def load_data(path=None, *, verify=True):
    """Return ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays, exactly as ``keras.datasets.mnist``.

    Shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,); pixels 0..255, labels 0..9.
    The arrays are new on each call, writable and the caller's own: modifying them is safe.
    ``verify=False`` skips the content checksums of a user ``path`` / ``$TWEAKNET_DATA`` (the
    packaged copy is always checked) and accepts any number of samples; the layout is still checked.
    """
    origin = "`path`"
    if path is None and os.environ.get(ENV_VAR):
        path, origin = os.environ[ENV_VAR], f"${ENV_VAR}"
    if path is None:
        x_train, y_train, x_test, y_test = _packaged()
    else:
        x_train, y_train, x_test, y_test = _load_path(Path(path).expanduser(), origin, verify)
    return (x_train, y_train), (x_test, y_test)


def _packaged() -> tuple[np.ndarray, ...]:
    """The packaged copy, read and verified afresh (the arrays are new and writable)."""
    folder = resources.files(__package__) / "data" / "mnist"  # one name per step: Python 3.10
    return tuple(read_idx(folder / (FILES[k][0] + ".gz"), FILES[k][1], FILES[k][2], FILES[k][3]) for k in KEYS)


def _load_path(path: Path, origin: str, verify: bool) -> tuple[np.ndarray, ...]:
    """Dispatch a user path (folder or .npz) to the right reader."""
    if path.is_dir():
        if any(_find(path, FILES[k][0]) for k in KEYS):
            return _load_folder(path, verify)
        if (path / "mnist").is_dir():
            return _load_folder(path / "mnist", verify)
        if (path / "mnist.npz").is_file():
            return _load_npz(path / "mnist.npz", verify)
        return _load_folder(path, verify)  # reports the missing files
    if path.is_file():
        with open(path, "rb") as fh:
            is_zip = fh.read(4) == b"PK\x03\x04"
        if is_zip or path.suffix == ".npz":
            return _load_npz(path, verify)
        raise DataError(f"{path} (from {origin}): expected a folder holding the four MNIST IDX files "
                        f"or a Keras mnist.npz file, found some other file")
    if path.exists():  # a FIFO, a socket, a device: never opened (a FIFO would block)
        raise DataError(f"{path} (from {origin}): not a regular file or folder (a pipe or device?); expected a "
                        f"folder holding the four MNIST IDX files or a Keras mnist.npz file")
    raise DataError(f"{path} (from {origin}): no such file or folder; expected a folder holding the four "
                    f"MNIST IDX files or a Keras mnist.npz file")


def _find(folder: Path, stem: str) -> Path | None:
    """The file for ``stem`` in ``folder``: ``stem.gz``, ``stem`` or the ``train-images.idx3-ubyte`` spelling."""
    alt = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, alt + ".gz", alt):
        if (folder / name).is_file():
            return folder / name
    return None


def _load_folder(folder: Path, verify: bool) -> tuple[np.ndarray, ...]:
    """Read and verify the four IDX files of ``folder``."""
    found = {key: _find(folder, FILES[key][0]) for key in KEYS}
    missing = [FILES[k][0] for k, f in found.items() if f is None]
    if missing:
        raise DataError(f"{folder}: missing MNIST file(s) {', '.join(missing)} (looked for NAME.gz and NAME); "
                        f"expected all four of {', '.join(FILES[k][0] for k in KEYS)}")
    if verify:
        return tuple(read_idx(found[k], FILES[k][1], FILES[k][2], FILES[k][3]) for k in KEYS)
    arrays = {k: read_idx(found[k], FILES[k][1], (None,) + FILES[k][2][1:]) for k in KEYS}
    _check_splits(arrays, {k: str(found[k]) for k in KEYS})
    return tuple(arrays[k] for k in KEYS)


def _check_splits(arrays: dict, names: dict) -> None:
    """Without checksums: each split has as many labels as images (at least one), labels are 0..9."""
    for split in ("train", "test"):
        x, y = arrays["x_" + split], arrays["y_" + split]
        if x.shape[0] == 0:
            raise DataError(f"{names['x_' + split]}: x_{split} holds no images, expected at least one")
        if x.shape[0] != y.shape[0]:
            where = names["x_" + split] if names["x_" + split] == names["y_" + split] else \
                f"{names['x_' + split]} and {names['y_' + split]}"
            raise DataError(f"{where}: x_{split} has {x.shape[0]} images but y_{split} has {y.shape[0]} labels")
        if y.max() > 9:
            raise DataError(f"{names['y_' + split]}: y_{split} holds label {int(y.max())}, expected digits 0..9")


def _load_npz(path: Path, verify: bool) -> tuple[np.ndarray, ...]:
    """Read a Keras-style ``mnist.npz`` (keys x_train, y_train, x_test, y_test) and check it."""
    try:
        with open(path, "rb") as fh:
            start = fh.read(6)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read: {exc}") from None
    if start.startswith(b"\x93NUMPY"):
        raise DataError(f"{path}: holds a single array, expected an .npz archive with keys {', '.join(KEYS)}")
    if not start.startswith(b"PK"):
        raise DataError(f"{path}: not a readable .npz file: an .npz is a zip archive, which starts with "
                        f"'PK', found {start[:4]!r}; expected a Keras mnist.npz with keys {', '.join(KEYS)}")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds a single array, expected an .npz archive with keys {', '.join(KEYS)}")
    with npz:
        missing = [k for k in KEYS if k not in npz.files]
        if missing:
            raise DataError(f"{path}: missing key(s) {', '.join(missing)}; expected {', '.join(KEYS)}, "
                            f"found {', '.join(npz.files) or 'no arrays'}")
        try:
            arrays = {k: npz[k] for k in KEYS}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}: an array cannot be read ({type(exc).__name__}: {exc})") from None
    for key in KEYS:
        arr, tail = arrays[key], FILES[key][2][1:]
        if arr.dtype != np.uint8:
            raise DataError(f"{path}: {key} has dtype {arr.dtype}, expected uint8 "
                            f"(as keras.datasets.mnist); convert with .astype('uint8') if the values fit")
        if verify:
            want = FILES[key][2]
            digest = hashlib.sha256(np.ascontiguousarray(arr)).hexdigest()
            if arr.shape != want or digest != ARRAY_SHA256[key]:
                raise DataError(f"{path}: {key} is not the original MNIST: expected shape {want} with sha256 "
                                f"{ARRAY_SHA256[key]} (of its raw uint8 bytes), found shape {arr.shape} with "
                                f"sha256 {digest}; {_FIX}")
        elif arr.ndim != 1 + len(tail) or arr.shape[1:] != tail:
            want = f"(n, {ROWS}, {COLS})" if tail else "(n,)"
            raise DataError(f"{path}: {key} has shape {arr.shape}, expected {want} with n >= 1")
    if not verify:
        _check_splits(arrays, {k: str(path) for k in KEYS})
    return tuple(arrays[k] for k in KEYS)
