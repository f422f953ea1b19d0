"""tweaknet's own float32 matrix product (``tweaknet/fast/products.c``, built and loaded by ``products.py``): its
numbers against NumPy in float64 at every shape class the blocks and the kernel treat apart, its independence
of how a product is split into blocks, and the fallback to BLAS where it cannot be built."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("numba")

from numba import njit  # noqa: E402

from tweaknet.fast import products  # noqa: E402
from tweaknet.fast.jit import JIT  # noqa: E402

KERNEL, WHY_NOT = products.available()
needs_kernel = pytest.mark.skipif(not KERNEL, reason=f"tweaknet's kernel does not run here: {WHY_NOT}")

gemm = products.gemm("tweaknet") if KERNEL else None


@njit(**JIT)
def _product(ta, tb, m, n, k, a, a0, b, b0, c, c0, beta, alpha):
    gemm(ta, tb, m, n, k, a, a0, a.shape[1], b, b0, b.shape[1], c, c0, c.shape[1], beta, alpha)


def _check(m, n, k, ta, tb, beta, alpha, seed=0, margin=(1, 2, 3)):
    """One product on blocks inside larger arrays (rows strided past the block, offsets), against float64."""
    rng = np.random.default_rng(seed)
    da, db, dc = margin
    a = rng.standard_normal(((k if ta else m) + da, (m if ta else k) + da)).astype(np.float32)
    b = rng.standard_normal(((n if tb else k) + db, (k if tb else n) + db)).astype(np.float32)
    c = rng.standard_normal((m + dc, n + dc)).astype(np.float32)
    before = c.copy()
    if beta == 0.0:
        c[dc:, dc:] = np.nan  # beta 0 never reads C: NaNs there must not reach the result
    _product(ta, tb, m, n, k, a, da * a.shape[1] + da, b, db * b.shape[1] + db, c, dc * c.shape[1] + dc, beta, alpha)
    opa = a[da:, da:].T if ta else a[da:, da:]
    opb = b[db:, db:].T if tb else b[db:, db:]
    c0 = before[dc:, dc:].astype(np.float64)
    expected = alpha * (opa.astype(np.float64) @ opb.astype(np.float64)) + beta * c0
    error = np.abs(c[dc:, dc:] - expected)
    # float32's error bound for any order of summation: (k + 2) u (|alpha| |A| |B| + |beta| |C|), u = 2^-24
    bound = (k + 2) * 2.0 ** -24 * (abs(alpha) * (np.abs(opa).astype(np.float64) @ np.abs(opb)) + abs(beta) * abs(c0))
    assert np.all(error <= bound)
    # and as accurate as the BLAS that NumPy uses, in float32, on the same product
    blas = (alpha * (opa @ opb) + np.float32(beta) * before[dc:, dc:]).astype(np.float64)
    assert np.sqrt(np.mean(error ** 2)) <= 2.0 * np.sqrt(np.mean((blas - expected) ** 2)) + 1e-7
    outside = np.ones_like(c, dtype=bool)
    outside[dc:, dc:] = False
    assert np.array_equal(c[outside], before[outside])  # nothing written outside the block


# Shapes: the kernel's panels are 8 rows by 48 columns (three vectors of 16), k runs in blocks of 256, rows in
# blocks of 256, columns in blocks of 512; products below 16 rows, 32 columns or a depth of 32 go to BLAS.
SHAPES = [
    (128, 1024, 784),  # a wide layer's forward block: every block boundary crossed, k not a multiple of 256
    (16, 48, 32),  # the smallest the kernel takes: one panel each way
    (17, 33, 33),  # a row past a panel, a column past two vectors, k past a multiple of 16
    (37, 70, 300),  # every edge at once: partial panels in both directions, k over one block
    (264, 530, 257),  # past one block of rows (256), of columns (512) and of k (256)
    (64, 100, 513),  # columns past two panels by 4, k two blocks and one
    (15, 64, 64),  # below the kernel's rows: BLAS
    (64, 31, 64),  # below its columns: BLAS
    (64, 64, 31),  # below its depth: BLAS
    (3, 5, 7),
]


@needs_kernel
@pytest.mark.parametrize("m, n, k", SHAPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_products_equal_float64_numpy_at_every_shape_class(m, n, k, ta, tb):
    _check(m, n, k, ta, tb, beta=0.0, alpha=1.0)


@needs_kernel
@pytest.mark.parametrize("beta, alpha", [(1.0, 1.0), (1.0, -0.25), (0.5, 2.0), (0.0, -1.0)])
@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True)])
def test_alpha_and_beta_as_blas_defines_them(beta, alpha, ta, tb):
    _check(40, 100, 300, ta, tb, beta=beta, alpha=alpha, seed=3)


@needs_kernel
def test_results_do_not_depend_on_how_a_product_is_split_into_blocks():
    """The compiled step gives each thread a block of a product's rows or columns (the split depends on the
    thread count); each element must come out bit for bit the same whichever block computed it."""
    rng = np.random.default_rng(5)
    m, n, k = 96, 1040, 600
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    whole = np.zeros((m, n), np.float32)
    _product(False, False, m, n, k, a, 0, b, 0, whole, 0, 0.0, 1.0)
    for col_edges in ([0, 512, n], [0, 336, 704, n], [0, 48, 96, n]):
        parts = np.zeros((m, n), np.float32)
        for c0, c1 in zip(col_edges, col_edges[1:]):
            _product(False, False, m, c1 - c0, k, a, 0, b, c0, parts, c0, 0.0, 1.0)
        assert np.array_equal(parts, whole)
    rows = np.zeros((m, n), np.float32)
    for r0, r1 in ((0, 40), (40, m)):
        _product(False, False, r1 - r0, n, k, a, r0 * k, b, 0, rows, r0 * n, 0.0, 1.0)
    assert np.array_equal(rows, whole)


@needs_kernel
def test_the_kernel_runs_where_it_pays_and_is_named():
    assert products.choice() == "tweaknet"
    assert products.describe() == "tweaknet's AVX-512 kernel"
    library, _ = products._library()
    assert library.tweaknet_products_kernel() == 512


def _run(code, **env):
    full = {**os.environ, "TWEAKNET_THREADS": "2", **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=600, env=full)


_TRAIN = """
    import numpy as np
    from tweaknet import fast
    fast.COMPILE_MIN_SAMPLES = 0
    from tweaknet.fast import products
    import tweaknet as keras
    rng = np.random.default_rng(0)
    x = rng.standard_normal((512, 512)).astype("float32"); y = (x[:, :3] > 0).astype("float32")
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((512,)), keras.layers.Dense(512, activation="relu"),
                              keras.layers.Dense(3, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    # 264k kernel weights at batch 128 (TWEAKNET_THREADS=2): a step on the compiled path's own two threads, each
    # block of a product one call of the matrix product
    h = model.fit(x, y, batch_size=128, epochs=2, verbose=0)
    print("PRODUCTS", products.describe())
    from tweaknet.lab import machine
    print("RECORD", machine.record().get("products"))
    print("LOSS", repr(h.history["loss"][-1]))
    from tweaknet.fast import source
    texts = [open(f).read() for _, f in source.loaded()]
    print("STEP", sum(t.split("_gemm_of(")[-1].count("gemm(") for t in texts),
          sorted({t.split("gemm = _gemm_of(")[1].split(")")[0].strip("'") for t in texts}))
"""


def _loss(out):
    return float(next(line for line in out.splitlines() if line.startswith("LOSS")).split()[1])


def test_without_a_c_compiler_every_product_goes_to_blas_and_training_works(tmp_path):
    """No compiler (CC names none, and an empty cache folder holds no kernel built before): the compiled path
    still trains, through BLAS, and says why; the loss is the one the BLAS setting gives."""
    without = _run(_TRAIN, CC=str(tmp_path / "no-such-cc"), TWEAKNET_CACHE_DIR=str(tmp_path / "a"))
    assert without.returncode == 0, without.stderr
    assert "PRODUCTS BLAS (" in without.stdout and "no-such-cc could not compile" in without.stdout
    blas = _run(_TRAIN, TWEAKNET_PRODUCTS="blas", TWEAKNET_CACHE_DIR=str(tmp_path / "b"))
    assert blas.returncode == 0, blas.stderr
    assert "PRODUCTS BLAS (TWEAKNET_PRODUCTS=blas)" in blas.stdout and "['blas']" in blas.stdout
    assert "RECORD BLAS (TWEAKNET_PRODUCTS=blas)" in blas.stdout  # what a stored epoch says it ran
    assert _loss(without.stdout) == _loss(blas.stdout)  # the same code, the same BLAS: the same numbers
    if KERNEL:
        own = _run(_TRAIN, TWEAKNET_CACHE_DIR=str(tmp_path / "c"))
        assert own.returncode == 0, own.stderr
        assert "PRODUCTS tweaknet's AVX-512 kernel" in own.stdout
        assert "STEP" in own.stdout and "['tweaknet']" in own.stdout  # every generated module calls the kernel
        assert int(own.stdout.split("STEP ")[1].split()[0]) > 0  # and the step has products
        assert _loss(own.stdout) == pytest.approx(_loss(blas.stdout), rel=1e-4)  # float32 rounding apart


def test_an_unknown_setting_names_the_ones_that_exist():
    out = _run("from tweaknet.fast import products; products.available()", TWEAKNET_PRODUCTS="mkl")
    assert out.returncode != 0
    assert "TWEAKNET_PRODUCTS='mkl': use 'auto'" in out.stderr and "'blas'" in out.stderr
    assert 'products.py", line' in out.stderr  # raised where the setting is read
