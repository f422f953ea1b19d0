"""Per-layer measurements on a fixed probe batch: the evidence behind every finding.

For each layer that applies an activation (``Dense`` or an activation layer), on the probe batch in
inference mode (so batch normalization's moving statistics are untouched):

- pre-activation mean and standard deviation;
- ``saturated``: the fraction of (sample, unit) pairs where an S-shaped activation's derivative is
  below ``SATURATION_LEVEL`` (5%) of its maximum, and ``saturated_units``: the fraction of units
  saturated on at least 95% of the probe samples (the chapter's saturated neurons);
- ``dead``: the fraction of ReLU units never active over the probe batch (the chapter's dead units);
- ``grad_norm``: the L2 norm of the layer's kernel gradient for the probe batch; ``grad_ratio``: that
  norm divided by the output layer's (the chapter's gradient flow: << 1 vanishing, >> 1 exploding);
  ``grad_finite``: whether every gradient of the layer (kernel, bias, ...) is finite;
- ``weight_norm``: the norm of the kernel;
- ``update_ratio``: the actual change of the kernel since the previous record divided by the optimizer
  steps taken in between and by the kernel's norm at the previous record,
  ``||W_t - W_prev|| / (steps ||W_prev||)`` (None for the first record, or when no step was taken);
  ``change_ratio``: the same change without the division by the steps, ``||W_t - W_prev|| / ||W_prev||``.
  It is measured, not predicted: momentum, Adam's normalization, clipping and weight decay are all in it.
  Over many steps noisy updates partly cancel, so it is a lower bound of the mean step;
- ``step_ratio``: the optimizer's actual next step on the probe batch relative to the kernel,
  ``||dW|| / ||W||``, computed by applying a copy of the optimizer (its slots, step counter and
  schedule included) to a copy of the weights: exact for every optimizer, and the model's
  optimizer and weights are untouched.

Record-level: ``loss``; ``accuracy`` (the fraction of the probe batch classified right, when
``measure`` is given an accuracy metric, else None); ``finite`` (loss, pre-activations and weights
finite); ``grad_finite`` (every gradient of the probe batch finite); ``steps`` (optimizer steps since
the previous record, None for the first).

Computing the gradient runs the layers' backward pass, which writes the model's gradient buffer
and nothing else: the weights, the optimizer and the training results are unchanged.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from .. import activations as A
from ..training.data import take
from ..training.loop import backward

SATURATION_LEVEL = 0.05     # S'(z) below 5% of its maximum: the unit passes almost no gradient
SATURATED_UNIT_SHARE = 0.95  # a unit saturated on >= 95% of the probe samples counts as a saturated unit


def _activation_input(layer):
    """(pre-activation z, activation) of a layer that applied one in the last forward pass, else None."""
    act, z = layer.output_activation, layer.preactivation
    return None if act is None or z is None else (z, act)


def _kernel_offsets(model) -> dict:
    """{layer name: (start, stop)} of each kernel in the model's flat parameter buffer."""
    return {name[:-len("/kernel")]: seg for name, seg in zip(model.flat.names, model.flat.segments)
            if name.endswith("/kernel")}


def snapshot(model) -> dict:
    """What ``measure`` needs to compute the actual updates at the next record: the step counter and a
    copy of every kernel."""
    return {"iterations": int(model.optimizer.iterations),
            "kernels": {layer.name: layer.params["kernel"].copy()
                        for layer in model.layers if "kernel" in layer.params}}


def next_step(model):
    """The flat parameter change the optimizer's next step would make for the gradient now in the model's
    gradient buffer (None when the optimizer is not built).  Works on copies: nothing of the model changes."""
    if not getattr(model.optimizer, "built", False):
        return None
    optimizer = copy.deepcopy(model.optimizer)
    w = model.flat.params.copy()
    optimizer.apply(model.flat.grads.copy(), w)
    w -= model.flat.params
    return w


def measure(model, x, y, since=None, accuracy=None) -> dict:
    """Loss and per-layer statistics of ``model`` on the batch ``(x, y)``; see the module docstring.
    ``since``: the ``snapshot(model)`` taken at the previous record (for ``update_ratio``), or None;
    ``accuracy``: a metric (``tweaknet.metrics``) for the record's ``accuracy``, or None."""
    with np.errstate(all="ignore"):  # a diverging network is measured, not warned about
        return _measure(model, x, y, since, accuracy)


def _measure(model, x, y, since, accuracy):
    steps = None if since is None else int(model.optimizer.iterations) - since["iterations"]
    x = take(x, slice(None), model.flat.params.dtype)
    out = x
    for layer in model.layers:
        out = layer.forward(out, False)
    loss = float(np.mean(model.loss.per_sample(y, out)))
    correct = None if accuracy is None else accuracy.correct(y, out) / len(out)
    backward(model, y, out)
    step = next_step(model)
    offsets = _kernel_offsets(model) if step is not None else {}
    layers = []
    for layer in model.layers:
        found = _activation_input(layer)
        if found is None:
            continue
        z, act = found
        stats = {"name": layer.name, "activation": act.name, "s_shaped": act.max_derivative is not None,
                 "units": int(z.shape[-1]),
                 "z_mean": float(np.mean(z)), "z_std": float(np.std(z)), "saturated": 0.0, "saturated_units": 0.0,
                 "dead": 0.0, "grad_norm": None, "grad_ratio": None, "weight_norm": None, "step_ratio": None,
                 "update_ratio": None, "change_ratio": None}
        if act.max_derivative is not None:
            low = act.derivative(z) < SATURATION_LEVEL * act.max_derivative
            stats["saturated"] = float(np.mean(low))
            stats["saturated_units"] = float(np.mean(np.mean(low, axis=0) >= SATURATED_UNIT_SHARE))
        if isinstance(act, A.ReLU) and act.negative_slope == 0.0:
            stats["dead"] = float(np.mean(np.all(z <= act.threshold, axis=0)))
        if "kernel" in layer.params:
            g, w = layer.grads["kernel"], layer.params["kernel"]
            stats["grad_norm"] = float(np.linalg.norm(g))
            stats["weight_norm"] = float(np.linalg.norm(w))
            if layer.name in offsets:
                a, b = offsets[layer.name]
                stats["step_ratio"] = float(np.linalg.norm(step[a:b])) / max(stats["weight_norm"], 1e-12)
            previous = (since or {}).get("kernels", {}).get(layer.name)
            if previous is not None and steps:
                change = float(np.linalg.norm(w - previous)) / max(float(np.linalg.norm(previous)), 1e-12)
                stats["change_ratio"], stats["update_ratio"] = change, change / steps
        stats["grad_finite"] = all(bool(np.all(np.isfinite(g))) for g in layer.grads.values())
        stats["finite"] = bool(np.all(np.isfinite(z)) and all(np.all(np.isfinite(p)) for p in layer.params.values()))
        layers.append(stats)
    output_norm = next((s["grad_norm"] for s in reversed(layers) if s["grad_norm"] is not None), None)
    for s in layers:
        if s["grad_norm"] is not None and output_norm is not None:
            # 0/0 (no gradient anywhere, e.g. every unit dead) is no ratio; g/0 is an infinitely larger gradient
            s["grad_ratio"] = (s["grad_norm"] / output_norm if output_norm > 0 or not math.isfinite(output_norm)
                               else None if s["grad_norm"] == 0 else math.inf)
    return {"loss": loss, "accuracy": correct, "finite": bool(np.isfinite(loss)) and all(s["finite"] for s in layers),
            "grad_finite": bool(np.all(np.isfinite(model.flat.grads))), "steps": steps, "layers": layers}
