"""Metrics (``tweaknet.metrics``, as ``keras.metrics``): accuracy, resolved from ``'accuracy'`` by shapes as Keras 3 does.

- model output with one unit: binary accuracy (``y_hat > 0.5`` equals the label);
- labels of lower rank than the output, or a single label column for a wider output: sparse categorical;
- otherwise: categorical accuracy (``argmax y_hat == argmax y``, first index on ties).

Each metric returns the number of correct predictions in a batch; the training loop keeps running
sums, so the epoch value is the mean over samples (Keras's running mean).
"""
from __future__ import annotations

import numpy as np

from .registry import get, lookup, register


class Metric:
    name: str

    def __init__(self, name=None):
        self.name = name or self._registry_name

    def correct(self, y_true, y_pred) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


@register("metric", "categorical_accuracy")
class CategoricalAccuracy(Metric):
    """Fraction of samples whose largest output is the labelled class (one-hot labels)."""

    def correct(self, y_true, y_pred):
        return float(np.count_nonzero(np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)))


@register("metric", "sparse_categorical_accuracy")
class SparseCategoricalAccuracy(Metric):
    """Fraction of samples whose largest output is the integer label."""

    def correct(self, y_true, y_pred):
        labels = np.asarray(y_true).reshape(y_pred.shape[:-1])
        return float(np.count_nonzero(labels == np.argmax(y_pred, axis=-1)))


@register("metric", "binary_accuracy")
class BinaryAccuracy(Metric):
    """Fraction of outputs where ``y_hat > threshold`` (as 0 or 1) equals the label; averaged over outputs too.

    As in Keras 3, the label is compared as given, not thresholded: with soft targets such as the
    book's 0.1/0.9 (LeCun's recommendation for sigmoid outputs), no prediction counts as correct.
    """

    def __init__(self, name=None, threshold=0.5):
        super().__init__(name)
        self.threshold = threshold

    def correct(self, y_true, y_pred):
        hits = (y_pred > self.threshold) == np.asarray(y_true).reshape(y_pred.shape)
        return float(np.count_nonzero(hits)) / y_pred.shape[-1]


_SHAPE_RESOLVED = ("accuracy", "acc")


def check(identifier) -> None:
    """Reject an unknown metric name at ``compile`` (with the closest valid names), before any training."""
    if isinstance(identifier, str) and identifier.lower() not in _SHAPE_RESOLVED:
        lookup("metric", identifier, also_valid=_SHAPE_RESOLVED)
    elif not isinstance(identifier, (str, Metric, dict)):
        raise TypeError(f"A metric must be a name such as 'accuracy' or a tweaknet metric, got {identifier!r}.")


def resolve(identifier, y_shape: tuple, output_shape: tuple) -> Metric:
    """Turn a metric identifier into a Metric, resolving 'accuracy'/'acc' by shapes like Keras."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _SHAPE_RESOLVED:
        if output_shape[-1] == 1:
            cls = BinaryAccuracy
        elif len(y_shape) < len(output_shape) or (y_shape[-1] == 1 and output_shape[-1] > 1):
            cls = SparseCategoricalAccuracy
        else:
            cls = CategoricalAccuracy
        return cls(name=identifier)
    return get("metric", identifier, base=Metric)
