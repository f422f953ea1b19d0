"""``tweaknet plot activations``: the chapter's figures of activation functions."""
from __future__ import annotations

from ..diagnostics import plots
from ..lab.outputs import output_folder
from .common import EXIT_OK


def register(sub) -> None:
    p = sub.add_parser("plot", help="plot the chapter's figures")
    p.add_argument("what", choices=["activations"], help="activations: functions, derivatives, error terms")
    p.add_argument("--out", default="plots", help="folder for the PNG files (default: plots)")
    p.set_defaults(func=command)


def command(args) -> int:
    for path in plots.activation_figures(output_folder(args.out, "--out")):
        print(f"wrote {path}")
    return EXIT_OK
