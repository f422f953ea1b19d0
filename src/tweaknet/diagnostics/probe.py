"""Per-layer measurements on a fixed probe batch: the evidence behind every finding.

For each layer that applies an activation (``Dense`` or an activation layer), on the probe batch in
inference mode (so batch normalization's moving statistics are untouched):

- pre-activation mean and standard deviation;
- ``saturated``: the fraction of (sample, unit) pairs where an S-shaped activation's derivative is
  below ``SATURATION_LEVEL`` (5%) of its maximum, and ``saturated_units``: the fraction of units
  saturated on at least 95% of the probe samples (the chapter's saturated neurons);
- ``dead``: the fraction of ReLU units never active over the probe batch (the chapter's dead units);
- the L2 norm of the layer's kernel gradient for the probe batch, and of its kernel;
- ``step_ratio``: the size of one optimizer step relative to the kernel, ``lr ||g|| / ||w||`` for SGD,
  ``lr sqrt(n) / ||w||`` for the adaptive methods (their first steps have magnitude ~lr per weight).

Computing the gradient runs the layers' backward pass, which writes the model's gradient buffer
and nothing else: the weights, the optimizer and the training results are unchanged.
"""
from __future__ import annotations

import math

import numpy as np

from .. import activations as A
from .. import optimizers as O
from ..training.data import take
from ..training.loop import forward

SATURATION_LEVEL = 0.05     # S'(z) below 5% of its maximum: the unit passes almost no gradient
SATURATED_UNIT_SHARE = 0.95  # a unit saturated on >= 95% of the probe samples counts as a saturated unit


def _activation_input(layer, x_in):
    """(pre-activation z, activation) of a layer that applies one, else None."""
    act = getattr(layer, "output_activation", None)
    if act is None:
        return None
    z = getattr(layer, "_z", None) if hasattr(layer, "units") else x_in
    return z, act


def step_size(optimizer, grad_norm, n):
    """The norm of one optimizer step for a layer with gradient norm ``grad_norm`` and ``n`` weights."""
    lr = optimizer.learning_rate
    if type(optimizer) is O.SGD:
        return lr * grad_norm / (1.0 - optimizer.momentum)
    return lr * math.sqrt(n)


def measure(model, x, y) -> dict:
    """Loss and per-layer statistics of ``model`` on the batch ``(x, y)``; see the module docstring."""
    with np.errstate(all="ignore"):  # a diverging network is measured, not warned about
        return _measure(model, x, y)


def _measure(model, x, y):
    x = take(x, slice(None), model.store.params.dtype)
    inputs, h = [], x
    for layer in model.layers:
        inputs.append(h)
        h = layer.forward(h, False)
    out = h
    loss = float(np.mean(model.loss.per_sample(y, out)))
    last = model.layers[-1]
    if model.fused_output:
        d = last.backward_from_preactivation(model.loss.fused_backward(y, out))
    else:
        d = last.backward(model.loss.grad(y, out))
    for layer in reversed(model.layers[:-1]):
        d = layer.backward(d)
    layers = []
    for layer, x_in in zip(model.layers, inputs):
        found = _activation_input(layer, x_in)
        if found is None:
            continue
        z, act = found
        stats = {"name": layer.name, "activation": act.name, "units": int(z.shape[-1]),
                 "z_mean": float(np.mean(z)), "z_std": float(np.std(z)), "saturated": 0.0, "saturated_units": 0.0,
                 "dead": 0.0, "grad_norm": None, "weight_norm": None, "step_ratio": None}
        if act.max_derivative is not None:
            low = act.derivative(z) < SATURATION_LEVEL * act.max_derivative
            stats["saturated"] = float(np.mean(low))
            stats["saturated_units"] = float(np.mean(np.mean(low, axis=0) >= SATURATED_UNIT_SHARE))
        if isinstance(act, A.Relu) and act.negative_slope == 0.0:
            stats["dead"] = float(np.mean(np.all(z <= act.threshold, axis=0)))
        if "kernel" in layer.params:
            g, w = layer.grads["kernel"], layer.params["kernel"]
            stats["grad_norm"] = float(np.linalg.norm(g))
            stats["weight_norm"] = float(np.linalg.norm(w))
            stats["step_ratio"] = step_size(model.optimizer, stats["grad_norm"], w.size) / max(
                stats["weight_norm"], 1e-12)
        stats["finite"] = bool(np.all(np.isfinite(z)) and all(np.all(np.isfinite(p)) for p in layer.params.values()))
        layers.append(stats)
    return {"loss": loss, "finite": bool(np.isfinite(loss)) and all(s["finite"] for s in layers), "layers": layers}
