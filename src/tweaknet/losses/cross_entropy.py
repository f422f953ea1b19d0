"""Cross-entropy losses (the chapter's Equation 5-1) from probabilities or from logits.

From logits: log-sum-exp forms, exact for any magnitude.
From probabilities (``from_logits=False``, the default): the value is Keras's, with probabilities
clipped to ``[eps, 1 - eps]`` (eps = 1e-7) before the log, so the reported numbers match Keras.
The gradient at the logits of a fused sigmoid/softmax output is the exact ``(y_hat - y) / M``
(Equation 5-2).  Keras's torch backend instead differentiates through the clip, which gives a
zero gradient for a sample whose true-class probability is below 1e-7: a saturated output stops
learning there, but not here.  PyTorch's ``nn.CrossEntropyLoss`` always takes logits.
"""
from __future__ import annotations

import numpy as np

from .. import config
from ..activations import Sigmoid, Softmax
from ..activations.s_shaped import sigmoid_value
from ..activations.softmax import softmax_value
from ..ops import ONE, ZERO, expand_last, last_max_kept, last_mean, last_sum, last_sum_kept, where
from ..registry import register
from .base import Loss

LOG_FLOOR = np.float32(-100.0)  # Keras and torch.nn.BCELoss bound each log at -100


def bce_value(t, p, epsilon):
    """Per-sample binary cross-entropy of probabilities ``p``, clipped to [eps, 1 - eps], each log at least -100."""
    q = np.minimum(np.maximum(p, epsilon), ONE - epsilon)
    return -last_mean(t * np.maximum(np.log(q), LOG_FLOOR) + (ONE - t) * np.maximum(np.log1p(-q), LOG_FLOOR))


def bce_grad(t, p, epsilon, scale):
    """dL/dp of the reduced loss (zero where Keras's clip is active); ``scale`` = 1 / (M C)."""
    q = np.minimum(np.maximum(p, epsilon), ONE - epsilon)
    inside = (p >= epsilon) & (p <= ONE - epsilon)
    return where(inside, (q - t) / (q * (ONE - q)), ZERO) * scale


def bce_logits_value(t, z):
    return last_mean(np.maximum(z, ZERO) - z * t + np.log1p(np.exp(-np.abs(z))))


def bce_logits_grad(t, z, scale):
    return (sigmoid_value(z) - t) * scale


def bce_fused_grad(t, p, scale):
    """dL/dz at the logits of a sigmoid output: ``(y_hat - y) / (M C)``."""
    return (p - t) * scale


def cce_value(t, p, epsilon):
    """Per-sample categorical cross-entropy of probabilities (renormalized, clipped to [eps, 1 - eps])."""
    q = np.minimum(np.maximum(p / last_sum_kept(p), epsilon), ONE - epsilon)
    return -last_sum(t * np.log(q))


def cce_grad(t, p, epsilon, count):
    """dL/dp of the reduced loss through the renormalization and the clip (Keras's value); ``count`` = M."""
    s = last_sum_kept(p)
    q = p / s
    inside = (q >= epsilon) & (q <= ONE - epsilon)
    dq = where(inside, -t / np.minimum(np.maximum(q, epsilon), ONE - epsilon), ZERO)
    return (dq - last_sum_kept(dq * q)) / (s * count)


def cce_logits_value(t, z):
    s = z - last_max_kept(z)
    return -last_sum(t * (s - np.log(last_sum_kept(np.exp(s)))))


def cce_logits_grad(t, z, count):
    return (softmax_value(z) * last_sum_kept(t) - t) / count


def cce_fused_grad(t, p, count):
    """dL/dz at the logits of a softmax output: ``(y_hat sum_j y_j - y) / M``."""
    return (p * last_sum_kept(t) - t) / count


def one_hot(labels, n):
    """Integer class labels as one-hot rows of ``n`` classes."""
    return (np.arange(n) == expand_last(labels)) * ONE


@register("loss", "binary_crossentropy", "bce")
class BinaryCrossentropy(Loss):
    """``L = -mean_j [y_j ln y_hat_j + (1 - y_j) ln(1 - y_hat_j)]`` per sample, averaged over samples.

    From logits z: ``max(z, 0) - z y + ln(1 + e^-|z|)``.  Fused with a sigmoid output:
    ``dL/dz = (y_hat - y) / (M C)``.  Keras clips probabilities to [eps, 1 - eps] and, like
    ``torch.nn.BCELoss``, bounds each log at -100.

    Targets must lie in [0, 1] (hard labels or soft ones such as 0.1/0.9): ``fit`` and ``evaluate`` refuse
    others with a ValueError.  Keras accepts a target of 3.0 and trains on a loss without a minimum
    (its gradient never vanishes), which is a silent wrong number; PyTorch's ``BCELoss`` refuses too.
    """

    fuses_with = Sigmoid
    elementwise_grad = True

    def check_targets(self, y_true, output_shape):
        super().check_targets(y_true, output_shape)
        if y_true.size and (y_true.min() < 0 or y_true.max() > 1):
            bad = y_true[(y_true < 0) | (y_true > 1)]
            raise ValueError(
                f"binary_crossentropy needs targets in [0, 1] (the probability of the positive class), got "
                f"{bad.size} value(s) outside, from {y_true.min():g} to {y_true.max():g} (first: {bad.flat[0]:g}). "
                f"Rescale the labels to 0/1 (e.g. y = (y > 0)), or use another loss for other values.")

    def rules(self):
        if self.from_logits:
            return bce_logits_value, bce_logits_grad, None
        return bce_value, bce_grad, bce_fused_grad

    def value_args(self, dtype):
        return () if self.from_logits else (dtype.type(config.epsilon()),)

    def grad_args(self, dtype, count, classes):
        scale = dtype.type(1.0 / (count * classes))
        return (scale,) if self.from_logits else (dtype.type(config.epsilon()), scale)

    def fused_args(self, dtype, count, classes):
        return (dtype.type(1.0 / (count * classes)),)


