"""``tweaknet diagnose``: build a model from an experiment spec, train it with diagnostics, report (and try fixes)."""
from __future__ import annotations

from pathlib import Path

from .. import utils
from ..diagnostics import diagnose, plots
from ..lab import build, presets, spec
from ..lab.spec import SpecError
from .common import EXIT_OK, reporting


def register(sub) -> None:
    p = sub.add_parser("diagnose", help="tell why a network does not learn, and which technique fixes it")
    p.add_argument("file", nargs="?", help="an experiment TOML file (or use --preset)")
    p.add_argument("--preset", help="a built-in experiment, e.g. table5-1")
    p.add_argument("--config", help="the configuration to diagnose: its name or number (default: the first)")
    p.add_argument("--seed", type=int, help="the seed (default: the experiment's first)")
    p.add_argument("--epochs", type=int, default=1, help="epochs to train while measuring (default 1)")
    p.add_argument("--train-samples", type=int, help="use the first N training samples")
    p.add_argument("--test-samples", type=int, help="use the first N test samples (validation of --try-fixes)")
    p.add_argument("--try-fixes", action="store_true",
                   help="train each candidate fix of every error or warning from the same initial weights and data "
                        "order, and rank them by test accuracy against the unchanged model")
    p.add_argument("--jobs", type=int, help="worker processes for --try-fixes (default: one per core)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a readable report")
    p.add_argument("--plots", metavar="DIR", help="also write gradient-flow and activation-distribution plots")
    p.set_defaults(func=command)


def _trial(args) -> dict:
    if (args.file is None) == (args.preset is None):
        raise SpecError("", "give an experiment file or --preset NAME (not both)")
    experiment = presets.get(args.preset) if args.preset else spec.load(args.file)
    overrides = [("train.epochs", args.epochs)]
    if args.train_samples is not None:
        overrides.append(("data.train_samples", args.train_samples))
    if args.test_samples is not None:
        overrides.append(("data.test_samples", args.test_samples))
    try:
        return experiment.trial(args.config, args.seed, overrides)
    except SpecError as exc:
        if exc.path == "configuration":  # name the option, as the user wrote it
            raise SpecError("--config", exc.reason, exc.context) from None
        raise


@reporting(SpecError)
def command(args) -> int:
    trial = _trial(args)
    data = build.load_data(trial["data"])
    utils.set_random_seed(trial["seed"])
    model = build.build_model(trial, data)
    batch_size = trial["train"]["batch_size"]
    report = diagnose(model, data.x_train, data.y_train, epochs=args.epochs, batch_size=batch_size,
                      validation_data=(data.x_test, data.y_test) if args.try_fixes else None,
                      try_fixes=args.try_fixes, jobs=args.jobs)
    if args.plots:
        plots.gradient_flow(model.diagnostics_, Path(args.plots) / "gradient_flow.png")
        plots.activation_distributions(model, data.x_train[:256], Path(args.plots) / "activation_distributions.png")
    if args.json:
        print(report.to_json())  # strict JSON: a diverged (NaN) loss is written as null
    else:
        validated = f", fixes validated on {len(data.x_test):,} test samples" if args.try_fixes else ""
        epochs = f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}"
        print(f"{trial['experiment']} / {trial['configuration']} (seed {trial['seed']}): {epochs} of "
              f"{len(data.x_train):,} training samples, batch size {batch_size}{validated}")
        print(report)
    return EXIT_OK
