"""Threads on the compiled path (issue 12): which models get several threads, the compiled path with two
threads equals the reference path, and with one sample per batch (no BLAS: the path's own parallel loops)
the thread count never changes the numbers.

The parallel pieces serve one sample per batch on models of ``fast.PARALLEL_PARAMS`` weights and more (half
a million); these tests lower that to 0 so that small models take them, and run with 1 and 2 threads
whatever the machine has (``TWEAKNET_THREADS``; two threads on one core are slow, never wrong)."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

pytest.importorskip("numba")

import tweaknet as tn  # noqa: E402
from tweaknet import fast  # noqa: E402

RTOL = 1e-5  # float32, relative to the largest weight, as in test_fast_registry.py


def model(layers, optimizer, loss="categorical_crossentropy"):
    m = tn.Sequential([tn.layers.Input(shape=(12,)), *layers])
    m.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return m


CASES = {
    "adam": lambda: model([tn.layers.Dense(16, activation="relu"), tn.layers.Dense(16, activation="tanh"),
                           tn.layers.Dense(4, activation="softmax")], tn.optimizers.Adam(0.01)),
    "sgd_nesterov_l2_clipvalue": lambda: model(
        [tn.layers.Dense(16, activation="elu", kernel_regularizer=tn.regularizers.L2(1e-3)),
         tn.layers.Dense(4, activation="softmax", kernel_regularizer=tn.regularizers.L1L2(1e-5, 1e-3))],
        tn.optimizers.SGD(0.01, momentum=0.9, nesterov=True, clipvalue=0.5)),
    "sgd_tanh_mse": lambda: model([tn.layers.Dense(16, activation="tanh"), tn.layers.Dense(4, activation="sigmoid")],
                                  tn.optimizers.SGD(0.1), loss="mse"),
    "rmsprop_dropout_mse": lambda: model(
        [tn.layers.Dense(16, activation="sigmoid"), tn.layers.Dropout(0.2), tn.layers.Dense(4, activation="sigmoid")],
        tn.optimizers.RMSprop(0.01), loss="mse"),
    # no bias before batch normalization: its gradient is zero up to round-off, which Adam's normalized step
    # turns into steps of the learning rate's size in a direction set by the round-off
    "adamw_batchnorm_clipnorm": lambda: model(
        [tn.layers.Dense(16, use_bias=False), tn.layers.BatchNormalization(), tn.layers.Activation("relu"),
         tn.layers.Dense(4, activation="softmax")], tn.optimizers.AdamW(0.01, clipnorm=1.0)),
}


#: Wide enough that the shared products are split into several blocks: blocks of columns (starting at multiples
#: of 16) for layers of 128 units and more, of rows for narrower ones.
WIDE = {
    "wide_adam_tanh": lambda: model([tn.layers.Dense(160, activation="relu"), tn.layers.Dense(136, activation="tanh"),
                                     tn.layers.Dense(4, activation="softmax")], tn.optimizers.Adam(0.01)),
    "wide_sgd_l1l2_clipvalue_dropout": lambda: model(
        [tn.layers.Dense(144, activation="elu", kernel_regularizer=tn.regularizers.L1L2(1e-4, 1e-3)),
         tn.layers.Dropout(0.2), tn.layers.Dense(36, activation="sigmoid", bias_regularizer=tn.regularizers.L2(1e-3)),
         tn.layers.Dense(4, activation="sigmoid")],
        tn.optimizers.SGD(0.05, momentum=0.9, nesterov=True, clipvalue=0.5), loss="mse"),
    # thin layers (``blocks.THIN`` units at most): an 8-unit bottleneck and the 4-unit output each apply the
    # activation derivative of the Dense layer below (leaky ReLU's and ELU's, with their parameters)
    "wide_leaky_bottleneck_bce": lambda: model(
        [tn.layers.Dense(140, activation="leaky_relu"), tn.layers.Dense(8, activation="elu"),
         tn.layers.Dense(4, activation="sigmoid")], tn.optimizers.Adam(0.01), loss="binary_crossentropy"),
    "wide_adamw_batchnorm_clipnorm": lambda: model(
        [tn.layers.Dense(130, use_bias=False), tn.layers.BatchNormalization(), tn.layers.Activation("relu"),
         tn.layers.Dense(33, activation="softmax"), tn.layers.Dense(4, activation="softmax")],
        tn.optimizers.AdamW(0.01, clipnorm=1.0)),
    # each kernel and bias updated by the thread that completed its gradient (``OptimizerCode.in_pieces``), with
    # weight decay and clipping by value; the batch normalization's parameters by the update pass; a 24-unit layer's
    # input gradient, by blocks of columns, applies the ELU derivative of the layer below (``blocks.Dense.fold``)
    "wide_adamw_batchnorm_clipvalue": lambda: model(
        [tn.layers.Dense(132, use_bias=False), tn.layers.BatchNormalization(), tn.layers.Activation("relu"),
         tn.layers.Dense(40, activation="elu", kernel_regularizer=tn.regularizers.L2(1e-3)),
         tn.layers.Dense(24, activation="tanh"), tn.layers.Dense(4, activation="softmax")],
        tn.optimizers.AdamW(0.01, clipvalue=0.5)),
    # the book's plain SGD: with batches each kernel is updated by its own gradient product (alpha = -lr); the
    # batch normalization's parameters by the update pass
    "wide_sgd_tanh_batchnorm_mse": lambda: model(
        [tn.layers.Dense(144, activation="tanh"), tn.layers.Dense(40, use_bias=False), tn.layers.BatchNormalization(),
         tn.layers.Activation("tanh"), tn.layers.Dense(4, activation="sigmoid")], tn.optimizers.SGD(0.1), loss="mse"),
}
CASES.update(WIDE)


def data(n=96):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 12)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, n)]
    return x, y


def train(case, batch_size, threads, monkeypatch, reference=False):
    monkeypatch.setenv("TWEAKNET_THREADS", str(threads))
    tn.utils.set_random_seed(5)
    m = CASES[case]()
    x, y = data()
    if reference:
        with fast.reference_only():
            history = m.fit(x, y, batch_size=batch_size, epochs=2, verbose=0)
    else:
        history = m.fit(x, y, batch_size=batch_size, epochs=2, verbose=0)
    return m, history.history["loss"], m.predict(x)


@pytest.fixture
def parallel(monkeypatch):
    monkeypatch.setattr(fast, "PARALLEL_PARAMS", 0)


@pytest.mark.parametrize("batch_size", [1, 8])
@pytest.mark.parametrize("case", sorted(set(CASES) - set(WIDE)))
def test_parallel_pieces_equal_the_reference_path(case, batch_size, parallel, monkeypatch):
    from tweaknet.fast.compose import Composer
    compiled, loss_c, pred_c = train(case, batch_size, 2, monkeypatch)
    # batch 1: the parallel pieces; batches: BLAS with two threads, the loops serial
    assert Composer(compiled, batch_size).parallel == (batch_size == 1)
    reference, loss_r, pred_r = train(case, batch_size, 1, monkeypatch, reference=True)
    scale = np.abs(reference.flat.params).max()
    assert np.abs(compiled.flat.params - reference.flat.params).max() <= RTOL * scale
    np.testing.assert_allclose(loss_c, loss_r, rtol=RTOL)
    np.testing.assert_allclose(pred_c, pred_r, rtol=0, atol=RTOL)


@pytest.fixture
def shared(monkeypatch):
    monkeypatch.setattr(fast, "PARALLEL_MACS", 0)
    monkeypatch.setattr(fast, "SPLIT_WEIGHTS", 0)


@pytest.mark.parametrize("by", ["columns", "rows"])
@pytest.mark.parametrize("batch_size", [7, 18, 32, 40])  # 96 samples: a last batch of 5; of 6; of 32; of 16 (then the
@pytest.mark.parametrize("case", sorted(WIDE))  # first of two blocks of rows, which start at multiples of 16, is empty)
def test_shared_products_equal_the_reference_path(case, batch_size, by, shared, monkeypatch):
    """With batches, a step of ``PARALLEL_MACS`` multiply-adds shares its products between the path's threads
    (blocks of columns, each with its bias and activation, then the update in fixed chunks: models of ``SPLIT_WEIGHTS`` kernel
    weights and more; here every model takes it).  At batch 7 (up to ``ROW_PASS_BATCH``) each kernel's backward
    pass is one pass over its rows, except under norm clipping; up to ``ROW_PASS_SPLIT_BATCH`` (18, 32) too.
    ``rows``: every Dense layer's forward product and
    input gradient split by the batch's rows instead (``fast.splits_by_rows``, which takes wide layers there at
    large batches)."""
    from tweaknet.fast.compose import Composer
    if by == "rows":
        monkeypatch.setattr(fast, "splits_by_rows", lambda units, batch_size, threads: True)
    compiled, loss_c, pred_c = train(case, batch_size, 2, monkeypatch)
    composer = Composer(compiled, batch_size)
    assert composer.split
    assert composer.optimizer.by_kernel_rows == ("clipnorm" not in case and batch_size <= 32)
    dense = [b for b in composer.blocks if type(b).__name__ == "Dense"]
    assert [b.by_rows for b in dense] == [by == "rows" or b.layer.units < 128 for b in dense]
    # the kernel's gradient by the batch's rows, in partial sums: wide layers split by rows, unless plain SGD updates
    # the kernel in its product or the row pass computes it
    assert [b.gradient_by_rows for b in dense] == [
        by == "rows" and b.layer.units >= 128 and "wide_sgd_tanh" not in case and not composer.optimizer.by_kernel_rows
        for b in dense]
    # a layer of at most THIN units (all are split by rows) computes its backward pass in loops of its own
    assert [b.thin for b in dense] == [b.layer.units <= 16 and not composer.optimizer.by_kernel_rows for b in dense]
    # each Dense layer's update in its own pieces, but under norm clipping, with the row pass, or where plain SGD
    # updates the kernel in its product
    assert composer.optimizer.in_pieces == (not composer.optimizer.by_kernel_rows and "clipnorm" not in case
                                            and "wide_sgd_tanh" not in case)
    # a Dense layer whose input gradient is split by blocks of columns computes it side by side with its kernel's
    # gradient, on two halves of the threads, unless plain SGD updates the kernel in its product (by columns, every
    # other case but the bottleneck, whose layers above the first are thin, has one, unless the row pass serves the
    # kernels)
    side = [b.side_by_side(b.i > composer.first_trainable) for b in dense]
    assert side == [b.i > composer.first_trainable and not b.input_grad_by_rows and not b.thin
                    and not composer.optimizer.by_kernel_rows and "wide_sgd_tanh" not in case for b in dense]
    if by == "columns" and "bottleneck" not in case and "wide_sgd_tanh" not in case:
        assert any(side) != composer.optimizer.by_kernel_rows
    # a Dense layer right above a Dense layer with an elementwise activation applies its derivative
    for below, block in zip(composer.blocks, composer.blocks[1:]):
        folds = (type(below).__name__ == type(block).__name__ == "Dense" and not composer.optimizer.by_kernel_rows
                 and not below.layer.activation.rowwise)
        assert (getattr(block, "below", None) is below, getattr(below, "folded", False)) == (folds, folds)
    reference, loss_r, pred_r = train(case, batch_size, 1, monkeypatch, reference=True)
    assert_params_match(compiled, reference, case, batch_size, monkeypatch)
    np.testing.assert_allclose(loss_c, loss_r, rtol=RTOL)
    np.testing.assert_allclose(pred_c, pred_r, rtol=0, atol=RTOL)


def assert_params_match(compiled, reference, case, batch_size, monkeypatch):
    """The compiled path's weights within ``RTOL`` of the reference path's, both in float32; or, where float32's
    round-off alone moves the weights further (two epochs of Adam at 0.01 turn round-off in a near-zero gradient into
    steps of the learning rate's size: ``wide_adam_tanh`` at batch 32, 0.8e-5 of the largest weight between the
    float32 and the float64 reference paths), no further from the float64 reference path's weights than the float32
    reference path is.  A wrong gradient or update moves them by orders of magnitude more."""
    scale = np.abs(reference.flat.params).max()
    error = np.abs(compiled.flat.params - reference.flat.params).max()
    if error <= RTOL * scale:
        return
    tn.config.set_floatx("float64")
    try:
        exact = train(case, batch_size, 1, monkeypatch, reference=True)[0].flat.params
    finally:
        tn.config.set_floatx("float32")
    own = np.abs(reference.flat.params - exact).max()
    assert np.abs(compiled.flat.params - exact).max() <= max(own, RTOL * scale), (error / scale, own / scale)


@pytest.mark.parametrize("batch_size", [8, 40])
def test_thin_layers_fold_the_activation_derivative_of_the_dense_layer_below(batch_size, shared):
    """``blocks.Dense.fold``: a thin layer's input gradient applies the elementwise activation derivative of the Dense
    layer right below it, which then has no pass of its own; not a row-wise one (softmax), not across another layer,
    and not where the row pass (``by_kernel_rows``, here batches up to 32) computes the input gradient."""
    from tweaknet.fast.compose import Composer
    blocks = {name: Composer(CASES[name](), batch_size).blocks for name in
              ("wide_leaky_bottleneck_bce", "wide_adamw_batchnorm_clipnorm", "wide_sgd_tanh_batchnorm_mse")}
    wide, bottleneck, out = blocks["wide_leaky_bottleneck_bce"]
    rows = batch_size == 8
    assert (bottleneck.below, out.below) == ((None, None) if rows else (wide, bottleneck))
    assert (wide.folded, bottleneck.folded, out.folded) == (not rows, not rows, False)
    softmax33, out = blocks["wide_adamw_batchnorm_clipnorm"][-2:]
    assert out.thin and out.below is None and not softmax33.folded  # norm clipping: no row pass, thin at 8 too
    after_activation = blocks["wide_sgd_tanh_batchnorm_mse"][-1]
    assert after_activation.thin == (not rows) and after_activation.below is None  # the row pass takes it at 8


@pytest.mark.parametrize("threads, batch_size", [(2, 18), (3, 18), (2, 30)])
def test_the_row_pass_takes_a_threads_odd_last_row_alone(threads, batch_size, shared, monkeypatch):
    """From nine samples on the row pass takes two kernel rows per loop (``OptimizerCode.fused_rows``); a thread
    with an odd count of rows takes its last one alone.  131 rows: 65 and 66 on two threads, 43, 44, 44 on three.
    At batch 30 the samples' groups are 6, 8, 8, 8, the two in the middle in a loop (``compose.row_groups``)."""
    from tweaknet.fast.compose import Composer, row_groups
    assert row_groups(30) == ([0, 6, 14, 22, 30], True) and not row_groups(18)[1]
    CASES["odd_rows"] = lambda: model([tn.layers.Dense(131, activation="relu"), tn.layers.Dense(20, activation="tanh"),
                                       tn.layers.Dense(4, activation="softmax")], tn.optimizers.Adam(0.01))
    try:
        compiled, loss_c, pred_c = train("odd_rows", batch_size, threads, monkeypatch)
        assert Composer(compiled, batch_size).optimizer.by_kernel_rows
        reference, loss_r, pred_r = train("odd_rows", batch_size, 1, monkeypatch, reference=True)
        assert_params_match(compiled, reference, "odd_rows", batch_size, monkeypatch)
    finally:
        del CASES["odd_rows"]
    np.testing.assert_allclose(loss_c, loss_r, rtol=RTOL)
    np.testing.assert_allclose(pred_c, pred_r, rtol=0, atol=RTOL)


