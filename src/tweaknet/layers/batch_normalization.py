"""Batch normalization (Ioffe & Szegedy 2015), before or after the activation (the chapter's Figure 5-3)."""
from __future__ import annotations

import numpy as np

from ..registry import register
from ..validation import check_int, check_number
from .base import Layer


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
        self._reduce = tuple(a for a in range(ndim) if a != self._axis)
        n = input_shape[self._axis - 1]
        gi, bi, mi, vi = self.initializers
        if self.scale:
            self.add_weight("gamma", (n,), gi)
        if self.center:
            self.add_weight("beta", (n,), bi)
        self.add_weight("moving_mean", (n,), mi, trainable=False)
        self.add_weight("moving_variance", (n,), vi, trainable=False)
        self._bshape = [1] * ndim
        self._bshape[self._axis] = n
        super().build(input_shape)

    def _b(self, v):
        return v.reshape(self._bshape)

    def forward(self, x, training=False):
        if training and self.trainable:
            mu = np.mean(x, axis=self._reduce, keepdims=True)
            xc = x - mu
            var = np.mean(xc * xc, axis=self._reduce, keepdims=True)
            k = self.momentum
            for name, stat in (("moving_mean", mu), ("moving_variance", var)):
                buf = self.buffers[name]
                buf[...] = buf * k + stat.reshape(-1) * (1.0 - k)
        else:
            mu, var = self._b(self.buffers["moving_mean"]), self._b(self.buffers["moving_variance"])
            xc = x - mu
        inv_std = 1.0 / np.sqrt(var + self.epsilon)
        x_hat = xc * inv_std
        self._x_hat, self._inv_std, self._training = x_hat, inv_std, bool(training and self.trainable)
        y = x_hat * self._b(self.params["gamma"]) if self.scale else x_hat.copy()
        if self.center:
            y += self._b(self.params["beta"])
        return y

    def backward(self, dy):
        x_hat, r = self._x_hat, self._reduce
        if self.scale:
            np.sum(dy * x_hat, axis=r, out=self.grads["gamma"])
        if self.center:
            np.sum(dy, axis=r, out=self.grads["beta"])
        if not self.needs_input_grad:
            return None
        d = dy * self._b(self.params["gamma"]) if self.scale else dy
        if not self._training:
            return d * self._inv_std
        return (d - np.mean(d, axis=r, keepdims=True)
                - x_hat * np.mean(d * x_hat, axis=r, keepdims=True)) * self._inv_std

    def get_config(self):
        return super().get_config() | {"axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                                       "center": self.center, "scale": self.scale}
