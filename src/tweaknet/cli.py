"""The ``tweaknet`` command (also ``python -m tweaknet``).

Subcommands live in modules listed in ``COMMAND_MODULES``; each module has a function
``register(subparsers)`` that adds its parsers and sets ``func`` (called with the parsed
arguments, returning the exit status).  To add a command, write such a module and list it here.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMAND_MODULES = (
    "tweaknet.lab.commands",  # table5-1, run, preset
    "tweaknet.diagnostics.commands",  # diagnose
    "tweaknet.datasets.download",  # data download
)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    parser = argparse.ArgumentParser(
        prog="tweaknet", description="tweaknet: the techniques that make deep networks train, on NumPy.")
    parser.add_argument("--version", action="version", version=f"tweaknet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv=None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``tweaknet preset table5-1 | head``): stop quietly, as ``cat`` does.  Point
        # stdout at /dev/null so that Python's own flush at exit does not raise again.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return 141  # 128 + SIGPIPE, the shell's status for a process ended by a broken pipe


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
