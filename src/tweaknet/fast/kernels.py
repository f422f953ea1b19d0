"""Numba kernels: one compiled call trains a whole epoch of a stack of Dense layers.

The kernel mirrors ``tweaknet.training.loop.train_step`` operation for operation (forward,
loss, fused or chained output gradient, backward, clipping, weight decay, update rule) on the
model's own parameter/gradient views and the optimizer's own slot arrays, so it ends with the
same numbers as the reference path up to float round-off.

Kernels arrive transposed, ``(units, inputs)``, with their gradients and optimizer slots in the
same layout (``plan.py`` transposes them in at the start of an epoch and back at its end), so the
long loops run over contiguous inputs; biases are (1, units) rows.  Every index is a
non-negative loop counter, so LLVM vectorizes the inner loops.  Without norm clipping each layer is updated during the backward pass, as soon as its
gradient is known (its input gradient is computed first, from the old weights); with clipnorm
or global_clipnorm all gradients are computed first, then clipped, then applied.  Codes are defined here and in
``update.py`` (the optimizer step) and used by ``plan.py``.
"""
import math

import numpy as np
from numba import njit

LINEAR, SIGMOID, TANH, RELU, LEAKY_RELU, ELU, SELU, SOFTPLUS, SOFTMAX = range(9)
MSE, BCE_FUSED, CCE_FUSED = range(3)
NO_METRIC, CATEGORICAL_ACCURACY, BINARY_ACCURACY = range(3)

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

from .update import (C_CLIP, C_WD, CLIP_VALUE, JIT, NO_CLIP, clip_all, clip_value, fused_single_sample,
                     step_coefficients, update_array)


