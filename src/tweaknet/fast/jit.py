"""Numba options of the compiled path, and the one-time notice while a first compile runs."""
from __future__ import annotations

import dis
import sys
import threading
import time
import types

import numba
from numba import njit

#: Options of every generated function.  fastmath lets LLVM vectorize the reductions; the compiled path
#: equals the reference path to float round-off (the tests' tolerances), not bit for bit.
JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath=True)

#: A parallel piece runs its explicit ``prange`` loops (over fixed chunks) in parallel and nothing else:
#: Numba would otherwise also split array expressions and reductions (a softmax's sum) into chunks that
#: follow the thread count, and the numbers would move with it.
PARALLEL = dict(prange=True, comprehension=False, numpy=False, reduction=False, setitem=False, stencil=False,
                fusion=False, inplace_binop=False)

_NOTICE_AFTER = 1.0  # seconds

#: Seconds this process has spent in :func:`prepare` compiling (or loading from the disk cache), in total:
#: the lab takes it out of an epoch's time (``tweaknet.fast.compile_seconds``).
compile_time = 0.0


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


def prepare(dispatcher, args, what: str) -> None:
    """Compile ``dispatcher`` for ``args`` now (or load it from the disk cache); when that takes more than a
    second, say once on stderr that a first compile is running."""
    global compile_time
    signature = tuple(numba.typeof(a) for a in args)
    if signature in dispatcher.overloads:
        return
    said = []
    timer = threading.Timer(_NOTICE_AFTER, _notice, args=(what, said))
    timer.daemon = True
    started = time.perf_counter()
    timer.start()
    try:
        dispatcher.compile(signature)
    finally:
        timer.cancel()
        compile_time += time.perf_counter() - started
    if said:
        print(f"compiled in {time.perf_counter() - started:.1f} s (cached on disk for later runs)",
              file=sys.stderr, flush=True)


def _notice(what, said):
    said.append(True)
    print(f"compiling {what} (first run only)...", file=sys.stderr, flush=True)
