"""The weights file: ``save_weights`` writes the weights alone as safetensors (``layer/weight``
names), ``load_weights`` reads them back into a model of the same architecture."""
from __future__ import annotations

import errno
import os

from .arrays import pack_arrays, safetensors
from .atomic import atomic_write


def save_weights(model, path) -> None:
    """Write the weights alone, as a safetensors file (``layer/weight`` names)."""
    named = {f"{i:04d}:{layer.name}/{name}": w for i, (layer, name, w) in enumerate(
        (layer, name, w) for layer in model.layers for name, w in zip(layer.weight_names, layer.weights))}
    atomic_write(path, pack_arrays(named))


def load_weights(model, path) -> None:
    """Load weights written by ``save_weights`` into a model of the same architecture."""
    _, load = safetensors()
    try:
        with open(path, "rb") as f:
            named = load(f.read())
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "No such weights file", os.fspath(path)) from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc}).") from None
    except Exception as exc:
        raise ValueError(f"{path}: damaged or not a safetensors weights file ({exc}).") from None
    model.set_weights([named[k] for k in sorted(named)])
