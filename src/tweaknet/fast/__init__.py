"""The compiled whole-epoch training path, chosen automatically where it applies.

``fit`` asks :func:`epoch_runner` for a compiled runner; when numba is installed, the whole epoch runs
in compiled code over the model's own flat buffers, optimizer slots and layer buffers, for every model
``Sequential`` builds from the library's layers (``explain(model)`` names what stays off the path).
``evaluate`` and ``predict`` use the compiled forward pass too.  The compiled path is a composer
(``compose.py``, ``blocks.py``): it writes the model's step as a generated module that calls the
techniques' own functions, so no formula is written twice.  Both paths end with the same weights up to
float round-off (the tests check every registered technique), so a user never picks a path and never
sees a difference except the time.  (One internal difference: with one sample per batch the compiled
path does not keep the model's gradient buffer ``model.flat.grads`` up to date.)  Compiled code is cached
on disk (``source.py``), so only the very first run pays the compile time.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os

import numpy as np

_disabled = os.environ.get("TWEAKNET_REFERENCE_ONLY", "") not in ("", "0")

#: Work below which ``fit``, ``evaluate`` and ``predict`` stay on the reference path: compiling a new model
#: structure takes a few seconds (once, then it is cached on disk), more than the reference path needs for
#: this many samples.  ``fit`` counts samples times epochs.  The decision depends only on the model and the
#: amount of data, never on what is cached, so the same call always takes the same path.  Set
#: ``TWEAKNET_COMPILE_MIN_SAMPLES`` (or this attribute) to change it; 0 compiles everything it can.
COMPILE_MIN_SAMPLES = int(os.environ.get("TWEAKNET_COMPILE_MIN_SAMPLES", "20000"))


def compile_seconds() -> float:
    """Seconds this process has spent compiling the compiled path's functions (or loading them from the disk
    cache) so far; 0.0 where nothing was compiled.  Subtract two readings to take the compile time out of a
    measurement, as the lab's seconds per epoch do."""
    import sys
    compiler = sys.modules.get(__name__ + ".compiler")
    return compiler.compile_time if compiler is not None else 0.0


def available() -> bool:
    """True when numba and scipy (numba's BLAS bindings for batched matrix products) are importable."""
    return not _disabled and all(importlib.util.find_spec(m) is not None for m in ("numba", "scipy"))


@contextlib.contextmanager
def reference_only():
    """Run the reference path inside this block (used by the tests that compare the two paths)."""
    global _disabled
    old, _disabled = _disabled, True
    try:
        yield
    finally:
        _disabled = old


