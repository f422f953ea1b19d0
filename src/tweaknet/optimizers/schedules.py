"""Learning-rate schedules (Keras 3 names and formulas).  A schedule maps the step counter to a rate.

The optimizer evaluates the schedule at ``iterations`` *before* incrementing it, so the first
update uses ``schedule(0)``.
"""
from __future__ import annotations

import math

from ..registry import register
from ..validation import check_int, check_number


class LearningRateSchedule:
    """Base class: ``schedule(step) -> float``."""

    def __call__(self, step):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class _StepDecay(LearningRateSchedule):
    """Shared arguments of the exponential and inverse-time decays."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        self.initial_learning_rate = check_number("initial_learning_rate", initial_learning_rate, low=0)
        self.decay_steps = check_number("decay_steps", decay_steps, low=0, low_open=True)
        self.decay_rate = check_number("decay_rate", decay_rate, low=0)
        self.staircase = bool(staircase)

    def _progress(self, step):
        p = step / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase}


@register("schedule", "exponential_decay")
class ExponentialDecay(_StepDecay):
    """``lr(step) = initial_learning_rate * decay_rate ^ (step / decay_steps)`` (floored exponent if staircase)."""

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


@register("schedule", "inverse_time_decay")
class InverseTimeDecay(_StepDecay):
    """``lr(step) = initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (floored ratio if staircase).

    With ``decay_steps=1`` this is Keras 2's ``decay=`` argument: ``lr / (1 + decay * iterations)``.
    """

    def __call__(self, step):
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


@register("schedule", "piecewise_constant_decay")
class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` for step <= boundaries[0], ``values[i]`` for boundaries[i-1] < step <= boundaries[i], then the last."""

    def __init__(self, boundaries, values, name=None):
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay needs len(values) == len(boundaries) + 1, got "
                             f"{len(values)} values for {len(boundaries)} boundaries.")
        if list(boundaries) != sorted(boundaries):
            raise ValueError(f"PiecewiseConstantDecay boundaries must increase, got {list(boundaries)}.")
        self.boundaries = [float(b) for b in boundaries]
        self.values = [check_number("values[i]", v, low=0) for v in values]

    def __call__(self, step):
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values}


@register("schedule", "cosine_decay")
class CosineDecay(LearningRateSchedule):
    """Cosine decay (Loshchilov & Hutter 2017) with optional linear warmup, as in Keras 3.

    Without warmup: ``lr(step) = initial * ((1 - alpha) * 0.5 (1 + cos(pi * min(step, decay_steps) / decay_steps)) + alpha)``.
    With ``warmup_steps`` and ``warmup_target``: a linear ramp from ``initial`` to ``warmup_target`` over the
    warmup steps, then the cosine decay of ``warmup_target`` over the next ``decay_steps``.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name=None, warmup_target=None,
                 warmup_steps=0):
        self.initial_learning_rate = check_number("initial_learning_rate", initial_learning_rate, low=0)
        self.decay_steps = check_number("decay_steps", decay_steps, low=0, low_open=True)
        self.alpha = check_number("alpha", alpha, low=0, high=1)
        self.warmup_target = check_number("warmup_target", warmup_target, low=0, allow_none=True)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, low=0)

    def __call__(self, step):
        if self.warmup_target is not None and step < self.warmup_steps:
            return self.initial_learning_rate + (self.warmup_target - self.initial_learning_rate) * (
                step / self.warmup_steps)
        start = self.initial_learning_rate if self.warmup_target is None else self.warmup_target
        s = min(step - (self.warmup_steps if self.warmup_target is not None else 0), self.decay_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * s / self.decay_steps))
        return start * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}
