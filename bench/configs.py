"""The five configurations of Ekman's Table 5-1 (784-25-10 on MNIST), shared by every benchmark script.

==== ====================== ====================== ======== ============== =====
conf hidden (init)          output (init)          loss     optimizer      batch
==== ====================== ====================== ======== ============== =====
1    tanh (U +-0.1)         sigmoid (U +-0.1)      MSE      SGD lr 0.01    1
2    tanh (U +-0.1)         sigmoid (U +-0.1)      MSE      SGD lr 10.0    1
3    tanh (glorot_uniform)  sigmoid (glorot_unif.) MSE      Adam (Keras)   1
4    relu (he_normal)       softmax (glorot_unif.) CCE      Adam (Keras)   1
5    relu (he_normal)       softmax (glorot_unif.) CCE      Adam (Keras)   64
==== ====================== ====================== ======== ============== =====

Biases start at zero.  Adam is Keras 3's: lr 1e-3, beta_1 0.9, beta_2 0.999, epsilon 1e-7.
The speed benchmarks use configurations 1, 4 and 5.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

N_IN, N_HIDDEN, N_OUT = 784, 25, 10
HE_TRUNCATION_STDDEV = 0.87962566103423978   # std of a unit normal truncated to (-2, 2), as in Keras


@dataclass(frozen=True)
class Config:
    number: int
    hidden: str          # 'tanh' | 'relu'
    output: str          # 'sigmoid' | 'softmax'
    loss: str            # 'mse' | 'cce'
    optimizer: str       # 'sgd' | 'adam'
    lr: float
    batch: int
    hidden_init: str     # 'uniform0.1' | 'glorot_uniform' | 'he_normal'
    output_init: str

    @property
    def label(self) -> str:
        return (f"conf {self.number}: {self.hidden}/{self.hidden_init} - {self.output}/{self.output_init}, "
                f"{self.loss.upper()}, {self.optimizer.upper()} lr {self.lr:g}, batch {self.batch}")

    @property
    def short(self) -> str:
        return f"conf {self.number} ({self.hidden}/{self.output}, {self.loss}, {self.optimizer}, batch {self.batch})"


CONFIGS = {
    1: Config(1, "tanh", "sigmoid", "mse", "sgd", 0.01, 1, "uniform0.1", "uniform0.1"),
    2: Config(2, "tanh", "sigmoid", "mse", "sgd", 10.0, 1, "uniform0.1", "uniform0.1"),
    3: Config(3, "tanh", "sigmoid", "mse", "adam", 1e-3, 1, "glorot_uniform", "glorot_uniform"),
    4: Config(4, "relu", "softmax", "cce", "adam", 1e-3, 1, "he_normal", "glorot_uniform"),
    5: Config(5, "relu", "softmax", "cce", "adam", 1e-3, 64, "he_normal", "glorot_uniform"),
}
ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON = 0.9, 0.999, 1e-7


def _draw(kind: str, shape, rng: np.random.Generator) -> np.ndarray:
    fan_in, fan_out = shape
    if kind == "uniform0.1":
        return rng.uniform(-0.1, 0.1, size=shape)
    if kind == "glorot_uniform":
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape)
    if kind == "he_normal":   # Keras: normal truncated at 2 sigma, sigma corrected so the variance is 2 / fan_in
        sigma = math.sqrt(2.0 / fan_in) / HE_TRUNCATION_STDDEV
        out = rng.normal(0.0, sigma, size=shape)
        bad = np.abs(out) > 2 * sigma
        while bad.any():
            out[bad] = rng.normal(0.0, sigma, size=int(bad.sum()))
            bad = np.abs(out) > 2 * sigma
        return out
    raise ValueError(f"unknown initializer {kind!r}")


def initial_weights(conf: Config, seed: int = 0, hidden=(N_HIDDEN,)) -> list[np.ndarray]:
    """Keras-layout float32 weights ``[W1 (784, 25), b1 (25,), W2 (25, 10), b2 (10,)]``; ``hidden`` gives
    other hidden widths (``(W, W)``: ``[W1 (784, W), b1, W2 (W, W), b2, W3 (W, 10), b3]``).  The kernels are
    drawn in layer order from one generator, the hidden ones with ``conf.hidden_init``, the last with
    ``conf.output_init``."""
    rng = np.random.default_rng(seed)
    sizes = [N_IN, *hidden, N_OUT]
    out = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        kind = conf.output_init if i == len(sizes) - 2 else conf.hidden_init
        out += [_draw(kind, (fan_in, fan_out), rng).astype(np.float32), np.zeros(fan_out, np.float32)]
    return out