@njit(**JIT)
def _sigmoid(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@njit(**JIT)
def _activate(code, alpha, z, a):
    n = z.size
    if code == LINEAR:
        for j in range(n):
            a[j] = z[j]
    elif code == SIGMOID:
        for j in range(n):
            a[j] = _sigmoid(z[j])
    elif code == TANH:
        for j in range(n):
            a[j] = math.tanh(z[j])
    elif code == RELU:
        for j in range(n):
            a[j] = z[j] if z[j] > 0 else 0.0
    elif code == LEAKY_RELU:
        for j in range(n):
            a[j] = z[j] if z[j] > 0 else alpha * z[j]
    elif code == ELU:
        for j in range(n):
            a[j] = z[j] if z[j] > 0 else alpha * math.expm1(z[j])
    elif code == SELU:
        for j in range(n):
            a[j] = SELU_SCALE * z[j] if z[j] > 0 else SELU_SCALE * SELU_ALPHA * math.expm1(z[j])
    elif code == SOFTPLUS:
        for j in range(n):
            a[j] = max(z[j], 0.0) + math.log1p(math.exp(-abs(z[j])))
    else:  # SOFTMAX
        m = z[0]
        for j in range(1, n):
            m = max(m, z[j])
        total = 0.0
        for j in range(n):
            e = math.exp(z[j] - m)
            a[j] = e
            total += e
        for j in range(n):
            a[j] = a[j] / total


@njit(**JIT)
def _activation_backward(code, alpha, z, a, d):
    """``d`` (gradient at the output a, first z.size entries) becomes the gradient at z."""
    n = z.size
    if code == SIGMOID:
        for j in range(n):
            d[j] = d[j] * a[j] * (1.0 - a[j])
    elif code == TANH:
        for j in range(n):
            d[j] = d[j] * (1.0 - a[j] * a[j])
    elif code == RELU:
        for j in range(n):
            if not z[j] > 0:
                d[j] = 0.0
    elif code == LEAKY_RELU:
        for j in range(n):
            if not z[j] > 0:
                d[j] = d[j] * alpha
    elif code == ELU:
        for j in range(n):
            if not z[j] > 0:
                d[j] = d[j] * (a[j] + alpha)
    elif code == SELU:
        for j in range(n):
            d[j] = d[j] * (SELU_SCALE if z[j] > 0 else a[j] + SELU_SCALE * SELU_ALPHA)
    elif code == SOFTPLUS:
        for j in range(n):
            d[j] = d[j] * _sigmoid(z[j])
    elif code == SOFTMAX:
        dot = 0.0
        for j in range(n):
            dot += d[j] * a[j]
        for j in range(n):
            d[j] = a[j] * (d[j] - dot)


@njit(**JIT)
def _loss_grad(loss_code, eps, metric_code, t, a, d, scale):
    """Per-sample loss and correct count; ``d`` = dL/d(output) (MSE) or dL/d(logits) (fused), times scale."""
    n = a.size
    value = 0.0
    if loss_code == MSE:
        for j in range(n):
            diff = a[j] - t[j]
            value += diff * diff
            d[j] = diff * (2.0 * scale)
        value /= n
    elif loss_code == BCE_FUSED:
        for j in range(n):
            pc = min(max(a[j], eps), 1.0 - eps)
            value -= t[j] * max(math.log(pc), -100.0) + (1.0 - t[j]) * max(math.log1p(-pc), -100.0)
            d[j] = (a[j] - t[j]) * scale
        value /= n
    else:  # CCE_FUSED
        total = 0.0
        tsum = 0.0
        for j in range(n):
            total += a[j]
            tsum += t[j]
        for j in range(n):
            value -= t[j] * math.log(min(max(a[j] / total, eps), 1.0 - eps))
            d[j] = (a[j] * tsum - t[j]) * scale
    correct = 0.0
    if metric_code == CATEGORICAL_ACCURACY:
        bp = 0
        bt = 0
        for j in range(1, n):
            if a[j] > a[bp]:
                bp = j
            if t[j] > t[bt]:
                bt = j
        correct = 1.0 if bp == bt else 0.0
    elif metric_code == BINARY_ACCURACY:
        for j in range(n):
            if (1.0 if a[j] > 0.5 else 0.0) == t[j]:   # the label as given, as in Keras
                correct += 1.0
        correct /= n
    return value, correct


@njit(**JIT)
def _dense_forward(x, WT, b, z):
    """z = x W + b for one sample, with the kernel transposed: one contiguous dot product per unit."""
    n_o, n_in = WT.shape
    for j in range(n_o):
        acc = b[0, j]  # accumulate in the parameters' float type (a float64 0.0 would halve the vector width)
        for i in range(n_in):
            acc += WT[j, i] * x[i]
        z[j] = acc


@njit(**JIT)
def _forward(l, B, X, WT, b, Z, A, act, alpha):
    """Layer l's pre-activations Z[:B] = X[:B] W + b and outputs A[:B] (BLAS for batches, loops for one sample)."""
    if B == 1:
        _dense_forward(X[0], WT, b, Z[0])
    else:
        np.dot(X[:B], WT.T, Z[:B])
        n_o = WT.shape[0]
        for s in range(B):
            for j in range(n_o):
                Z[s, j] += b[0, j]
    for s in range(B):
        _activate(act, alpha, Z[s], A[s])


@njit(**JIT)
def _weight_gradients(B, X, D, GT, Gb):
    """GT = (X[:B]^T D[:B])^T and Gb = sum of the rows of D[:B]."""
    n_o, n_in = GT.shape
    if B == 1:
        for j in range(n_o):
            dj = D[0, j]
            for i in range(n_in):
                GT[j, i] = dj * X[0, i]
    else:
        np.dot(D[:B].T, X[:B], GT)
    for j in range(n_o):
        Gb[0, j] = D[0, j]
    for s in range(1, B):
        for j in range(n_o):
            Gb[0, j] += D[s, j]


@njit(**JIT)
def _input_gradient(B, WT, D, Dn):
    """Dn[:B] = D[:B] W^T, the gradient at the layer's input."""
    n_o, n_in = WT.shape
    if B == 1:
        for i in range(n_in):
            Dn[0, i] = 0.0
        for j in range(n_o):
            dj = D[0, j]
            for i in range(n_in):
                Dn[0, i] += dj * WT[j, i]
    else:
        np.dot(D[:B], WT, Dn[:B])


@njit(**JIT)
def train_epoch(x, y, order, batch_size, Ws, Bs, Gw, Gb, S0w, S1w, S2w, S0b, S1b, S2b, acts, alphas, has_bias,
                loss_code, eps, metric_code, opt, hp, state, lrs, t0, weight_decay, clip_code, clip_c,
                Z, A, Dz, xbuf, in_mean, in_denom, c):
    """Train one epoch; return (sum over samples of the loss, correct count, steps).

    Per layer l: Z[l], A[l] hold pre-activations and outputs, Dz[l] the gradient at Z[l]
    (all shaped (batch_size, units)); xbuf holds the batch's input rows, cast to the float type and
    normalized as ``(x - in_mean) / in_denom`` (zeros and ones when the model has no Normalization).
    """
    n = order.size
    L = len(Ws)
    n_out = Ws[L - 1].shape[0]
    fuse = clip_code == NO_CLIP or clip_code == CLIP_VALUE
    loss_sum = 0.0
    correct_sum = 0.0
    step = 0
    start = 0
    while start < n:
        B = min(batch_size, n - start)
        n_in = xbuf.shape[1]
        for s in range(B):
            row = order[start + s]
            for i in range(n_in):
                xbuf[s, i] = (x[row, i] - in_mean[i]) / in_denom[i]
        for l in range(L):
            _forward(l, B, xbuf if l == 0 else A[l - 1], Ws[l], Bs[l], Z[l], A[l], acts[l], alphas[l])
        # loss and the gradient at the last pre-activation
        scale = 1.0 / B if loss_code == CCE_FUSED else 1.0 / (B * n_out)
        out, d_out = A[L - 1], Dz[L - 1]
        for s in range(B):
            value, hit = _loss_grad(loss_code, eps, metric_code, y[order[start + s]], out[s], d_out[s], scale)
            loss_sum += value
            correct_sum += hit
            if loss_code == MSE:
                _activation_backward(acts[L - 1], alphas[L - 1], Z[L - 1][s], out[s], d_out[s])
        lr = lrs[step] if lrs.size > 1 else lrs[0]
        step_coefficients(opt, hp, lr, t0 + step + 1, weight_decay, clip_c, state, c)
        # backward; without norm clipping each layer is updated as soon as its gradient is known
        for l in range(L - 1, -1, -1):
            if l > 0:
                _input_gradient(B, Ws[l], Dz[l], Dz[l - 1])
                for s in range(B):
                    _activation_backward(acts[l - 1], alphas[l - 1], Z[l - 1][s], A[l - 1][s], Dz[l - 1][s])
            X = xbuf if l == 0 else A[l - 1]
            if B == 1 and clip_code == NO_CLIP and c[C_WD] == 0.0 and \
                    fused_single_sample(opt, c, Ws[l], X[0], Dz[l][0], Gw[l], S0w[l], S1w[l]):
                # the kernel is done; the bias (one row) takes the two-pass form
                for j in range(Gb[l].shape[1]):
                    Gb[l][0, j] = Dz[l][0, j]
                if has_bias[l]:
                    update_array(opt, c, Bs[l], Gb[l], S0b[l], S1b[l], S2b[l])
                continue
            _weight_gradients(B, X, Dz[l], Gw[l], Gb[l])
            if fuse:
                if clip_code == CLIP_VALUE:
                    clip_value(Gw[l], c[C_CLIP])
                    clip_value(Gb[l], c[C_CLIP])
                update_array(opt, c, Ws[l], Gw[l], S0w[l], S1w[l], S2w[l])
                if has_bias[l]:
                    update_array(opt, c, Bs[l], Gb[l], S0b[l], S1b[l], S2b[l])
        if not fuse:
            clip_all(clip_code, clip_c, Gw + Gb)
            for l in range(L):
                update_array(opt, c, Ws[l], Gw[l], S0w[l], S1w[l], S2w[l])
                if has_bias[l]:
                    update_array(opt, c, Bs[l], Gb[l], S0b[l], S1b[l], S2b[l])
        step += 1
        start += B
    return loss_sum, correct_sum, step
