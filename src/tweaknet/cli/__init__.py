"""The ``tweaknet`` command (also ``python -m tweaknet``): one module per subcommand.

Each module has ``register(subparsers)``, which adds its parser(s) and sets ``func`` (called with the
parsed arguments, returning the exit status).  To add a command, write such a module and add it to
``COMMANDS``.  This package is the only place that knows argparse, exit statuses and the commands'
console output; what the commands do is in the library (``tweaknet.lab.run``, ``model.diagnose``, ...).
"""
from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from . import data, diagnose, export, plot, preset, run, search
from .common import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_USAGE

COMMANDS = (run, search, preset, diagnose, plot, data, export)  # run: table5-1 and run

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tweaknet", description="tweaknet: the techniques that make deep networks train, on NumPy.")
    parser.add_argument("--version", action="version", version=f"tweaknet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv=None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``tweaknet preset table5-1 | head``): stop quietly, as ``cat`` does.  Point
        # stdout at /dev/null so that Python's own flush at exit does not raise again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_BROKEN_PIPE
