"""The model file (``.tweaknet``): ``save_model`` writes it, ``load_model`` checks it and rebuilds the
model (architecture, weights, compile settings, optimizer state, random state).  The format is
described in ``tweaknet.saving``."""
from __future__ import annotations

import errno
import io
import json
import os
import zipfile
import zlib

import numpy as np

from .. import registry, seeding
from .arrays import pack_arrays, safetensors
from .atomic import atomic_write

#: 2: state.json records ``optimizer_saved`` and the seeded layers' generator states (``layer_rng``).
#: Files of format 1 still load (their optimizer entry was optional).
FORMAT_VERSION = 2


def _config_of(obj) -> dict:
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def save_model(model, path) -> None:
    """Write ``model`` (architecture, weights, compile settings, optimizer state, random state) to ``path``."""
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
    # The global generator, each seeded layer's own generator (Dropout(seed=...)), and whether the
    # optimizer's slots were saved: recorded so that a file missing them is reported as damaged.
    state = {"rng": seeding.get_state(), "optimizer_saved": False, "layer_rng": {}}
    for i, layer in enumerate(model.layers):
        get_rng_state = getattr(layer, "get_rng_state", None)
        layer_state = get_rng_state() if get_rng_state is not None else None
        if layer_state is not None:
            state["layer_rng"][str(i)] = layer_state
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", json.dumps(config, indent=1))
        z.writestr("model.safetensors",
                   pack_arrays({f"{i:04d}": w for i, w in enumerate(model.get_weights())}))
        if config["compile"] is not None and model.optimizer.built:
            opt_state = model.optimizer.get_state()
            state["optimizer"] = {k: v for k, v in opt_state.items() if not isinstance(v, np.ndarray)}
            state["optimizer_saved"] = True
            z.writestr("optimizer.safetensors",
                       pack_arrays({k: v for k, v in opt_state.items() if isinstance(v, np.ndarray)}))
        z.writestr("state.json", json.dumps(state))
    atomic_write(path, buffer.getvalue())


_ENTRIES = ("config.json", "model.safetensors", "state.json", "optimizer.safetensors")
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError)


def _read_entry(z, path, name) -> bytes:
    try:
        return z.read(name)
    except _DAMAGED as exc:
        raise ValueError(f"{path}: damaged file, cannot read its {name} entry ({exc}).") from None


def _json_entry(z, path, name) -> dict:
    try:
        value = json.loads(_read_entry(z, path, name))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: damaged file, {name} is not valid JSON ({exc}).") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: damaged file, {name} holds a {type(value).__name__}, not a JSON object.")
    return value


def _arrays_entry(z, path, name) -> dict:
    _, load = safetensors()
    data = _read_entry(z, path, name)
    try:
        return load(data)
    except Exception as exc:  # safetensors raises its own error types on corrupt data
        raise ValueError(f"{path}: damaged file, {name} is not readable safetensors ({exc}).") from None


def _check_version(path, config) -> int:
    if "format_version" not in config:
        raise ValueError(f"{path}: config.json has no format_version: the file is damaged or was not written "
                         f"by tweaknet.")
    version = config["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{path}: config.json has an invalid format_version {version!r} (damaged file?).")
    if version > FORMAT_VERSION:
        raise ValueError(f"{path}: newer format version {version}, this tweaknet reads up to {FORMAT_VERSION}; "
                         f"upgrade tweaknet.")
    return version


def _read_model_file(path):
    """Open the archive; check the format version first (a newer file may have another layout), then
    the entries.  Returns ``(version, config, state, weights, optimizer_arrays or None)``."""
    try:
        z = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "No such tweaknet model file", os.fspath(path)) from None
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise ValueError(f"{path}: damaged or not a tweaknet model file ({exc}).") from None
    with z:
        names = set(z.namelist())
        if "config.json" not in names:
            raise ValueError(f"{path}: damaged or not a tweaknet model file (no config.json; the archive holds "
                             f"{', '.join(sorted(names)) or 'nothing'}).")
        config = _json_entry(z, path, "config.json")
        version = _check_version(path, config)
        missing = {"model.safetensors", "state.json"} - names
        if missing:
            raise ValueError(f"{path}: damaged file, not a complete tweaknet model file (missing "
                             f"{', '.join(sorted(missing))}).")
        state = _json_entry(z, path, "state.json")
        if not isinstance(state.get("rng"), dict):
            raise ValueError(f"{path}: damaged file, state.json holds no random state.")
        if version >= 2:
            # Whether the optimizer's slots were saved is recorded: a missing entry is damage, not a
            # model to resume with a fresh optimizer.
            saved = state.get("optimizer_saved")
            if not isinstance(saved, bool):
                raise ValueError(f"{path}: damaged file, state.json does not record whether the optimizer "
                                 f"state was saved.")
            if not isinstance(state.get("layer_rng"), dict):
                raise ValueError(f"{path}: damaged file, state.json does not record the layers' generator states.")
        else:  # format 1 did not record it: the entry was optional
            saved = "optimizer.safetensors" in names
        if saved and "optimizer.safetensors" not in names:
            raise ValueError(f"{path}: damaged file, state.json records saved optimizer state but the archive "
                             f"has no optimizer.safetensors entry (it holds {', '.join(sorted(names))}).")
        if not saved and "optimizer.safetensors" in names:
            raise ValueError(f"{path}: damaged file, optimizer.safetensors is present but state.json records "
                             f"no saved optimizer state.")
        if saved and (not isinstance(state.get("optimizer"), dict) or not config.get("compile")):
            raise ValueError(f"{path}: damaged file, optimizer state without its step counter or compile settings.")
        unexpected = names - set(_ENTRIES)
        if unexpected:
            raise ValueError(f"{path}: damaged file, unexpected entries {', '.join(sorted(unexpected))}.")
        weights = _arrays_entry(z, path, "model.safetensors")
        opt_arrays = _arrays_entry(z, path, "optimizer.safetensors") if saved else None
    return version, config, state, weights, opt_arrays


