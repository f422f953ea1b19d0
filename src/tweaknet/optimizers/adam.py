"""Adam (Kingma & Ba 2015), with AMSGrad (Reddi et al. 2018), and AdamW (Loshchilov & Hutter 2019)."""
from __future__ import annotations

import math

import numpy as np

from ..registry import register
from ..validation import check_number
from .base import Optimizer


def adam_rule(g, m, v, v_hat, alpha, one_minus_beta_1, one_minus_beta_2, epsilon, amsgrad):
    """The step (``w -= step``) and the new ``m``, ``v`` and ``v_hat`` (AMSGrad's running maximum)."""
    m = m + (g - m) * one_minus_beta_1
    v = v + (g * g - v) * one_minus_beta_2
    if amsgrad:
        v_hat = np.maximum(v_hat, v)
        return (m * alpha) / (np.sqrt(v_hat) + epsilon), m, v, v_hat
    return (m * alpha) / (np.sqrt(v) + epsilon), m, v, v_hat


def adam_scalars(lr, t, state, beta_1, beta_2, epsilon, amsgrad):
    alpha = lr * math.sqrt(1.0 - beta_2 ** t) / (1.0 - beta_1 ** t)
    return alpha, 1.0 - beta_1, 1.0 - beta_2, epsilon, amsgrad


@register("optimizer", "adam")
class Adam(Optimizer):
    """Keras 3 defaults ``learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False``.

    Update rule (the paper's "epsilon-hat" form, as in Keras), with t = iterations + 1::

        alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        m += (g - m) * (1 - beta_1)
        v += (g^2 - v) * (1 - beta_2)
        amsgrad:  v_hat = max(v_hat, v), used in place of v below
        w -= m * alpha / (sqrt(v) + epsilon)

    Keras vs PyTorch: ``torch.optim.Adam`` uses the bias-corrected form
    ``w -= lr * m_hat / (sqrt(v_hat) + eps)`` with eps = 1e-8 added to the *corrected* root, so
    the two agree except where sqrt(v) is comparable to epsilon.  ``epsilon=None`` means 1e-7.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.beta_1 = check_number("beta_1", beta_1, low=0, high=1, high_open=True)
        self.beta_2 = check_number("beta_2", beta_2, low=0, high=1, high_open=True)
        self.epsilon = self._epsilon(epsilon)
        self.amsgrad = bool(amsgrad)

    rule, scalars = staticmethod(adam_rule), staticmethod(adam_scalars)
    rule_slots = ("m", "v", "v_hat")
    nonnegative_slots = ("v", "v_hat")

    def slot_initial_values(self):
        slots = {"m": 0.0, "v": 0.0}
        if self.amsgrad:
            slots["v_hat"] = 0.0
        return slots

    def constants(self):
        return self.beta_1, self.beta_2, self.epsilon, float(self.amsgrad)

    def get_config(self):
        return super().get_config() | {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                                       "amsgrad": self.amsgrad}


@register("optimizer", "adamw")
class AdamW(Adam):
    """Adam with decoupled weight decay; Keras 3 default ``weight_decay=0.004``.

    Before each Adam step: ``w -= w * weight_decay * lr`` (all trainable weights).
    PyTorch's ``AdamW`` defaults to weight_decay=0.01 and applies the same decoupled form.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW needs a `weight_decay` value (default 0.004); use Adam for none.")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue,
                         global_clipnorm, name, **kwargs)
