"""Is the network learning?  The verdict behind every finding's severity, from the diagnosis run itself.

No extra training is spent on it: the probe records (``probe.py``) already hold the loss on a fixed batch
of training samples before training and after the last epoch, and for a classifier the accuracy there.

- A classifier (the loss is a cross-entropy, the output activation is sigmoid or softmax, or the model
  has an accuracy metric) is judged by its accuracy against chance: ``chance_accuracy`` is the accuracy
  of always predicting the most frequent class of the probe batch (about 11% on MNIST), and
  ``progress = (final_accuracy - chance_accuracy) / (1 - chance_accuracy)``: 0 at chance, 1 when every
  probe sample is classified right.
- Any other model (regression) is judged by its loss alone, against the loss of predicting the mean
  target of the probe batch (``reference_loss``): ``progress = 1 - final_loss / reference_loss`` (R^2 for
  the squared error).
- It diverged when a loss, pre-activation or weight became non-finite or the final loss is above twice
  the initial one (the ``divergence`` finding).

Verdict, with constants calibrated on the zoo (``zoo.py``; docs/diagnostics.md has the table):

- ``"not learning"``: diverged, or ``progress < NOT_LEARNING`` (0.3).  The book's configuration 2 (SGD
  at learning rate 10) ends its first MNIST epoch at 0.08-0.21 (seeds 1-3); the zoo's other broken
  networks at 0.11 or less (at chance, diverged, or a regression worse than the mean target).
- ``"learning slowly"``: ``progress < LEARNING_WELL`` (0.6): it learns, but is far from where a sound
  network of the zoo is after the same budget (the zoo's slow networks: 0.39-0.59).
- ``"learning"``: ``progress >= 0.6``.  Every healthy network of the zoo ends its budget at 0.79 or more
  on the full data, 0.76 or more in the tests' reduced form (the book's configurations 1, 3, 4, 5 after
  one MNIST epoch: 0.85-0.96).

Severity of every finding: ``"error"`` when the network is not learning, ``"warning"`` when it learns
slowly (a measured problem that may be the brake), ``"info"`` when it learns (unusual, harmless here).
The verdict is about this budget: a network judged after too few steps may be slow only because it has
barely started; diagnose with the epochs and batch size you train with.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .. import metrics

NOT_LEARNING, LEARNING_WELL = 0.3, 0.6
STATUSES = ("not learning", "learning slowly", "learning")
SEVERITY = {"not learning": "error", "learning slowly": "warning", "learning": "info"}


@dataclass
class Learning:
    """The verdict (``status``: ``"learning"``, ``"learning slowly"`` or ``"not learning"``) and the numbers
    behind it, all on the probe batch; see the module docstring."""
    status: str
    task: str                     # "classification" or "regression"
    diverged: bool
    progress: float | None        # 0 = chance (or the mean target), 1 = perfect
    initial_loss: float
    final_loss: float
    loss_change: float | None     # (final - initial) / initial: -0.6 means the loss fell by 60%
    initial_accuracy: float | None = None
    final_accuracy: float | None = None
    chance_accuracy: float | None = None
    reference_loss: float | None = None
    epochs: int = 0
    steps: int = 0

    @property
    def is_learning(self) -> bool:
        return self.status != "not learning"

    @property
    def severity(self) -> str:
        """The severity this verdict gives every finding."""
        return SEVERITY[self.status]

    def to_dict(self) -> dict:
        return {"status": self.status, "is_learning": self.is_learning, **asdict(self)}

    def summary(self) -> str:
        """One line: the verdict and its numbers."""
        budget = f"after {self.epochs} epoch{'s' if self.epochs != 1 else ''} ({self.steps} steps)"
        loss = f"loss {self.initial_loss:.4g} -> {self.final_loss:.4g}"
        if self.loss_change is not None and math.isfinite(self.loss_change):
            loss += f" ({100 * self.loss_change:+.0f}%)"
        if self.task == "classification":
            numbers = (f"probe accuracy {100 * self.initial_accuracy:.1f}% -> {100 * self.final_accuracy:.1f}% "
                       f"(chance {100 * self.chance_accuracy:.1f}%), {loss}")
        else:
            numbers = f"{loss} (predicting the mean target: {self.reference_loss:.4g})"
        head = {"not learning": "NOT LEARNING", "learning slowly": "Learning slowly", "learning": "Learning"}
        why = " (diverged)" if self.diverged else ""
        progress = "" if self.progress is None else f", progress {self.progress:.2f}"
        return f"{head[self.status]}{why} {budget}: {numbers}{progress}."


def accuracy_metric(model, y_shape):
    """The accuracy metric that judges ``model`` on targets of ``y_shape``, or None for a regression model."""
    act = model.layers[-1].output_activation
    has_accuracy = any("acc" in getattr(m, "name", "") for m in model.compiled_metrics)
    if "crossentropy" in model.loss.name or (act is not None and act.name in ("sigmoid", "softmax")) \
            or has_accuracy:
        return metrics.resolve("accuracy", tuple(y_shape), (y_shape[0], *model.layers[-1].output_shape))
    return None


def chance_accuracy(metric, y, output_shape) -> float:
    """The accuracy of the best constant prediction: always the most frequent class (or, for one or more
    independent sigmoid outputs, the majority value of each)."""
    y = np.asarray(y)
    n = len(y)
    if output_shape[-1] == 1 or isinstance(metric, metrics.BinaryAccuracy):
        column = (np.mean(y.reshape(n, -1), axis=0) > 0.5).astype(np.float64)
        constant = np.broadcast_to(column.reshape(output_shape[1:]), output_shape)
    else:
        labels = np.argmax(y, axis=-1) if y.ndim == len(output_shape) and y.shape[-1] > 1 else y.reshape(n)
        constant = np.zeros(output_shape)
        constant[:, int(np.bincount(labels.astype(np.intp)).argmax())] = 1.0
    return metric.correct(y, constant) / n


def reference_loss(loss, y) -> float:
    """The loss of predicting the mean target for every sample (what a regression must beat)."""
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean(loss.per_sample(y, np.broadcast_to(y.mean(axis=0), y.shape))))


def judge(records, chance=None, reference=None) -> Learning:
    """The verdict from probe records (first before training, last after it); ``chance``: the chance
    accuracy of the probe batch (classifiers), ``reference``: the reference loss (regression)."""
    first, last = records[0], records[-1]
    initial, final = first["loss"], last["loss"]
    diverged = not all(r["finite"] for r in records) or not final <= 2.0 * initial
    change = (final - initial) / initial if initial and math.isfinite(final) else None
    epochs = max([r.get("epoch") or 0 for r in records])
    steps = sum(r["steps"] or 0 for r in records[1:])
    if last.get("accuracy") is not None and chance is not None:
        progress = (last["accuracy"] - chance) / (1.0 - chance) if chance < 1 else 0.0
        learning = Learning("", "classification", diverged, progress, initial, final, change,
                            first["accuracy"], last["accuracy"], chance, epochs=epochs, steps=steps)
    else:
        progress = 1.0 - final / reference if reference and math.isfinite(final) else None
        learning = Learning("", "regression", diverged, progress, initial, final, change,
                            reference_loss=reference, epochs=epochs, steps=steps)
    if diverged or progress is None or not progress >= NOT_LEARNING:
        learning.status = "not learning"
    elif progress < LEARNING_WELL:
        learning.status = "learning slowly"
    else:
        learning.status = "learning"
    return learning
