"""The plain NumPy loop: the straightforward per-step code someone would write by hand, no Numba.

Keras layout (``W1`` (784, 25), ``W2`` (25, 10)), float32, one fancy-indexed batch per step,
matrix products through NumPy's BLAS.  Parameters and gradients live in one flat buffer each
(the arrays are views), so SGD and Adam are one vectorized update per step, as in tweaknet.
It tracks the loss and accuracy per step like ``fit`` does.  Semantics as in ``fused_loop.py``.
"""
from __future__ import annotations

import math

import numpy as np

from configs import ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON, N_HIDDEN, N_IN, N_OUT, Config

LOSS_EPS = 1e-7


class NumpyTrainer:
    def __init__(self, conf: Config, weights):
        self.conf = conf
        shapes = [(N_IN, N_HIDDEN), (N_HIDDEN,), (N_HIDDEN, N_OUT), (N_OUT,)]
        sizes = [int(np.prod(s)) for s in shapes]
        bounds = np.cumsum([0] + sizes)
        self.params = np.zeros(bounds[-1], np.float32)
        self.grads = np.zeros(bounds[-1], np.float32)
        self.m = np.zeros(bounds[-1], np.float32)
        self.v = np.zeros(bounds[-1], np.float32)
        views = lambda flat: [flat[a:b].reshape(s) for a, b, s in zip(bounds[:-1], bounds[1:], shapes)]  # noqa: E731
        self.W1, self.b1, self.W2, self.b2 = views(self.params)
        self.gW1, self.gb1, self.gW2, self.gb2 = views(self.grads)
        for dst, src in zip((self.W1, self.b1, self.W2, self.b2), weights):
            dst[...] = src
        self.iterations = 0

    def get_weights(self):
        return [w.copy() for w in (self.W1, self.b1, self.W2, self.b2)]

    def epoch(self, X, Y, labels, order, track=True):
        conf = self.conf
        W1, b1, W2, b2 = self.W1, self.b1, self.W2, self.b2
        gW1, gb1, gW2, gb2 = self.gW1, self.gb1, self.gW2, self.gb2
        p, g, m, v = self.params, self.grads, self.m, self.v
        relu, cce, adam, lr, B = conf.hidden == "relu", conf.loss == "cce", conf.optimizer == "adam", conf.lr, conf.batch
        loss_sum, correct, n = 0.0, 0, len(order)
        with np.errstate(over="ignore"):   # exp(-z) overflows to inf for z < -88: the sigmoid is then 0
            return self._loop(X, Y, labels, order, track, W1, b1, W2, b2, gW1, gb1, gW2, gb2, p, g, m, v,
                              relu, cce, adam, lr, B, n)

    def _loop(self, X, Y, labels, order, track, W1, b1, W2, b2, gW1, gb1, gW2, gb2, p, g, m, v,
              relu, cce, adam, lr, B, n):
        loss_sum, correct = 0.0, 0
        for start in range(0, n, B):
            idx = order[start:start + B]
            xb, yb = X[idx], Y[idx]
            bs = len(idx)
            # forward
            z1 = xb @ W1
            z1 += b1
            h = np.maximum(z1, 0) if relu else np.tanh(z1)
            z2 = h @ W2
            z2 += b2
            if cce:
                e = np.exp(z2 - z2.max(axis=1, keepdims=True))
                yh = e / e.sum(axis=1, keepdims=True)
                dz2 = (yh - yb) / bs
            else:
                yh = 1.0 / (1.0 + np.exp(-z2))
                d = yh - yb
                dz2 = d * (2.0 / (bs * N_OUT)) * yh * (1.0 - yh)
            if track:
                if cce:
                    loss_sum += float(-np.sum(yb * np.log(np.clip(yh, LOSS_EPS, 1.0 - LOSS_EPS))))
                else:
                    loss_sum += float(np.mean(d * d)) * bs
                correct += int(np.count_nonzero(yh.argmax(axis=1) == labels[idx]))
            # backward
            np.dot(h.T, dz2, out=gW2)
            dz2.sum(axis=0, out=gb2)
            dh = dz2 @ W2.T
            dz1 = dh * (z1 > 0) if relu else dh * (1.0 - h * h)
            np.dot(xb.T, dz1, out=gW1)
            dz1.sum(axis=0, out=gb1)
            # update
            if adam:
                t = self.iterations + 1
                alpha = lr * math.sqrt(1.0 - ADAM_BETA_2 ** t) / (1.0 - ADAM_BETA_1 ** t)
                m += (g - m) * (1.0 - ADAM_BETA_1)
                v += (g * g - v) * (1.0 - ADAM_BETA_2)
                p -= (m * alpha) / (np.sqrt(v) + ADAM_EPSILON)
            else:
                p -= lr * g
            self.iterations += 1
        return {"loss": loss_sum / n, "accuracy": correct / n}