class ClassCrossentropy(Loss):
    """The cross-entropy over the classes of the last axis, written once for its two label forms: targets
    are rows (one-hot or distributions) after :meth:`rows`, which ``SparseCategoricalCrossentropy``
    overrides to expand integer labels.

    ``L = -sum_j y_j ln y_hat_j`` per sample, averaged over samples.  From logits:
    ``-sum_j y_j log_softmax(z)_j``.  Fused with a softmax output:
    ``dL/dz = (y_hat sum_j y_j - y) / M``, which is ``(y_hat - y) / M`` for one-hot labels.
    """

    fuses_with = Softmax

    def rows(self, y_true, y_pred):
        """The targets as rows of the output's shape."""
        return y_true

    def rules(self):
        if self.from_logits:
            return cce_logits_value, cce_logits_grad, None
        return cce_value, cce_grad, cce_fused_grad

    def value_args(self, dtype):
        return () if self.from_logits else (dtype.type(config.epsilon()),)

    def grad_args(self, dtype, count, classes):
        return (dtype.type(count),) if self.from_logits else (dtype.type(config.epsilon()), dtype.type(count))

    def fused_args(self, dtype, count, classes):
        return (dtype.type(count),)

    def per_sample(self, y_true, y_pred):
        return super().per_sample(self.rows(y_true, y_pred), y_pred)

    def grad(self, y_true, y_pred):
        return super().grad(self.rows(y_true, y_pred), y_pred)

    def fused_backward(self, y_true, y_pred):
        return super().fused_backward(self.rows(y_true, y_pred), y_pred)


@register("loss", "categorical_crossentropy", "cce")
class CategoricalCrossentropy(ClassCrossentropy):
    """Categorical cross-entropy with one-hot labels (or distributions) of the output's shape; see
    :class:`ClassCrossentropy` for the formula and its fused gradient."""


@register("loss", "sparse_categorical_crossentropy", "scce")
class SparseCategoricalCrossentropy(ClassCrossentropy):
    """Categorical cross-entropy with integer labels of shape (N,) or (N, 1) instead of one-hot rows."""

    integer_targets = True

    def rows(self, y_true, y_pred):
        labels = np.asarray(y_true).reshape(y_pred.shape[:-1]).astype(np.intp)
        return one_hot(labels, y_pred.shape[-1]).astype(y_pred.dtype, copy=False)

    def check_targets(self, y_true, output_shape):
        ok = y_true.shape == (y_true.shape[0], *output_shape[1:-1]) or \
            y_true.shape == (y_true.shape[0], *output_shape[1:-1], 1)
        if not ok:
            raise ValueError(
                f"sparse_categorical_crossentropy needs integer class labels of shape (N,) for a model output "
                f"{('N', *output_shape[1:])}, got labels of shape {y_true.shape}. For one-hot labels use "
                f"loss='categorical_crossentropy'.")
        fractional = np.mod(y_true, 1) != 0
        if np.any(fractional):
            where = np.argwhere(fractional)[0]
            raise ValueError(
                f"sparse_categorical_crossentropy needs integer class labels, got {y_true[tuple(where)]:g} at index "
                f"{tuple(int(i) for i in where)}: labels are class numbers 0 to {output_shape[-1] - 1}, not "
                f"probabilities (for soft targets, use one-hot rows with loss='categorical_crossentropy').")
        if y_true.min() < 0 or y_true.max() >= output_shape[-1]:
            raise ValueError(
                f"sparse_categorical_crossentropy needs integer labels in [0, {output_shape[-1] - 1}], "
                f"got values from {y_true.min()} to {y_true.max()}.")


def _function(cls, doc):
    def fn(y_true, y_pred, from_logits=False):
        y_pred = np.asarray(y_pred)
        y_true = np.asarray(y_true) if cls.integer_targets else np.asarray(y_true, dtype=y_pred.dtype)
        return cls(from_logits=from_logits).per_sample(y_true, y_pred)

    fn.__doc__, fn.loss_class = doc, cls
    return fn


binary_crossentropy = _function(BinaryCrossentropy, "Per-sample binary cross-entropy (Keras's function form).")
categorical_crossentropy = _function(CategoricalCrossentropy, "Per-sample categorical cross-entropy.")
sparse_categorical_crossentropy = _function(SparseCategoricalCrossentropy, "Per-sample sparse categorical CE.")
