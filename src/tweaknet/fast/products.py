"""The compiled path's float32 matrix products: tweaknet's own kernel (``products.c``) where it is built, else the
BLAS that NumPy uses.

On a CPU with AVX-512, the compiled step's float32 products at the wide layers' shapes run faster through the
kernel in ``products.c`` than through OpenBLAS's one-thread calls (docs/benchmarks.md, twelfth run: 5-20% per
step at widths 1024-2048, batches 128-512).  The first process that needs it compiles it with the machine's C
compiler (``$CC``, else ``cc`` or ``gcc``) for this CPU (``-march=native``) into the cache folder of the
generated code, named by a digest of the source, the compiler, its flags and the CPU, so that machines sharing
a cache folder (a cluster's nodes with one home folder) each get their own; later processes load it.

Where there is no C compiler, the compile fails, the CPU has no AVX-512, or ``TWEAKNET_PRODUCTS=blas`` is set,
every product goes to BLAS as before: the same results up to float32 rounding, the speed of earlier releases.
:func:`describe` says which one runs, and why.  Products too small for the kernel's blocks go to BLAS in either
case (``kernel_pays`` in ``products.c``).
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import threading
from pathlib import Path

from .ops import gemm as gemm_blas, gemm_calling

SOURCE = Path(__file__).with_name("products.c")
FLAGS = ("-O3", "-march=native", "-std=gnu11", "-shared", "-fPIC")

#: ``"auto"`` (tweaknet's kernel where it can be built, else BLAS) or ``"blas"``; ``$TWEAKNET_PRODUCTS`` sets
#: it for a process.  Read when a step's code is composed, so a step composed under one setting keeps it.
PRODUCTS = os.environ.get("TWEAKNET_PRODUCTS", "auto")
SETTINGS = ("auto", "blas")
if PRODUCTS not in SETTINGS:
    raise ValueError(f"TWEAKNET_PRODUCTS={PRODUCTS!r}: use 'auto' (tweaknet's kernel where it builds) or 'blas'")

gemm_tweaknet = gemm_calling("tweaknet_xxgemm")

_LOCK = threading.Lock()


def _cpu() -> str:
    """What identifies this CPU's instruction set for ``-march=native``."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [line for line in f if line.startswith(("model name", "flags", "vendor_id"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


@functools.lru_cache(maxsize=None)
def _library() -> tuple[ctypes.CDLL | None, str]:
    """Build (once per machine) and load tweaknet's kernel: ``(library, "")``, or ``(None, why not)``."""
    from .source import cache_folder

    compiler = _compiler()
    if not compiler:
        return None, "no C compiler (set CC, or install gcc)"
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(b"\0".join([source, compiler.encode(), " ".join(FLAGS).encode(), _cpu().encode(),
                                        platform.python_version().encode()])).hexdigest()[:20]
    path = cache_folder() / f"products_{digest}.so"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp.so")
        try:
            done = subprocess.run([compiler, *FLAGS, str(SOURCE), "-o", str(tmp)], capture_output=True, text=True,
                                  timeout=300)
        except (OSError, subprocess.SubprocessError) as e:
            return None, f"{compiler} could not compile {SOURCE.name}: {e}"
        if done.returncode != 0:
            tmp.unlink(missing_ok=True)
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"{compiler} could not compile {SOURCE.name}: {' '.join(tail)}"
        os.replace(tmp, path)  # atomic: processes compiling at once each write their own file, one wins
    try:
        library = ctypes.CDLL(str(path))
        if library.tweaknet_products_kernel() == 0:
            return None, "this CPU has no AVX-512 (the kernel's instructions)"
        import llvmlite.binding as llvm
        from numba import _helperlib

        llvm.load_library_permanently(str(path))  # compiled steps find tweaknet_xxgemm by name
        library.tweaknet_products_init(ctypes.c_void_p(_helperlib.c_helpers["xxgemm"]))
    except (OSError, AttributeError, KeyError) as e:
        return None, f"could not load {path.name}: {e}"
    return library, ""


def available() -> tuple[bool, str]:
    """Whether tweaknet's kernel runs this process's float32 products, and if not, why."""
    if PRODUCTS == "blas":
        return False, "TWEAKNET_PRODUCTS=blas"
    if PRODUCTS not in SETTINGS:  # set by assignment (benchmarks do)
        raise ValueError(f"products.PRODUCTS={PRODUCTS!r}: use 'auto' or 'blas'")
    with _LOCK:
        library, why = _library()
    return library is not None, why


def describe() -> str:
    """Which matrix product the compiled path's float32 steps call, in words (for benchmarks and reports)."""
    ok, why = available()
    return "tweaknet's AVX-512 kernel" if ok else f"BLAS ({why})"


def choice() -> str:
    """``"tweaknet"`` or ``"blas"``: what a step composed now calls (its generated file says it, so that
    Numba's disk cache keeps the two apart)."""
    return "tweaknet" if available()[0] else "blas"


def gemm(kind: str):
    """The ``gemm`` intrinsic a generated step imports: ``gemm("tweaknet")`` loads tweaknet's kernel first (a
    process reading a cached step needs the library loaded before the code), or says why it cannot."""
    if kind == "blas":
        return gemm_blas
    with _LOCK:
        library, why = _library()
    if library is None:
        raise RuntimeError(f"this step was compiled to call tweaknet's matrix product, which this process cannot "
                           f"load: {why}.  Set TWEAKNET_PRODUCTS=blas, or clear the cache folder "
                           f"(tweaknet.fast.source.cache_folder()).")
    return gemm_tweaknet
