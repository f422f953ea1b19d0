"""Numba implementations of ``tweaknet.ops``: the operations the techniques' math shares beyond ufuncs.

The compiled path calls the techniques' own functions on scalars (elementwise rules) and on single rows
(row-wise rules such as softmax); these overloads give ``where`` and the reductions their meaning there:
``where`` on a scalar condition is a conditional expression, a reduction over the last axis of a row is a
scalar (``last_*_kept`` too, which then broadcasts like the kept axis does in NumPy), over a 2-D array it
is one value per row.  Importing this module registers them.
"""
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload
from numba.np.linalg import ensure_blas

from .. import ops


def _is_array(t, ndim=None):
    return isinstance(t, types.Array) and (ndim is None or t.ndim == ndim)


@overload(ops.where, inline="always")
def _where(cond, a, b):
    if isinstance(cond, types.Boolean):
        return lambda cond, a, b: a if cond else b
    if _is_array(cond):
        return lambda cond, a, b: np.where(cond, a, b)


def _by_rows(one_row, dtype):
    """An implementation for 2-D arrays (a batch of rows): ``one_row`` (the 1-D case, an overloaded op of
    ``tweaknet.ops``) on each row, into a new array of ``dtype``."""
    def impl(a):
        out = np.empty(a.shape[0], dtype)
        for i in range(a.shape[0]):
            out[i] = one_row(a[i])
        return out
    return impl


@overload(ops.last_sum, inline="always")
def _last_sum(a):
    if _is_array(a, 1):
        return lambda a: np.sum(a)
    if _is_array(a, 2):
        return _by_rows(ops.last_sum, a.dtype if isinstance(a.dtype, types.Float) else types.int64)  # as np.sum


@overload(ops.last_mean, inline="always")
def _last_mean(a):
    if _is_array(a, 1):
        one = a.dtype(1) if isinstance(a.dtype, types.Float) else 1.0
        return lambda a: np.sum(a) * (one / a.size)
    if _is_array(a, 2):
        return _by_rows(ops.last_mean, a.dtype if isinstance(a.dtype, types.Float) else types.float64)


@overload(ops.last_max, inline="always")
def _last_max(a):
    if _is_array(a, 1):
        return lambda a: np.max(a)
    if _is_array(a, 2):
        def impl(a):
            out = np.empty(a.shape[0], a.dtype)
            for i in range(a.shape[0]):
                out[i] = np.max(a[i])
            return out
        return impl


@overload(ops.last_argmax, inline="always")
def _last_argmax(a):
    if _is_array(a, 1):
        return lambda a: np.argmax(a)
    if _is_array(a, 2):
        return _by_rows(ops.last_argmax, types.intp)


def _exponent_bits(dtype):
    """The unsigned type of a float's width and the mask of its exponent bits (all set: NaN or infinity).

    Finiteness is tested on the bits: the generated code runs with fast-math flags, under which LLVM may
    assume that no value is NaN or infinite and fold ``np.isfinite`` to True."""
    if isinstance(dtype, types.Float):
        if dtype.bitwidth == 32:
            return np.uint32, np.uint32(0x7F800000)
        return np.uint64, np.uint64(0x7FF0000000000000)
    return None, None


@overload(ops.is_finite, inline="always")
def _is_finite(a):
    if _is_array(a):
        bits, mask = _exponent_bits(a.dtype)
        if bits is not None:
            return lambda a: (np.ascontiguousarray(a).view(bits) & mask) != mask


@overload(ops.last_all_finite, inline="always")
def _last_all_finite(a):
    if _is_array(a, 1):
        bits, mask = _exponent_bits(a.dtype)
        if bits is not None:
            def impl(a):
                for v in np.ascontiguousarray(a).view(bits):
                    if v & mask == mask:
                        return False
                return True
            return impl
    if _is_array(a, 2):
        return _by_rows(ops.last_all_finite, types.boolean)


