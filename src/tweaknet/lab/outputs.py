"""Output folders and files, checked before anything trains.

A run writes ``runs.sqlite`` and, after training, its CSV files and plot into one folder.  Checking that
folder first (it is a folder, or can be made one; a file can be created in it; none of the files the
run will write is a folder or read-only) turns a mistake that would surface after hours of training
into an error before the first epoch.  Errors are :class:`OutputError`, whose message names the path
and what to do.
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


class OutputError(RuntimeError):
    """An output path cannot be used (a file where a folder is needed, no permission, a read-only disk)."""


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the disk is read-only"
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    return exc.strerror or str(exc)


def output_folder(path, option: str = "--out") -> Path:
    """``path`` (``~`` expanded) as a folder that exists and can be written, created if needed; else
    :class:`OutputError` naming ``option`` and the path."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} is not a folder ({path}): give a folder (it is created if it does not exist)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputError(f"{option} cannot be created ({path}): a part of the path is a file; give a folder "
                          f"whose parents are folders") from None
    except OSError as exc:
        raise OutputError(f"{option} cannot be created ({path}): {_reason(exc)}; choose a folder you can "
                          f"write") from None
    try:  # really write: permissions, read-only mounts and full disks all show here
        fd, probe = tempfile.mkstemp(dir=path, prefix=".tweaknet-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{option} cannot be written ({path}): {_reason(exc)}; choose a folder you can "
                          f"write") from None
    return path


def check_outputs(folder, names=(), option: str = "--out") -> Path:
    """:func:`output_folder`, and none of the files ``names`` (the run will write them) is a folder or read-only."""
    folder = output_folder(folder, option)
    for name in names:
        p = folder / name
        if p.is_dir():
            raise OutputError(f"{name} is a folder where the run will write a file ({p}): rename or remove it, "
                              f"or give another {option} folder")
        if p.exists() and not os.access(p, os.W_OK):
            raise OutputError(f"{name} is read-only where the run will write it ({p}): make it writable, or "
                              f"give another {option} folder")
    return folder


def run_files(name: str) -> tuple:
    """The files ``tweaknet run`` writes after training: ``NAME.csv``, ``NAME-summary.csv``, ``NAME.png``."""
    return (f"{name}.csv", f"{name}-summary.csv", f"{name}.png")


def search_files(name: str) -> tuple:
    """The files ``tweaknet search`` writes after its trials: ``NAME-search.csv`` and ``NAME-search.png``."""
    return (f"{name}-search.csv", f"{name}-search.png")
