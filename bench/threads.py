"""Thread counts of the BLAS behind NumPy (OpenBLAS, set at run time through ctypes) and of PyTorch.

On a small, shared machine the default multi-threaded BLAS can be many times slower than one
thread for the benchmark's tiny matrices (threads spin and wait for a busy core), so the
benchmark measures NumPy-based contenders with one BLAS thread and with the default, as it does
PyTorch, and reports the faster.  No new dependency: the OpenBLAS that NumPy loaded is found in
``/proc/self/maps`` and its ``*_set_num_threads*`` symbol is called.
"""
from __future__ import annotations

import ctypes
import os
import re

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads_64_",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads_64_",
            "openblas_get_num_threads64_", "openblas_get_num_threads")
_lib = None
_default = None


def _openblas():
    global _lib, _default
    if _lib is None:
        import numpy  # noqa: F401 - loads the library
        try:
            maps = open("/proc/self/maps").read()
        except OSError:
            maps = ""
        paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", maps)))
        for path in paths:
            lib = ctypes.CDLL(path)
            setter = next((getattr(lib, s) for s in _SETTERS if hasattr(lib, s)), None)
            getter = next((getattr(lib, s) for s in _GETTERS if hasattr(lib, s)), None)
            if setter is not None and getter is not None:
                setter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_int
                _lib = (setter, getter, os.path.basename(path))
                _default = getter()
                break
        else:
            _lib = False
    return _lib


def blas_threads(n: int | None) -> int | None:
    """Set OpenBLAS's threads (None: the count it started with); return the count in force (None: unknown)."""
    lib = _openblas()
    if not lib:
        return None
    setter, getter, _ = lib
    setter(_default if n is None else int(n))
    return getter()


def blas_info() -> str:
    lib = _openblas()
    return f"{lib[2]} ({_default} threads by default)" if lib else "BLAS threads not controllable"


def torch_threads(n: int | None) -> int:
    """Set PyTorch's intra-op threads (None: its default); return the count in force."""
    import torch
    if not hasattr(torch_threads, "default"):
        torch_threads.default = torch.get_num_threads()
    torch.set_num_threads(torch_threads.default if n is None else int(n))
    return torch.get_num_threads()
