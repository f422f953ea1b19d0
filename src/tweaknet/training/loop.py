"""The training step and the epoch loop of ``fit`` (the readable reference path).

One step: forward through the layers, the loss and its gradient (fused at the logits when the
output activation is the loss's partner), backward in reverse, one optimizer update on the flat
buffers.  The epoch loop keeps running sums for the loss and metrics (Keras's sample-weighted
running means) and calls per-batch hooks only for callbacks that want them.
"""
from __future__ import annotations

import numpy as np

from .. import seeding
from .data import batches, take


def forward(model, x, training):
    for layer in model.layers:
        x = layer.forward(x, training)
    return x


def penalty(model, add_gradients=False) -> float:
    """The sum of the layers' weight penalties (``kernel_regularizer`` ...); optionally add their gradients."""
    total = 0.0
    for layer in model.layers:
        for name, reg in layer.regularizers.items():
            w = layer.params[name]
            total += reg(w)
            if add_gradients:
                layer.grads[name] += reg.gradient(w)
    return total


def backward(model, y, out) -> None:
    """The loss's gradient for targets ``y`` and the output ``out`` of the last forward pass, back through
    the layers in reverse (fused at the logits when the output activation is the loss's partner): the
    layers' ``grads`` (the model's gradient buffer) hold the gradient afterwards."""
    last = model.layers[-1]
    if model.fused_output:
        d = last.backward_from_preactivation(model.loss.fused_backward(y, out))
    else:
        d = last.backward(model.loss.grad(y, out))
    for layer in reversed(model.layers[:-1]):
        d = layer.backward(d)


def train_step(model, xb, yb):
    """One optimizer step on a batch; returns (mean loss, model output before the update).

    The loss includes the weight penalties, as Keras reports it."""
    out = forward(model, xb, True)
    value = float(np.mean(model.loss.per_sample(yb, out))) + penalty(model)
    backward(model, yb, out)
    penalty(model, add_gradients=True)
    model.optimizer.apply(model.flat.grads, model.flat.params)
    return value, out


def run_epoch(model, x, y, batch_size, shuffle, callbacks, compiled=None) -> dict:
    """Train one epoch; return the epoch's logs (running means over all samples).

    ``compiled`` is a runner from ``tweaknet.fast`` that trains the same epoch in compiled code on the
    same shuffled order (same random draws), or None for the reference path below.
    """
    n = len(x)
    order = seeding.generator().permutation(n) if shuffle else None
    progress = callbacks.on_progress if callbacks.progress_callbacks else None
    every = callbacks.progress_steps
    if compiled is not None:
        return compiled.run(x, y, np.arange(n) if order is None else order, progress, progress_steps=every)
    metrics = model.compiled_metrics
    loss_sum, seen = 0.0, 0
    correct = [0.0] * len(metrics)
    batch_hooks = bool(callbacks.batch_callbacks)
    dtype = model.flat.params.dtype
    for i, idx in enumerate(batches(n, batch_size, order)):
        xb, yb = take(x, idx, dtype), y[idx]
        if batch_hooks:
            callbacks.on_train_batch_begin(i)
        value, out = train_step(model, xb, yb)
        bs = len(xb)
        loss_sum += value * bs
        seen += bs
        for j, m in enumerate(metrics):
            correct[j] += m.correct(yb, out)
        report = progress is not None and (i % 64 == 63 or (every and model.optimizer.iterations % every == 0))
        if batch_hooks or report:
            logs = {"loss": loss_sum / seen, **{m.name: c / seen for m, c in zip(metrics, correct)}}
            if batch_hooks:
                callbacks.on_train_batch_end(i, dict(logs, seen=seen))
            if report:
                progress(seen, logs)
        if model.stop_training:
            break
    return {"loss": loss_sum / max(seen, 1), **{m.name: c / max(seen, 1) for m, c in zip(metrics, correct)}}


def evaluate_arrays(model, x, y, batch_size) -> dict:
    """Loss and metrics over all of ``x`` in inference mode (means over samples)."""
    metrics = model.compiled_metrics
    loss_sum, correct = 0.0, [0.0] * len(metrics)
    for idx in batches(len(x), batch_size):
        xb, yb = take(x, idx, model.flat.params.dtype), y[idx]
        out = forward(model, xb, False)
        loss_sum += float(np.sum(model.loss.per_sample(yb, out))) / int(np.prod(out.shape[1:-1], dtype=int))
        for j, m in enumerate(metrics):
            correct[j] += m.correct(yb, out)
    n = len(x)
    return {"loss": loss_sum / n + penalty(model), **{m.name: c / n for m, c in zip(metrics, correct)}}
