"""The compiled path beyond single techniques: float64, progress in chunks, the fallback and its reason,
subnormals, the book's own model.  Every registered technique against the reference path:
``test_fast_registry.py``."""
import platform
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

import tweaknet as tn  # noqa: E402
from tweaknet import fast  # noqa: E402


def _data(n=96, d=12, k=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(tn.config.floatx())
    y = tn.utils.to_categorical(rng.integers(0, k, n), k).astype(tn.config.floatx())
    return x, y


def _train(build, compile_kw, x, y, batch_size, reference, epochs=2, shuffle=True):
    tn.utils.set_random_seed(3)
    model = build()
    model.compile(**compile_kw())
    if reference:
        with fast.reference_only():
            h = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=shuffle)
    else:
        assert fast.explain(model if model.built else (model.build((None, x.shape[1])) or model)).compiled
        h = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=shuffle)
    return model, h


def _assert_same(build, compile_kw, batch_size, rtol=2e-5, atol=2e-6, **kw):
    x, y = _data()
    ref, h_ref = _train(build, compile_kw, x, y, batch_size, True, **kw)
    cmp, h_cmp = _train(build, compile_kw, x, y, batch_size, False, **kw)
    for a, b in zip(ref.get_weights(), cmp.get_weights()):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=atol)
    s_ref, s_cmp = ref.optimizer.get_state(), cmp.optimizer.get_state()
    assert s_ref["iterations"] == s_cmp["iterations"] > 0
    for key in s_ref:
        np.testing.assert_allclose(s_cmp[key], s_ref[key], rtol=rtol, atol=atol, err_msg=key)
    for key in h_ref.history:
        np.testing.assert_allclose(h_cmp.history[key], h_ref.history[key], rtol=1e-5, err_msg=key)


def _mlp(hidden="tanh", output="softmax", use_bias=True):
    return lambda: tn.Sequential([
        tn.layers.Dense(8, activation=hidden, input_shape=(12,), use_bias=use_bias),
        tn.layers.Dense(6, activation=hidden),
        tn.layers.Dense(4, activation=output, use_bias=use_bias)])


# Every optimizer (with each switch), clipping mode, activation and loss: tests/fast/test_fast_registry.py,
# driven by the registries.


def test_no_bias_no_shuffle_no_metrics():
    _assert_same(_mlp(use_bias=False), lambda: dict(optimizer="rmsprop", loss="categorical_crossentropy"),
                 batch_size=4, shuffle=False)


def test_float64_matches_tightly():
    tn.config.set_floatx("float64")
    try:
        _assert_same(_mlp("tanh", "sigmoid"), lambda: dict(optimizer="adam", loss="mse", metrics=["accuracy"]),
                     batch_size=3, rtol=1e-10, atol=1e-12)
    finally:
        tn.config.set_floatx("float32")


