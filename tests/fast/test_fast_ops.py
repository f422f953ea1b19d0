"""The compiled path's own operations (``tweaknet/fast/ops.py``): the float32 tanh, BLAS on blocks of arrays and copies."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from numba import njit  # noqa: E402

from tweaknet import ops  # noqa: E402
from tweaknet.fast.jit import JIT  # noqa: E402
from tweaknet.fast.ops import gemm, put, split_at  # noqa: E402


@njit(**JIT)
def _tanh_loop(x, out):  # as the generated code calls it: per element, under the path's fast-math options
    for i in range(x.size):
        out[i] = ops.tanh(x[i])


def _ulps(a, b):
    """|a - b| in units in the last place of float32 at b (b: exact, float64)."""
    return np.abs(a.astype(np.float64) - b) / np.spacing(np.abs(b).astype(np.float32)).astype(np.float64)


def test_float32_tanh_is_within_two_ulps_of_the_exact_value_everywhere():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(200_000).astype(np.float32) * s for s in (1e-3, 0.3, 1.0, 3.0, 10.0)]
                       + [np.linspace(-12, 12, 400_001, dtype=np.float32),
                          np.float32([0.0, -0.0, 1e-30, -1e-30, 1e-8, 0.625, -0.625, 9.0, -9.0, 100.0, -1e30])])
    out = np.empty_like(x)
    _tanh_loop(x, out)
    exact = np.tanh(x.astype(np.float64))
    assert _ulps(out, exact).max() <= 2.0
    assert _ulps(np.tanh(x), exact).max() <= 2.0  # NumPy's own float32 tanh, for scale
    assert np.array_equal(np.sign(out), np.sign(x))  # odd, zero at zero
    assert np.abs(out).max() <= 1.0


def test_float64_tanh_is_numpys():
    x = np.linspace(-20, 20, 10_001)
    out = np.empty_like(x)
    _tanh_loop(x, out)
    np.testing.assert_allclose(out, np.tanh(x), rtol=1e-15, atol=0)


@njit(**JIT)
def _block_product(ta, tb, a, b, c, rows, cols, k, beta, alpha):
    """c[1 + :rows, 2 + :cols] = alpha op(a block) @ op(b block) (+ beta c): blocks at offsets, with row strides."""
    a0 = a.shape[1] + 1  # from a[1, 1]
    b0 = 2 * b.shape[1] + 3  # from b[2, 3]
    gemm(ta, tb, rows, cols, k, a, a0, a.shape[1], b, b0, b.shape[1], c, c.shape[1] + 2, c.shape[1], beta, alpha)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("beta, alpha", [(0.0, 1.0), (1.0, 1.0), (1.0, -0.25)])
def test_gemm_on_blocks_equals_numpy(dtype, ta, tb, beta, alpha):
    rng = np.random.default_rng(1)
    rows, cols, k = 5, 7, 6
    a = rng.standard_normal((12, 11)).astype(dtype)
    b = rng.standard_normal((13, 14)).astype(dtype)
    c = rng.standard_normal((9, 10)).astype(dtype)
    before = c.copy()
    _block_product(ta, tb, a, b, c, rows, cols, k, beta, alpha)
    ab = a[1:1 + (k if ta else rows), 1:1 + (rows if ta else k)]
    bb = b[2:2 + (cols if tb else k), 3:3 + (k if tb else cols)]
    expected = alpha * ((ab.T if ta else ab) @ (bb.T if tb else bb)) + beta * before[1:1 + rows, 2:2 + cols]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c[1:1 + rows, 2:2 + cols], expected, rtol=tol, atol=tol)
    outside = np.ones_like(c, dtype=bool)
    outside[1:1 + rows, 2:2 + cols] = False
    assert np.array_equal(c[outside], before[outside])  # nothing else written


def test_split_at_covers_every_column_once_in_aligned_blocks():
    for n in (1, 10, 16, 33, 1000, 2048):
        for parts in (1, 2, 3, 7, 16):
            edges = [split_at(n, p, parts) for p in range(parts + 1)]
            assert edges[0] == 0 and edges[-1] == n
            assert all(x <= y for x, y in zip(edges, edges[1:]))
            assert all(e % 16 == 0 for e in edges[:-1])


@njit(**JIT)
def _put_rows(dst, src, rows):  # as the generated code calls it: a block of rows, and one row
    put(dst[:rows], src[:rows])
    put(dst[rows], src[rows] * 2.0)


def test_put_copies_blocks_and_rows_and_casts_to_the_destination_type():
    src = np.arange(24.0).reshape(6, 4)
    dst = np.full((6, 4), -1.0, np.float32)
    _put_rows(dst, src, 3)
    assert np.array_equal(dst[:3], src[:3].astype(np.float32))
    assert np.array_equal(dst[3], (src[3] * 2).astype(np.float32))
    assert np.all(dst[4:] == -1.0)  # nothing past the block


def test_put_refuses_arrays_of_different_shapes():
    with pytest.raises(ValueError, match="shapes differ"):
        _put_rows(np.zeros((6, 4)), np.zeros((6, 5)), 3)
