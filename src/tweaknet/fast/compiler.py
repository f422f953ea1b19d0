"""Compiling the generated functions: ``prepare`` compiles one for its arguments (or loads it from Numba's disk
cache), counts the seconds, and says once on stderr that a first compile is running.

A generated function's first compile runs in a child process, which fills the disk cache; this process then
loads the compiled code from the cache.  Why: what compiling leaves behind stays resident for the life of the
process (the LLVM modules and typing data Numba keeps for every function it compiled, and the heap they were
built on); loading the same code from the cache does not.  Measured with nothing cached, 784-2048-2048-10 at
batch 1: +447 MiB after the first fit when the process compiled, +251 MiB when a child did.

The child (``_Child``) imports the same generated files under the same module names, compiles the same
function for the same argument types, and replies: the cache entry it writes is the one this process then
looks up.  It stays for the next compile (a model's evaluation step, the next model of a search: a fresh
process each time would pay Numba's set-up again, 8 s against 3.5 s for a small model) and exits after
``IDLE_SECONDS`` without one, so nothing of a compile stays resident anywhere while a model trains.  Wherever
this does not work (no usable disk cache, a child that cannot start or fails, a function that is not
generated), the process compiles the function itself, as before, and raises any compile error there with
its own traceback.  ``TWEAKNET_COMPILE_APART=0`` turns children off.
"""
from __future__ import annotations

import atexit
import ctypes
import os
import pickle
import queue
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

#: Seconds a compiling child waits for the next job before it exits (``_Child``).
IDLE_SECONDS = 10.0

_BOOT = ("import pickle, sys; path, idle = pickle.load(sys.stdin.buffer); "
         "sys.path[:0] = [p for p in path if p not in sys.path]; "
         "from tweaknet.fast.compiler import serve; serve(idle)")
_LOCK = threading.Lock()
_child = None


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
    """Compile ``dispatcher``, a function of a generated module, for ``signature`` in the compiling child.  True
    when the disk cache then holds it, so that ``dispatcher.compile(signature)`` here only loads it."""
    global apart, _child
    modules = source.loaded()
    if not apart or dispatcher.py_func.__module__ not in dict(modules):
        return False
    try:
        if cached(dispatcher, signature):
            return True
        job = dict(module=dispatcher.py_func.__module__, function=dispatcher.py_func.__name__, signature=signature)
        with _LOCK:
            for _ in range(2):  # a child that has just left (idle) is replaced once
                if _child is None or not _child.alive():
                    _child = _Child()
                reply = _child.compile(modules, job)
                if reply is not None:
                    break
                _child = None
        if reply != "ok":  # this process compiles the function and raises any error itself
            return False
        if not cached(dispatcher, signature):
            apart = False
        return apart
    except (AttributeError, OSError, pickle.PicklingError, TypeError):  # Numba's cache internals moved, caching
        apart = False                                                   # is off, or no child could start
        return False


class _Child:
    """The compiling child: one Python process that compiles this one's generated functions, one job after the
    other, and stays while they follow each other (a fresh process per compile would pay Numba's first-compile
    set-up every time: 8 s against 3.5 s for a small model); it exits after :data:`IDLE_SECONDS` without a job,
    so that nothing of a compile stays resident anywhere while a model trains, and at this process's exit."""

    def __init__(self):
        self.pid = os.getpid()  # a forked process starts its own child: the pipes are this process's
        self.proc = subprocess.Popen([sys.executable, "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.imported: set = set()
        pickle.dump(([p for p in sys.path if p], IDLE_SECONDS), self.proc.stdin)

    def alive(self) -> bool:
        return self.pid == os.getpid() and self.proc.poll() is None

    def compile(self, modules, job):
        """Send the job (with the generated modules the child has not imported yet); its reply ("ok", or the
        error), or None where the child is gone."""
        new = [(name, path) for name, path in modules if name not in self.imported]
        try:
            pickle.dump(dict(job, modules=new), self.proc.stdin)
            self.proc.stdin.flush()
            reply = pickle.load(self.proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError):
            self.close()
            return None
        self.imported.update(name for name, _ in new)
        return reply

    def close(self):
        if self.pid != os.getpid():
            return
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


@atexit.register
def close_child() -> None:
    """Let the compiling child go now rather than after :data:`IDLE_SECONDS` (``bench/bench_scale.py`` does before
    it measures memory, so that no compile's memory is held anywhere while epochs are timed); a later compile
    starts another."""
    global _child
    if _child is not None:
        _child.close()
        _child = None


def serve(idle: float) -> None:
    """The compiling child's loop: import the parent's generated modules under their names, compile the job's
    function, reply; exit when the parent closes the pipe or after ``idle`` seconds without a job."""
    channel, reply_to = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever compiling prints must not reach the reply channel
    jobs: queue.Queue = queue.Queue()

    def read():
        while True:
            try:
                jobs.put(pickle.load(channel))
            except Exception:  # the parent closed the pipe (or died)
                jobs.put(None)
                return
    threading.Thread(target=read, daemon=True).start()
    modules = {}
    while True:
        try:
            job = jobs.get(timeout=idle)
        except queue.Empty:
            job = None
        if job is None:  # leave at once: the reading thread still holds stdin, which a normal exit would wait for
            os._exit(0)
        try:
            for name, path in job["modules"]:
                modules[name] = modules.get(name) or source.import_file(name, path)
            getattr(modules[job["module"]], job["function"]).compile(job["signature"])
            reply = "ok"
        except Exception as error:  # the parent compiles it itself and raises the error there
            reply = f"{type(error).__name__}: {error}"
        pickle.dump(reply, reply_to)
        reply_to.flush()