@overload(ops.last_sum_kept, inline="always")
def _last_sum_kept(a):
    if _is_array(a, 1):
        return lambda a: np.sum(a)
    if _is_array(a, 2):
        def impl(a):
            out = np.empty((a.shape[0], 1), a.dtype)
            for i in range(a.shape[0]):
                out[i, 0] = np.sum(a[i])
            return out
        return impl


@overload(ops.last_max_kept, inline="always")
def _last_max_kept(a):
    if _is_array(a, 1):
        return lambda a: np.max(a)
    if _is_array(a, 2):
        def impl(a):
            out = np.empty((a.shape[0], 1), a.dtype)
            for i in range(a.shape[0]):
                out[i, 0] = np.max(a[i])
            return out
        return impl


@overload(ops.expand_last, inline="always")
def _expand_last(a):
    if isinstance(a, (types.Number, types.Boolean)):
        return lambda a: a
    if _is_array(a, 1):
        return lambda a: a.reshape(-1, 1)


@overload(ops.first_sum, inline="always")
def _first_sum(a):
    if _is_array(a, 2):
        def impl(a):
            n, m = a.shape
            out = np.zeros(m, a.dtype)
            for i in range(n):
                for j in range(m):
                    out[j] += a[i, j]
            return out
        return impl


@overload(ops.first_mean, inline="always")
def _first_mean(a):
    if _is_array(a, 2):
        def impl(a):
            n, m = a.shape
            out = np.zeros(m, a.dtype)
            for i in range(n):
                for j in range(m):
                    out[j] += a[i, j]
            for j in range(m):
                out[j] = out[j] / n
            return out
        return impl


# -- tanh ------------------------------------------------------------------------------------------------
# Numba compiles np.tanh to a call of the C library's scalar tanhf, which stops LLVM from vectorizing the
# loop around it.  float32 values get Cephes's single-precision tanh instead (S. L. Moshier, Cephes Math
# Library, tanhf.c and expf.c: the same constants), written in operations LLVM vectorizes: below 0.625 an
# odd polynomial, above it 1 - 2 / (exp(2|x|) + 1) with exp's range reduction, and 2^n by selects (n is at
# most 26: tanh is 1 in float32 from |x| = 9 on).  float64 keeps np.tanh.
_F = np.float32
_LOG2E, _C1, _C2 = _F(1.44269504088896341), _F(0.693359375), _F(-2.12194440e-4)
_E0, _E1, _E2, _E3, _E4, _E5 = (_F(1.9875691500e-4), _F(1.3981999507e-3), _F(8.3334519073e-3),
                                _F(4.1665795894e-2), _F(1.6666665459e-1), _F(5.0000001201e-1))
_T0, _T1, _T2, _T3, _T4 = (_F(-5.70498872745e-3), _F(2.06390887954e-2), _F(-5.37397155531e-2),
                           _F(1.33314422036e-1), _F(-3.33332819422e-1))
_HALF, _ONE, _TWO, _SMALL, _BIG = _F(0.5), _F(1.0), _F(2.0), _F(0.625), _F(9.0)


def _tanh32(a):
    x = a
    m = abs(x)
    s = x * x
    small = ((((_T0 * s + _T1) * s + _T2) * s + _T3) * s + _T4) * s * x + x
    y = _TWO * min(m, _BIG)  # exp(y), 0 <= y <= 18
    n = np.floor(y * _LOG2E + _HALF)
    r = y - n * _C1 - n * _C2
    e = (((((_E0 * r + _E1) * r + _E2) * r + _E3) * r + _E4) * r + _E5) * (r * r) + r + _ONE
    k = np.int32(n)  # 2^k as a product of its bits' powers, 1 + (2^(2^i) - 1) bit_i (exact in float32)
    e = e * (_ONE + _F(k & 1)) * (_ONE + _F(3.0) * _F((k >> 1) & 1)) * (_ONE + _F(15.0) * _F((k >> 2) & 1))
    e = e * (_ONE + _F(255.0) * _F((k >> 3) & 1)) * (_ONE + _F(65535.0) * _F((k >> 4) & 1))
    big = np.copysign(_ONE - _TWO / (e + _ONE), x)
    t = _F(m < _SMALL)  # a blend, not a conditional expression: Numba's inliner mishandles those here
    return t * small + (_ONE - t) * big


