"""The training step and the epoch of ``fit`` on the readable reference path.

One step: forward through the layers, the loss and its gradient (fused at the logits when the
output activation is the loss's partner), backward in reverse, one optimizer update on the flat
buffers.  :class:`ReferenceEpoch` keeps running sums for the loss and metrics (Keras's sample-weighted
running means) and calls per-batch hooks only for callbacks that want them.  It has the interface of
the compiled path's runner (``tweaknet.fast.epoch_runner``): ``fit`` picks one of the two once and
hands it every epoch.
"""
from __future__ import annotations

import numpy as np

from .data import batches, take


def forward(model, x, training):
    for layer in model.layers:
        x = layer.forward(x, training)
    return x


def penalty(model) -> float:
    """The sum of the layers' weight penalties (``kernel_regularizer`` ...), as Keras adds it to the loss."""
    return sum((reg(layer.params[name]) for layer in model.layers for name, reg in layer.regularizers.items()), 0.0)


def add_penalty_gradients(model) -> None:
    """Add the gradients of the weight penalties to the layers' gradients."""
    for layer in model.layers:
        for name, reg in layer.regularizers.items():
            layer.grads[name] += reg.gradient(layer.params[name])


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
    add_penalty_gradients(model)
    model.optimizer.apply(model.flat.grads, model.flat.params)
    return value, out


class ReferenceEpoch:
    """Trains one epoch with :func:`train_step` per batch: the reference path of ``fit``."""

    def __init__(self, model, batch_size):
        self.model, self.batch_size = model, batch_size

    def run(self, x, y, order, callbacks) -> dict:
        """Train one epoch on the samples in ``order``; return its logs (running means over all samples).

        Progress (``callbacks.on_progress``) follows the rule of ``callbacks.progress_every``: after every
        that many steps within the epoch, and at each optimizer step that is a multiple of
        ``callbacks.progress_steps``; never after the epoch's last step unless it is such a multiple.
        """
        model, n = self.model, len(x)
        metrics = model.compiled_metrics
        loss_sum, seen = 0.0, 0
        correct = [0.0] * len(metrics)
        batch_hooks = bool(callbacks.batch_callbacks)
        every, multiple = callbacks.progress_every(self.batch_size), callbacks.progress_steps
        last = -(-n // self.batch_size) - 1
        dtype = model.flat.params.dtype
        for i, idx in enumerate(batches(n, self.batch_size, order)):
            xb, yb = take(x, idx, dtype), y[idx]
            if batch_hooks:
                callbacks.on_train_batch_begin(i)
            value, out = train_step(model, xb, yb)
            bs = len(xb)
            loss_sum += value * bs
            seen += bs
            for j, m in enumerate(metrics):
                correct[j] += m.correct(yb, out)
            report = every is not None and (((i + 1) % every == 0 and i < last)
                                            or (multiple and model.optimizer.iterations % multiple == 0))
            if batch_hooks or report:
                logs = {"loss": loss_sum / seen, **{m.name: c / seen for m, c in zip(metrics, correct)}}
                if batch_hooks:
                    callbacks.on_train_batch_end(i, dict(logs, seen=seen))
                if report:
                    callbacks.on_progress(seen, logs)
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
