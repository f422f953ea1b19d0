"""tweaknet's model as Keras 3's ``config.json`` (``keras_config``), and what both directions share: the
layers and optimizers both libraries have, and Keras's serialized-object form.

Keras serializes every object as ``{"module", "class_name", "config", "registered_name"}``; a layer adds
its ``build_config`` (``{"input_shape": [None, ...]}``), the model its ``build_config`` and
``compile_config``.  tweaknet writes what Keras 3.15 writes, leaving out the arguments Keras fills with
their defaults (which keeps the files readable by earlier Keras 3 releases too).
"""
from __future__ import annotations

from .. import activations, initializers

LAYERS = ("Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "BatchNormalization", "Dropout",
          "GaussianNoise", "Flatten", "Normalization")
OPTIMIZERS = ("SGD", "Adam", "AdamW", "Nadam", "RMSprop", "Adagrad")


def keras_error(what, path, todo):
    return ValueError(f"tweaknet: error: {what} ({path}): {todo}")


def keras_object(module, class_name, config):
    return {"module": module, "class_name": class_name, "config": config, "registered_name": None}


def _policy(dtype):
    return keras_object("keras", "DTypePolicy", {"name": str(dtype)})


def _initializer(init):
    obj = initializers.get(init)
    return keras_object("keras.initializers", type(obj).__name__, obj.get_config())


def _layer_config(layer, path) -> dict:
    kind = type(layer).__name__
    if kind not in LAYERS:
        hint = "Keras has no Maxout layer" if kind == "Maxout" else f"Keras has no {kind} layer tweaknet can write"
        raise keras_error(f"layer {layer.name!r} is a {kind}, which cannot be saved as a .keras file", path,
                          f"{hint}; save with another name (tweaknet's own format) or use the layers "
                          f"{', '.join(LAYERS)}")
    cfg = {"name": layer.name, "trainable": layer.trainable, "dtype": _policy(layer.dtype)}
    if kind == "Dense":
        act = activations.serialize(layer.activation)
        if not isinstance(act, str):
            raise keras_error(f"layer {layer.name!r} has the activation {layer.activation!r} with non-default "
                              f"arguments, which Keras cannot hold inside Dense", path,
                              "put the activation in its own layer (e.g. LeakyReLU(0.1) after Dense)")
        cfg |= {"units": layer.units, "activation": act, "use_bias": layer.use_bias,
                "kernel_initializer": _initializer(layer.kernel_initializer),
                "bias_initializer": _initializer(layer.bias_initializer),
                "kernel_regularizer": None, "bias_regularizer": None}
        for name, reg in layer.regularizers.items():
            cfg[f"{name}_regularizer"] = keras_object("keras.regularizers", type(reg).__name__, reg.get_config())
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
    entry = keras_object("keras.layers", kind, cfg)
    entry["build_config"] = {"input_shape": [None, *layer.input_shape]}
    return entry


def _optimizer_config(opt, path) -> dict:
    kind = type(opt).__name__
    if kind not in OPTIMIZERS:
        raise keras_error(f"optimizer {kind} has no Keras counterpart tweaknet can write", path,
                          f"use one of {', '.join(OPTIMIZERS)}, or save with another name (tweaknet's own format)")
    cfg = opt.get_config()
    lr = opt.schedule
    if lr is not None:
        cfg["learning_rate"] = keras_object("keras.optimizers.schedules", type(lr).__name__,
                                             lr.get_config() | {"name": type(lr).__name__})
    return keras_object("keras.optimizers", kind, cfg)


def _loss_config(loss):
    name = type(loss)._registry_name
    if not loss.from_logits:
        return name
    return keras_object("keras.losses", type(loss).__name__, {"from_logits": True})


def keras_config(model, path) -> dict:
    """``model`` as Keras 3's ``config.json``."""
    dtype = model.layers[0].dtype
    batch_shape = [None, *model.input_shape[1:]]
    input_layer = keras_object("keras.layers", "InputLayer", {
        "batch_shape": batch_shape, "dtype": str(dtype), "sparse": False, "name": "input_layer"})
    config = keras_object("keras", "Sequential", {
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