@overload(ops.tanh, inline="always")
def _tanh(a):
    if isinstance(a, types.Float) and a.bitwidth == 32:
        return _tanh32
    if isinstance(a, (types.Number, types.Array)):
        return lambda a: np.tanh(a)


# -- matrix products on parts of arrays ------------------------------------------------------------------
# With batches, a wide model's step shares its matrix products between the threads of the compiled path's
# own parallel loops, each thread computing a block of the product's columns with a one-thread BLAS call
# (``blocks.Dense``): one pool of threads for the whole step (OpenBLAS's pool beside Numba's made a step
# slower: they spin on the same cores), and the bias and activation of a block run on the thread that
# computed it, while the block is in its cache.  Numba's ``np.dot`` takes whole arrays only; ``gemm``
# calls the BLAS that ``np.dot`` calls (SciPy's, through Numba's ``numba_xxgemm``) on a block given by an
# offset and a row stride.

_GEMM_ARGS = [ir.IntType(8)] * 3 + [cgutils.intp_t] * 3 + [cgutils.voidptr_t, cgutils.voidptr_t, cgutils.intp_t,
                                                           cgutils.voidptr_t, cgutils.intp_t, cgutils.voidptr_t,
                                                           cgutils.voidptr_t, cgutils.intp_t]


def gemm_calling(float32_symbol: str):
    """The ``gemm`` intrinsic below, calling C function ``float32_symbol`` (with ``numba_xxgemm``'s signature and
    meaning) for float32 products; float64 products always call ``numba_xxgemm``.  ``products.py`` gives the
    compiled path tweaknet's own float32 product this way."""

    @intrinsic
    def gemm(typingctx, trans_a, trans_b, m, n, k, a, a0, lda, b, b0, ldb, c, c0, ldc, beta, alpha):
        """``C[m, n] = alpha op(A)[m, k] @ op(B)[k, n] + beta C`` on row-major blocks: the block of ``a`` starts at
        flat element ``a0`` with rows ``lda`` elements apart (likewise ``b`` and ``c``); ``op`` transposes where
        ``trans_a`` / ``trans_b`` is true.  float32 or float64 arrays of one type; BLAS's threads are the caller's
        business (``runner`` sets one)."""
        if not (isinstance(a, types.Array) and a.dtype in (types.float32, types.float64) and b.dtype == a.dtype
                and c.dtype == a.dtype):
            return None
        dtype = a.dtype
        kind = ord("s") if dtype == types.float32 else ord("d")
        sig = types.void(trans_a, trans_b, m, n, k, a, a0, lda, b, b0, ldb, c, c0, ldc, beta, alpha)

        def codegen(context, builder, signature, args):
            ta, tb, m_, n_, k_, av, a0_, lda_, bv, b0_, ldb_, cv, c0_, ldc_, beta_, alpha_ = args
            tys = signature.args

            def intp(value, ty):
                return context.cast(builder, value, ty, types.intp)

            def address(value, ty, offset, offset_ty):
                data = context.make_array(ty)(context, builder, value).data
                return builder.bitcast(builder.gep(data, [intp(offset, offset_ty)]), cgutils.voidptr_t)

            def flag(value, ty):
                t = context.cast(builder, value, ty, types.boolean)
                return builder.select(t, ir.Constant(ir.IntType(8), ord("t")), ir.Constant(ir.IntType(8), ord("n")))

            alpha = cgutils.alloca_once_value(builder, context.cast(builder, alpha_, tys[15], dtype))
            beta_slot = cgutils.alloca_once_value(builder, context.cast(builder, beta_, tys[14], dtype))
            symbol = float32_symbol if dtype == types.float32 else "numba_xxgemm"
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), _GEMM_ARGS), symbol)
            # BLAS is column-major: a row-major C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T
            builder.call(fn, (ir.Constant(ir.IntType(8), kind), flag(tb, tys[1]), flag(ta, tys[0]),
                              intp(n_, tys[3]), intp(m_, tys[2]), intp(k_, tys[4]),
                              builder.bitcast(alpha, cgutils.voidptr_t),
                              address(bv, tys[8], b0_, tys[9]), intp(ldb_, tys[10]),
                              address(av, tys[5], a0_, tys[6]), intp(lda_, tys[7]),
                              builder.bitcast(beta_slot, cgutils.voidptr_t),
                              address(cv, tys[11], c0_, tys[12]), intp(ldc_, tys[13])))
            return context.get_dummy_value()
        return sig, codegen
    return gemm


