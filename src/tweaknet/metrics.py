"""Metrics (``tweaknet.metrics``, as ``keras.metrics``): accuracy, resolved from ``'accuracy'`` by shapes as Keras 3 does.

- model output with one unit: binary accuracy (``y_hat > 0.5`` equals the label);
- labels of lower rank than the output, or a single label column for a wider output: sparse categorical;
- otherwise: categorical accuracy (``argmax y_hat == argmax y``, first index on ties).

A prediction that holds a non-finite value (NaN or infinity: a diverged model) is counted as wrong,
on both training paths.  Keras counts it by where NaN happens to fall (``argmax`` returns the first NaN,
``NaN > 0.5`` is false): a diverged model that outputs NaN everywhere scores as if it always predicted
class 0, 0.9 on data with 90% zeros.  tweaknet's accuracy of such a model is 0.

Each metric returns the number of correct predictions in a batch; the training loop keeps running
sums, so the epoch value is the mean over samples (Keras's running mean).  The counting rule of each
is a module-level function that both training paths use (see ``Metric``).
"""
from __future__ import annotations

import numpy as np

from .ops import is_finite, last_all_finite, last_argmax, last_sum
from .registry import get, lookup, register


def categorical_hits(t, p):
    """1 where the largest output is the labelled class (first index on ties) and every output is finite, per row."""
    return (last_argmax(t) == last_argmax(p)) & last_all_finite(p)


def sparse_categorical_hits(labels, p):
    """1 where the largest output is the integer label and every output is finite, per row."""
    return (labels == last_argmax(p)) & last_all_finite(p)


def binary_hits(t, p, threshold):
    """The number of outputs per row where ``p > threshold`` (as 0 or 1) equals the label as given and
    ``p`` is finite."""
    return last_sum(((p > threshold) == t) & is_finite(p))


class Metric:
    """Base class: ``rule(t, p, *rule_args(dtype))`` counts the hits of each row (written once for both
    training paths, as the losses' rules); ``per_row`` is what one row's hits are worth (1, or 1/C for a
    binary metric averaged over C outputs)."""

    name: str

    def __init__(self, name=None):
        self.name = name or self._registry_name

    def rule_args(self, dtype) -> tuple:
        return ()

    def correct(self, y_true, y_pred) -> float:
        """The number of correct predictions in a batch (the training loop keeps running sums)."""
        hits = self.rule(self.targets(y_true, y_pred), y_pred, *self.rule_args(y_pred.dtype))
        return float(np.sum(hits)) / self.per_row(y_pred.shape[-1])

    def targets(self, y_true, y_pred):
        return y_true

    def per_row(self, classes: int) -> float:
        return 1


@register("metric", "categorical_accuracy")
class CategoricalAccuracy(Metric):
    """Fraction of samples whose largest output is the labelled class (one-hot labels)."""

    rule = staticmethod(categorical_hits)


@register("metric", "sparse_categorical_accuracy")
class SparseCategoricalAccuracy(Metric):
    """Fraction of samples whose largest output is the integer label."""

    rule = staticmethod(sparse_categorical_hits)

    def targets(self, y_true, y_pred):
        return np.asarray(y_true).reshape(y_pred.shape[:-1])


@register("metric", "binary_accuracy")
class BinaryAccuracy(Metric):
    """Fraction of outputs where ``y_hat > threshold`` (as 0 or 1) equals the label; averaged over outputs too.

    As in Keras 3, the label is compared as given, not thresholded: with soft targets such as the
    book's 0.1/0.9 (LeCun's recommendation for sigmoid outputs), no prediction counts as correct.
    """

    rule = staticmethod(binary_hits)

    def __init__(self, name=None, threshold=0.5):
        super().__init__(name)
        self.threshold = threshold

    def targets(self, y_true, y_pred):
        return np.asarray(y_true).reshape(y_pred.shape)

    def rule_args(self, dtype):
        return (dtype.type(self.threshold),)

    def per_row(self, classes):
        return classes


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
