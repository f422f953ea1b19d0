"""The ``tweaknet`` command (also ``python -m tweaknet``): one module per subcommand.

Each module has ``register(subparsers)``, which adds its parser(s) and sets ``func`` (called with the
parsed arguments, returning the exit status).  To add a command, write such a module and add it to
``COMMANDS``.  This package is the only place that knows argparse, exit statuses and the commands'
console output; what the commands do is in the library (``tweaknet.lab.run``, ``model.diagnose``, ...).
Every command runs inside one error boundary (:func:`.common.boundary`): an expected failure is one line,
``tweaknet: error: <what> (<path>): <what to do>``, with the exit statuses listed in :mod:`.common`.
"""
from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import data, diagnose, export, plot, preset, run, search
from .common import EXIT_USAGE, boundary

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
    return boundary(args.func, args)
