"""Keras 3's ``.keras`` files: ``save_keras_model`` writes one that ``keras.saving.load_model`` opens,
``load_keras_model`` opens one written by Keras 3 (no Keras needed: zip, JSON and h5py).

A ``.keras`` file is a zip archive (entries stored, as Keras writes them) of

- ``metadata.json``: the Keras version whose layout was followed and the date;
- ``config.json``: the model as Keras serializes it: ``{"module", "class_name", "config",
  "registered_name", "build_config", "compile_config"}``, its layers led by an ``InputLayer`` with
  ``batch_shape``, every layer with a dtype policy (``DTypePolicy``) and a ``build_config``;
  initializers, regularizers, schedules and losses as serialized Keras objects;
- ``model.weights.h5``: the weights and the optimizer's state in Keras's HDF5 layout
  (``keras_weights``).

``keras_config`` turns a tweaknet model into the config, ``keras_rebuild`` a Keras config into a
tweaknet model; this module reads and writes the archive.

Carried: Sequential models of the layers both libraries have (Dense, Activation, ReLU, LeakyReLU, ELU,
Softmax, BatchNormalization, Dropout, GaussianNoise, Flatten, Normalization), their weights, the
compile settings (optimizer with its schedule, loss, string metrics) and the optimizer's state (SGD,
Adam, AdamW, Nadam, RMSprop, Adagrad).  Not carried: the random state (tweaknet's own format keeps it
for a bit-exact resume), a seeded Dropout's generator state, anything Keras has no name for (Maxout, a
Dense activation with non-default arguments) and anything tweaknet lacks (other layers, functional
models, constraints, EMA, mixed precision): those are errors that name what is missing.
"""
from __future__ import annotations

import datetime
import io
import json
import zipfile
import zlib

from .arrays import ArraysError, read_json
from .atomic import atomic_write
from .keras_config import keras_config, keras_error
from .keras_rebuild import compile_model, rebuild_model
from .keras_weights import load_weights_h5, weights_h5_bytes

#: The Keras version whose file layout this module follows (recorded in metadata.json).
KERAS_LAYOUT_VERSION = "3.15.1"


def save_keras_model(model, path) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` file (see the module docstring for what is carried)."""
    if not model.built:
        raise keras_error("the model is not built", path, "give an input shape or train it before saving")
    config = keras_config(model, path)  # checks every layer first: no partial file on an error
    metadata = {"keras_version": KERAS_LAYOUT_VERSION, "date_saved": datetime.datetime.now().strftime(
        "%Y-%m-%d@%H:%M:%S"), "saved_by": "tweaknet"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("metadata.json", json.dumps(metadata))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", weights_h5_bytes(model))
    atomic_write(path, buffer.getvalue())


#: A zip entry larger than this and expanding more than ``EXPANSION`` times its stored size is refused
#: unread (Keras stores its entries uncompressed; DEFLATE cannot expand past about 1,032 times).
BOMB_FLOOR, EXPANSION = 256 * 2**20, 100


def _read_weights_entry(z, path) -> bytes:
    """``model.weights.h5``, read no further than its declared size (a zip entry's sizes can lie)."""
    info = z.getinfo("model.weights.h5")
    if info.file_size > BOMB_FLOOR and info.file_size > EXPANSION * max(info.compress_size, 1):
        raise keras_error(f"model.weights.h5 declares {info.file_size} bytes stored in {info.compress_size}", path,
                          "the archive is damaged or hostile; it was refused unread")
    with z.open("model.weights.h5") as f:
        data = f.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise keras_error("model.weights.h5 is not the size the archive declares", path, "the file is damaged")
    return data


def read_keras_archive(path):
    """``(config, weights_h5_bytes)`` of a ``.keras`` file, with clear errors for anything else
    (``weights_h5_bytes`` is None for tweaknet's own format under a ``.keras`` name)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "config.json" not in names:
                raise keras_error("not a Keras model file (no config.json)", path, "give a file written by model.save")
            with z.open("config.json") as f:
                config = read_json(f.read)
            if not isinstance(config, dict):
                raise keras_error(f"config.json holds a {type(config).__name__}, not a model", path,
                                  "the file is damaged")
            if "format_version" in config:
                return config, None  # tweaknet's own format under a .keras name (before 0.2)
            if "model.weights.h5" not in names:
                other = "model.weights.npz" in names
                raise keras_error("the archive has no model.weights.h5"
                                  + (" (its weights are in npz)" if other else ""),
                                  path, "save it again in Keras with the default weights_format='h5'")
            return config, _read_weights_entry(z, path)
    except ArraysError as exc:
        raise keras_error(f"config.json is {exc}", path, "the file is damaged or was not written by Keras") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise keras_error(f"damaged or not a .keras file ({exc})", path, "give a file written by model.save") from None


def load_keras_model(path, compile=True, config=None, weights=None):
    """Rebuild a Sequential model from a Keras 3 ``.keras`` file: architecture, weights and, with
    ``compile``, the compile settings and the optimizer's state."""
    if config is None:
        config, weights = read_keras_archive(path)
    model = rebuild_model(config, path)
    if compile and config.get("compile_config"):
        compile_model(model, config["compile_config"], path)
    load_weights_h5(model, weights, path, optimizer=compile)
    return model
