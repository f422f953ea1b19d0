"""The model file (``.tweaknet``): ``save_model`` writes it, ``load_model`` checks it and rebuilds the
model (architecture, weights, compile settings, optimizer state, random state).  The format is
described in ``tweaknet.saving``."""
from __future__ import annotations

import errno
import io
import json
import math
import zipfile
import zlib

import numpy as np

from .. import registry, seeding
from ..layers.base import planned_weights
from .arrays import ArraysError, non_finite, pack_arrays, read_data, read_header, read_json
from .atomic import atomic_write, check_path

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
#: Weights that hold a variance: negative values are impossible (the square root of one is taken).
_VARIANCES = ("moving_variance", "variance")


class _Entry:
    """A zip entry read in bounded steps: ``read(n)`` never returns more than asked, whatever the entry
    declares, and turns a damaged stream into a ValueError naming the file and the entry."""

    def __init__(self, z, path, name):
        self.path, self.name = path, name
        try:
            self.stream = z.open(name)
        except _DAMAGED as exc:
            raise ValueError(f"{path}: damaged file, cannot read its {name} entry ({exc}).") from None

    def read(self, n: int) -> bytes:
        try:
            return self.stream.read(n)
        except _DAMAGED as exc:
            raise ValueError(f"{self.path}: damaged file, cannot read its {self.name} entry ({exc}).") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stream.close()


def _json_entry(z, path, name) -> dict:
    with _Entry(z, path, name) as entry:
        try:
            value = read_json(entry.read)
        except ArraysError as exc:
            raise ValueError(f"{path}: damaged file, {name} is {exc}.") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: damaged file, {name} holds a {type(value).__name__}, not a JSON object.")
    return value


def _arrays_entry(z, path, name, check) -> dict:
    """The arrays of a safetensors entry; ``check(entries)`` compares the declared shapes with the
    architecture before a byte of data is read."""
    with _Entry(z, path, name) as entry:
        try:
            entries, size = read_header(entry.read)
            check(entries)
            return read_data(entry.read, entries, size)
        except ArraysError as exc:
            raise ValueError(f"{path}: damaged file, {name} {exc}.") from None


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


def _open_archive(path):
    path = check_path(path, "model file")
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "No such tweaknet model file", path) from None
    except IsADirectoryError:
        raise IsADirectoryError(errno.EISDIR, "A folder, not a tweaknet model file", path) from None
    except PermissionError as exc:
        raise PermissionError(errno.EACCES, f"Cannot read the tweaknet model file ({exc.strerror})", path) from None
    except (zipfile.BadZipFile, EOFError, ValueError, OSError, NotImplementedError) as exc:
        raise ValueError(f"{path}: damaged or not a tweaknet model file ({exc}).") from None


def _read_model_file(path):
    """Open the archive; check the format version first (a newer file may have another layout), then
    the entries, then the architecture against the arrays' headers, and only then read the arrays.
    Returns ``(version, config, state, layers, weights, optimizer_arrays or None)``."""
    z = _open_archive(path)
    with z:
        names = set(z.namelist())
        if "config.json" not in names:
            raise ValueError(f"{path}: damaged or not a tweaknet model file (no config.json; the archive holds "
                             f"{', '.join(sorted(names))[:500] or 'nothing'}).")
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
            raise ValueError(f"{path}: damaged file, unexpected entries {', '.join(sorted(unexpected))[:500]}.")
        layers, plan = _plan(path, config)
        weights = _arrays_entry(z, path, "model.safetensors", lambda entries: _check_weights(path, plan, entries))
        _check_weight_values(path, plan, weights)
        size = sum(math.prod(shape) for _, _, shape, trainable in plan if trainable)
        opt_arrays = (_arrays_entry(z, path, "optimizer.safetensors", lambda e: _check_slots(path, size, e))
                      if saved else None)
    return version, config, state, layers, weights, opt_arrays


def _plan(path, config):
    """The layers described by ``config['model']`` (constructed, not built) and the weights they will
    create, ``[(key, 'layer/weight', shape, trainable)]`` in file order, found without allocating them."""
    cfg = config.get("model")
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: config.json has no 'model' (the architecture); the file is damaged.")
    layer_cfgs = cfg.get("layers")
    if not isinstance(layer_cfgs, list) or not layer_cfgs:
        raise ValueError(f"{path}: config.json 'model.layers' must be a list of layers (at least one), "
                         f"got {str(layer_cfgs)[:200]}.")
    shape = cfg.get("input_shape")
    if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and not isinstance(d, bool)
                                                           and d > 0 for d in shape):
        raise ValueError(f"{path}: config.json 'model.input_shape' must be a list of positive integers (a saved "
                         f"model is built), got {str(shape)[:200]}; the file is damaged.")
    layers, plan, shape = [], [], tuple(shape)
    for i, lc in enumerate(layer_cfgs):
        if not isinstance(lc, dict) or not isinstance(lc.get("class_name"), str) \
                or not isinstance(lc.get("config", {}), dict):
            raise ValueError(f"{path}: config.json layer {i} must be {{'class_name': ..., 'config': {{...}}}}, "
                             f"got {str(lc)[:200]}.")
        try:
            layer = registry.lookup("layer", lc["class_name"])(**_restore(lc.get("config", {})))
            weights, shape = planned_weights(layer, shape)
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise ValueError(f"{path}: config.json layer {i} ({lc['class_name']}) cannot be rebuilt: {exc}") from None
        layers.append(layer)
        plan += [(f"{len(plan) + k:04d}", f"{layer.name}/{name}", shape_, trainable)
                 for k, (name, shape_, _, trainable) in enumerate(weights)]
    return layers, plan


