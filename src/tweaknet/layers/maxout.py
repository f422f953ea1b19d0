"""Maxout (Goodfellow et al. 2013): the max of several linear pieces, the chapter's Figure 5-11."""
from __future__ import annotations

import numpy as np

from ..ops import ONE, expand_last, last_max, last_sum_kept
from ..registry import register
from ..validation import check_int
from .base import Layer


def maxout_value(groups):
    """The maximum of each group (``groups``: (..., units, k))."""
    return last_max(groups)


def maxout_grad(groups, y, dy):
    """The gradient at the group members: to each group's maximum, shared equally among ties."""
    mask = (groups == expand_last(y)) * ONE
    return mask / last_sum_kept(mask) * expand_last(dy)


@register("layer", "maxout")
class Maxout(Layer):
    """Max over groups of features, TensorFlow Addons semantics.

    The ``C`` features on ``axis`` (-1) are split into ``num_units`` contiguous groups of
    ``k = C / num_units``; unit i outputs ``max(x[i*k : (i+1)*k])``.  Put it after a linear
    ``Dense(num_units * k)`` to get the paper's maxout unit.

    Backward: the gradient goes to the maximum of each group; ties share it equally (as
    TensorFlow's ``reduce_max`` gradient does).  PyTorch has no built-in Maxout.
    """

    def __init__(self, num_units, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.num_units = check_int("num_units", num_units, low=1)
        self.axis = check_int("axis", axis)
        if self.axis != -1:
            raise ValueError("tweaknet's Maxout supports axis=-1 (features last) only.")

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        if channels % self.num_units:
            raise ValueError(f"Maxout({self.num_units}) needs a feature count divisible by {self.num_units}, "
                             f"got {channels} features; make the previous layer {self.num_units} x k wide.")
        return (*input_shape[:-1], self.num_units)

    def forward(self, x, training=False):
        self._groups = x.reshape(*x.shape[:-1], self.num_units, x.shape[-1] // self.num_units)
        self._y = maxout_value(self._groups)
        return self._y

    def backward(self, dy):
        if not self.needs_input_grad:
            return None
        return maxout_grad(self._groups, self._y, dy).astype(dy.dtype, copy=False).reshape(self._groups.shape[:-2] + (-1,))

    def get_config(self):
        return super().get_config() | {"num_units": self.num_units, "axis": self.axis}
