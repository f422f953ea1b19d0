"""Loss base class: value, gradient and the fused output gradient, with Keras's reduction.

Reduction (Keras's default ``'sum_over_batch_size'``): a per-sample loss is computed over the
last axis, then averaged over the M = N (x any middle axes) samples.  The gradient divides by
exactly the same M, so it is the derivative of the reported number.

One definition, two executions: each loss writes its math once, as module-level functions in the subset
of NumPy that Numba compiles (``tweaknet.ops``), over the last axis: ``value(t, p, *args)`` (the per-sample
loss), ``grad(t, p, *args)`` (dL/dp of the reduced loss) and, for losses that fuse, ``fused(t, p, *args)``
(dL/dz at the partner's logits).  ``rules()`` returns them and ``*_args`` their scalar arguments (epsilon,
the reduction's scale) in the arrays' float type; the reference path calls them on whole batches, the
compiled path row by row.

Fusion (the chapter's Equation 5-2): when the model's output activation is the loss's partner
(sigmoid for binary cross-entropy, softmax for categorical cross-entropy), the model asks for
``fused_backward``, the derivative with respect to the *logits*, ``(y_hat - y) / M``, and skips
the activation's own backward.  The product of a huge ``dL/dy_hat`` and a vanishing ``S'(z)`` is
never formed, so a saturated output never gives inf or NaN.
"""
from __future__ import annotations

import math

import numpy as np

from ..registry import get as _get


class Loss:
    """Base class.  ``loss(y_true, y_pred)`` returns the reduced (scalar) loss, as in Keras."""

    #: The activation class whose backward this loss can absorb (None: no fusion).
    fuses_with: type | None = None

    def __init__(self, from_logits=False, name=None):
        if not isinstance(from_logits, (bool, np.bool_)):
            raise TypeError(f"`from_logits` must be True or False, got {from_logits!r}.")
        self.from_logits = bool(from_logits)
        self.name = name or self._registry_name

    # -- the math (subclasses): the three rules and their arguments ---------------------------
    def rules(self):  # pragma: no cover - abstract
        """``(value, grad, fused)``: the functions of the module docstring (``fused`` None: no fusion)."""
        raise NotImplementedError

    def value_args(self, dtype) -> tuple:
        return ()

    def grad_args(self, dtype, count: int, classes: int) -> tuple:
        """Arguments of ``grad`` for ``count`` per-sample losses (M) of ``classes`` outputs each."""
        return ()

    def fused_args(self, dtype, count: int, classes: int) -> tuple:
        return ()

    # -- per-sample values and their gradients on whole batches (the reference path) ----------
    def per_sample(self, y_true, y_pred) -> np.ndarray:
        """The loss of each sample (over the last axis)."""
        return self.rules()[0](y_true, y_pred, *self.value_args(y_pred.dtype))

    def grad(self, y_true, y_pred) -> np.ndarray:
        """dL/dy_pred of the reduced loss (the sum of per-sample losses divided by their count)."""
        args = self.grad_args(y_pred.dtype, count(y_pred.shape[:-1]), y_pred.shape[-1])
        return self.rules()[1](y_true, y_pred, *args)

    def fused_backward(self, y_true, y_pred) -> np.ndarray:
        """dL/dz at the logits z of the partner activation, given its output ``y_pred``."""
        fused = self.rules()[2]
        if fused is None:
            raise TypeError(f"{type(self).__name__} does not fuse with an output activation.")
        return fused(y_true, y_pred, *self.fused_args(y_pred.dtype, count(y_pred.shape[:-1]), y_pred.shape[-1]))

    def can_fuse(self, activation) -> bool:
        """True when ``activation`` is this loss's partner and the model should call ``fused_backward``."""
        return (not self.from_logits and self.fuses_with is not None and isinstance(activation, self.fuses_with)
                and getattr(activation, "axis", -1) == -1)

    def check_targets(self, y_true: np.ndarray, output_shape: tuple) -> None:
        """Raise a ValueError when labels of this shape cannot fit this loss and an output of ``output_shape``."""
        want = (y_true.shape[0], *output_shape[1:])
        if y_true.shape != want:
            hint = ""
            if y_true.ndim == 1 and len(output_shape) == 2 and output_shape[1] > 1:
                hint = (f" Convert integer labels with tweaknet.utils.to_categorical(y, {output_shape[1]}), "
                        f"or use loss='sparse_categorical_crossentropy'.")
            elif y_true.ndim == 1 and len(output_shape) == 2 and output_shape[1] == 1:
                hint = " Reshape the labels to (N, 1) with y.reshape(-1, 1)."
            raise ValueError(
                f"{self.name} needs labels shaped like the model output {('N', *output_shape[1:])}, "
                f"got labels of shape {y_true.shape}.{hint}")

    # -- Keras API ---------------------------------------------------------------------------
    def __call__(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        y_true = np.asarray(y_true, dtype=y_pred.dtype) if not self.integer_targets else np.asarray(y_true)
        return self.per_sample(y_true, y_pred).mean()

    #: True when the targets are integer class labels (sparse losses), not arrays shaped like the output.
    integer_targets = False
    #: True when ``grad`` and ``fused`` are elementwise (no reduction over the row): the compiled path then
    #: calls them per element.
    elementwise_grad = False

    def get_config(self):
        return {"from_logits": self.from_logits, "name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}(from_logits={self.from_logits})"


def count(per_sample_shape) -> int:
    """M, the number of per-sample losses that the reduction averages over."""
    return math.prod(per_sample_shape)


def get(identifier) -> Loss:
    """Resolve a loss from a name ('mse', 'categorical_crossentropy', ...), a function, class or instance."""
    obj = _get("loss", getattr(identifier, "loss_class", identifier), base=Loss)
    if not isinstance(obj, Loss):
        raise TypeError(
            f"Loss {identifier!r} has no gradient tweaknet knows: pass a name such as 'mse' or "
            f"'categorical_crossentropy', or subclass tweaknet.losses.Loss.")
    return obj
