"""Nadam (Dozat 2016): Adam with Nesterov momentum, with Keras 3's momentum schedule."""
from __future__ import annotations

import numpy as np

from ..registry import register
from ..validation import check_number
from .base import Optimizer


@register("optimizer", "nadam")
class Nadam(Optimizer):
    """Keras 3 defaults ``learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7``.

    Update rule, with t = iterations + 1 and a running product ``u_prod`` (starting at 1)::

        u_t   = beta_1 * (1 - 0.5 * 0.96^t);   u_t1 = beta_1 * (1 - 0.5 * 0.96^(t+1))
        u_prod = u_prod * u_t
        m += (g - m) * (1 - beta_1);   v += (g^2 - v) * (1 - beta_2)
        m_hat = u_t1 * m / (1 - u_prod * u_t1) + (1 - u_t) * g / (1 - u_prod)
        v_hat = v / (1 - beta_2^t)
        w -= m_hat * lr / (sqrt(v_hat) + epsilon)

    Keras vs PyTorch: ``torch.optim.NAdam`` uses the same schedule with momentum_decay=0.004 in the
    exponent (0.96^(t * 0.004)) and eps=1e-8.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.beta_1 = check_number("beta_1", beta_1, low=0, high=1, high_open=True)
        self.beta_2 = check_number("beta_2", beta_2, low=0, high=1, high_open=True)
        self.epsilon = self._epsilon(epsilon)
        self.u_product = 1.0

    slots = {"m": 0.0, "v": 0.0}

    def update_step(self, g, w, lr):
        t = self.iterations + 1
        u_t = self.beta_1 * (1.0 - 0.5 * 0.96 ** t)
        u_t1 = self.beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        self.u_product *= u_t
        m, v = self._state["m"], self._state["v"]
        m += (g - m) * (1.0 - self.beta_1)
        v += (g * g - v) * (1.0 - self.beta_2)
        m_hat = m * (u_t1 / (1.0 - self.u_product * u_t1)) + g * ((1.0 - u_t) / (1.0 - self.u_product))
        v_hat = v / (1.0 - self.beta_2 ** t)
        w -= m_hat * lr / (np.sqrt(v_hat) + self.epsilon)

    def get_state(self):
        return super().get_state() | {"u_product": self.u_product}

    def set_state(self, state):
        super().set_state(state)
        self.u_product = float(state["u_product"])

    def get_config(self):
        return super().get_config() | {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
