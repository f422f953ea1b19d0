"""What the ``tweaknet`` subcommands share: exit statuses and the one-line error message."""
from __future__ import annotations

import functools
import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, the shell's status for a process ended by a broken pipe


def error(exc) -> int:
    """Print ``tweaknet: error: EXC`` on stderr; return the usage exit status (2)."""
    print(f"tweaknet: error: {exc}", file=sys.stderr)
    return EXIT_USAGE


def reporting(*errors):
    """Decorate a command ``fn(args) -> status`` so that ``errors`` (user mistakes: a bad spec, a store
    that conflicts, unreadable data) end it with :func:`error` instead of a traceback."""
    def decorate(fn):
        @functools.wraps(fn)
        def command(args):
            try:
                return fn(args)
            except errors as exc:
                return error(exc)
        return command
    return decorate