def _rebuild(path, config):
    """The Sequential model described by ``config['model']``, with clear errors for a bad config."""
    cfg = config.get("model")
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: config.json has no 'model' (the architecture); the file is damaged.")
    layer_cfgs = cfg.get("layers")
    if not isinstance(layer_cfgs, list):
        raise ValueError(f"{path}: config.json 'model.layers' must be a list of layers, got {layer_cfgs!r}.")
    layers = []
    for i, lc in enumerate(layer_cfgs):
        if not isinstance(lc, dict) or not isinstance(lc.get("class_name"), str) \
                or not isinstance(lc.get("config", {}), dict):
            raise ValueError(f"{path}: config.json layer {i} must be {{'class_name': ..., 'config': {{...}}}}, "
                             f"got {lc!r}.")
        try:
            layers.append(registry.lookup("layer", lc["class_name"])(**_restore(lc.get("config", {}))))
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: config.json layer {i} ({lc['class_name']}) cannot be rebuilt: {exc}") from None
    try:
        model = registry.lookup("model", "Sequential")(layers, name=cfg.get("name"))
        if cfg.get("input_shape"):
            model.build((None, *cfg["input_shape"]))
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: the model in config.json cannot be rebuilt: {exc}") from None
    return model


def _compile(path, model, c, opt_arrays, opt_state):
    try:
        opt_cfg = dict(c["optimizer"]["config"])
        if isinstance(opt_cfg.get("learning_rate"), dict):
            lr = opt_cfg["learning_rate"]
            opt_cfg["learning_rate"] = registry.lookup("schedule", lr["class_name"])(**lr["config"])
        optimizer = registry.lookup("optimizer", c["optimizer"]["class_name"])(**opt_cfg)
        loss = registry.lookup("loss", c["loss"]["class_name"])(**c["loss"]["config"])
        model.compile(optimizer=optimizer, loss=loss, metrics=c["metrics"])
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ValueError(f"{path}: the compile settings in config.json cannot be rebuilt: {exc}") from None
    if opt_arrays is not None:
        try:
            model.optimizer.set_state({**opt_arrays, **opt_state})
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise ValueError(f"{path}: the optimizer state does not fit the model: {exc}") from None


def load_model(path, compile=True, restore_random_state=True):
    """Rebuild a model saved with ``model.save``; with ``restore_random_state`` the global random state
    is set to the saved one (needed for a bit-exact continuation of shuffled training).  Seeded layers
    (``Dropout(seed=...)``) always get their own generator's saved state back, as part of the model.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file and the problem
    for a damaged one, one from a newer format version, or weights that do not fit the architecture."""
    version, config, state, weights, opt_arrays = _read_model_file(path)
    model = _rebuild(path, config)
    try:
        model.set_weights([weights[k] for k in sorted(weights)])
    except ValueError as exc:
        raise ValueError(f"{path}: the weights do not fit the architecture: {exc}") from None
    if version >= 2:
        unsaved = [str(i) for i, layer in enumerate(model.layers)
                   if getattr(layer, "get_rng_state", lambda: None)() is not None and str(i) not in state["layer_rng"]]
        if unsaved:
            raise ValueError(f"{path}: damaged file, state.json lacks the generator state of seeded layer(s) "
                             f"{', '.join(unsaved)}.")
    for key, layer_state in state.get("layer_rng", {}).items():
        try:
            model.layers[int(key)].set_rng_state(layer_state)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(f"{path}: damaged file, cannot restore the generator of layer {key}: {exc}") from None
    if compile and config.get("compile"):
        _compile(path, model, config["compile"], opt_arrays, state.get("optimizer", {}))
    if restore_random_state:
        try:
            seeding.set_state(state["rng"])
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: damaged file, invalid random state in state.json: {exc}") from None
    return model


def _restore(config: dict) -> dict:
    config = dict(config)
    if "input_shape" in config:
        config["input_shape"] = tuple(config["input_shape"])
    return config