def test_a_thin_layer_of_one_unit_equals_the_reference_path(shared, monkeypatch):
    """One sigmoid unit (binary cross-entropy) after a wide ReLU layer: the thin layer's unrolled loops for one unit."""
    def run(reference):
        monkeypatch.setenv("TWEAKNET_THREADS", "2" if not reference else "1")
        tn.utils.set_random_seed(3)
        m = tn.Sequential([tn.layers.Input(shape=(12,)), tn.layers.Dense(130, activation="relu"),
                           tn.layers.Dense(1, activation="sigmoid")])
        m.compile(optimizer=tn.optimizers.Adam(0.01), loss="binary_crossentropy")
        x, _ = data()
        y = (x[:, :1] > 0).astype(np.float32)
        with fast.reference_only() if reference else contextlib.nullcontext():
            history = m.fit(x, y, batch_size=40, epochs=2, verbose=0)  # products: the row pass takes Adam up to 32
        return m, history.history["loss"]
    compiled, loss_c = run(False)
    from tweaknet.fast.compose import Composer
    assert Composer(compiled, 40).blocks[-1].below is not None
    reference, loss_r = run(True)
    scale = np.abs(reference.flat.params).max()
    assert np.abs(compiled.flat.params - reference.flat.params).max() <= RTOL * scale
    np.testing.assert_allclose(loss_c, loss_r, rtol=RTOL)


