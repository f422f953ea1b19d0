"""Nadam (Dozat 2016): Adam with Nesterov momentum, with Keras 3's momentum schedule."""
from __future__ import annotations

import numpy as np

from ..registry import register
from ..validation import check_number
from .base import Optimizer


def nadam_rule(g, m, v, lr, one_minus_beta_1, one_minus_beta_2, epsilon, n1, n2, n3):
    """The step (``w -= step``) and the new ``m`` and ``v``; n1, n2, n3 come from ``nadam_scalars``."""
    m = m + (g - m) * one_minus_beta_1
    v = v + (g * g - v) * one_minus_beta_2
    m_hat = m * n1 + g * n2
    v_hat = v / n3
    return m_hat * lr / (np.sqrt(v_hat) + epsilon), m, v


def nadam_scalars(lr, t, state, beta_1, beta_2, epsilon):
    """The step's scalars; ``state[0]`` is the running product of the momentum schedule, advanced here."""
    u_t = beta_1 * (1.0 - 0.5 * 0.96 ** t)
    u_t1 = beta_1 * (1.0 - 0.5 * 0.96 ** (t + 1))
    state[0] = state[0] * u_t
    return (lr, 1.0 - beta_1, 1.0 - beta_2, epsilon, u_t1 / (1.0 - state[0] * u_t1),
            (1.0 - u_t) / (1.0 - state[0]), 1.0 - beta_2 ** t)


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

    slots = {"m": 0.0, "v": 0.0}
    rule, scalars = staticmethod(nadam_rule), staticmethod(nadam_scalars)
    rule_slots = ("m", "v")
    nonnegative_slots = ("v",)
    scalar_state = (1.0,)

    def constants(self):
        return self.beta_1, self.beta_2, self.epsilon

    @property
    def u_product(self) -> float:
        """The running product of the momentum schedule (starts at 1)."""
        return float(self.step_state[0])

    @u_product.setter
    def u_product(self, value):
        self.step_state[0] = value

    def get_state(self):
        return super().get_state() | {"u_product": self.u_product}

    def set_state(self, state):
        u = np.asarray(state.get("u_product"))
        if u.ndim != 0 or not np.issubdtype(u.dtype, np.floating) or not 0 < u <= 1:
            raise ValueError(f"the momentum schedule's product 'u_product' must lie in (0, 1], "
                             f"got {state.get('u_product')!r}")
        super().set_state(state)
        self.u_product = float(u)

    def get_config(self):
        return super().get_config() | {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
