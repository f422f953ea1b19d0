"""``tweaknet run FILE.toml`` and ``tweaknet table5-1``: train an experiment with ``tweaknet.lab.run``, print the
table, write the CSV files and the plot."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .. import lab
from ..lab import build, presets
from ..lab.display import label
from ..lab.spec import MAX_TRIALS, SpecError, parse_value, split_path
from .common import EXIT_DIVERGED, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, error, os_message


def _seeds(text: str):
    try:
        if "," in text or text.startswith("["):
            return [int(s) for s in text.strip("[]").split(",") if s.strip()]
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count (3: seeds 1, 2, 3) or a list (1,5,7), got {text!r}")


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return n


#: Keys that are not part of a trial: --set cannot change them (edit the file).
NOT_SETTABLE = ("name", "description", "grid", "configurations", "run", "search")


def _assignment(text: str):
    path, sep, value = text.partition("=")
    path = path.strip()
    if not sep or not path or not value.strip():
        raise argparse.ArgumentTypeError(f"expected PATH=VALUE (like optimizer.learning_rate=0.1), got {text!r}")
    head = path.split(".")[0].split("[")[0]
    if head in NOT_SETTABLE:
        raise argparse.ArgumentTypeError(f"{path!r}: --set changes the keys of every trial (data, model, optimizer, "
                                         f"train); {head!r} is not one of them: edit the file")
    try:
        split_path(path)
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return path, parse_value(value.strip())


def run_options(p: argparse.ArgumentParser, default_out: str):
    """The options ``table5-1``, ``run`` and ``search`` share."""
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
    g.add_argument("--dry-run", action="store_true",
                   help="validate and list the trials, train nothing (runs no data loader, even with --allow-code)")
    g.add_argument("--allow-code", action="store_true", default=None,
                   help="let the experiment's data loader written in Python (data.dataset = { python = "
                        "\"pkg.mod:load\" }) run: trusted code, with your rights (or set TWEAKNET_ALLOW_CODE=1)")
    g.add_argument("--max-trials", type=_positive, default=MAX_TRIALS, metavar="N",
                   help=f"refuse to run more than N trials (default {MAX_TRIALS:,})")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                       help="run each trial's epochs as Ray tasks on the cluster at ADDRESS (default: the file's "
                            "[run] address, else RAY_ADDRESS, else a local Ray instance); needs "
                            "pip install 'tweaknet[ray]'")
    where.add_argument("--local", action="store_true",
                       help="run in local processes even where the file says [run] backend = \"ray\"")


def backend(args) -> dict:
    """The ``backend`` and ``address`` arguments of ``tweaknet.lab.run`` / ``search`` from ``--ray`` / ``--local``."""
    if args.ray is not None:
        return {"backend": "ray", "address": args.ray or None}
    return {"backend": "local" if args.local else None, "address": None}


def register(sub) -> None:
    p = sub.add_parser("table5-1", help="train the five configurations of Ekman's Table 5-1 on MNIST",
                       description="Train the five configurations of Table 5-1 (Ekman, Learning Deep Learning, "
                                   "ch. 5) on MNIST, test after every epoch, print the final test errors and "
                                   "write DIR/table5-1.csv (every epoch of every trial), DIR/table5-1-summary.csv "
                                   "(the final test error per configuration: mean, std, min and max over seeds) "
                                   "and DIR/table5-1.png (Figure 5-12). Interrupted runs resume. The spec is "
                                   "`tweaknet preset table5-1`.")
    run_options(p, "runs/table5-1")
    p.set_defaults(func=table5_1)

    p = sub.add_parser("run", help="run an experiment file (TOML)",
                       description="Run every configuration x grid point x seed of an experiment file in parallel, "
                                   "resumably; see docs/lab.md for the schema.")
    p.add_argument("file", type=Path, help="the experiment, a .toml file")
    run_options(p, "runs/NAME (NAME: the experiment's name)")
    p.set_defaults(func=run_file)


def table5_1(args) -> int:
    return run_experiment(presets.get("table5-1"), args)


def run_file(args) -> int:
    return run_experiment(lab.load(args.file), args)


def overrides(args) -> list:
    """The ``(path, value)`` overrides of the run options (``--epochs``, ``--seeds``, ..., ``--set``)."""
    out = []
    for flag, path in (("epochs", "train.epochs"), ("seeds", "train.seeds"), ("train_samples", "data.train_samples"),
                       ("test_samples", "data.test_samples")):
        value = getattr(args, flag)
        if value is not None:
            out.append((path, value))
    return out + list(args.sets)


def run_experiment(experiment, args) -> int:
    """Validate and list the trials (``--dry-run``), or train (resuming), print the table and write the files."""
    if args.jobs is not None and args.jobs < 1:
        raise SpecError("--jobs", f"must be >= 1, got {args.jobs}")
    changes = overrides(args)
    if args.dry_run:
        trials = lab.validate(experiment, changes, allow_code=args.allow_code, max_trials=args.max_trials,
                              dry_run=True)
        for t in trials:
            tr = t["train"]
            print(f"{label(t)}: {tr['epochs']} epochs, batch {tr['batch_size']}, "
                  f"optimizer {t['optimizer']['name']}, loss {t['model']['loss']}")
        for ref in sorted({build.loader(t["data"]) for t in trials} - {None}):
            print(f"data: the loader {ref} was not run (a dry run runs no code); the run will need --allow-code")
        print("spec OK")
        return EXIT_OK
    results = lab.run(experiment, out=args.out, jobs=args.jobs, overrides=changes, restart=args.restart,
                      progress=args.progress, stream=sys.stdout, allow_code=args.allow_code,
                      max_trials=args.max_trials, **backend(args))
    return conclude(results, lambda t: f"{t.label} failed:\n{t.error}")


def conclude(results, failure) -> int:
    """Print the results' table, write their files, say how to continue; return the exit status.  ``failure``:
    the message for a failed trial."""
    print("\n" + results.format_table(), flush=True)
    try:
        paths = results.write_all()
        print(f"\nwrote {', '.join(map(str, paths.values()))}")
    except ImportError as exc:  # no matplotlib: the CSV files are written, the plot is not
        print(f"\nwrote the CSV files; no plot: {exc}")
    except OSError as exc:  # the results are stored and printed: say so, and how to write the files later
        return error(f"cannot write the result files: {os_message(exc)}; the results are stored in {results.store} "
                     f"(the table above): fix the path and run the same command again to write the files "
                     f"without training")
    if results.interrupted:
        print("interrupted: run the same command again to continue where it stopped")
        return EXIT_INTERRUPTED
    for t in results.failed:
        print(failure(t), file=sys.stderr)
    diverged = [t for t in getattr(results, "trials", []) if getattr(t, "status", None) == "diverged"]
    for t in diverged:
        print(f"{t.label} diverged: its loss became NaN or infinite at epoch {len(t.epochs)}; it is stored as "
              f"diverged and left out of the table's mean (try a smaller learning rate or clipnorm)", file=sys.stderr)
    return EXIT_FAILED if results.failed else EXIT_DIVERGED if diverged else EXIT_OK
