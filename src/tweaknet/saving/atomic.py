"""Atomic writes: ``atomic_write(path, data)`` writes to a temporary file in the target's folder,
flushes it to disk, gives it the mode a plain write would give it, renames it over the target and
flushes the folder (where the platform allows), so a crash leaves the old file or the new one, never
a mix."""
from __future__ import annotations

import os
import stat
import tempfile


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it: set, then put it back at once
    os.umask(mask)
    return mask


def _fsync_folder(folder: str) -> None:
    """Flush the folder entry of a rename to disk, where the platform allows it (POSIX; not Windows)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(folder, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, data: bytes) -> None:
    """Write ``data`` to a temporary file in the target's folder, flush it, give it the mode a plain
    ``open(path, 'wb')`` would (the old file's mode when there is one, else ``0o666 & ~umask``),
    then rename it over ``path`` and flush the folder."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp creates the file 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)
