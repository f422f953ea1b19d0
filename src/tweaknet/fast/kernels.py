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
or global_clipnorm all gradients are computed first, then clipped, then applied.  Codes are defined below and used by ``plan.py``.
"""
import math

import numpy as np
from numba import njit

LINEAR, SIGMOID, TANH, RELU, LEAKY_RELU, ELU, SELU, SOFTPLUS, SOFTMAX = range(9)
MSE, BCE_FUSED, CCE_FUSED = range(3)
SGD, SGD_MOMENTUM, SGD_NESTEROV, ADAM, ADAM_AMSGRAD, RMSPROP, ADAGRAD, NADAM = range(8)
NO_CLIP, CLIP_NORM, CLIP_GLOBAL_NORM, CLIP_VALUE = range(4)
NO_METRIC, CATEGORICAL_ACCURACY, BINARY_ACCURACY = range(3)
# slots of the per-step coefficient array c (in the parameters' dtype)
C_LR, C_B1, C_B2, C_EPS, C_MOM, C_CENTERED, C_ALPHA, C_WD, C_N1, C_N2, C_N3, C_1MB1, C_1MB2, C_CLIP = range(14)

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath=True)


@njit(**_JIT)
def _sigmoid(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)
    return e / (1.0 + e)


@njit(**_JIT)
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


@njit(**_JIT)
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


@njit(**_JIT)
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


@njit(**_JIT)
def _update_array(opt, c, W, G, S0, S1, S2):
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


@njit(**_JIT)
def _step_coefficients(opt, hp, lr, t, weight_decay, clip_c, state, c):
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


@njit(**_JIT)
def _dense_forward(x, WT, b, z):
    """z = x W + b for one sample, with the kernel transposed: one contiguous dot product per unit."""
    n_o, n_in = WT.shape
    for j in range(n_o):
        acc = b[0, j]  # accumulate in the parameters' float type (a float64 0.0 would halve the vector width)
        for i in range(n_in):
            acc += WT[j, i] * x[i]
        z[j] = acc


@njit(**_JIT)
def _clip_value(G, v):
    for i in range(G.shape[0]):
        for j in range(G.shape[1]):
            G[i, j] = min(max(G[i, j], -v), v)


@njit(**_JIT)
def _clip_all(code, c, G):
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


@njit(**_JIT)
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


@njit(**_JIT)
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


@njit(**_JIT)
def _fused_single_sample(opt, c, WT, x, d, GT, S0, S1):
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


@njit(**_JIT)
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


@njit(**_JIT)
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
        _step_coefficients(opt, hp, lr, t0 + step + 1, weight_decay, clip_c, state, c)
        # backward; without norm clipping each layer is updated as soon as its gradient is known
        for l in range(L - 1, -1, -1):
            if l > 0:
                _input_gradient(B, Ws[l], Dz[l], Dz[l - 1])
                for s in range(B):
                    _activation_backward(acts[l - 1], alphas[l - 1], Z[l - 1][s], A[l - 1][s], Dz[l - 1][s])
            X = xbuf if l == 0 else A[l - 1]
            if B == 1 and clip_code == NO_CLIP and c[C_WD] == 0.0 and \
                    _fused_single_sample(opt, c, Ws[l], X[0], Dz[l][0], Gw[l], S0w[l], S1w[l]):
                # the kernel is done; the bias (one row) takes the two-pass form
                for j in range(Gb[l].shape[1]):
                    Gb[l][0, j] = Dz[l][0, j]
                if has_bias[l]:
                    _update_array(opt, c, Bs[l], Gb[l], S0b[l], S1b[l], S2b[l])
                continue
            _weight_gradients(B, X, Dz[l], Gw[l], Gb[l])
            if fuse:
                if clip_code == CLIP_VALUE:
                    _clip_value(Gw[l], c[C_CLIP])
                    _clip_value(Gb[l], c[C_CLIP])
                _update_array(opt, c, Ws[l], Gw[l], S0w[l], S1w[l], S2w[l])
                if has_bias[l]:
                    _update_array(opt, c, Bs[l], Gb[l], S0b[l], S1b[l], S2b[l])
        if not fuse:
            _clip_all(clip_code, clip_c, Gw + Gb)
            for l in range(L):
                _update_array(opt, c, Ws[l], Gw[l], S0w[l], S1w[l], S2w[l])
                if has_bias[l]:
                    _update_array(opt, c, Bs[l], Gb[l], S0b[l], S1b[l], S2b[l])
        step += 1
        start += B
    return loss_sum, correct_sum, step