gemm = gemm_calling("numba_xxgemm")


@intrinsic
def prefetch(typingctx, a, i, j):
    """Ask the CPU to bring the cache line holding ``a[i, j]`` (a 2-D array) into its caches, without waiting for
    it (LLVM's ``llvm.prefetch``: a hint, never a fault).  At batch 1 the compiled path asks for the sample after
    next while it gathers the next one: a random row of a large training set is a TLB and DRAM miss, which then
    overlaps a step's work instead of stalling the gather."""
    if not (isinstance(a, types.Array) and a.ndim == 2):
        return None
    sig = types.void(a, i, j)

    def codegen(context, builder, signature, args):
        av, iv, jv = args
        arr = context.make_array(signature.args[0])(context, builder, av)
        stride_i, stride_j = cgutils.unpack_tuple(builder, arr.strides, 2)
        offset = builder.add(builder.mul(context.cast(builder, iv, signature.args[1], types.intp), stride_i),
                             builder.mul(context.cast(builder, jv, signature.args[2], types.intp), stride_j))
        pointer = builder.gep(builder.bitcast(arr.data, cgutils.voidptr_t), [offset])
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t, i32, i32,
                                                                                           i32]), "llvm.prefetch.p0")
        # a read, kept in every cache level, of data
        builder.call(fn, [pointer, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return sig, codegen


def put(dst, src):
    """``dst[...] = src`` for two arrays of the same shape (the generated code's copies of whole rows and blocks)."""
    dst[...] = src


@overload(put)
def _put(dst, src):
    """A copy in plain loops.  Numba's own slice assignment (``dst[:B] = src``) compiles, for its shape check, a
    function that formats the error message with both shapes: about 2 s of every first compile, in every process
    (a third of a small model's compile), for an error that the generated code never raises."""
    if not (_is_array(dst) and _is_array(src) and dst.ndim == src.ndim and dst.ndim in (1, 2)):
        return None
    if dst.ndim == 1:
        def impl(dst, src):
            if src.shape[0] != dst.shape[0]:
                raise ValueError("put: the two arrays' shapes differ")
            for i in range(dst.shape[0]):
                dst[i] = src[i]
        return impl

    def impl2(dst, src):
        if src.shape[0] != dst.shape[0] or src.shape[1] != dst.shape[1]:
            raise ValueError("put: the two arrays' shapes differ")
        for i in range(dst.shape[0]):
            for j in range(dst.shape[1]):
                dst[i, j] = src[i, j]
    return impl2


#: Column blocks start at multiples of this many values (64 bytes in float32: whole cache lines and vectors).
ALIGN = 16


@njit(inline="always")
def split_at(n, p, parts):
    """Where block ``p`` of ``parts`` starts among ``n`` columns (``split_at(n, parts, parts) == n``)."""
    return n if p >= parts else (n * p // parts) // ALIGN * ALIGN


ensure_blas()  # SciPy's BLAS, which numba_xxgemm calls, is found at the first call
