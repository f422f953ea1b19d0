"""Safe saving: ``model.save(path)``, ``tweaknet.models.load_model(path)``, ``save_weights``/``load_weights``.

A ``.tweaknet`` file is a zip archive holding:

- ``config.json``: ``format_version``, the model's architecture (each layer's class and constructor
  arguments) and its compile settings (optimizer class and config, loss, metrics);
- ``model.safetensors``: the weights, in Keras order;
- ``optimizer.safetensors`` and ``state.json``: the optimizer's slots and step counter, and the
  global random state, so that training resumed from the file gives the same weights, bit for bit,
  as training that was never interrupted.

Nothing is pickled and nothing is executed on load: arrays come from safetensors, everything else
from JSON, and classes only from tweaknet's registry.  Writes are atomic: the archive is written to
a temporary file in the same folder, flushed to disk, then renamed over the target.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT_VERSION = 1


def _safetensors():
    try:
        from safetensors.numpy import load, save
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError("Saving needs safetensors: pip install 'tweaknet[lab]' (or safetensors)") from None
    return save, load


def _atomic_write(path, data: bytes) -> None:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _arrays(named: dict) -> bytes:
    save, _ = _safetensors()
    return save({k: np.ascontiguousarray(v) for k, v in named.items()})


def _config_of(obj) -> dict:
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def save_model(model, path) -> None:
    """Write ``model`` (architecture, weights, compile settings, optimizer state, random state) to ``path``."""
    from .. import seeding
    if not model.built:
        raise ValueError("Build the model (give an input shape or train it) before saving it.")
    config = {"format_version": FORMAT_VERSION, "model": model.get_config(), "compile": None}
    if model.optimizer is not None and model.loss is not None:
        opt_config = model.optimizer.get_config()
        lr = model.optimizer.schedule
        if lr is not None:
            opt_config["learning_rate"] = _config_of(lr)
        config["compile"] = {"optimizer": {"class_name": type(model.optimizer).__name__, "config": opt_config},
                             "loss": {"class_name": type(model.loss).__name__,
                                      "config": {"from_logits": model.loss.from_logits}},
                             "metrics": [m for m in model._metric_ids if isinstance(m, str)]}
    state = {"rng": seeding.get_state()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", json.dumps(config, indent=1))
        z.writestr("model.safetensors", _arrays({f"{i:04d}": w for i, w in enumerate(model.get_weights())}))
        if config["compile"] is not None and model.optimizer.built:
            opt_state = model.optimizer.get_state()
            state["optimizer"] = {k: v for k, v in opt_state.items() if not isinstance(v, np.ndarray)}
            z.writestr("optimizer.safetensors",
                       _arrays({k: v for k, v in opt_state.items() if isinstance(v, np.ndarray)}))
        z.writestr("state.json", json.dumps(state))
    _atomic_write(path, buffer.getvalue())


def load_model(path, compile=True, restore_random_state=True):
    """Rebuild a model saved with ``model.save``; with ``restore_random_state`` the global random state
    is set to the saved one (needed for a bit-exact continuation of shuffled training)."""
    from .. import losses, optimizers, registry, seeding
    from ..models import Sequential
    _, load = _safetensors()
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            missing = {"config.json", "model.safetensors", "state.json"} - names
            if missing:
                raise ValueError(f"{path}: not a complete tweaknet model file (missing {', '.join(sorted(missing))}).")
            config = json.loads(z.read("config.json"))
            weights = load(z.read("model.safetensors"))
            state = json.loads(z.read("state.json"))
            opt_arrays = load(z.read("optimizer.safetensors")) if "optimizer.safetensors" in names else None
    except (zipfile.BadZipFile, EOFError, OSError, json.JSONDecodeError, KeyError) as exc:
        raise ValueError(f"{path}: damaged or not a tweaknet model file ({exc}).") from None
    except Exception as exc:  # safetensors raises its own error types on corrupt data
        if isinstance(exc, ValueError) and str(exc).startswith(str(path)):
            raise
        raise ValueError(f"{path}: damaged weights ({exc}).") from None
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path}: format version {version!r} is newer than this tweaknet reads "
                         f"({FORMAT_VERSION}); upgrade tweaknet.")
    cfg = config["model"]
    layers = [registry.lookup("layer", lc["class_name"])(**_restore(lc["config"])) for lc in cfg["layers"]]
    model = Sequential(layers, name=cfg.get("name"))
    if cfg.get("input_shape"):
        model.build((None, *cfg["input_shape"]))
    model.set_weights([weights[k] for k in sorted(weights)])
    if compile and config.get("compile"):
        c = config["compile"]
        opt_cfg = dict(c["optimizer"]["config"])
        if isinstance(opt_cfg.get("learning_rate"), dict):
            lr = opt_cfg["learning_rate"]
            opt_cfg["learning_rate"] = registry.lookup("schedule", lr["class_name"])(**lr["config"])
        optimizer = registry.lookup("optimizer", c["optimizer"]["class_name"])(**opt_cfg)
        loss = registry.lookup("loss", c["loss"]["class_name"])(**c["loss"]["config"])
        model.compile(optimizer=optimizer, loss=loss, metrics=c["metrics"])
        if opt_arrays is not None:
            model.optimizer.set_state({**opt_arrays, **state["optimizer"]})
    if restore_random_state:
        seeding.set_state(state["rng"])
    return model


def _restore(config: dict) -> dict:
    config = dict(config)
    if "input_shape" in config:
        config["input_shape"] = tuple(config["input_shape"])
    return config


def save_weights(model, path) -> None:
    """Write the weights alone, as a safetensors file (``layer/weight`` names)."""
    named = {f"{i:04d}:{layer.name}/{name}": w for i, (layer, name, w) in enumerate(
        (layer, name, w) for layer in model.layers for name, w in zip(layer.weight_names, layer.weights))}
    _atomic_write(path, _arrays(named))


def load_weights(model, path) -> None:
    """Load weights written by ``save_weights`` into a model of the same architecture."""
    _, load = _safetensors()
    try:
        with open(path, "rb") as f:
            named = load(f.read())
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc}).") from None
    except Exception as exc:
        raise ValueError(f"{path}: damaged or not a safetensors weights file ({exc}).") from None
    model.set_weights([named[k] for k in sorted(named)])
