"""Mean squared error, the loss of the book's first networks (configurations 1-3 of Table 5-1)."""
from __future__ import annotations

import numpy as np

from ..ops import last_mean
from ..registry import register
from .base import Loss


def mse_value(t, p):
    d = p - t
    return last_mean(d * d)


def mse_grad(t, p, scale):
    """dL/dp of the reduced loss; ``scale`` = 2 / (M C)."""
    return (p - t) * scale


@register("loss", "mean_squared_error", "mse", "MSE")
class MeanSquaredError(Loss):
    """``L = mean over samples of mean_j (y_j - y_hat_j)^2``; ``dL/dy_hat = 2 (y_hat - y) / (M C)``.

    The book writes ``(y - y_hat)^2 / 2`` per output, whose derivative is ``y_hat - y``; Keras and
    PyTorch (``nn.MSELoss``) average the squares without the 1/2, as we do: the gradient is twice
    the book's, divided by the number of outputs.  ``from_logits`` is accepted and ignored.
    """

    elementwise_grad = True

    def rules(self):
        return mse_value, mse_grad, None

    def grad_args(self, dtype, count, classes):
        return (dtype.type(2.0 / (count * classes)),)


def mean_squared_error(y_true, y_pred):
    """Per-sample MSE over the last axis (Keras's function form)."""
    return MeanSquaredError().per_sample(np.asarray(y_true, dtype=np.asarray(y_pred).dtype), np.asarray(y_pred))


mean_squared_error.loss_class = MeanSquaredError
mse = mean_squared_error
