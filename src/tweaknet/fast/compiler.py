"""Compiling the generated functions: ``prepare`` compiles one for its arguments (or loads it from Numba's disk
cache), counts the seconds, and says once on stderr that a first compile is running.

A generated function's first compile runs in a child process, which fills the disk cache; this process then
loads the compiled code from the cache.  Why: what compiling leaves behind stays resident for the life of the
process (the LLVM modules and typing data Numba keeps for every function it compiled, and the heap they were
built on); loading the same code from the cache does not.  Measured on 784-2048-2048-10 at batch 1 with
nothing cached: +447 MiB after the first fit when the process compiled, +251 MiB when a child did.  A child
costs about half a second per new model structure (starting Python, importing the generated modules)
against the 5-30 s the compile itself takes; later runs load from the cache as before.

The child imports the same generated files under the same module names, compiles the same function for the
same argument types, and exits: the cache entry it writes is the one this process then looks up.  Wherever
that does not work (no usable disk cache, a child that cannot start or fails, a function that is not
generated), the process compiles the function itself, as before, and raises any compile error there with its
own traceback.  ``TWEAKNET_COMPILE_APART=0`` turns children off.
"""
from __future__ import annotations

import ctypes
import os
import pickle
import subprocess
import sys
import threading
import time

import numba

from . import source

#: Seconds this process has spent in :func:`prepare` compiling (or loading from the disk cache), in total:
#: the lab takes it out of an epoch's time (``tweaknet.fast.compile_seconds``).
compile_time = 0.0

#: Whether first compiles run in a child (``TWEAKNET_COMPILE_APART=0``: no).  A child whose compile did not
#: reach the disk cache (caching off, an unwritable folder) turns them off for the rest of the process.
apart = os.environ.get("TWEAKNET_COMPILE_APART", "1") != "0"

_NOTICE_AFTER = 1.0  # seconds

_BOOT = ("import pickle, sys; job = pickle.load(sys.stdin.buffer); "
         "sys.path[:0] = [p for p in job['path'] if p not in sys.path]; "
         "from tweaknet.fast.compiler import child; child(job['work'])")


def prepare(dispatcher, args, what: str) -> None:
    """Compile ``dispatcher`` for ``args`` now (in a child where it can, see above) or load it from the disk
    cache; when that takes more than a second, say once on stderr that a first compile is running."""
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
        compile_apart(dispatcher, signature)
        dispatcher.compile(signature)
    finally:
        timer.cancel()
        compile_time += time.perf_counter() - started
    release_freed_memory()
    if said:
        print(f"compiled in {time.perf_counter() - started:.1f} s (cached on disk for later runs)",
              file=sys.stderr, flush=True)


def release_freed_memory():
    """Give the heap memory that compiling (or loading) freed back to the system (glibc's ``malloc_trim``):
    glibc keeps the pages of freed small blocks resident (about 16 MiB after compiling 784-1024-1024-10 at
    batch 1 in the process).  A no-op where the C library has no ``malloc_trim``."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _notice(what, said):
    said.append(True)
    print(f"compiling {what} (first run only)...", file=sys.stderr, flush=True)


def cached(dispatcher, signature) -> bool:
    """Whether Numba's disk cache holds ``dispatcher`` compiled for ``signature``: the entry its ``compile``
    looks up first (``numba.core.caching``: the index maps a key of signature, target and bytecode to a file)."""
    cache = dispatcher._cache
    key = cache._index_key(signature, dispatcher.targetctx.codegen())
    return key in cache._cache_file._load_index()


def compile_apart(dispatcher, signature) -> bool:
    """Compile ``dispatcher``, a function of a generated module, for ``signature`` in a child process.  True
    when the disk cache then holds it, so that ``dispatcher.compile(signature)`` here only loads it."""
    global apart
    modules = source.loaded()
    if not apart or dispatcher.py_func.__module__ not in dict(modules):
        return False
    try:
        if cached(dispatcher, signature):
            return True
        work = pickle.dumps(dict(modules=modules, module=dispatcher.py_func.__module__,
                                 function=dispatcher.py_func.__name__, signature=signature))
        job = pickle.dumps(dict(path=[p for p in sys.path if p], work=work))
        done = subprocess.run([sys.executable, "-c", _BOOT], input=job, capture_output=True, check=False)
        if done.returncode != 0:  # this process compiles the function and raises any error itself
            return False
        if not cached(dispatcher, signature):
            apart = False
        return apart
    except (AttributeError, OSError, pickle.PicklingError, TypeError):  # Numba's cache internals moved, caching
        apart = False                                                   # is off, or no child could start
        return False


def child(work: bytes) -> None:
    """In the child: import the parent's generated modules under their names and compile the one function."""
    job = pickle.loads(work)
    modules = {name: source.import_file(name, path) for name, path in job["modules"]}
    getattr(modules[job["module"]], job["function"]).compile(job["signature"])
