"""The lab's subcommands of ``tweaknet``: ``table5-1``, ``run FILE.toml`` and ``preset``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .spec import SpecError
from .store import StoreError

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


def _seeds(text: str):
    try:
        if "," in text or text.startswith("["):
            return [int(s) for s in text.strip("[]").split(",") if s.strip()]
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count (3: seeds 1, 2, 3) or a list (1,5,7), got {text!r}")


def _assignment(text: str):
    path, sep, value = text.partition("=")
    if not sep or not path.strip():
        raise argparse.ArgumentTypeError(f"expected PATH=VALUE (like optimizer.learning_rate=0.1), got {text!r}")
    from .spec import parse_value
    return path.strip(), parse_value(value.strip())


def _run_options(p: argparse.ArgumentParser, default_out: str):
    g = p.add_argument_group("run options")
    g.add_argument("--epochs", type=int, help="epochs per trial (overrides train.epochs)")
    g.add_argument("--seeds", type=_seeds, help="number of seeds (N: seeds 1..N) or a list (1,5,7); "
                                               "overrides train.seeds")
    g.add_argument("--jobs", "-j", type=int, default=None,
                   help=f"parallel worker processes (default: the number of CPUs, {os.cpu_count()})")
    g.add_argument("--out", "-o", type=Path, default=None, help=f"output folder (default: {default_out})")
    g.add_argument("--train-samples", type=int, help="train on the first N training samples (data.train_samples)")
    g.add_argument("--test-samples", type=int, help="test on the first N test samples (data.test_samples)")
    g.add_argument("--set", dest="sets", type=_assignment, action="append", default=[], metavar="PATH=VALUE",
                   help="set any key of every configuration, e.g. --set optimizer.clipnorm=1.0 (repeatable)")
    g.add_argument("--restart", action="store_true",
                   help="discard this experiment's stored trials and start over (default: resume)")
    g.add_argument("--progress", choices=("auto", "bars", "lines", "none"), default="auto",
                   help="bars on a terminal, one line per epoch otherwise (default: auto)")
    g.add_argument("--dry-run", action="store_true", help="validate and list the trials, train nothing")


def _overrides(args) -> list:
    out = []
    for flag, path in (("epochs", "train.epochs"), ("seeds", "train.seeds"), ("train_samples", "data.train_samples"),
                       ("test_samples", "data.test_samples")):
        value = getattr(args, flag)
        if value is not None:
            out.append((path, value))
    return out + list(args.sets)


def run_experiment(experiment, args, stream=None) -> int:
    """Validate, train (resuming), then print the table and write the CSV files and the plot."""
    from . import report, runner
    stream = stream or sys.stdout
    out_dir = args.out or Path("runs") / experiment.name
    if args.jobs is not None and args.jobs < 1:
        raise SpecError("--jobs", f"must be >= 1, got {args.jobs}")
    overrides = _overrides(args)
    if args.dry_run:
        for t in runner.validate(experiment, overrides):
            tr = t["train"]
            print(f"{runner.label(t)}: {tr['epochs']} epochs, batch {tr['batch_size']}, "
                  f"optimizer {t['optimizer']['name']}, loss {t['model']['loss']}", file=stream)
        print("spec OK", file=stream)
        return 0
    store, rows = runner.prepare(experiment, out_dir, overrides, restart=args.restart)
    db = Path(store.path)
    todo = sum(r["done"] < r["trial"]["train"]["epochs"] for r in rows)
    jobs = max(1, min(args.jobs or os.cpu_count() or 1, todo or 1))
    print(f"{experiment.name}: {len(rows)} trials, {len(rows) - todo} already complete, {todo} to train "
          f"in {jobs} process{'es' if jobs > 1 else ''}; store {db}", file=stream, flush=True)
    outcome = runner.execute(rows, db, jobs, args.progress, stream)
    groups = report.collect(rows, store.epochs([r["id"] for r in rows]))
    summaries = report.summarize(groups)
    store.close()
    print("\n" + report.format_table(summaries, experiment.name), file=stream)
    try:
        paths = report.write_all(out_dir, experiment.name, groups, summaries, experiment.description)
        print(f"\nwrote {paths['csv']}, {paths['summary']}, {paths['png']}", file=stream)
    except ImportError as exc:
        report.write_epochs_csv(out_dir / f"{experiment.name}.csv", groups)
        report.write_summary_csv(out_dir / f"{experiment.name}-summary.csv", summaries)
        print(f"\nwrote the CSV files; no plot: {exc}", file=stream)
    if outcome.interrupted:
        print("interrupted: run the same command again to continue where it stopped", file=stream)
        return EXIT_INTERRUPTED
    for trial, error in outcome.failed:
        print(f"{runner.label(trial)} failed:\n{error}", file=sys.stderr)
    return EXIT_FAILED if outcome.failed else 0


def _guard(fn):
    def run(args):
        try:
            return fn(args)
        except (SpecError, StoreError) as exc:
            print(f"tweaknet: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return run


@_guard
def cmd_table5_1(args) -> int:
    from . import presets
    return run_experiment(presets.get("table5-1"), args)


@_guard
def cmd_run(args) -> int:
    from . import spec
    return run_experiment(spec.load(args.file), args)


@_guard
def cmd_preset(args) -> int:
    from . import presets
    if args.list or not args.name:
        for name in presets.names():
            print(f"{name}\t{presets.PRESETS[name][0]}")
        return 0
    sys.stdout.write(presets.text(args.name))
    return 0


def register(sub) -> None:
    """Add the lab's subcommands to the ``tweaknet`` parser's subparsers."""
    p = sub.add_parser("table5-1", help="train the five configurations of Ekman's Table 5-1 on MNIST",
                       description="Train the five configurations of Table 5-1 (Ekman, Learning Deep Learning, "
                                   "ch. 5) on MNIST, test after every epoch, print the final test errors and "
                                   "write DIR/table5-1.csv and DIR/table5-1.png (Figure 5-12). Interrupted runs "
                                   "resume. The spec is `tweaknet preset table5-1`.")
    _run_options(p, "runs/table5-1")
    p.set_defaults(func=cmd_table5_1)

    p = sub.add_parser("run", help="run an experiment file (TOML)",
                       description="Run every configuration x grid point x seed of an experiment file in parallel, "
                                   "resumably; see docs/lab.md for the schema.")
    p.add_argument("file", type=Path, help="the experiment, a .toml file")
    _run_options(p, "runs/NAME (NAME: the experiment's name)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("preset", help="print a built-in experiment as TOML (a starting point for your own)")
    p.add_argument("name", nargs="?", help="preset name (see --list)")
    p.add_argument("--list", action="store_true", help="list the presets")
    p.set_defaults(func=cmd_preset)
