"""Batch normalization (Ioffe & Szegedy 2015), before or after the activation (the chapter's Figure 5-3)."""
from __future__ import annotations

import numpy as np

from ..ops import ONE, first_mean, first_sum
from ..registry import register
from ..validation import check_int, check_number
from .base import Layer


def batch_statistics(x):
    """Mean and biased variance of each feature over the batch (``x``: (m, features)), two-pass."""
    mean = first_mean(x)
    xc = x - mean
    return mean, first_mean(xc * xc)


def batch_norm_value(x, mean, var, gamma, beta, epsilon):
    """``(y, x_hat, inv_std)`` for statistics ``mean``/``var`` (the batch's in training, the moving ones at inference)."""
    inv_std = ONE / np.sqrt(var + epsilon)
    x_hat = (x - mean) * inv_std
    return x_hat * gamma + beta, x_hat, inv_std


def batch_norm_grad(dy, x_hat, inv_std, gamma, training):
    """The gradient at the input; in training it goes through the batch statistics too."""
    d = dy * gamma
    if training:
        return (d - first_mean(d) - x_hat * first_mean(d * x_hat)) * inv_std
    return d * inv_std


def batch_norm_param_grads(dy, x_hat):
    """``(dgamma, dbeta)``."""
    return first_sum(dy * x_hat), first_sum(dy)


def moving_average(buffer, statistic, momentum, one_minus_momentum):
    return buffer * momentum + statistic * one_minus_momentum


@register("layer", "batch_normalization")
class BatchNormalization(Layer):
    """Normalize each feature with batch statistics in training, moving statistics at inference.

    Training (mean and biased variance over every axis but ``axis``)::

        mu = mean(x);  var = mean((x - mu)^2);  x_hat = (x - mu) / sqrt(var + epsilon)
        y = gamma * x_hat + beta
        moving_mean = momentum * moving_mean + (1 - momentum) * mu
        moving_variance = momentum * moving_variance + (1 - momentum) * var

    Inference: ``y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta``.

    Backward (training), with ``d = dy * gamma`` and m the number of reduced entries::

        dx = (d - mean(d) - x_hat * mean(d * x_hat)) / sqrt(var + epsilon)
        dgamma = sum(dy * x_hat);  dbeta = sum(dy)

    Defaults as Keras: ``axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True``.
    Weights in Keras order: gamma, beta (trainable), moving_mean, moving_variance (buffers).

    Keras vs PyTorch: PyTorch's ``momentum=0.1`` is the weight of the *new* batch statistic (Keras's
    0.99 is the weight *kept*), its epsilon is 1e-5, and its running variance uses the unbiased
    (n - 1) estimate.  Keras's torch backend computes the variance as E[x^2] - E[x]^2; we use the
    two-pass form, equal up to round-off and never negative.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        self.axis = check_int("axis", axis)
        self.momentum = check_number("momentum", momentum, low=0, high=1)
        self.epsilon = check_number("epsilon", epsilon, low=0, low_open=True)
        self.center, self.scale = bool(center), bool(scale)
        self.initializers = (gamma_initializer, beta_initializer, moving_mean_initializer,
                             moving_variance_initializer)

    def build(self, input_shape):
        ndim = len(input_shape) + 1
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(f"BatchNormalization axis={self.axis} is invalid for inputs of shape "
                             f"(N, {', '.join(map(str, input_shape))}).")
        self._axis = self.axis % ndim
        n = input_shape[self._axis - 1]
        gi, bi, mi, vi = self.initializers
        if self.scale:
            self.add_weight("gamma", (n,), gi)
        if self.center:
            self.add_weight("beta", (n,), bi)
        self.add_weight("moving_mean", (n,), mi, trainable=False)
        self.add_weight("moving_variance", (n,), vi, trainable=False)
        super().build(input_shape)

    def _rows(self, x):
        """``x`` as (samples, features) rows: the feature axis last, every other axis flattened."""
        return np.moveaxis(x, self._axis, -1).reshape(-1, x.shape[self._axis])

    def _unrows(self, rows, shape):
        moved = [s for i, s in enumerate(shape) if i != self._axis] + [shape[self._axis]]
        return np.moveaxis(rows.reshape(moved), -1, self._axis)

    def rule_args(self, dtype) -> tuple:
        """``(gamma, beta, epsilon)`` for the rules (ones and zeros when ``scale``/``center`` are off)."""
        n = self.buffers["moving_mean"].shape[0]
        gamma = self.params["gamma"] if self.scale else np.ones(n, dtype)
        beta = self.params["beta"] if self.center else np.zeros(n, dtype)
        return gamma, beta, dtype.type(self.epsilon)

    def forward(self, x, training=False):
        rows = self._rows(x)
        gamma, beta, epsilon = self.rule_args(rows.dtype)
        self._training = bool(training and self.trainable)
        if self._training:
            mean, var = batch_statistics(rows)
            k = rows.dtype.type(self.momentum)
            for name, stat in (("moving_mean", mean), ("moving_variance", var)):
                buf = self.buffers[name]
                buf[...] = moving_average(buf, stat, k, rows.dtype.type(1.0 - self.momentum))
        else:
            mean, var = self.buffers["moving_mean"], self.buffers["moving_variance"]
        y, self._x_hat, self._inv_std = batch_norm_value(rows, mean, var, gamma, beta, epsilon)
        return self._unrows(y, x.shape)

    def backward(self, dy):
        rows = self._rows(dy)
        dgamma, dbeta = batch_norm_param_grads(rows, self._x_hat)
        if self.scale:
            self.grads["gamma"][...] = dgamma
        if self.center:
            self.grads["beta"][...] = dbeta
        if not self.needs_input_grad:
            return None
        gamma = self.rule_args(rows.dtype)[0]
        return self._unrows(batch_norm_grad(rows, self._x_hat, self._inv_std, gamma, self._training), dy.shape)

    def get_config(self):
        return super().get_config() | {"axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                                       "center": self.center, "scale": self.scale}
