"""The machine a trial's epochs were trained on: what can change the last bits of the numbers.

The same spec and seed give the same numbers, bit for bit, on the same machine with the same versions.
Across machines they may not: BLAS picks its kernels for the CPU it finds (``architecture``: Haswell,
SkylakeX, Zen, ...), LLVM vectorizes the compiled path for the CPU's vector width (AVX2, AVX-512), and
either changes the order of additions, so the rounding.  A well-conditioned run keeps such a difference
in the last digits; a chaotic one (Table 5-1's configuration 2, SGD at learning rate 10 with saturated
units) amplifies it until the two runs share nothing but their statistics.  So every stored epoch
says where it was trained (:func:`record`), and the report shows it.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sys

#: CPU features that decide the width of the vector code BLAS and LLVM generate, widest first.
VECTOR_FLAGS = ("avx512f", "avx2", "avx", "sse4_2", "neon", "asimd", "sve")


def _cpu() -> tuple[str, list]:
    """The CPU's model name and its vector features (Linux's /proc/cpuinfo; elsewhere what platform says)."""
    name, flags = "", []
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware", "cpu model") and not name:
                    name = value.strip()
                elif key in ("flags", "features") and not flags:
                    have = set(value.split())
                    flags = [f for f in VECTOR_FLAGS if f in have]
    except OSError:
        pass
    return name or platform.processor() or platform.machine(), flags


def _version(module: str):
    mod = sys.modules.get(module)
    if mod is None:
        try:
            from importlib.metadata import version
            return version(module)
        except Exception:  # not installed
            return None
    return getattr(mod, "__version__", None)


def _blas() -> list:
    """Each BLAS library loaded in this process: its API, version, kernel architecture and thread count."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    found = [{"api": i.get("internal_api"), "version": i.get("version"), "architecture": i.get("architecture"),
              "threads": i.get("num_threads")} for i in threadpool_info() if i.get("user_api") == "blas"]
    return sorted(found, key=lambda b: json.dumps(b, sort_keys=True))  # not in the order they were loaded


@functools.lru_cache(maxsize=1)
def _static() -> dict:
    from .. import __version__
    cpu, flags = _cpu()
    return {"cpu": cpu, "vector": flags, "cores": os.cpu_count(), "system": f"{platform.system()} {platform.machine()}",
            "python": platform.python_version(), "numpy": _version("numpy"), "numba": _version("numba"),
            "tweaknet": __version__}


def _products():
    """Which float32 matrix product the compiled path called (``fast/products.py``), where this process used it."""
    products = sys.modules.get("tweaknet.fast.products")
    return products.describe() if products is not None else None


def record() -> dict:
    """This process's machine: ``cpu``, ``vector`` (its vector features, widest first), ``cores``, ``system``,
    ``blas`` (a dict per loaded BLAS library: ``api``, ``version``, ``architecture``, ``threads``), ``products``
    (the compiled path's float32 matrix product, where it ran: tweaknet's kernel or BLAS) and the versions of
    ``python``, ``numpy``, ``numba`` (None without it) and ``tweaknet``.  Call it after training has loaded the
    BLAS libraries it uses."""
    found = {**_static(), "blas": _blas()}
    products = _products()
    if products is not None:  # absent where the compiled path did not run, so earlier records keep their keys
        found["products"] = products
    return found


def key(machine: dict) -> str:
    """A short fingerprint of a record (equal records, equal keys)."""
    return hashlib.sha256(json.dumps(machine, sort_keys=True).encode()).hexdigest()[:16]


def describe(machine: dict) -> str:
    """``Intel(R) Xeon(R) Processor (avx512f), 2 cores; OpenBLAS 0.3.31 SkylakeX, 1 thread; Python 3.11.7,
    NumPy 2.4.6, Numba 0.68.1, tweaknet 0.1.0``."""
    vector = f" ({machine['vector'][0]})" if machine.get("vector") else ""
    blas = ", ".join(
        f"{'OpenBLAS' if b.get('api') == 'openblas' else b.get('api') or 'BLAS'} {b.get('version') or '?'}"
        f"{' ' + b['architecture'] if b.get('architecture') else ''}, {b.get('threads')} thread"
        f"{'s' if b.get('threads') != 1 else ''}" for b in machine.get("blas") or []) or "BLAS unknown"
    versions = ", ".join(f"{label} {machine.get(k)}" for k, label in (
        ("python", "Python"), ("numpy", "NumPy"), ("numba", "Numba"), ("tweaknet", "tweaknet")) if machine.get(k))
    products = f"; products: {machine['products']}" if machine.get("products") else ""
    return f"{machine.get('cpu', '?')}{vector}, {machine.get('cores')} cores; {blas}{products}; {versions}"
