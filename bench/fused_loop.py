"""The floor: a hand-fused Numba loop that trains one whole epoch of the 784-25-10 network in one call.

Everything the library's ``fit`` does per step, and nothing more: forward, the loss value and
accuracy (running sums, as Keras reports them), backward, one optimizer update; the shuffled
order comes in as an index array.  Written for speed, not for reading:

- one flat float32 parameter array (and flat Adam ``m``, ``v``), with the kernels stored
  transposed, ``W1T`` (25, 784) and ``W2T`` (10, 25), so that every inner loop runs over 784
  contiguous floats (dot products forward, axpy-style updates backward);
- work arrays allocated once, outside the compiled epoch;
- batch 1: the weight gradient is never stored; each row of ``W1T`` is updated (SGD or Adam)
  straight from ``dz1[j] * x`` while the row is in L1 cache;
- batch B: register-blocked loops (4 samples x 2 weight rows per pass forward, 8 samples x 2
  rows per pass for the kernel gradient); the gradient of two ``W1T`` rows is accumulated over
  the batch into two 784-float buffers and applied at once, while in L1 cache.

Semantics are Keras 3's: MSE is the mean over the 10 outputs (gradient ``2 (y_hat - y) / 10``,
divided by the batch size); categorical cross-entropy with a softmax output uses the fused
gradient ``(y_hat - y) / B``, and its reported value clips probabilities to [1e-7, 1 - 1e-7];
Adam: ``t = iterations + 1``, ``alpha = lr sqrt(1 - b2^t) / (1 - b1^t)``, ``m += (g - m)(1 - b1)``,
``v += (g^2 - v)(1 - b2)``, ``w -= m alpha / (sqrt(v) + 1e-7)``.

``bench/check_fused.py`` verifies the result against the plain NumPy loop (``bench/numpy_loop.py``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from configs import ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON, N_HIDDEN, N_IN, N_OUT, Config

JIT = dict(cache=True, fastmath=True, error_model="numpy", nogil=True)
LOSS_EPS = np.float32(1e-7)
# Adam moments below this are set to zero.  Without it, the moments of a weight whose gradient is
# exactly zero for many steps (inputs of a ReLU unit that is off) decay geometrically into float32's
# subnormal range (< 1.2e-38), where arithmetic on x86 is many times slower: measured here, an epoch
# of configuration 4 slows from ~0.5 s to 4-6 s.  The flush cannot change any weight: a moment of 1e-30
# moves a weight by at most 1e-30 * alpha / epsilon = 1e-26, far below the float32 spacing of any
# weight of normal size (the plain NumPy loop, which does not flush, agrees to round-off).
FLUSH = np.float32(1e-30)


@njit(**JIT)
def _output(z2, y, softmax_cce, yh, dz2, scale):
    """Output activation, loss value (float64) and the gradient at the logits ``dz2`` (times ``scale``)."""
    C = z2.shape[0]
    two_over_c = np.float32(2.0 / C)
    loss = 0.0
    if softmax_cce:
        mx = z2[0]
        for c in range(1, C):
            mx = max(mx, z2[c])
        s = np.float32(0.0)
        for c in range(C):
            e = np.exp(z2[c] - mx)
            yh[c] = e
            s += e
        inv = np.float32(1.0) / s
        for c in range(C):
            p = yh[c] * inv
            yh[c] = p
            dz2[c] = (p - y[c]) * scale
            if y[c] != 0:
                loss -= y[c] * math.log(min(max(p, LOSS_EPS), np.float32(1.0) - LOSS_EPS))
    else:
        for c in range(C):
            z = z2[c]
            e = np.exp(-abs(z))                     # stable logistic sigmoid
            r = np.float32(1.0) / (np.float32(1.0) + e)
            p = r if z >= 0 else e * r
            yh[c] = p
            d = p - y[c]
            loss += d * d
            dz2[c] = d * two_over_c * scale * p * (np.float32(1.0) - p)
        loss /= C
    best = 0
    for c in range(1, C):
        if yh[c] > yh[best]:
            best = c
    return loss, best


@njit(**JIT)
def epoch_batch1(X, Y, labels, order, W1T, b1, W2T, b2, mW1T, mb1, mW2T, mb2, vW1T, vb1, vW2T, vb2,
                 hidden_relu, softmax_cce, adam, lr, iterations, h, z2, yh, dz2, dz1):
    """One epoch with batch size 1; returns (sum of losses, number correct, iterations after)."""
    n = order.shape[0]
    H, D = W1T.shape
    C = W2T.shape[0]
    c1 = np.float32(1.0 - ADAM_BETA_1)
    c2 = np.float32(1.0 - ADAM_BETA_2)
    eps = np.float32(ADAM_EPSILON)
    lr32 = np.float32(lr)
    loss_sum = 0.0
    correct = 0
    for s in range(n):
        k = order[s]
        x = X[k]
        # forward
        for j in range(H):
            w = W1T[j]
            acc = np.float32(0.0)
            for i in range(D):
                acc += w[i] * x[i]
            z = acc + b1[j]
            if hidden_relu:
                h[j] = z if z > 0 else np.float32(0.0)
            else:
                h[j] = np.tanh(z)
        for c in range(C):
            w = W2T[c]
            acc = b2[c]
            for j in range(H):
                acc += w[j] * h[j]
            z2[c] = acc
        loss, best = _output(z2, Y[k], softmax_cce, yh, dz2, np.float32(1.0))
        loss_sum += loss
        if best == labels[k]:
            correct += 1
        # backward to the hidden pre-activations (with W2 before its update)
        for j in range(H):
            acc = np.float32(0.0)
            for c in range(C):
                acc += W2T[c, j] * dz2[c]
            if hidden_relu:
                dz1[j] = acc if h[j] > 0 else np.float32(0.0)
            else:
                dz1[j] = acc * (np.float32(1.0) - h[j] * h[j])
        # update
        if adam:
            t = iterations + 1
            alpha = np.float32(lr * math.sqrt(1.0 - ADAM_BETA_2 ** t) / (1.0 - ADAM_BETA_1 ** t))
            for c in range(C):
                g = dz2[c]
                m = mb2[c] + (g - mb2[c]) * c1
                v = vb2[c] + (g * g - vb2[c]) * c2
                m = m if abs(m) >= FLUSH else np.float32(0.0)
                v = v if v >= FLUSH else np.float32(0.0)
                mb2[c] = m
                vb2[c] = v
                b2[c] -= m * alpha / (np.sqrt(v) + eps)
                wr, mr, vr = W2T[c], mW2T[c], vW2T[c]
                for j in range(H):
                    g = dz2[c] * h[j]
                    m = mr[j] + (g - mr[j]) * c1
                    v = vr[j] + (g * g - vr[j]) * c2
                    m = m if abs(m) >= FLUSH else np.float32(0.0)
                    v = v if v >= FLUSH else np.float32(0.0)
                    mr[j] = m
                    vr[j] = v
                    wr[j] -= m * alpha / (np.sqrt(v) + eps)
            for j in range(H):
                gj = dz1[j]
                m = mb1[j] + (gj - mb1[j]) * c1
                v = vb1[j] + (gj * gj - vb1[j]) * c2
                m = m if abs(m) >= FLUSH else np.float32(0.0)
                v = v if v >= FLUSH else np.float32(0.0)
                mb1[j] = m
                vb1[j] = v
                b1[j] -= m * alpha / (np.sqrt(v) + eps)
                wr, mr, vr = W1T[j], mW1T[j], vW1T[j]
                for i in range(D):
                    g = gj * x[i]
                    m = mr[i] + (g - mr[i]) * c1
                    v = vr[i] + (g * g - vr[i]) * c2
                    m = m if abs(m) >= FLUSH else np.float32(0.0)
                    v = v if v >= FLUSH else np.float32(0.0)
                    mr[i] = m
                    vr[i] = v
                    wr[i] -= m * alpha / (np.sqrt(v) + eps)
        else:
            for c in range(C):
                g = dz2[c]
                b2[c] -= lr32 * g
                wr = W2T[c]
                for j in range(H):
                    wr[j] -= lr32 * (g * h[j])
            for j in range(H):
                gj = dz1[j]
                if gj == 0:
                    continue
                b1[j] -= lr32 * gj
                wr = W1T[j]
                for i in range(D):
                    wr[i] -= lr32 * (gj * x[i])
        iterations += 1
    return loss_sum, correct, iterations


@njit(**JIT)
def _adam_row(w, m, v, g, alpha, c1, c2, eps):
    for i in range(w.shape[0]):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * c1
        vi = v[i] + (gi * gi - v[i]) * c2
        mi = mi if abs(mi) >= FLUSH else np.float32(0.0)
        vi = vi if vi >= FLUSH else np.float32(0.0)
        m[i] = mi
        v[i] = vi
        w[i] -= mi * alpha / (np.sqrt(vi) + eps)


@njit(**JIT)
def _hidden_preactivations(X, order, start, B, W1T, b1, Hb):
    """``Hb[b, j] = x_b . W1T[j] + b1[j]`` for the batch's samples: 4 samples x 2 weight rows per pass
    (8 accumulators; 6 loads per 8 multiply-adds instead of 2 per 1)."""
    H, D = W1T.shape
    b = 0
    while b < B:
        if b + 4 <= B:
            x0 = X[order[start + b]]
            x1 = X[order[start + b + 1]]
            x2 = X[order[start + b + 2]]
            x3 = X[order[start + b + 3]]
            j = 0
            while j < H:
                if j + 2 <= H:
                    w = W1T[j]
                    u = W1T[j + 1]
                    a0 = np.float32(0.0)
                    a1 = np.float32(0.0)
                    a2 = np.float32(0.0)
                    a3 = np.float32(0.0)
                    e0 = np.float32(0.0)
                    e1 = np.float32(0.0)
                    e2 = np.float32(0.0)
                    e3 = np.float32(0.0)
                    for i in range(D):
                        wi = w[i]
                        ui = u[i]
                        y0 = x0[i]
                        y1 = x1[i]
                        y2 = x2[i]
                        y3 = x3[i]
                        a0 += wi * y0
                        a1 += wi * y1
                        a2 += wi * y2
                        a3 += wi * y3
                        e0 += ui * y0
                        e1 += ui * y1
                        e2 += ui * y2
                        e3 += ui * y3
                    Hb[b, j + 1] = e0 + b1[j + 1]
                    Hb[b + 1, j + 1] = e1 + b1[j + 1]
                    Hb[b + 2, j + 1] = e2 + b1[j + 1]
                    Hb[b + 3, j + 1] = e3 + b1[j + 1]
                    step = 2
                else:
                    w = W1T[j]
                    a0 = np.float32(0.0)
                    a1 = np.float32(0.0)
                    a2 = np.float32(0.0)
                    a3 = np.float32(0.0)
                    for i in range(D):
                        wi = w[i]
                        a0 += wi * x0[i]
                        a1 += wi * x1[i]
                        a2 += wi * x2[i]
                        a3 += wi * x3[i]
                    step = 1
                Hb[b, j] = a0 + b1[j]
                Hb[b + 1, j] = a1 + b1[j]
                Hb[b + 2, j] = a2 + b1[j]
                Hb[b + 3, j] = a3 + b1[j]
                j += step
            b += 4
        else:
            x0 = X[order[start + b]]
            for j in range(H):
                w = W1T[j]
                a0 = np.float32(0.0)
                for i in range(D):
                    a0 += w[i] * x0[i]
                Hb[b, j] = a0 + b1[j]
            b += 1


@njit(**JIT)
def _kernel_gradient_rows(X, order, start, B, dZ1b, j, two, g, q):
    """``g = sum_b dZ1b[b, j] x_b`` (and ``q`` likewise for row j + 1 when ``two``): 8 samples per pass,
    so each pass loads and stores the 784-float row once per 8 multiply-adds."""
    D = g.shape[0]
    for i in range(D):
        g[i] = 0
        q[i] = 0
    b = 0
    while b < B:
        if b + 8 <= B:
            x0 = X[order[start + b]]
            x1 = X[order[start + b + 1]]
            x2 = X[order[start + b + 2]]
            x3 = X[order[start + b + 3]]
            x4 = X[order[start + b + 4]]
            x5 = X[order[start + b + 5]]
            x6 = X[order[start + b + 6]]
            x7 = X[order[start + b + 7]]
            d0 = dZ1b[b, j]
            d1 = dZ1b[b + 1, j]
            d2 = dZ1b[b + 2, j]
            d3 = dZ1b[b + 3, j]
            d4 = dZ1b[b + 4, j]
            d5 = dZ1b[b + 5, j]
            d6 = dZ1b[b + 6, j]
            d7 = dZ1b[b + 7, j]
            if two:
                e0 = dZ1b[b, j + 1]
                e1 = dZ1b[b + 1, j + 1]
                e2 = dZ1b[b + 2, j + 1]
                e3 = dZ1b[b + 3, j + 1]
                e4 = dZ1b[b + 4, j + 1]
                e5 = dZ1b[b + 5, j + 1]
                e6 = dZ1b[b + 6, j + 1]
                e7 = dZ1b[b + 7, j + 1]
                for i in range(D):
                    y0 = x0[i]
                    y1 = x1[i]
                    y2 = x2[i]
                    y3 = x3[i]
                    y4 = x4[i]
                    y5 = x5[i]
                    y6 = x6[i]
                    y7 = x7[i]
                    g[i] += d0 * y0 + d1 * y1 + d2 * y2 + d3 * y3 + d4 * y4 + d5 * y5 + d6 * y6 + d7 * y7
                    q[i] += e0 * y0 + e1 * y1 + e2 * y2 + e3 * y3 + e4 * y4 + e5 * y5 + e6 * y6 + e7 * y7
            else:
                for i in range(D):
                    g[i] += (d0 * x0[i] + d1 * x1[i] + d2 * x2[i] + d3 * x3[i]
                             + d4 * x4[i] + d5 * x5[i] + d6 * x6[i] + d7 * x7[i])
            b += 8
        else:
            x0 = X[order[start + b]]
            d0 = dZ1b[b, j]
            e0 = dZ1b[b, j + 1] if two else np.float32(0.0)
            for i in range(D):
                g[i] += d0 * x0[i]
                q[i] += e0 * x0[i]
            b += 1


@njit(**JIT)
def epoch_batched(X, Y, labels, order, batch, W1T, b1, W2T, b2, mW1T, mb1, mW2T, mb2, vW1T, vb1, vW2T, vb2,
                  hidden_relu, softmax_cce, adam, lr, iterations, Hb, Z2b, YHb, dZ2b, dZ1b, grow, gW2T, gb2, gb1):
    """One epoch with batch size ``batch`` (the last batch may be smaller); returns like ``epoch_batch1``."""
    n = order.shape[0]
    H, D = W1T.shape
    C = W2T.shape[0]
    c1 = np.float32(1.0 - ADAM_BETA_1)
    c2 = np.float32(1.0 - ADAM_BETA_2)
    eps = np.float32(ADAM_EPSILON)
    lr32 = np.float32(lr)
    loss_sum = 0.0
    correct = 0
    for start in range(0, n, batch):
        B = min(batch, n - start)
        scale = np.float32(1.0) / np.float32(B)
        _hidden_preactivations(X, order, start, B, W1T, b1, Hb)
        # activations, output layer, loss, output gradient
        for b in range(B):
            for j in range(H):
                z = Hb[b, j]
                if hidden_relu:
                    Hb[b, j] = z if z > 0 else np.float32(0.0)
                else:
                    Hb[b, j] = np.tanh(z)
            for c in range(C):
                acc = b2[c]
                for j in range(H):
                    acc += W2T[c, j] * Hb[b, j]
                Z2b[b, c] = acc
            k = order[start + b]
            loss, best = _output(Z2b[b], Y[k], softmax_cce, YHb[b], dZ2b[b], scale)
            loss_sum += loss
            if best == labels[k]:
                correct += 1
        # gradients of the output layer, and back to the hidden pre-activations (W2 before its update)
        for c in range(C):
            gb2[c] = 0
            for j in range(H):
                gW2T[c, j] = 0
        for b in range(B):
            for c in range(C):
                d = dZ2b[b, c]
                gb2[c] += d
                for j in range(H):
                    gW2T[c, j] += d * Hb[b, j]
            for j in range(H):
                acc = np.float32(0.0)
                for c in range(C):
                    acc += W2T[c, j] * dZ2b[b, c]
                if hidden_relu:
                    dZ1b[b, j] = acc if Hb[b, j] > 0 else np.float32(0.0)
                else:
                    dZ1b[b, j] = acc * (np.float32(1.0) - Hb[b, j] * Hb[b, j])
        for j in range(H):
            acc = np.float32(0.0)
            for b in range(B):
                acc += dZ1b[b, j]
            gb1[j] = acc
        alpha = np.float32(0.0)
        if adam:
            t = iterations + 1
            alpha = np.float32(lr * math.sqrt(1.0 - ADAM_BETA_2 ** t) / (1.0 - ADAM_BETA_1 ** t))
            _adam_row(b2, mb2, vb2, gb2, alpha, c1, c2, eps)
            for c in range(C):
                _adam_row(W2T[c], mW2T[c], vW2T[c], gW2T[c], alpha, c1, c2, eps)
            _adam_row(b1, mb1, vb1, gb1, alpha, c1, c2, eps)
        else:
            for c in range(C):
                b2[c] -= lr32 * gb2[c]
                for j in range(H):
                    W2T[c, j] -= lr32 * gW2T[c, j]
            for j in range(H):
                b1[j] -= lr32 * gb1[j]
        # hidden kernel: the gradient of two rows at a time, applied while they are in cache
        for j in range(0, H, 2):
            two = j + 1 < H
            _kernel_gradient_rows(X, order, start, B, dZ1b, j, two, grow[0], grow[1])
            for r in range(2 if two else 1):
                if adam:
                    _adam_row(W1T[j + r], mW1T[j + r], vW1T[j + r], grow[r], alpha, c1, c2, eps)
                else:
                    w = W1T[j + r]
                    g = grow[r]
                    for i in range(D):
                        w[i] -= lr32 * g[i]
        iterations += 1
    return loss_sum, correct, iterations


class FusedTrainer:
    """Holds the flat parameters, optimizer state and work arrays of one configuration.

    ``params``/``m``/``v`` are flat float32 arrays; ``W1T``, ``b1``, ``W2T``, ``b2`` (and their
    ``m``/``v`` twins) are views into them.  ``get_weights()`` returns Keras-layout copies.
    """

    def __init__(self, conf: Config, weights):
        self.conf = conf
        H, D, C = N_HIDDEN, N_IN, N_OUT
        self.sizes = [H * D, H, C * H, C]
        self.size = sum(self.sizes)
        self.params = np.zeros(self.size, np.float32)
        self.m = np.zeros(self.size, np.float32)
        self.v = np.zeros(self.size, np.float32)
        self.p_views = self._views(self.params)
        self.m_views = self._views(self.m)
        self.v_views = self._views(self.v)
        self.set_weights(weights)
        self.iterations = 0
        B = max(conf.batch, 1)
        self.h, self.z2, self.yh, self.dz2 = (np.zeros(H, np.float32), np.zeros(C, np.float32),
                                               np.zeros(C, np.float32), np.zeros(C, np.float32))
        self.dz1 = np.zeros(H, np.float32)
        self.Hb, self.Z2b, self.YHb = np.zeros((B, H), np.float32), np.zeros((B, C), np.float32), \
            np.zeros((B, C), np.float32)
        self.dZ2b, self.dZ1b = np.zeros((B, C), np.float32), np.zeros((B, H), np.float32)
        self.grow, self.gW2T = np.zeros((2, D), np.float32), np.zeros((C, H), np.float32)
        self.gb2, self.gb1 = np.zeros(C, np.float32), np.zeros(H, np.float32)

    def _views(self, flat):
        H, D, C = N_HIDDEN, N_IN, N_OUT
        o = np.cumsum([0] + self.sizes)
        return (flat[o[0]:o[1]].reshape(H, D), flat[o[1]:o[2]], flat[o[2]:o[3]].reshape(C, H), flat[o[3]:o[4]])

    def set_weights(self, weights):
        W1, b1, W2, b2 = weights
        W1T, b1v, W2T, b2v = self.p_views
        W1T[...] = np.asarray(W1, np.float32).T
        b1v[...] = b1
        W2T[...] = np.asarray(W2, np.float32).T
        b2v[...] = b2

    def get_weights(self):
        W1T, b1, W2T, b2 = self.p_views
        return [W1T.T.copy(), b1.copy(), W2T.T.copy(), b2.copy()]

    def epoch(self, X, Y, labels, order):
        """Train one epoch over ``X[order]``; returns ``{'loss': mean loss, 'accuracy': fraction correct}``."""
        conf = self.conf
        relu, cce, adam = conf.hidden == "relu", conf.loss == "cce", conf.optimizer == "adam"
        if (conf.output == "softmax") != cce:
            raise ValueError("the fused loop supports sigmoid+MSE and softmax+categorical cross-entropy")
        order = np.ascontiguousarray(order, dtype=np.int64)
        if conf.batch == 1:
            loss, correct, self.iterations = epoch_batch1(
                X, Y, labels, order, *self.p_views, *self.m_views, *self.v_views, relu, cce, adam, conf.lr,
                self.iterations, self.h, self.z2, self.yh, self.dz2, self.dz1)
        else:
            loss, correct, self.iterations = epoch_batched(
                X, Y, labels, order, conf.batch, *self.p_views, *self.m_views, *self.v_views, relu, cce, adam,
                conf.lr, self.iterations, self.Hb, self.Z2b, self.YHb, self.dZ2b, self.dZ1b, self.grow,
                self.gW2T, self.gb2, self.gb1)
        n = len(order)
        return {"loss": loss / n, "accuracy": correct / n}

