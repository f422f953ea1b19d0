"""MNIST for the benchmarks: standardized float32 images (N, 784) and one-hot float32 labels (N, 10).

Loads through ``tweaknet.datasets.mnist.load_data()`` when that module is importable, else reads
the gzipped IDX files directly (header of 16 bytes for images, 8 for labels).  Standardization is
the book's: one scalar mean and one scalar standard deviation, both from the training images,
applied to training and test images alike.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
_CANDIDATE_DIRS = [
    Path(os.environ["TWEAKNET_MNIST_DIR"]) if os.environ.get("TWEAKNET_MNIST_DIR") else None,
    HERE.parent.parent / "shared" / "data" / "mnist",      # /work/shared next to the checkout
    Path("/work/shared/data/mnist"),
    HERE.parent / "src" / "tweaknet" / "datasets" / "data" / "mnist",  # the packaged copy
]
FILES = {"x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
         "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz"}


def _idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def _from_files():
    for d in _CANDIDATE_DIRS:
        if d is not None and all((d / name).is_file() for name in FILES.values()):
            x_train = _idx(d / FILES["x_train"], 16).reshape(-1, 28, 28)
            y_train = _idx(d / FILES["y_train"], 8)
            x_test = _idx(d / FILES["x_test"], 16).reshape(-1, 28, 28)
            y_test = _idx(d / FILES["y_test"], 8)
            return (x_train, y_train), (x_test, y_test), f"IDX files in {d}"
    raise FileNotFoundError("MNIST not found: set TWEAKNET_MNIST_DIR to a folder with the four .gz IDX files.")


def load_raw():
    """``((x_train, y_train), (x_test, y_test)), source``: uint8 images (N, 28, 28) and labels (N,)."""
    try:
        from tweaknet.datasets import mnist  # being written concurrently; optional
        (xtr, ytr), (xte, yte) = mnist.load_data()
        return (np.asarray(xtr), np.asarray(ytr)), (np.asarray(xte), np.asarray(yte)), \
            "tweaknet.datasets.mnist.load_data()"
    except Exception:  # noqa: BLE001 - any failure falls back to reading the files
        train, test, source = _from_files()
        return train, test, source


def one_hot(labels: np.ndarray, classes: int = 10) -> np.ndarray:
    out = np.zeros((len(labels), classes), dtype=np.float32)
    out[np.arange(len(labels)), labels.astype(np.intp)] = 1.0
    return out


def load(verbose: bool = False):
    """Standardized MNIST: ``(x_train, y_train, x_test, y_test)``; x float32 (N, 784), y one-hot float32 (N, 10).

    ``labels(y)`` turns one-hot rows back into int64 class indices (PyTorch's cross-entropy takes those).
    """
    (xtr, ytr), (xte, yte), source = load_raw()
    xtr = xtr.reshape(len(xtr), -1).astype(np.float32)
    xte = xte.reshape(len(xte), -1).astype(np.float32)
    mean = float(np.mean(xtr, dtype=np.float64))
    # population standard deviation in float64, in chunks (no full-size temporaries)
    ss = sum(float(np.sum(np.square(xtr[i:i + 5000] - mean))) for i in range(0, len(xtr), 5000))
    std = float(np.sqrt(ss / xtr.size))
    for a in (xtr, xte):     # in place: no second copy of the training set
        a -= np.float32(mean)
        a /= np.float32(std)
    if verbose:
        print(f"MNIST from {source}: train {xtr.shape}, test {xte.shape}, mean {mean:.3f}, std {std:.3f}")
    return (np.ascontiguousarray(xtr, dtype=np.float32), one_hot(ytr),
            np.ascontiguousarray(xte, dtype=np.float32), one_hot(yte))


def labels(y_onehot: np.ndarray) -> np.ndarray:
    """Integer class labels (int64) from one-hot rows."""
    return np.argmax(y_onehot, axis=1).astype(np.int64)


if __name__ == "__main__":
    x_train, y_train, x_test, y_test = load(verbose=True)
    print("label counts (train):", np.bincount(labels(y_train)).tolist())
    print("standardized train mean %.2e std %.4f" % (x_train.mean(), x_train.std()))