@pytest.mark.parametrize("threads", [1, 3])
def test_kernel_gradient_by_rows_has_a_partial_sum_per_thread(threads, shared, monkeypatch):
    """Split by the batch's rows, the kernel's gradient has one block of rows per thread the step is made for: on one
    thread no partial sum at all, on three two (``OptimizerCode.gradient_by_batch_rows``); both equal the reference."""
    from tweaknet.fast.compose import Composer
    monkeypatch.setattr(fast, "splits_by_rows", lambda units, batch_size, threads: True)
    compiled, loss_c, pred_c = train("wide_adam_tanh", 40, threads, monkeypatch)
    composer = Composer(compiled, 40)
    wide = [b for b in composer.blocks if getattr(b, "gradient_by_rows", False)]
    assert len(wide) == 2 and all(composer.args[b.roles["GP"]].shape[0] == threads - 1 for b in wide)
    reference, loss_r, pred_r = train("wide_adam_tanh", 40, 1, monkeypatch, reference=True)
    scale = np.abs(reference.flat.params).max()
    assert np.abs(compiled.flat.params - reference.flat.params).max() <= RTOL * scale
    np.testing.assert_allclose(loss_c, loss_r, rtol=RTOL)
    np.testing.assert_allclose(pred_c, pred_r, rtol=0, atol=RTOL)