def test_unsupported_models_fall_back_with_a_reason():
    # a Dense layer applied to every row of a (3, 4) sample: several axes per sample, no leading Flatten
    model = tn.Sequential([tn.layers.Dense(4, input_shape=(3, 4)), tn.layers.BatchNormalization(),
                           tn.layers.Activation("softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.build()
    explanation = fast.explain(model)
    assert not explanation.compiled and "axis" in explanation.reason and explanation.reason in str(explanation)
    x = np.random.default_rng(0).standard_normal((40, 3, 4)).astype(np.float32)
    y = tn.utils.to_categorical(np.random.default_rng(1).integers(0, 4, (40, 3)), 4)
    model.fit(x, y, epochs=1, verbose=0)  # trains on the reference path
    assert model.optimizer.iterations == 2


def test_batch_callbacks_use_the_reference_path():
    model = _mlp()()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.build()
    assert "per-batch hooks" in fast.explain(model, batch_hooks=True).reason
    assert fast.explain(model).compiled


def test_training_flushes_subnormals_and_restores_the_mode():
    import platform
    tiny = np.array([1e-39], dtype=np.float32)
    assert (tiny * 2)[0] != 0  # the default mode keeps subnormals
    with fast.numerics():
        flushed = (tiny * 2)[0]
    assert (tiny * 2)[0] != 0  # restored afterwards
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert flushed == 0


def test_every_thread_of_the_compiled_paths_pool_flushes_subnormals():
    """MXCSR is per thread: with more threads, the pool's threads (where the parallel loops and their one-thread BLAS
    calls run) flush too while training, and get their mode back after."""
    import numba
    if platform.machine().lower() not in ("x86_64", "amd64") or numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs x86-64 and a pool of at least two threads")
    from numba import njit, prange

    from tweaknet.fast.denormals import _FTZ_DAZ, _stmxcsr

    @njit(parallel=True)
    def modes(blocks):
        out = np.empty(blocks, np.uint32)
        threads = np.empty(blocks, np.int64)
        for c in prange(blocks):  # the mode of the thread that runs each block
            out[c] = _stmxcsr()
            threads[c] = numba.get_thread_id()
        return out, threads

    blocks = 8 * numba.config.NUMBA_NUM_THREADS
    assert not (modes(blocks)[0] & _FTZ_DAZ).any()  # no thread flushes by default
    with fast.numerics(2):
        mode, threads = modes(blocks)
        assert len(set(threads)) == 2  # both threads ran blocks
        assert ((mode & _FTZ_DAZ) == _FTZ_DAZ).all()  # and both flush
    assert not (modes(blocks)[0] & _FTZ_DAZ).any()  # restored on every thread


def test_progress_reports_in_chunks_without_changing_the_numbers():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((20000, 12)).astype(np.float32)
    y = tn.utils.to_categorical(rng.integers(0, 4, 20000), 4)

    class Progress(tn.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

        def on_progress(self, seen, logs=None):
            self.calls.append((seen, logs["loss"]))

    results = []
    for callbacks in ([], [Progress()]):
        tn.utils.set_random_seed(8)
        model = _mlp("relu")()
        model.compile(optimizer=tn.optimizers.Adam(0.001), loss="categorical_crossentropy", metrics=["accuracy"])
        model.build()
        assert fast.explain(model, batch_hooks=False).compiled
        h = model.fit(x, y, batch_size=1, epochs=2, verbose=0, callbacks=callbacks)
        results.append((model.get_weights(), h.history))
    for a, b in zip(results[0][0], results[1][0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(results[0][1]["loss"], results[1][1]["loss"], rtol=1e-12)
    calls = callbacks[0].calls
    assert [seen for seen, _ in calls] == [8192, 16384] * 2 and all(np.isfinite(v) for _, v in calls)


def test_weights_changed_between_chunks_reach_the_next_sample(monkeypatch):
    """At batch 1 the first layer's update also computes its product with the next sample, across the chunks an
    epoch runs in (``Composer.ahead``).  A callback that changes that layer's weights between chunks must reach
    the next sample: the run equals fits of the same chunks with the same change made between them."""
    monkeypatch.setattr(fast, "COMPILE_MIN_SAMPLES", 0)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20000, 12)).astype(np.float32)
    y = tn.utils.to_categorical(rng.integers(0, 4, 20000), 4)

    def change(model):
        kernel, bias = model.layers[0].get_weights()
        model.layers[0].set_weights([kernel * 0.5, bias + 0.25])

    class Change(tn.callbacks.Callback):
        def on_progress(self, seen, logs=None):
            change(self.model)

    def build():
        tn.utils.set_random_seed(8)
        model = _mlp("tanh")()
        model.compile(optimizer=tn.optimizers.Adam(0.001), loss="categorical_crossentropy")
        model.build((None, 12))
        assert fast.explain(model).compiled
        return model

    one = build()
    one.fit(x, y, batch_size=1, epochs=1, verbose=0, shuffle=False, callbacks=[Change()])
    parts = build()
    for start, stop in ((0, 8192), (8192, 16384), (16384, 20000)):
        if start:
            change(parts)
        parts.fit(x[start:stop], y[start:stop], batch_size=1, epochs=1, verbose=0, shuffle=False)
    assert one.optimizer.iterations == parts.optimizer.iterations == 20000
    for a, b in zip(one.get_weights(), parts.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("batch_size, progress_steps", [(1, None), (32, None), (7, 300)])
def test_both_paths_report_progress_by_one_rule(batch_size, progress_steps):
    """One progress rule for the compiled and the reference path: every PROGRESS_SAMPLES samples (whole
    batches), never after an epoch's last step; a callback with ``progress_steps = N`` hears exactly at the
    multiples of N optimizer steps instead."""
    from tweaknet.callbacks.base import PROGRESS_SAMPLES
    rng = np.random.default_rng(9)
    n = 20000
    x = rng.standard_normal((n, 12)).astype(np.float32)
    y = tn.utils.to_categorical(rng.integers(0, 4, n), 4)

    class Progress(tn.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.progress_steps, self.calls = progress_steps, []

        def on_progress(self, seen, logs=None):
            self.calls.append((self.model.optimizer.iterations, seen))

    calls = []
    for reference in (True, False):
        tn.utils.set_random_seed(8)
        model = _mlp("relu")()
        model.compile(optimizer=tn.optimizers.Adam(0.001), loss="categorical_crossentropy")
        probe = Progress()
        if reference:
            with fast.reference_only():
                model.fit(x, y, batch_size=batch_size, epochs=2, verbose=0, callbacks=[probe])
        else:
            model.fit(x, y, batch_size=batch_size, epochs=2, verbose=0, callbacks=[probe])
        calls.append(probe.calls)
    steps = -(-n // batch_size)
    every = max(1, PROGRESS_SAMPLES // batch_size)
    expected = []
    for epoch in range(2):
        for k in range(1, steps + 1):
            t = epoch * steps + k
            due = t % progress_steps == 0 if progress_steps else (k % every == 0 and k < steps)
            if due:
                expected.append((t, min(k * batch_size, n)))
    assert calls[0] == expected
    assert calls[1] == expected


def test_live_progress_bar_on_a_terminal_keeps_the_compiled_path(monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    out = Terminal()
    rng = np.random.default_rng(6)
    x = rng.standard_normal((20000, 12)).astype(np.float32)
    y = tn.utils.to_categorical(rng.integers(0, 4, 20000), 4)
    model = _mlp("relu")()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    logger = tn.callbacks.ProgressLogger(verbose=1, stream=out)
    seen_paths = []
    real = fast.epoch_runner
    monkeypatch.setattr(fast, "epoch_runner", lambda *a: seen_paths.append(real(*a)) or seen_paths[-1])
    model.fit(x, y, batch_size=1, epochs=1, verbose=0, callbacks=[logger])
    assert seen_paths and seen_paths[0] is not None  # the compiled path ran
    text = out.getvalue()
    assert "Epoch 1/1" in text and "20000/20000" in text and "loss:" in text


@pytest.mark.parametrize("normalize", [False, True])
def test_the_books_flatten_first_model_takes_the_compiled_path(normalize):
    """``Flatten(input_shape=(28, 28))`` first, as the book writes it: compiled, same numbers as the reference."""
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, size=(60, 4, 3)).astype(np.uint8)
    x = images if normalize else (images.astype(np.float32) - 120.0) / 70.0
    y = tn.utils.to_categorical(rng.integers(0, 4, 60), 4)

    def build():
        layers = [tn.layers.Flatten(input_shape=(4, 3))]
        if normalize:
            norm = tn.layers.Normalization(axis=None)
            norm.adapt(images.reshape(60, -1).astype(np.float32))
            layers.append(norm)
        return tn.Sequential(layers + [tn.layers.Dense(8, activation="tanh"), tn.layers.Dense(4, activation="sigmoid")])

    results = []
    for reference in (True, False):
        tn.utils.set_random_seed(3)
        model = build()
        model.compile(optimizer="adam", loss="mse", metrics=["accuracy"])
        model.build()
        if reference:
            with fast.reference_only():
                h = model.fit(x, y, batch_size=1, epochs=2, verbose=0)
        else:
            assert fast.explain(model).compiled
            h = model.fit(x, y, batch_size=1, epochs=2, verbose=0)
        results.append((model.get_weights(), h.history))
    for a, b in zip(*[w for w, _ in results]):
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(results[1][1]["loss"], results[0][1]["loss"], rtol=1e-5)
    assert results[0][0][-2].shape == (8, 4)


def test_compiled_arrays_start_where_the_order_of_allocation_says():
    """``Composer.placed``: the k-th array the composer allocates starts (13 k mod 64) cache lines into a 4 KiB
    page, whatever address the allocator returned, so the same model always gets the same layout."""
    from tweaknet.fast.compose import Composer
    model = _mlp("relu")()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.build((None, 12))
    layouts = []
    for _ in range(2):
        composer = Composer(model, 1)
        arrays = [composer.args[f"H{i}"] for i in range(len(model.layers) + 1)]
        layouts.append([a.ctypes.data % 4096 for a in arrays])
        assert all(a.flags.c_contiguous and not a.any() for a in arrays)
    assert layouts[0] == layouts[1]
    assert [off // 64 for off in layouts[0]] == [13 * (2 * i) % 64 for i in range(len(model.layers) + 1)]


@pytest.mark.parametrize("optimizer, regularizer, into_weights", [
    (lambda: tn.optimizers.SGD(0.1), None, True),
    (lambda: tn.optimizers.SGD(0.1, momentum=0.5), None, False),
    (lambda: tn.optimizers.SGD(0.1, clipvalue=0.01), None, False),
    (lambda: tn.optimizers.SGD(0.1, weight_decay=0.1), None, False),
    (lambda: tn.optimizers.SGD(0.1), tn.regularizers.L2(1e-2), False),
    (lambda: tn.optimizers.Adam(0.01), None, False)])
def test_plain_sgd_updates_each_kernel_in_its_gradient_product(optimizer, regularizer, into_weights):
    """With batches, SGD without momentum (a step linear in the gradient) and nothing between the gradient and
    the rule: each kernel's gradient product adds ``-lr H^T DZ`` into the kernel (GEMM with alpha = -lr), so
    the kernels' gradient buffers are never written; the weights equal the reference path's.  Momentum,
    clipping, weight decay or a penalty keep the gradient and the update pass."""
    from tweaknet.fast.compose import Composer

    def build():
        return tn.Sequential([tn.layers.Dense(8, activation="tanh", input_shape=(12,), kernel_regularizer=regularizer),
                              tn.layers.Dense(4, activation="sigmoid")])

    _assert_same(build, lambda: dict(optimizer=optimizer(), loss="mse"), batch_size=8)
    x, y = _data()
    model, _ = _train(build, lambda: dict(optimizer=optimizer(), loss="mse"), x, y, 8, reference=False)
    assert Composer(model, 8).optimizer.into_weights == into_weights
    kernels_written = any(np.any(layer.grads["kernel"]) for layer in model.layers)
    assert kernels_written != into_weights
    assert np.all(model.layers[-1].grads["bias"])  # the bias's gradient is summed as before


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not Path("/proc/self/status").exists(),
                    reason="malloc_trim is glibc's; the resident set is read from /proc")
def test_freed_heap_goes_back_to_the_system():
    """``compiler.release_freed_memory`` (called after each compile) returns the heap that was freed to the system:
    without it glibc keeps the pages of many small freed blocks resident (as it did with LLVM's after a compile)."""
    from tweaknet.fast.compiler import release_freed_memory

    def resident_mib():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024

    blocks = [bytearray(4000) for _ in range(50_000)]  # 200 MB in blocks below glibc's mmap threshold
    for block in blocks[:-1]:
        block[0] = 1
    del blocks[:-1]  # freed, still resident (the last block keeps the heap's top in use)
    before = resident_mib()
    release_freed_memory()
    assert resident_mib() < before - 100
