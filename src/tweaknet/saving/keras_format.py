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

from .. import activations, initializers, registry
from .arrays import ArraysError, read_json
from .atomic import atomic_write
from .keras_weights import load_weights_h5, weights_h5_bytes

#: The Keras version whose file layout this module follows (recorded in metadata.json).
KERAS_LAYOUT_VERSION = "3.15.1"
LAYERS = ("Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "BatchNormalization", "Dropout",
          "GaussianNoise", "Flatten", "Normalization")
OPTIMIZERS = ("SGD", "Adam", "AdamW", "Nadam", "RMSprop", "Adagrad")
#: Keras arguments tweaknet does not have, accepted when they hold Keras's default (which is what tweaknet does).
KERAS_DEFAULTS = {
    "kernel_constraint": None, "bias_constraint": None, "activity_regularizer": None, "quantization_config": None,
    "lora_rank": None, "lora_alpha": None, "noise_shape": None, "synchronized": False, "renorm": False,
    "renorm_clipping": None, "renorm_momentum": 0.99, "beta_regularizer": None, "gamma_regularizer": None,
    "beta_constraint": None, "gamma_constraint": None, "data_format": "channels_last", "mean": None, "variance": None,
    # optimizers
    "use_ema": False, "ema_momentum": None, "ema_overwrite_frequency": None, "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
    # initializers (Keras 3.13+: the fan axes of Glorot, He, LeCun and VarianceScaling)
    "input_axes": None, "output_axes": None,
}
_IGNORED = {"ema_momentum"}  # meaningful only with use_ema, which must be False


def _error(what, path, todo):
    return ValueError(f"tweaknet: error: {what} ({path}): {todo}")


def _keras_object(module, class_name, config):
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def _policy(dtype):
    return _keras_object("keras", "DTypePolicy", {"name": str(dtype)})


# -- tweaknet -> Keras --------------------------------------------------------------------------
def _initializer(init):
    obj = initializers.get(init)
    return _keras_object("keras.initializers", type(obj).__name__, obj.get_config())


def _layer_config(layer, path) -> dict:
    kind = type(layer).__name__
    if kind not in LAYERS:
        hint = "Keras has no Maxout layer" if kind == "Maxout" else f"Keras has no {kind} layer tweaknet can write"
        raise _error(f"layer {layer.name!r} is a {kind}, which cannot be saved as a .keras file", path,
                     f"{hint}; save with another name (tweaknet's own format) or use the layers {', '.join(LAYERS)}")
    cfg = {"name": layer.name, "trainable": layer.trainable, "dtype": _policy(layer.dtype)}
    if kind == "Dense":
        act = activations.serialize(layer.activation)
        if not isinstance(act, str):
            raise _error(f"layer {layer.name!r} has the activation {layer.activation!r} with non-default arguments, "
                         f"which Keras cannot hold inside Dense", path,
                         "put the activation in its own layer (e.g. LeakyReLU(0.1) after Dense)")
        cfg |= {"units": layer.units, "activation": act, "use_bias": layer.use_bias,
                "kernel_initializer": _initializer(layer.kernel_initializer),
                "bias_initializer": _initializer(layer.bias_initializer),
                "kernel_regularizer": None, "bias_regularizer": None}
        for name, reg in layer.regularizers.items():
            cfg[f"{name}_regularizer"] = _keras_object("keras.regularizers", type(reg).__name__, reg.get_config())
    elif kind == "BatchNormalization":
        gi, bi, mi, vi = layer.initializers
        cfg |= {"axis": layer.axis, "momentum": layer.momentum, "epsilon": layer.epsilon, "center": layer.center,
                "scale": layer.scale, "beta_initializer": _initializer(bi), "gamma_initializer": _initializer(gi),
                "moving_mean_initializer": _initializer(mi), "moving_variance_initializer": _initializer(vi)}
    elif kind == "Normalization":  # the statistics travel as weights (Keras's adapted form)
        cfg |= {"axis": layer.axis, "invert": layer.invert, "mean": None, "variance": None}
    else:  # Activation, ReLU, LeakyReLU, ELU, Softmax, Dropout, GaussianNoise, Flatten: the same arguments
        own = layer.get_config()
        cfg |= {k: v for k, v in own.items() if k not in ("name", "trainable", "input_shape")}
    entry = _keras_object("keras.layers", kind, cfg)
    entry["build_config"] = {"input_shape": [None, *layer.input_shape]}
    return entry


