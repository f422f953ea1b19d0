"""Flush-to-zero for subnormal floats during training, as TensorFlow does on CPU.

Adam's moments of a weight whose gradient stays zero (a dead ReLU's weights, say) decay
geometrically into the subnormal range (below 1.2e-38 in float32), where every arithmetic
operation on x86 takes ~100 cycles: an epoch of the book's configuration 4 became 40x slower.
TensorFlow sets the CPU's flush-to-zero (FTZ) and denormals-are-zero (DAZ) modes for its
threads; ``flush_denormals()`` does the same for the training thread while ``fit`` runs and
restores the previous mode after, and, when training uses more than one thread, for every thread
of Numba's pool, where the compiled path's parallel loops run (the register is per thread).  A
subnormal value is below float32 round-off of any weight it touches, so results stay equal to
round-off.  PyTorch does not flush by default
(``torch.set_flush_denormal``).  Implemented for x86-64 (the MXCSR register); elsewhere a no-op.
"""
import contextlib
import platform

_FTZ_DAZ = 0x8040  # MXCSR bits 15 (flush to zero) and 6 (denormals are zero)
_X86 = platform.machine().lower() in ("x86_64", "amd64")

if _X86:
    from llvmlite import ir
    import numpy as np
    from numba import njit, prange, types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def _stmxcsr(typingctx):
        def codegen(context, builder, signature, args):
            slot = cgutils.alloca_once(builder, ir.IntType(32))
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()]), "llvm.x86.sse.stmxcsr")
            builder.call(fn, [builder.bitcast(slot, ir.IntType(8).as_pointer())])
            return builder.load(slot)
        return types.uint32(), codegen

    @intrinsic
    def _ldmxcsr(typingctx, value):
        def codegen(context, builder, signature, args):
            slot = cgutils.alloca_once(builder, ir.IntType(32))
            builder.store(args[0], slot)
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()]), "llvm.x86.sse.ldmxcsr")
            builder.call(fn, [builder.bitcast(slot, ir.IntType(8).as_pointer())])
            return context.get_dummy_value()
        return types.void(types.uint32), codegen

    @njit(cache=True)
    def get_mxcsr():
        return _stmxcsr()

    @njit(cache=True)
    def set_mxcsr(value):
        _ldmxcsr(value)

    @njit(parallel=True, cache=True)
    def _set_on_threads(value, blocks):
        for _ in prange(blocks):  # at least one block on every thread of the pool
            _ldmxcsr(value)


def _pool(value):
    """Set the MXCSR of every thread of Numba's pool (the compiled path's parallel loops run there) to ``value``: a
    parallel loop of four blocks per thread, which the OpenMP and workqueue layers split evenly, so every thread runs
    at least one (TBB's work stealing gives no such promise: there a thread may keep its mode)."""
    import numba
    threads = numba.config.NUMBA_NUM_THREADS
    old = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        _set_on_threads(np.uint32(value), 4 * threads)
    finally:
        numba.set_num_threads(old)


@contextlib.contextmanager
def flush_denormals(pool=False):
    """Within the block, subnormal inputs and results of float operations in this thread become zero; with ``pool``,
    in every thread of Numba's pool too (MXCSR is per thread: the compiled path's parallel loops, and the one-thread
    BLAS calls they make, run on the pool's threads), which get this thread's previous mode back after."""
    if not _X86:
        yield
        return
    old = get_mxcsr()
    set_mxcsr(old | _FTZ_DAZ)
    if pool:
        _pool(old | _FTZ_DAZ)
    try:
        yield
    finally:
        set_mxcsr(old)
        if pool:
            _pool(old)
