"""Numba kernels of the optimizer step on the compiled path: per-step coefficients, clipping, weight decay and
the update rules on whole 2-D weights (``update_array``), and the fused gradient-and-update pass for one
sample (``fused_single_sample``).  Used by ``kernels.train_epoch``; codes are those of ``plan.py``.

Numba's disk cache checks only the file of the function it compiled: after editing this file, clear the
``__pycache__`` entries of ``kernels.py`` too (a changed signature is caught; a changed body is not).
"""
import math

import numpy as np
from numba import njit

SGD, SGD_MOMENTUM, SGD_NESTEROV, ADAM, ADAM_AMSGRAD, RMSPROP, ADAGRAD, NADAM = range(8)
NO_CLIP, CLIP_NORM, CLIP_GLOBAL_NORM, CLIP_VALUE = range(4)
# slots of the per-step coefficient array c (in the parameters' dtype)
C_LR, C_B1, C_B2, C_EPS, C_MOM, C_CENTERED, C_ALPHA, C_WD, C_N1, C_N2, C_N3, C_1MB1, C_1MB2, C_CLIP = range(14)

JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath=True)


@njit(**JIT)
def update_array(opt, c, W, G, S0, S1, S2):
    """Weight decay and the update rule on a whole 2-D weight W with gradient G (one loop per rule)."""
    rows, n = W.shape
    lr, b1, b2, eps, mom = c[C_LR], c[C_B1], c[C_B2], c[C_EPS], c[C_MOM]
    wd, alpha, one_b1, one_b2 = c[C_WD], c[C_ALPHA], c[C_1MB1], c[C_1MB2]
    if wd != 0.0:
        for i in range(rows):
            for j in range(n):
                W[i, j] -= W[i, j] * wd
    if opt == SGD:
        for i in range(rows):
            for j in range(n):
                W[i, j] -= lr * G[i, j]
    elif opt == SGD_MOMENTUM:
        for i in range(rows):
            for j in range(n):
                S0[i, j] = S0[i, j] * b1 - lr * G[i, j]
                W[i, j] += S0[i, j]
    elif opt == SGD_NESTEROV:
        for i in range(rows):
            for j in range(n):
                S0[i, j] = S0[i, j] * b1 - lr * G[i, j]
                W[i, j] += b1 * S0[i, j] - lr * G[i, j]
    elif opt == ADAM:
        for i in range(rows):
            for j in range(n):
                g = G[i, j]
                m = S0[i, j] + (g - S0[i, j]) * one_b1
                v = S1[i, j] + (g * g - S1[i, j]) * one_b2
                S0[i, j] = m
                S1[i, j] = v
                W[i, j] -= (m * alpha) / (math.sqrt(v) + eps)
    elif opt == ADAM_AMSGRAD:
        for i in range(rows):
            for j in range(n):
                g = G[i, j]
                m = S0[i, j] + (g - S0[i, j]) * one_b1
                v = S1[i, j] + (g * g - S1[i, j]) * one_b2
                vh = max(S2[i, j], v)
                S0[i, j] = m
                S1[i, j] = v
                S2[i, j] = vh
                W[i, j] -= (m * alpha) / (math.sqrt(vh) + eps)
    elif opt == RMSPROP:
        rho, one_rho = b2, 1.0 - b2
        for i in range(rows):
            for j in range(n):
                g = G[i, j]
                v = S0[i, j] * rho + one_rho * (g * g)
                S0[i, j] = v
                if c[C_CENTERED] != 0.0:
                    a = S2[i, j] * rho + one_rho * g
                    S2[i, j] = a
                    step = lr * g / math.sqrt(v - a * a + eps)
                else:
                    step = lr * g / math.sqrt(v + eps)
                if mom != 0.0:
                    S1[i, j] = S1[i, j] * mom + step
                    W[i, j] -= S1[i, j]
                else:
                    W[i, j] -= step
    elif opt == ADAGRAD:
        for i in range(rows):
            for j in range(n):
                g = G[i, j]
                acc = S0[i, j] + g * g
                S0[i, j] = acc
                W[i, j] -= lr * g / math.sqrt(acc + eps)
    else:  # NADAM
        n1, n2, n3 = c[C_N1], c[C_N2], c[C_N3]
        for i in range(rows):
            for j in range(n):
                g = G[i, j]
                m = S0[i, j] + (g - S0[i, j]) * one_b1
                v = S1[i, j] + (g * g - S1[i, j]) * one_b2
                S0[i, j] = m
                S1[i, j] = v
                W[i, j] -= (m * n1 + g * n2) * lr / (math.sqrt(v / n3) + eps)