def _optimizer_config(opt, path) -> dict:
    kind = type(opt).__name__
    if kind not in OPTIMIZERS:
        raise _error(f"optimizer {kind} has no Keras counterpart tweaknet can write", path,
                     f"use one of {', '.join(OPTIMIZERS)}, or save with another name (tweaknet's own format)")
    cfg = opt.get_config()
    lr = opt.schedule
    if lr is not None:
        cfg["learning_rate"] = _keras_object("keras.optimizers.schedules", type(lr).__name__,
                                             lr.get_config() | {"name": type(lr).__name__})
    return _keras_object("keras.optimizers", kind, cfg)


def _loss_config(loss):
    name = type(loss)._registry_name
    if not loss.from_logits:
        return name
    return _keras_object("keras.losses", type(loss).__name__, {"from_logits": True})


def keras_config(model, path) -> dict:
    """``model`` as Keras 3's ``config.json``."""
    dtype = model.layers[0].dtype
    batch_shape = [None, *model.input_shape[1:]]
    input_layer = _keras_object("keras.layers", "InputLayer", {
        "batch_shape": batch_shape, "dtype": str(dtype), "sparse": False, "name": "input_layer"})
    config = _keras_object("keras", "Sequential", {
        "name": model.name, "trainable": True, "dtype": _policy(dtype),
        "layers": [input_layer, *(_layer_config(layer, path) for layer in model.layers)],
        "build_input_shape": batch_shape})
    config["build_config"] = {"input_shape": batch_shape}
    if model.optimizer is not None and model.loss is not None:
        config["compile_config"] = {
            "optimizer": _optimizer_config(model.optimizer, path), "loss": _loss_config(model.loss),
            "loss_weights": None, "metrics": [m for m in model._metric_ids if isinstance(m, str)] or None,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}
    return config