@pytest.mark.parametrize("case", sorted(WIDE))
def test_shared_products_give_the_same_bits_on_the_same_thread_count(case, shared, monkeypatch):
    """Each block of a product is one BLAS call on one thread, whichever thread runs it: the same thread count
    gives the same bits (another count splits the products differently, and OpenBLAS's results for a block
    of columns can differ in the last bit from the same columns of a wider product: docs/benchmarks.md)."""
    first, again = (train(case, 8, 2, monkeypatch) for _ in range(2))
    assert np.array_equal(first[0].flat.params, again[0].flat.params)
    assert first[1] == again[1]
    assert np.array_equal(first[2], again[2])


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_sample_per_batch_gives_the_same_bits_on_any_thread_count(case, parallel, monkeypatch):
    one, loss1, pred1 = train(case, 1, 1, monkeypatch)
    two, loss2, pred2 = train(case, 1, 2, monkeypatch)
    assert np.array_equal(one.flat.params, two.flat.params)
    assert loss1 == loss2
    assert np.array_equal(pred1, pred2)


def test_wide_layers_split_by_rows_with_many_rows_per_thread():
    """``fast.splits_by_rows``: from ``ROWS_PER_THREAD`` samples per thread, a layer with no more units than the batch
    has samples splits its products by rows; with fewer, a layer with no more units than each thread has samples."""
    assert fast.ROWS_PER_THREAD == 256
    assert [fast.splits_by_rows(u, 512, 2) for u in (128, 256, 512, 1024)] == [True, True, True, False]
    assert [fast.splits_by_rows(256, b, 2) for b in (128, 256, 511, 512)] == [False, False, False, True]
    assert [fast.splits_by_rows(u, 256, 2) for u in (64, 128, 129, 256)] == [True, True, False, False]
    assert not fast.splits_by_rows(512, 511, 2) and not fast.splits_by_rows(128, 128, 2)
    assert not fast.splits_by_rows(512, 512, 4) and fast.splits_by_rows(256, 1024, 4) and fast.splits_by_rows(128, 512, 4)
    assert fast.splits_by_rows(256, 256, 1) and not fast.splits_by_rows(512, 256, 1)


