"""A Keras 3 ``config.json`` as a tweaknet model (``rebuild_model``) and its compile settings
(``compile_model``).

Keras writes every argument, defaults included.  Arguments tweaknet has are passed on; Keras-only ones
(``KERAS_DEFAULTS``) are accepted when they hold Keras's default, which is what tweaknet does, and
anything else is an error that names the argument, the layer and the file.
"""
from __future__ import annotations

from .. import registry
from .keras_config import LAYERS, OPTIMIZERS, keras_error

#: Keras arguments tweaknet does not have, accepted when they hold Keras's default (which is what tweaknet does).
KERAS_DEFAULTS = {
    "kernel_constraint": None, "bias_constraint": None, "activity_regularizer": None, "quantization_config": None,
    "lora_rank": None, "lora_alpha": None, "noise_shape": None, "synchronized": False, "renorm": False,
    "renorm_clipping": None, "renorm_momentum": 0.99, "beta_regularizer": None, "gamma_regularizer": None,
    "beta_constraint": None, "gamma_constraint": None, "data_format": "channels_last", "mean": None, "variance": None,
    # optimizers
    "use_ema": False, "ema_momentum": None, "ema_overwrite_frequency": None, "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
    # initializers (recent Keras 3: the fan axes of Glorot, He, LeCun and VarianceScaling)
    "input_axes": None, "output_axes": None,
}
_IGNORED = {"ema_momentum"}  # meaningful only with use_ema, which must be False


def _dtype_of(value, where, path):
    if isinstance(value, dict):
        value = value.get("config", {}).get("name")
    if value is None:
        return None
    if value not in ("float32", "float64"):
        raise keras_error(f"{where} uses the dtype policy {value!r}", path, "tweaknet computes in float32 or float64")
    return value


def _deserialized(value, kind, where, path):
    """A serialized Keras initializer/regularizer/schedule as tweaknet's ``{'class_name', 'config'}``."""
    if not isinstance(value, dict):
        return value
    cfg = _own_arguments(value.get("config") or {}, where, path)
    try:
        registry.lookup(kind, value["class_name"])
    except ValueError as exc:
        raise keras_error(f"{where}: Keras {kind} {value['class_name']} has no tweaknet counterpart", path,
                          str(exc)) from None
    return {"class_name": value["class_name"], "config": cfg}


def _own_arguments(cfg, where, path) -> dict:
    """``cfg`` without the Keras-only arguments, which must hold Keras's default."""
    out = {}
    for key, value in cfg.items():
        if key in KERAS_DEFAULTS:
            if value != KERAS_DEFAULTS[key] and key not in _IGNORED:
                raise keras_error(f"{where} sets {key}={value!r}, which tweaknet does not support", path,
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
        raise keras_error(f"the Keras {where} has no tweaknet counterpart", path,
                          f"tweaknet reads Sequential models of {', '.join(LAYERS)}")
    args = {"name": cfg.pop("name", None), "trainable": cfg.pop("trainable", True)}
    dtype = _dtype_of(cfg.pop("dtype", None), where, path)
    if dtype:
        args["dtype"] = dtype
    if kind == "Normalization":
        axis = cfg.pop("axis", -1)
        axis = list(axis) if isinstance(axis, (list, tuple)) else ([] if axis is None else [axis])
        if axis not in ([], [-1]):
            raise keras_error(f"{where} normalizes along axis {axis}", path, "tweaknet supports axis=-1 or axis=None")
        args["axis"] = -1 if axis else None
        if cfg.get("mean") is not None:  # statistics given in the config rather than adapted
            args["mean"], args["variance"] = cfg.pop("mean"), cfg.pop("variance")
    if kind == "Dense" and not isinstance(cfg.get("activation"), (str, type(None))):
        raise keras_error(f"{where} has the activation {cfg['activation']!r}", path,
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
        raise keras_error(f"the Keras {where} cannot be rebuilt in tweaknet", path, str(exc)) from None


def rebuild_model(config, path):
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        kind = config.get("class_name") if isinstance(config, dict) else type(config).__name__
        raise keras_error(f"the file holds a Keras {kind} model", path,
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
        raise keras_error("the model has no input shape", path,
                          "build the Keras model (give it a keras.Input) and save it again")
    model.build(tuple(shape))
    return model


def _tweaknet_optimizer(entry, path):
    if isinstance(entry, str):
        return registry.lookup("optimizer", entry)()
    kind = entry.get("class_name")
    if kind not in OPTIMIZERS:
        raise keras_error(f"the Keras optimizer {kind} has no tweaknet counterpart", path,
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
        raise keras_error(f"the loss {entry!r} is not one tweaknet can read", path, "compile with a single loss")
    cfg = dict(entry.get("config") or {})
    cfg.pop("name", None)
    for key, default in (("reduction", "sum_over_batch_size"), ("label_smoothing", 0.0), ("axis", -1),
                         ("ignore_class", None)):
        if key in cfg and cfg.pop(key) != default:
            raise keras_error(f"the loss {entry.get('class_name')} sets {key}", path,
                              f"tweaknet supports {key}={default!r} only")
    return registry.lookup("loss", entry.get("class_name"))(**cfg)


def compile_model(model, compile_config, path) -> None:
    c = compile_config
    if c.get("loss_weights") is not None or c.get("weighted_metrics"):
        raise keras_error("the model was compiled with loss_weights or weighted_metrics", path,
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
        raise keras_error("the compile settings cannot be rebuilt in tweaknet", path,
                          f"{exc}; load with compile=False and compile the model yourself") from None
