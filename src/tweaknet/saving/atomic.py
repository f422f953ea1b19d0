"""Atomic writes: ``atomic_write(path, data)`` writes to a temporary file in the target's folder,
flushes it to disk, gives it the mode a plain write would give it, renames it over the target and
flushes the folder (where the platform allows), so a crash leaves the old file or the new one, never
a mix.

The user's intent is kept: a read-only file is refused (not silently replaced), a symbolic link is
written through (its target is replaced atomically; the link stays a link), and every error names the
path the user gave, never the hidden temporary file.
"""
from __future__ import annotations

import errno
import os
import stat
import tempfile


def check_path(path, what: str = "path"):
    """``path`` as a ``str`` (``os.fspath``), or a TypeError saying what a path is."""
    if isinstance(path, bytes):
        return os.fsdecode(path)
    try:
        return os.fspath(path)
    except TypeError:
        raise TypeError(f"tweaknet: error: the {what} must be a file name (a str or os.PathLike such as "
                        f"pathlib.Path), got {type(path).__name__} {path!r}.") from None


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


def _error(exc: OSError, path: str, doing: str, fix: str) -> OSError:
    """The OSError of the same class (PermissionError, FileNotFoundError, ...) naming the user's path."""
    reason = exc.strerror or str(exc)
    new = type(exc)(exc.errno, f"tweaknet: error: cannot {doing} ({path}): {reason}; {fix}")
    new.filename = path
    return new


def atomic_write(path, data: bytes) -> None:
    """Write ``data`` to a temporary file in the target's folder, flush it, give it the mode a plain
    ``open(path, 'wb')`` would (the old file's mode when there is one, else ``0o666 & ~umask``),
    then rename it over ``path`` and flush the folder.

    A symbolic link is followed: its final target is the file replaced.  An existing file without
    write permission is refused with a PermissionError (as root too: the mode states the intent).
    Every OSError names ``path`` as given."""
    path = check_path(path, "file name to save to")
    target = os.path.realpath(path) if os.path.islink(path) else path
    folder = os.path.dirname(os.path.abspath(target))
    try:
        st = os.stat(target)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
        if not os.path.isdir(folder):
            raise FileNotFoundError(errno.ENOENT, f"tweaknet: error: cannot save ({path}): the folder {folder} "
                                    f"does not exist; create it first (os.makedirs) or save elsewhere", path)
    except OSError as exc:
        raise _error(exc, path, "save", "check the path") from None
    else:
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, f"tweaknet: error: cannot save ({path}): it is a folder; "
                                    f"give a file name inside it", path)
        mode = stat.S_IMODE(st.st_mode)
        if not mode & 0o222 or not os.access(target, os.W_OK):
            raise PermissionError(errno.EACCES, f"tweaknet: error: will not replace a read-only file ({path}, "
                                  f"mode {mode:04o}); make it writable (chmod u+w) or save under another name",
                                  path)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(target))
    except OSError as exc:
        raise _error(exc, path, "save", f"the folder {folder} must exist and be writable") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)  # mkstemp creates the file 0600
        os.replace(tmp, target)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _error(exc, path, "save", "nothing was changed; free some space or save elsewhere") from None
        raise
    _fsync_folder(folder)