def test_threads_follow_the_work_per_step(monkeypatch):
    monkeypatch.delenv("TWEAKNET_THREADS", raising=False)
    for var in fast.THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(fast, "cores", lambda: 4)
    small = tn.Sequential([tn.layers.Input(shape=(784,)), tn.layers.Dense(25, activation="relu"),
                           tn.layers.Dense(10, activation="softmax")])
    assert fast.threads_for(small, 1) == 1        # the book's network: about 20,000 multiply-adds per sample
    assert fast.threads_for(small, 64) == 1
    assert fast.threads_for(small, 256) == 4      # 256 x 19,850 multiply-adds: worth sharing
    monkeypatch.setattr(fast, "PARALLEL_PARAMS", 1000)
    assert fast.threads_for(small, 1) == 4        # batch 1 on a model over PARALLEL_PARAMS: parallel loops
    assert fast.threads_for(small, 8) == 1        # batches: BLAS, still too small to share
    monkeypatch.setenv("TWEAKNET_THREADS", "3")
    assert fast.threads_for(small, 1) == 3        # forced
    assert fast.threads_for(None) == 3


def test_wide_steps_and_large_batches_run_on_the_paths_own_threads():
    """``fast.splits_step``: a step with batches that shares its products (``PARALLEL_MACS``) runs on the compiled
    path's own threads from 1M kernel weights on, or at batches of ``SPLIT_BATCH`` and more; and at batches up to
    ``ROW_PASS_BATCH`` (each kernel's backward pass in one pass over its rows) unless plain SGD updates each
    kernel in its product."""
    def mlp(width, optimizer="adam"):
        m = tn.Sequential([tn.layers.Input(shape=(784,)), tn.layers.Dense(width, activation="relu"),
                           tn.layers.Dense(width, activation="relu"), tn.layers.Dense(10, activation="softmax")])
        m.compile(optimizer=optimizer, loss="categorical_crossentropy")
        return m
    w128, w256, w1024 = mlp(128), mlp(256), mlp(1024)
    assert fast.kernel_weights(w256) >= fast.SPLIT_WEIGHTS // 4 > fast.kernel_weights(w128)
    assert fast.ROW_PASS_BATCH == 16
    assert fast.SPLIT_BATCH == 32
    assert [fast.splits_step(w256, b) for b in (1, 8, 16, 24, 32, 64, 128, 512)] == [False, True, True, False, True,
                                                                                     True, True, True]
    assert [fast.splits_step(mlp(256, "sgd"), b) for b in (8, 24, 32, 128)] == [False, False, True, True]
    # width 128: too few weights for the row pass at 8, too few multiply-adds to share at 32; shared from 64 on
    assert [fast.splits_step(w128, b) for b in (8, 32, 64, 128, 512)] == [False, False, True, True, True]
    assert [fast.splits_step(w1024, b) for b in (1, 8, 32, 512)] == [False, True, True, True]
    assert fast.splits_step(mlp(1024, "sgd"), 8)


