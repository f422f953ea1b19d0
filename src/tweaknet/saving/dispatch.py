"""Which format a name gets: ``.keras`` is Keras 3's model file and ``.weights.h5`` Keras's HDF5 weights
file (``keras_format``, ``keras_weights``); every other name gets tweaknet's own format (``model_file``,
``weights_file``), which also keeps the random state for a bit-exact resume.

Files that tweaknet wrote in its own format under these names before it spoke Keras's formats still
load: a ``.keras`` archive whose config.json has a ``format_version`` and a ``.weights.h5`` file that is
not HDF5 are read as tweaknet's own."""
from __future__ import annotations

import errno
import os

from . import model_file, weights_file
from .atomic import atomic_write, check_path
from .keras_format import load_keras_model, read_keras_archive, save_keras_model
from .keras_weights import HDF5_SIGNATURE, load_weights_h5, weights_h5_bytes


def _name(path) -> str:
    return check_path(path, "model or weights file")


def is_keras_model_path(path) -> bool:
    return str(_name(path)).endswith(".keras")


def is_keras_weights_path(path) -> bool:
    return str(_name(path)).endswith(".weights.h5")


def save_model(model, path) -> None:
    """``model.save(path)``: Keras 3's format for ``.keras``, tweaknet's own for any other name."""
    if is_keras_model_path(path):
        save_keras_model(model, path)
    else:
        model_file.save_model(model, path)


def load_model(path, compile=True, restore_random_state=True):
    """Open a model file: a ``.keras`` file written by Keras 3 (or by tweaknet), or tweaknet's own format.
    ``restore_random_state`` applies to tweaknet's own format, the only one that keeps it."""
    if is_keras_model_path(path):
        config, weights = read_keras_archive(path)
        if weights is not None:
            return load_keras_model(path, compile=compile, config=config, weights=weights)
    return model_file.load_model(path, compile=compile, restore_random_state=restore_random_state)


def save_weights(model, path) -> None:
    """``model.save_weights(path)``: Keras's HDF5 layout for ``.weights.h5`` (weights and, once built, the
    optimizer's state, as Keras writes them), tweaknet's safetensors file for any other name."""
    if is_keras_weights_path(path):
        atomic_write(path, weights_h5_bytes(model))
    else:
        weights_file.save_weights(model, path)


def load_weights(model, path) -> None:
    """``model.load_weights(path)`` from a ``.weights.h5`` or ``.keras`` file (Keras's layout; the
    optimizer's state too when the model is compiled, as in Keras) or from tweaknet's weights file."""
    if is_keras_model_path(path):
        _, weights = read_keras_archive(path)
        if weights is not None:
            return load_weights_h5(model, weights, path)
        raise ValueError(f"tweaknet: error: a tweaknet model file, not a weights file ({path}): "
                         f"open it with tweaknet.models.load_model")
    if is_keras_weights_path(path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, "No such weights file", os.fspath(path)) from None
        if data.startswith(HDF5_SIGNATURE):
            return load_weights_h5(model, data, path)
    return weights_file.load_weights(model, path)
