"""``tweaknet preset [NAME | --list]``: print a built-in experiment as TOML."""
from __future__ import annotations

import sys

from ..lab import presets
from .common import EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("preset", help="print a built-in experiment as TOML (a starting point for your own)")
    p.add_argument("name", nargs="?", help="preset name (see --list)")
    p.add_argument("--list", action="store_true", help="list the presets")
    p.set_defaults(func=command)


def command(args) -> int:
    if args.list or not args.name:
        for name in presets.names():
            print(f"{name}\t{presets.PRESETS[name][0]}")
        return EXIT_OK
    sys.stdout.write(presets.text(args.name))
    return EXIT_OK