@pytest.mark.parametrize("optimizer, batch_size, rows", [
    ("adam", 8, True), ("sgd", 16, True), (lambda: tn.optimizers.SGD(0.1, momentum=0.9, clipvalue=0.5), 8, True),
    (lambda: tn.optimizers.Adam(clipnorm=1.0), 8, False), ("adam", 32, True), ("sgd", 32, True), ("adam", 64, True),
    ("sgd", 64, False), (lambda: tn.optimizers.SGD(0.1, momentum=0.9), 64, True), ("adam", 72, False),
    ("adam", 96, False), ("adam", 128, False)])
def test_small_batches_on_the_paths_threads_pass_once_over_each_kernels_rows(optimizer, batch_size, rows):
    """``OptimizerCode.by_kernel_rows``: a step on the path's own threads with batches up to ``ROW_PASS_SPLIT_BATCH``
    (beyond, while a model whose rule reads its gradient from a buffer, not plain SGD, has ``ROW_PASS_WEIGHTS``
    kernel weights per squared sample: width 1024 up to batch 69)
    computes each kernel's input gradient, gradient and update in one pass over its rows (norm clipping needs every
    gradient first: it keeps the products and the update pass); then the kernels' gradient buffers are never
    written, and plain SGD does not update in its products.  Its numbers: ``test_shared_products_*`` above."""
    from tweaknet.fast.compose import Composer
    m = tn.Sequential([tn.layers.Input(shape=(784,)), tn.layers.Dense(1024, activation="relu"),
                       tn.layers.Dense(1024, activation="relu"), tn.layers.Dense(10, activation="softmax")])
    m.compile(optimizer=optimizer() if callable(optimizer) else optimizer, loss="categorical_crossentropy")
    m.build((None, 784))
    code = Composer(m, batch_size).optimizer
    assert code.by_kernel_rows == rows
    assert not (code.by_kernel_rows and code.into_weights)


def test_cores_honor_the_blas_thread_variables(monkeypatch):
    monkeypatch.delenv("TWEAKNET_THREADS", raising=False)
    for var in fast.THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # what the lab gives each worker
    assert fast.cores() == 1
