"""``tweaknet export tensorboard OUT_DIR``: every stored trial's curves and hyperparameters as TensorBoard event files."""
from __future__ import annotations

from pathlib import Path

from ..lab.export import export_tensorboard
from .common import EXIT_OK, error


def register(sub) -> None:
    p = sub.add_parser("export", help="export stored trials for other tools (TensorBoard)",
                       description="Export the trials stored by the lab for other tools.")
    kinds = p.add_subparsers(dest="kind", metavar="KIND")
    tb = kinds.add_parser("tensorboard", help="every stored trial's curves and hyperparameters as TensorBoard runs",
                          description="Write each stored trial as a TensorBoard run, OUT_DIR/EXPERIMENT/"
                                      "CONFIGURATION-seedN: its per-epoch losses, accuracies and errors, and its "
                                      "hyperparameters for the HParams dashboard. Then: tensorboard --logdir OUT_DIR")
    tb.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="where to write the event files")
    tb.add_argument("--from", dest="sources", type=Path, action="append", default=None, metavar="DIR",
                    help="a runs folder (every runs.sqlite below it) or a runs.sqlite; repeatable (default: runs)")
    tb.set_defaults(func=tensorboard)
    p.set_defaults(func=None)


def tensorboard(args) -> int:
    try:
        done = export_tensorboard(args.sources or [Path("runs")], args.out_dir)
    except (ImportError, OSError, ValueError) as exc:
        return error(exc)
    if not done["trials"]:
        return error(f"no stored trial found in {', '.join(map(str, args.sources or ['runs']))}: give the folder of "
                     f"a run with --from DIR")
    print(f"wrote {done['trials']} trials of {', '.join(done['experiments'])} to {done['out']}; view them with:\n"
          f"  tensorboard --logdir {done['out']}")
    return EXIT_OK
