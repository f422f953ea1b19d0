"""Numba options of the compiled path, and ``inline``: what every generated file imports (this file's text is part
of each generated file's hash, ``source.py``; compiling them is ``compiler.py``'s)."""
from __future__ import annotations

import dis
import types

from numba import njit

#: Options of every generated function.  fastmath lets LLVM vectorize the reductions; the compiled path
#: equals the reference path to float round-off (the tests' tolerances), not bit for bit.
JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath=True)

#: A parallel piece runs its explicit ``prange`` loops (over fixed chunks) in parallel and nothing else:
#: Numba would otherwise also split array expressions and reductions (a softmax's sum) into chunks that
#: follow the thread count, and the numbers would move with it.
PARALLEL = dict(prange=True, comprehension=False, numpy=False, reduction=False, setitem=False, stencil=False,
                fusion=False, inplace_binop=False)

_INLINED: dict = {}


def inline(fn):
    """A technique's function, inlined where the generated code calls it (per element or per row).

    The techniques' functions are plain Python (the reference path calls them on arrays); one that calls
    another (softplus's derivative calls the sigmoid) gets a compiled copy of that one in its globals.
    ``tweaknet.ops`` stays as it is: its functions have Numba implementations of their own (``ops.py``)."""
    key = fn
    if key not in _INLINED:
        names = {}
        for name in {i.argval for i in dis.get_instructions(fn) if i.opname == "LOAD_GLOBAL"}:
            obj = fn.__globals__.get(name)
            if (isinstance(obj, types.FunctionType) and obj.__module__.startswith("tweaknet.")
                    and obj.__module__ != "tweaknet.ops"):
                names[name] = inline(obj)
        if names:
            fn = types.FunctionType(fn.__code__, {**fn.__globals__, **names}, fn.__name__, fn.__defaults__,
                                    fn.__closure__)
        _INLINED[key] = njit(inline="always")(fn)
    return _INLINED[key]