#: Multiply-adds per step (batch size times the weights of the Dense kernels) from which a step's matrix
#: products are shared between threads (``threads_for``).  Below it a GEMM is too small to split: the
#: threads' hand-over costs more than it saves, and an idle OpenBLAS thread spins on a core for a while.
#: A round number, not calibrated cell by cell: the book's network (about 20,000 multiply-adds per sample)
#: keeps one thread up to batch 128; width 256 at batch 32 (8.6M) gets every core (docs/benchmarks.md).
PARALLEL_MACS = int(os.environ.get("TWEAKNET_PARALLEL_MACS", str(2 ** 22)))
#: Weights from which, with one sample per batch, the compiled path runs the Dense layers' fused loops and the
#: update in parallel chunks, and ``threads_for`` gives every core.
PARALLEL_PARAMS = int(os.environ.get("TWEAKNET_PARALLEL_PARAMS", str(2 ** 19)))

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _count(var):
    """The positive integer in environment variable ``var``, or None."""
    value = os.environ.get(var, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def cores() -> int:
    """The cores this process may use: ``TWEAKNET_THREADS`` where set, else its CPU affinity capped by the BLAS
    thread variables (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``: the lab's workers get
    one thread each through them)."""
    forced = _count("TWEAKNET_THREADS")
    if forced:
        return forced
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    caps = [c for c in map(_count, THREAD_VARS) if c]
    return min(n, caps[0]) if caps else n


def threads_for(model=None, batch_size=1) -> int:
    """Threads for training or evaluating ``model`` at ``batch_size``: every core this process may use
    (:func:`cores`) when a step's matrix products reach :data:`PARALLEL_MACS` multiply-adds (BLAS shares
    them), when the step runs on the compiled path's own threads (:func:`splits_step`) or, at batch 1, when the
    model has :data:`PARALLEL_PARAMS` weights (the compiled path's own parallel loops); else one.
    ``TWEAKNET_THREADS`` forces a count.  A step on the path's own threads is cut into parts for that count (so its
    numbers do not depend on the cores that run it); the runner may run a chunk of its steps on one thread when
    other work on the machine slows the others (``pace.py``; ``TWEAKNET_PACE_SECONDS=0``: never)."""
    forced = _count("TWEAKNET_THREADS")
    if forced:
        return forced
    n = cores()
    if n == 1 or model is None or not getattr(model, "built", False):
        return 1
    if batch_size == 1:  # no BLAS call: the compiled path's own parallel loops, for models this large
        return n if model.flat.params.size >= PARALLEL_PARAMS else 1
    return n if shares_products(model, batch_size) or splits_step(model, batch_size) else 1


#: Dense kernel weights from which a step with batches (of :data:`PARALLEL_MACS` multiply-adds) runs on the
#: compiled path's own threads, each with its blocks of every product and of the rest of the step
#: (``compose.Composer.split``); below it BLAS shares the products between its threads and the rest of the step
#: runs on one.  Measured on a 2-core AVX-512 machine, seconds per epoch own threads / BLAS's threads: width 256
#: 1.10x (batch 32) and 1.07x (512), width 512 1.03x and 1.11x, width 1024 0.84x (32) and 0.95x (512), width
#: 2048 0.77x and 0.98x (docs/benchmarks.md).  From :data:`SPLIT_BATCH` samples per batch on, a quarter of that
#: weight suffices: there the gather of the batch's rows also runs on both threads, and width 256 and 512 measured
#: 0.97-1.02x and 0.95-0.99x own threads / BLAS's at batches 128 to 512 (against 1.03-1.07x slower at batch 32).
#: Since the kernel gradient is cut into blocks of rows (2026-11-26) the path's own threads win from batch 32 on
#: for every step whose products are shared at all: seconds for 20,000 samples, own / BLAS's, width 512 0.72/0.84
#: (batch 32) and 0.51/0.57 (64), width 256 0.35/0.39 (32), tanh/SGD at width 512 0.57/0.64 (32); for 30,720
#: samples, width 128 0.177/0.230 (64), 0.143-0.154/0.157-0.160 (128), 0.124-0.129/0.136-0.138 (256), 0.124/0.135
#: (512); width 64 0.090/0.094 (128), 0.073/0.082 (512); width 25 0.054/0.062 (256), 0.053/0.060 (512).
SPLIT_WEIGHTS = int(os.environ.get("TWEAKNET_SPLIT_WEIGHTS", str(2 ** 20)))
#: Samples per batch from which every step that shares its products (:data:`PARALLEL_MACS`) runs on the path's own
#: threads, whatever its weights (:func:`splits_step`).
SPLIT_BATCH = 32
#: Samples per batch up to which a step runs on the compiled path's own threads to run each Dense kernel's backward
#: pass as one pass over its rows (``compose.OptimizerCode.by_kernel_rows``: the input gradient, the gradient and the
#: update of each row at once) instead of two thin products and an update pass: models of a quarter of
#: :data:`SPLIT_WEIGHTS` take that path at these batch sizes (:func:`splits_step`; a step that is on the path's own
#: threads anyway takes the row pass up to :data:`ROW_PASS_SPLIT_BATCH`).  Measured with Adam (seconds for
#: 15,000 samples, row pass against before): batch 8, width 256 0.47 against 0.79, 512 1.31 against 1.90, 1024 3.15
#: against 4.5; batch 16 0.38/0.48, 0.92/1.12, 2.38/2.59; batch 32 slower (0.72/0.68 at 512, 1.88/1.49 at 1024);
#: width 128 at batch 8 slower (0.24/0.165), its kernels stay in the caches.  (Those figures are from before each row
#: took a loop per eight samples, 2026-11-27: that made the row pass 2.2-2.4x faster, :data:`ROW_PASS_SPLIT_BATCH`.)
ROW_PASS_BATCH = int(os.environ.get("TWEAKNET_ROW_PASS_BATCH", "16"))
#: Samples per batch up to which a step that runs on the path's own threads anyway (:func:`splits_step`) takes the
#: row pass too, whatever its rule (but norm clipping).  Since each row takes one loop per eight samples, two rows at
#: a time from nine samples on (``compose.OptimizerCode.fused_rows``), the row pass costs less than the two products
#: and the update: whole epochs alternated in one process, time with the products / with the row pass at batch 32,
#: Adam width 2048 1.23, 1024 1.08 (one row at a time; 1.21 more from two), 512 1.00 (1.14 more from two), 256 1.00;
#: plain SGD (tanh, MSE) width 2048 1.24, 1024 1.13, 512 1.02.
ROW_PASS_SPLIT_BATCH = int(os.environ.get("TWEAKNET_ROW_PASS_SPLIT_BATCH", "32"))
#: Beyond :data:`ROW_PASS_SPLIT_BATCH`, a model whose rule reads each kernel's gradient from a buffer (any but plain
#: SGD's update in its product, ``compose.updates_in_product``) takes the row pass while it has this many kernel
#: weights or more per squared sample of the batch (``weights >= 384 B^2``: width 512, 0.67M weights, up to batch
#: 41; width 1024, 1.86M, up to 69; width 2048, 5.8M, up to 123; measured at the batches below only).  The row
#: pass saves the update pass's traffic, a cost per weight, and spends more than the products per multiply-add, a
#: cost per weight and sample.  Whole epochs alternated in one process, time with the products / with the row pass,
#: Adam: batch 64, width 2048 1.25, 1024 1.13, 512 0.92; batch 128, width 2048 1.13, 1024 0.92; batch 256, width
#: 2048 1.00.  Plain SGD at batch 64, width 1024: 1.01 (it keeps its update in the product).  With tweaknet's own
#: matrix product (``products.py``, 2026-11-27) the products gained 5-10%: width 2048 batch 128 then ran 1.13 and
#: 1.05 (two series, both orders) faster with the products than with the row pass, batch 96 1.00, batch 64 0.98;
#: width 1024 batch 64 0.99: the factor went from 256 to 384.
ROW_PASS_WEIGHTS = int(os.environ.get("TWEAKNET_ROW_PASS_WEIGHTS", "384"))
#: Samples per thread from which a wide Dense layer on the path's own threads splits its forward product, its input
#: gradient and its kernel's gradient by the batch's rows instead of by columns, if it has no more units than the
#: batch has samples; with fewer samples per thread, a layer of no more units than each thread has samples does too
#: (``splits_by_rows``, ``blocks.Dense.by_rows``).  Each thread then reads the rows it wrote in the previous layer,
#: and packs the kernel (inputs x units) instead of the batch (samples x inputs).  Measured with Adam on 2 threads,
#: ms per step, rows against columns: batch 512 at width 128 1.46 / 1.81, 256 2.86 / 3.33, 512 6.93 / 7.24,
#: 1024 21.5 / 20.8 (units > samples); batch 256 at width 128 0.91 / 1.00 (units = samples per thread), 256
#: 1.81 / 1.77, 512 4.47 / 4.12; batch 128 at width 128 level (0.584 / 0.586).
ROWS_PER_THREAD = 256


def splits_by_rows(units, batch_size, threads) -> bool:
    """True when a Dense layer of ``units`` shared between ``threads`` threads splits its products by the batch's rows
    (:data:`ROWS_PER_THREAD`)."""
    per_thread = batch_size // max(1, threads)
    return (per_thread >= ROWS_PER_THREAD and units <= batch_size) or units <= per_thread


def kernel_weights(model) -> int:
    """The weights of the model's Dense kernels (the multiply-adds of one sample's forward products)."""
    return sum(int(np.prod(layer.params["kernel"].shape)) for layer in model.layers
               if "kernel" in getattr(layer, "params", {}))


def shares_products(model, batch_size) -> bool:
    """True when a step with batches of ``batch_size`` has :data:`PARALLEL_MACS` multiply-adds or more in its
    matrix products (batch size times the weights of the Dense kernels): then they are shared between threads."""
    return batch_size > 1 and batch_size * kernel_weights(model) >= PARALLEL_MACS


def splits_step(model, batch_size) -> bool:
    """True when a step with batches runs on the compiled path's own threads, products included
    (:data:`SPLIT_WEIGHTS`, :data:`SPLIT_BATCH`)."""
    weights = kernel_weights(model)
    if 1 < batch_size <= ROW_PASS_BATCH and 4 * weights >= SPLIT_WEIGHTS:
        from .compose import updates_in_product
        if weights >= SPLIT_WEIGHTS or not updates_in_product(model):  # plain SGD's update in its product stays
            return True                                                 # ahead below SPLIT_WEIGHTS (width 512)
    return shares_products(model, batch_size) and (weights >= SPLIT_WEIGHTS or batch_size >= SPLIT_BATCH)


@contextlib.contextmanager
def numerics(threads: int = 1):
    """The mode training runs in, on the reference and the compiled path alike, where the ``fast`` extra
    is installed: subnormals flushed to zero (see ``denormals.py``; with more than one thread on every thread of the
    compiled path's pool too) and ``threads`` threads for BLAS and for
    the compiled path's parallel loops (:func:`threads_for` chooses them: one for the book's networks, every
    core for wide layers and large batches).  At batch 1 the compiled path makes no BLAS call and its
    parallel loops run over fixed chunks, so the thread count never changes the numbers
    (``tests/fast/test_fast_threads.py``); with batches it does, in the last bits: OpenBLAS splits a product
    differently on another thread count (docs/benchmarks.md, "Threads").
    """
    with contextlib.ExitStack() as stack:
        if importlib.util.find_spec("numba") is not None:
            from .denormals import flush_denormals
            stack.enter_context(flush_denormals(pool=threads > 1))
        stack.enter_context(blas_threads(threads))
        if importlib.util.find_spec("numba") is not None:
            stack.enter_context(_numba_threads(threads))
        yield


@contextlib.contextmanager
def blas_threads(threads: int):
    """The loaded BLAS libraries (NumPy's, and SciPy's that the compiled path calls) use ``threads`` threads
    in this block (through threadpoolctl, where installed)."""
    if importlib.util.find_spec("threadpoolctl") is None:
        yield
        return
    with _blas_controller().limit(limits=max(1, int(threads)), user_api="blas"):
        yield


@contextlib.contextmanager
def _numba_threads(threads):
    """The threads of the compiled path's parallel loops (``prange``), for this block."""
    import numba
    old = numba.get_num_threads()
    numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(old)


_CONTROLLERS: dict = {}


def _blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, kept: finding them reads the process's memory
    map (a few ms, which every epoch and every diagnostics record paid).  It is found again once SciPy's
    own OpenBLAS (the compiled path's, loaded with ``scipy.linalg``) has joined NumPy's."""
    import sys

    from threadpoolctl import ThreadpoolController
    key = "scipy.linalg" in sys.modules
    if key not in _CONTROLLERS:
        _CONTROLLERS[key] = ThreadpoolController()
    return _CONTROLLERS[key]


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Which path ``fit`` takes for a model: ``compiled`` (bool) and, when not, the ``reason`` (naming the
    layer or option); ``str()`` says it in a sentence."""

    compiled: bool
    reason: str = ""

    def __str__(self):
        if self.compiled:
            return (f"compiled path: fit, evaluate and predict run in compiled code (a fit of fewer than "
                    f"{COMPILE_MIN_SAMPLES:,} samples x epochs stays on the reference path, where it is done before "
                    f"a first compile would be)")
        return f"reference path (NumPy): {self.reason}"

    def __repr__(self):
        return f"<Explanation: {self}>"


def explain(model, batch_hooks=False) -> Explanation:
    """Whether ``fit`` trains ``model`` on the compiled path, and why not.  Works on any model: one that is
    not compiled or not built yet is explained as far as it can be."""
    if not available():
        return Explanation(False, "numba is not installed (pip install 'tweaknet[fast]')" if not _disabled
                           else "the reference path is forced (TWEAKNET_REFERENCE_ONLY or fast.reference_only())")
    if batch_hooks:
        return Explanation(False, "a callback uses per-batch hooks (on_train_batch_begin/end); on_progress "
                                  "with progress_steps keeps the compiled path")
    if getattr(model, "optimizer", None) is None or getattr(model, "loss", None) is None:
        return Explanation(False, "the model is not compiled yet (call model.compile(optimizer=..., loss=...))")
    if not model.built:
        return Explanation(False, "the model is not built yet (its input shape is unknown until fit or build)")
    from .compose import servable
    reason = servable(model)
    if reason is None and model.flat.params.dtype not in (np.float32, np.float64):
        reason = f"only float32 and float64 are compiled (this model is {model.flat.params.dtype})"
    if reason is None and not callable(getattr(model.optimizer, "rule", None)):
        reason = f"optimizer {type(model.optimizer).__name__} has no update rule"
    return Explanation(reason is None, reason or "")


def epoch_runner(model, batch_size, callbacks, samples=None):
    """The compiled path's runner for ``fit`` (``run(x, y, order, callbacks)``, as the reference path's
    ``ReferenceEpoch``), or None when the reference path runs: ``explain`` says it cannot serve the model,
    or the fit trains fewer than ``COMPILE_MIN_SAMPLES`` samples (``samples``: samples times epochs)."""
    if _disabled or (samples is not None and samples < COMPILE_MIN_SAMPLES):
        return None
    if not explain(model, bool(callbacks.batch_callbacks)).compiled:
        return None
    from .runner import CompiledModel
    return CompiledModel(model, batch_size)


def inference_runner(model, batch_size, samples=None):
    """A runner whose ``evaluate(x, y)`` and ``predict(x)`` run compiled, or None (as ``epoch_runner``)."""
    if _disabled or (samples is not None and samples < COMPILE_MIN_SAMPLES) or not explain(model).compiled:
        return None
    from .runner import CompiledModel
    return CompiledModel(model, batch_size)