def _check_weights(path, plan, entries) -> None:
    """The file's arrays must be the architecture's, one for one, before any is read or allocated."""
    if list(entries) != [key for key, *_ in plan]:
        raise ValueError(f"{path}: the weights do not fit the architecture: config.json describes {len(plan)} "
                         f"weight arrays, model.safetensors holds {len(entries)}; the file is damaged.")
    for key, name, shape, _ in plan:
        if entries[key][1] != shape:
            raise ValueError(f"{path}: the weights do not fit the architecture: model.safetensors entry {key} "
                             f"({name}) has shape {entries[key][1]}, config.json implies {shape}; the file is "
                             f"damaged.")


def _check_weight_values(path, plan, weights) -> None:
    for key, name, _, _ in plan:
        bad = non_finite(weights[key])
        if bad:
            raise ValueError(f"{path}: model.safetensors entry {key} ({name}) holds {bad} non-finite value(s) "
                             f"(NaN or infinity): the model diverged before it was saved, or the file is damaged; "
                             f"refused rather than loaded silently.")
        if name.rsplit("/", 1)[-1] in _VARIANCES and np.any(weights[key] < 0):
            raise ValueError(f"{path}: model.safetensors entry {key} ({name}) holds negative variances, which no "
                             f"training produces; the file is damaged.")


def _check_slots(path, size, entries) -> None:
    for name, (_, shape, _, _) in entries.items():
        if shape != (size,):
            raise ValueError(f"{path}: the optimizer state does not fit the model: optimizer.safetensors slot "
                             f"{name!r} has shape {shape}, the model's {size} trainable parameters need ({size},).")


def _rebuild(path, config, layers):
    """The Sequential model of ``layers``, built once for the saved input shape."""
    cfg = config["model"]
    try:
        model = registry.lookup("model", "Sequential")(layers, name=cfg.get("name"))
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
        metrics = c["metrics"]
        if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
            raise ValueError(f"'metrics' must be a list of metric names, got {str(metrics)[:200]}")
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ValueError(f"{path}: the compile settings in config.json cannot be rebuilt: {exc}") from None
    if opt_arrays is not None:
        expected = {k for k, v in model.optimizer.get_state().items() if isinstance(v, np.ndarray)}
        if set(opt_arrays) != expected:
            raise ValueError(f"{path}: the optimizer state does not fit the optimizer: optimizer.safetensors holds "
                             f"slots {sorted(opt_arrays)}, {type(model.optimizer).__name__} keeps {sorted(expected)}.")
        try:
            model.optimizer.set_state({**opt_arrays, **opt_state})
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
            raise ValueError(f"{path}: impossible optimizer state (state.json / optimizer.safetensors): {exc}; "
                             f"the file is damaged.") from None


def load_model(path, compile=True, restore_random_state=True):
    """Rebuild a model saved with ``model.save``; with ``restore_random_state`` the global random state
    is set to the saved one (needed for a bit-exact continuation of shuffled training).  Seeded layers
    (``Dropout(seed=...)``) always get their own generator's saved state back, as part of the model.

    Raises ``TypeError`` for a path that is not a file name, ``FileNotFoundError`` for a missing file
    and ``ValueError`` naming the file and the problem for a damaged one, one from a newer format
    version, weights that do not fit the architecture (checked before anything is allocated),
    non-finite weights, negative variances or an impossible optimizer state.  Each entry is read in
    bounded steps (``arrays.JSON_LIMIT`` for the JSON ones): a declared size that lies costs nothing."""
    version, config, state, layers, weights, opt_arrays = _read_model_file(path)
    model = _rebuild(path, config, layers)
    try:
        model.set_weights(list(weights.values()))
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
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
            raise ValueError(f"{path}: damaged file, cannot restore the generator of layer {key}: {exc}") from None
    if compile and config.get("compile"):
        _compile(path, model, config["compile"], opt_arrays, state.get("optimizer", {}))
    if restore_random_state:
        try:
            seeding.set_state(state["rng"])
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise ValueError(f"{path}: damaged file, invalid random state in state.json: {exc}") from None
    return model


def _restore(config: dict) -> dict:
    config = dict(config)
    if "input_shape" in config:
        config["input_shape"] = tuple(config["input_shape"])
    return config
