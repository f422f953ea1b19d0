"""What the ``tweaknet`` subcommands share: exit statuses and the one error boundary.

Every expected failure ends a command with one line on stderr, ``tweaknet: error: <what> (<path>): <what
to do>``, and a documented exit status (docs/reliability.md):

====  ==========================================================================================
0     done
1     some trials failed (their errors are printed; the others are stored)
2     an error stopped the command: bad input (spec, options, files), a path that cannot be used, a full
      disk, a damaged or locked store, a data loader that failed
3     done, but some trials diverged (their loss became NaN or infinite; they are marked, not averaged)
70    an internal error (a bug: TWEAKNET_DEBUG=1 shows the traceback)
130   interrupted (Ctrl-C); run the same command again to continue
141   the reader of the output went away (``| head``)
====  ==========================================================================================
"""
from __future__ import annotations

import errno
import os
import sqlite3
import sys

from ..datasets.idx import DataError
from ..lab.engine import BackendError
from ..lab.outputs import OutputError
from ..lab.spec import SpecError
from ..lab.store import StoreError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_ERROR = EXIT_USAGE  # every error the boundary reports
EXIT_DIVERGED = 3
EXIT_INTERNAL = 70  # EX_SOFTWARE
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, the shell's status for a process ended by a broken pipe

#: The failures a command can meet that are not bugs: each has a one-line message.
EXPECTED = (SpecError, StoreError, BackendError, OutputError, DataError, OSError, UnicodeError, RecursionError,
            MemoryError, sqlite3.Error)


def os_message(exc: OSError, what: str = "") -> str:
    """``<what> (<path>): <what to do>`` for an OSError, by its errno."""
    path = exc.filename if exc.filename is not None else "stdout" if what == "output" else None
    where = f" ({path})" if path is not None else ""
    code = exc.errno
    if code == errno.ENOSPC:
        return f"the disk is full{where}: free some space and run the same command again"
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied{where}: choose a path you can write, or change its permissions"
    if code == errno.EROFS:
        return f"the disk is read-only{where}: choose a path on a writable disk"
    if code == errno.EISDIR:
        return f"a folder is where a file is needed{where}: rename or remove it, or choose another path"
    if code == errno.ENOTDIR:
        return f"a part of the path is a file, not a folder{where}: check the path"
    if code == errno.EEXIST:
        return f"a file is where a folder is needed{where}: give a folder, or remove the file"
    if code == errno.ENOENT:
        return f"no such file or folder{where}: check the path"
    return f"{exc.strerror or exc}{where}: check the path and run the same command again"


def describe(exc: BaseException) -> str:
    """The one-line message of an expected failure (one of :data:`EXPECTED`)."""
    if isinstance(exc, (SpecError, StoreError, BackendError, OutputError, DataError)):
        return str(exc)
    if isinstance(exc, OSError):
        return os_message(exc)
    if isinstance(exc, UnicodeError):
        return f"not UTF-8 text ({exc}): save the file as UTF-8"
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to read: flatten it"
    if isinstance(exc, MemoryError):
        return ("out of memory: the data or the model is too large for this machine; use fewer samples "
                "(--train-samples) or a smaller model")
    if isinstance(exc, sqlite3.Error):
        return (f"the store failed ({exc}): run the same command again; if it fails again, --restart moves the "
                f"store aside and starts a new one")
    return f"{type(exc).__name__}: {exc}"


def error(exc) -> int:
    """Print ``tweaknet: error: EXC`` on stderr (EXC: a message, or an expected exception); return 2."""
    text = exc if isinstance(exc, str) else describe(exc)
    try:
        print(f"tweaknet: error: {text}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
    return EXIT_ERROR


def silence_stdout() -> None:
    """Point stdout at /dev/null, so that Python's own flush at exit cannot fail again (a reader gone, a full
    disk): what could not be written is lost either way."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


_active: list = []


def boundary(fn, args) -> int:
    """Run the command ``fn(args)`` and flush its output; every expected failure becomes :func:`error`.  Inside
    another command (a data loader that calls ``tweaknet.cli.main``) failures go to that command instead."""
    if _active:
        return int(fn(args) or 0)
    _active.append(fn)
    try:
        return _guarded(fn, args)
    finally:
        _active.pop()


def _guarded(fn, args) -> int:
    try:
        try:
            status = int(fn(args) or 0)
        finally:
            sys.stdout.flush()
        return status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``tweaknet preset table5-1 | head``): stop quietly, as ``cat`` does.
        silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        if exc.filename is None and exc.errno in (errno.ENOSPC, errno.EIO, errno.EFBIG):  # printing failed
            silence_stdout()
            return error(f"cannot write the output: {os_message(exc, 'output')}")
        return error(exc)
    except EXPECTED as exc:
        return error(exc)
    except Exception as exc:  # a bug: one line, the traceback on request
        if os.environ.get("TWEAKNET_DEBUG"):
            raise
        print(f"tweaknet: internal error: {type(exc).__name__}: {exc} (a bug: please report it; "
              f"TWEAKNET_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