def save_keras_model(model, path) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` file (see the module docstring for what is carried)."""
    if not model.built:
        raise _error("the model is not built", path, "give an input shape or train it before saving")
    config = keras_config(model, path)  # checks every layer first: no partial file on an error
    metadata = {"keras_version": KERAS_LAYOUT_VERSION, "date_saved": datetime.datetime.now().strftime(
        "%Y-%m-%d@%H:%M:%S"), "saved_by": "tweaknet"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("metadata.json", json.dumps(metadata))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", weights_h5_bytes(model))
    atomic_write(path, buffer.getvalue())


# -- Keras -> tweaknet --------------------------------------------------------------------------
def _dtype_of(value, where, path):
    if isinstance(value, dict):
        value = value.get("config", {}).get("name")
    if value is None:
        return None
    if value not in ("float32", "float64"):
        raise _error(f"{where} uses the dtype policy {value!r}", path, "tweaknet computes in float32 or float64")
    return value


def _deserialized(value, kind, where, path):
    """A serialized Keras initializer/regularizer/schedule as tweaknet's ``{'class_name', 'config'}``."""
    if not isinstance(value, dict):
        return value
    cfg = _own_arguments(value.get("config") or {}, where, path)
    try:
        registry.lookup(kind, value["class_name"])
    except ValueError as exc:
        raise _error(f"{where}: Keras {kind} {value['class_name']} has no tweaknet counterpart", path, str(exc)) from None
    return {"class_name": value["class_name"], "config": cfg}


def _own_arguments(cfg, where, path) -> dict:
    """``cfg`` without the Keras-only arguments, which must hold Keras's default."""
    out = {}
    for key, value in cfg.items():
        if key in KERAS_DEFAULTS:
            if value != KERAS_DEFAULTS[key] and key not in _IGNORED:
                raise _error(f"{where} sets {key}={value!r}, which tweaknet does not support", path,
                             f"rebuild the model in Keras without it (tweaknet supports only {key}="
                             f"{KERAS_DEFAULTS[key]!r})")
            continue
        out[key] = value
    return out


def _tweaknet_layer(entry, path):
    kind = entry.get("class_name")
    cfg = dict(entry.get("config") or {})
    where = f"layer {cfg.get('name', '?')!r} ({kind})"
    if kind not in LAYERS:
        raise _error(f"the Keras {where} has no tweaknet counterpart", path,
                     f"tweaknet reads Sequential models of {', '.join(LAYERS)}")
    args = {"name": cfg.pop("name", None), "trainable": cfg.pop("trainable", True)}
    dtype = _dtype_of(cfg.pop("dtype", None), where, path)
    if dtype:
        args["dtype"] = dtype
    if kind == "Normalization":
        axis = cfg.pop("axis", -1)
        axis = list(axis) if isinstance(axis, (list, tuple)) else ([] if axis is None else [axis])
        if axis not in ([], [-1]):
            raise _error(f"{where} normalizes along axis {axis}", path, "tweaknet supports axis=-1 or axis=None")
        args["axis"] = -1 if axis else None
        if cfg.get("mean") is not None:  # statistics given in the config rather than adapted
            args["mean"], args["variance"] = cfg.pop("mean"), cfg.pop("variance")
    if kind == "Dense" and not isinstance(cfg.get("activation"), (str, type(None))):
        raise _error(f"{where} has the activation {cfg['activation']!r}", path,
                     "tweaknet reads Dense activations given by name ('relu', 'tanh', ...)")
    for key in ("kernel_initializer", "bias_initializer", "beta_initializer", "gamma_initializer",
                "moving_mean_initializer", "moving_variance_initializer"):
        if key in cfg:
            cfg[key] = _deserialized(cfg[key], "initializer", where, path)
    for key in ("kernel_regularizer", "bias_regularizer"):
        if key in cfg:
            cfg[key] = _deserialized(cfg[key], "regularizer", where, path)
    args |= _own_arguments(cfg, where, path)
    try:
        return registry.lookup("layer", kind)(**args)
    except (TypeError, ValueError) as exc:
        raise _error(f"the Keras {where} cannot be rebuilt in tweaknet", path, str(exc)) from None


def _tweaknet_model(config, path):
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        kind = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise _error(f"the file holds a Keras {kind} model", path,
                     "tweaknet reads Sequential models; rebuild it in Keras as keras.Sequential([...])")
    cfg = config.get("config") or {}
    entries = list(cfg.get("layers") or [])
    shape = None
    if entries and entries[0].get("class_name") == "InputLayer":
        first = entries.pop(0).get("config") or {}
        shape = first.get("batch_shape") or ([None, *first["input_shape"]] if first.get("input_shape") else None)
        _dtype_of(first.get("dtype"), "the InputLayer", path)
    shape = shape or cfg.get("build_input_shape") or (config.get("build_config") or {}).get("input_shape")
    layers = [_tweaknet_layer(entry, path) for entry in entries]
    model = registry.lookup("model", "Sequential")(layers, name=cfg.get("name"))
    if shape is None:
        raise _error("the model has no input shape", path, "build the Keras model (give it a keras.Input) and save it again")
    model.build(tuple(shape))
    return model


def _tweaknet_optimizer(entry, path):
    if isinstance(entry, str):
        return registry.lookup("optimizer", entry)()
    kind = entry.get("class_name")
    if kind not in OPTIMIZERS:
        raise _error(f"the Keras optimizer {kind} has no tweaknet counterpart", path,
                     f"tweaknet reads {', '.join(OPTIMIZERS)}; load with compile=False and compile again")
    cfg = _own_arguments(entry.get("config") or {}, f"optimizer {kind}", path)
    cfg.pop("ema_momentum", None)
    lr = cfg.get("learning_rate")
    if isinstance(lr, dict):
        sched = _deserialized(lr, "schedule", f"the schedule of optimizer {kind}", path)
        cfg["learning_rate"] = registry.lookup("schedule", sched["class_name"])(**sched["config"])
    return registry.lookup("optimizer", kind)(**cfg)


def _tweaknet_loss(entry, path):
    if isinstance(entry, str):
        return registry.lookup("loss", entry)()
    if isinstance(entry, dict) and entry.get("class_name") == "function":  # a loss function, by name
        return registry.lookup("loss", entry.get("config"))()
    if not isinstance(entry, dict):
        raise _error(f"the loss {entry!r} is not one tweaknet can read", path, "compile with a single loss")
    cfg = dict(entry.get("config") or {})
    cfg.pop("name", None)
    for key, default in (("reduction", "sum_over_batch_size"), ("label_smoothing", 0.0), ("axis", -1),
                         ("ignore_class", None)):
        if key in cfg and cfg.pop(key) != default:
            raise _error(f"the loss {entry.get('class_name')} sets {key}", path,
                         f"tweaknet supports {key}={default!r} only")
    return registry.lookup("loss", entry.get("class_name"))(**cfg)


def _compile(model, compile_config, path) -> None:
    c = compile_config
    if c.get("loss_weights") is not None or c.get("weighted_metrics"):
        raise _error("the model was compiled with loss_weights or weighted_metrics", path,
                     "load with compile=False and compile it in tweaknet")
    metrics = []
    for m in c.get("metrics") or []:
        if isinstance(m, dict):
            m = m.get("config") if m.get("class_name") == "function" else (m.get("config") or {}).get("name")
        metrics.append(m)
    try:
        model.compile(optimizer=_tweaknet_optimizer(c.get("optimizer") or "rmsprop", path),
                      loss=_tweaknet_loss(c.get("loss"), path), metrics=metrics)
    except (TypeError, ValueError, KeyError) as exc:
        if str(exc).startswith("tweaknet: error"):
            raise
        raise _error("the compile settings cannot be rebuilt in tweaknet", path,
                     f"{exc}; load with compile=False and compile the model yourself") from None


#: A zip entry larger than this and expanding more than ``EXPANSION`` times its stored size is refused
#: unread (Keras stores its entries uncompressed; DEFLATE cannot expand past about 1,032 times).
BOMB_FLOOR, EXPANSION = 256 * 2**20, 100


def _read_weights_entry(z, path) -> bytes:
    """``model.weights.h5``, read no further than its declared size (a zip entry's sizes can lie)."""
    info = z.getinfo("model.weights.h5")
    if info.file_size > BOMB_FLOOR and info.file_size > EXPANSION * max(info.compress_size, 1):
        raise _error(f"model.weights.h5 declares {info.file_size} bytes stored in {info.compress_size}", path,
                     "the archive is damaged or hostile; it was refused unread")
    with z.open("model.weights.h5") as f:
        data = f.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise _error("model.weights.h5 is not the size the archive declares", path, "the file is damaged")
    return data


def read_keras_archive(path):
    """``(config, weights_h5_bytes)`` of a ``.keras`` file, with clear errors for anything else
    (``weights_h5_bytes`` is None for tweaknet's own format under a ``.keras`` name)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "config.json" not in names:
                raise _error("not a Keras model file (no config.json)", path, "give a file written by model.save")
            with z.open("config.json") as f:
                config = read_json(f.read)
            if not isinstance(config, dict):
                raise _error(f"config.json holds a {type(config).__name__}, not a model", path, "the file is damaged")
            if "format_version" in config:
                return config, None  # tweaknet's own format under a .keras name (before 0.2)
            if "model.weights.h5" not in names:
                other = "model.weights.npz" in names
                raise _error("the archive has no model.weights.h5" + (" (its weights are in npz)" if other else ""),
                             path, "save it again in Keras with the default weights_format='h5'")
            return config, _read_weights_entry(z, path)
    except ArraysError as exc:
        raise _error(f"config.json is {exc}", path, "the file is damaged or was not written by Keras") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise _error(f"damaged or not a .keras file ({exc})", path, "give a file written by model.save") from None


def load_keras_model(path, compile=True, config=None, weights=None):
    """Rebuild a Sequential model from a Keras 3 ``.keras`` file: architecture, weights and, with
    ``compile``, the compile settings and the optimizer's state."""
    if config is None:
        config, weights = read_keras_archive(path)
    model = _tweaknet_model(config, path)
    if compile and config.get("compile_config"):
        _compile(model, config["compile_config"], path)
    load_weights_h5(model, weights, path, optimizer=compile)
    return model
