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
from ..registry import register
from .base import Loss, count


def _log_softmax(z):
    s = z - np.max(z, axis=-1, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=-1, keepdims=True))


def _softmax(z):
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


@register("loss", "binary_crossentropy", "bce")
class BinaryCrossentropy(Loss):
    """``L = -mean_j [y_j ln y_hat_j + (1 - y_j) ln(1 - y_hat_j)]`` per sample, averaged over samples.

    From logits z: ``max(z, 0) - z y + ln(1 + e^-|z|)``.  Fused with a sigmoid output:
    ``dL/dz = (y_hat - y) / (M C)``.  Keras clips probabilities to [eps, 1 - eps] and, like
    ``torch.nn.BCELoss``, bounds each log at -100.
    """

    fuses_with = Sigmoid

    def per_sample(self, y_true, y_pred):
        if self.from_logits:
            z = y_pred
            return np.mean(np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z))), axis=-1)
        eps = config.epsilon()
        p = np.clip(y_pred, eps, 1.0 - eps)
        return -np.mean(y_true * np.maximum(np.log(p), -100.0) + (1.0 - y_true) * np.maximum(np.log1p(-p), -100.0),
                        axis=-1)

    def _scale(self, y_pred):
        return 1.0 / (count(y_pred.shape[:-1]) * y_pred.shape[-1])

    def grad(self, y_true, y_pred):
        if self.from_logits:
            from ..activations.s_shaped import stable_sigmoid
            return (stable_sigmoid(y_pred) - y_true) * self._scale(y_pred)
        eps = config.epsilon()
        p = np.clip(y_pred, eps, 1.0 - eps)
        inside = (y_pred >= eps) & (y_pred <= 1.0 - eps)
        return np.where(inside, (p - y_true) / (p * (1.0 - p)), 0.0) * self._scale(y_pred)

    def fused_backward(self, y_true, y_pred):
        return (y_pred - y_true) * self._scale(y_pred)


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

    def per_sample(self, y_true, y_pred):
        y_true = self.rows(y_true, y_pred)
        if self.from_logits:
            return -np.sum(y_true * _log_softmax(y_pred), axis=-1)
        eps = config.epsilon()
        p = np.clip(y_pred / np.sum(y_pred, axis=-1, keepdims=True), eps, 1.0 - eps)
        return -np.sum(y_true * np.log(p), axis=-1)

    def grad(self, y_true, y_pred):
        y_true = self.rows(y_true, y_pred)
        M = count(y_pred.shape[:-1])
        if self.from_logits:
            return (_softmax(y_pred) * np.sum(y_true, axis=-1, keepdims=True) - y_true) / M
        # Keras's value: q = clip(p / sum(p)); L = -sum y ln q.  Chain rule through both steps.
        eps = config.epsilon()
        s = np.sum(y_pred, axis=-1, keepdims=True)
        q = y_pred / s
        dq = np.where((q >= eps) & (q <= 1.0 - eps), -y_true / np.clip(q, eps, 1.0 - eps), 0.0)
        return (dq - np.sum(dq * q, axis=-1, keepdims=True)) / (s * M)

    def fused_backward(self, y_true, y_pred):
        y_true = self.rows(y_true, y_pred)
        return (y_pred * np.sum(y_true, axis=-1, keepdims=True) - y_true) / count(y_pred.shape[:-1])


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
        onehot = np.zeros(y_pred.shape, dtype=y_pred.dtype)
        np.put_along_axis(onehot, labels[..., None], 1.0, axis=-1)
        return onehot

    def check_targets(self, y_true, output_shape):
        ok = y_true.shape == (y_true.shape[0], *output_shape[1:-1]) or \
            y_true.shape == (y_true.shape[0], *output_shape[1:-1], 1)
        if not ok:
            raise ValueError(
                f"sparse_categorical_crossentropy needs integer class labels of shape (N,) for a model output "
                f"{('N', *output_shape[1:])}, got labels of shape {y_true.shape}. For one-hot labels use "
                f"loss='categorical_crossentropy'.")
        if not np.all(np.mod(y_true, 1) == 0) or y_true.min() < 0 or y_true.max() >= output_shape[-1]:
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
