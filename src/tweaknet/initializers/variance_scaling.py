"""VarianceScaling and its presets Glorot (Xavier), He (Kaiming) and LeCun.

One parameterised family::

    n = fan_in | fan_out | (fan_in + fan_out) / 2        (mode)
    s = scale / max(1, n)
    uniform:             w ~ U(-limit, limit),  limit = sqrt(3 s)
    truncated_normal:    w ~ N(0, sigma) truncated at 2 sigma, sigma = sqrt(s) / 0.87962566103423978
    untruncated_normal:  w ~ N(0, sqrt(s))

The constant 0.8796... is the standard deviation of a unit normal truncated to (-2, 2), so
the truncated draw keeps the variance ``s``.  Fans follow the (in, out) kernel layout.

Presets (Keras names):  GlorotUniform/GlorotNormal = (1, fan_avg), Glorot & Bengio 2010;
HeUniform/HeNormal = (2, fan_in), He et al. 2015; LecunUniform/LecunNormal = (1, fan_in),
LeCun et al. 1998.

Keras vs PyTorch: Keras's normal members are *truncated* normals with the correction above;
PyTorch's ``kaiming_normal_`` and ``xavier_normal_`` draw a plain (untruncated) normal, and
``nn.Linear``'s default is ``kaiming_uniform_(a=sqrt(5))``, i.e. U(+-1/sqrt(fan_in)).
"""
from __future__ import annotations

import numpy as np

from ..registry import register
from ..validation import check_number
from .base import Initializer, compute_fans, truncated_normal

TRUNCATION_STDDEV = 0.87962566103423978
_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


@register("initializer", "variance_scaling")
class VarianceScaling(Initializer):
    """Draws with variance ``scale / n``; see the module docstring for the formulas."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        self.scale = check_number("scale", scale, low=0, low_open=True)
        if mode not in _MODES:
            raise ValueError(f"Unknown VarianceScaling mode {mode!r}; valid modes: {', '.join(_MODES)}.")
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(
                f"Unknown VarianceScaling distribution {distribution!r}; valid: {', '.join(_DISTRIBUTIONS)}."
            )
        self.mode, self.distribution = mode, distribution

    def variance(self, shape) -> float:
        """The target variance ``scale / max(1, n)`` for a weight of ``shape``."""
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, n)

    def generate(self, shape, rng):
        s = self.variance(shape)
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * s)
            return rng.uniform(-limit, limit, size=shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, np.sqrt(s), size=shape)
        return truncated_normal(rng, shape, 0.0, np.sqrt(s) / TRUNCATION_STDDEV)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _preset(name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    cls = type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})
    cls.__module__ = __name__
    return register("initializer")(cls)


GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform",
                        "Glorot (Xavier) uniform: U(+-sqrt(6 / (fan_in + fan_out))). Glorot & Bengio, 2010.")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                       "Glorot normal: truncated N(0, sqrt(2 / (fan_in + fan_out))). Glorot & Bengio, 2010.")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform",
                    "He uniform: U(+-sqrt(6 / fan_in)). He et al., 2015.")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal",
                   "He normal: truncated N(0, sqrt(2 / fan_in)). He et al., 2015 "
                   "(PyTorch's kaiming_normal_ is untruncated).")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform",
                       "LeCun uniform: U(+-sqrt(3 / fan_in)). LeCun et al., 1998.")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal",
                      "LeCun normal: truncated N(0, sqrt(1 / fan_in)). LeCun et al., 1998 (SELU's initializer).")