@njit(**JIT)
def step_coefficients(opt, hp, lr, t, weight_decay, clip_c, state, c):
    """Per-step scalars, computed in float64 as the reference path does, stored in the params' dtype."""
    b1, b2, eps = hp[0], hp[1], hp[2]
    c[C_LR] = lr
    c[C_B1] = b1
    c[C_B2] = b2
    c[C_EPS] = eps
    c[C_MOM] = hp[3]
    c[C_CENTERED] = hp[4]
    c[C_WD] = weight_decay * lr
    c[C_1MB1] = 1.0 - b1
    c[C_1MB2] = 1.0 - b2
    c[C_CLIP] = clip_c
    if opt == ADAM or opt == ADAM_AMSGRAD:
        c[C_ALPHA] = lr * math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
    elif opt == NADAM:
        u_t = b1 * (1.0 - 0.5 * 0.96 ** t)
        u_t1 = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        state[0] = state[0] * u_t
        c[C_N1] = u_t1 / (1.0 - state[0] * u_t1)
        c[C_N2] = (1.0 - u_t) / (1.0 - state[0])
        c[C_N3] = 1.0 - b2 ** t


@njit(**JIT)
def clip_value(G, v):
    for i in range(G.shape[0]):
        for j in range(G.shape[1]):
            G[i, j] = min(max(G[i, j], -v), v)


@njit(**JIT)
def clip_all(code, c, G):
    """Clip every gradient array of the tuple G (clipnorm: each array separately)."""
    if code == CLIP_NORM:
        for G_ in G:
            ss = 0.0
            for i in range(G_.shape[0]):
                for j in range(G_.shape[1]):
                    ss += G_[i, j] * G_[i, j]
            norm = math.sqrt(ss)
            if norm > c:
                for i in range(G_.shape[0]):
                    for j in range(G_.shape[1]):
                        G_[i, j] = G_[i, j] * c / norm
    elif code == CLIP_GLOBAL_NORM:
        ss = 0.0
        for G_ in G:
            for i in range(G_.shape[0]):
                for j in range(G_.shape[1]):
                    ss += G_[i, j] * G_[i, j]
        norm = math.sqrt(ss)
        if not math.isfinite(norm) or norm > c:
            scale = c * (1.0 / norm) if math.isfinite(norm) else np.nan
            for G_ in G:
                for i in range(G_.shape[0]):
                    for j in range(G_.shape[1]):
                        G_[i, j] = G_[i, j] * scale


@njit(**JIT)
def fused_single_sample(opt, c, WT, x, d, GT, S0, S1):
    """For one sample and the book's two rules (SGD, Adam) with no clipping or weight decay: compute each
    gradient entry ``g = x_i d_j`` and apply the update in the same pass, without storing the gradient
    (a third of the memory traffic).  Returns False when the caller must use the two-pass form instead."""
    n_o, n_in = WT.shape
    if opt == SGD:
        lr = c[C_LR]
        for j in range(n_o):
            dj = d[j]
            for i in range(n_in):
                g = dj * x[i]
                WT[j, i] -= lr * g
        return True
    if opt == ADAM:
        alpha, eps, one_b1, one_b2 = c[C_ALPHA], c[C_EPS], c[C_1MB1], c[C_1MB2]
        for j in range(n_o):
            dj = d[j]
            for i in range(n_in):
                g = dj * x[i]
                m = S0[j, i] + (g - S0[j, i]) * one_b1
                v = S1[j, i] + (g * g - S1[j, i]) * one_b2
                S0[j, i] = m
                S1[j, i] = v
                WT[j, i] -= (m * alpha) / (math.sqrt(v) + eps)
        return True
    return False
