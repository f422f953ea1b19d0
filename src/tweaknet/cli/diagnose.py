"""``tweaknet diagnose``: build a model from an experiment spec, train it with diagnostics, report (and try fixes)."""
from __future__ import annotations

from .. import utils
from ..diagnostics import diagnose, plots
from ..lab import build, presets, spec
from ..lab.outputs import check_outputs
from ..lab.spec import SpecError
from .common import EXIT_OK, error, os_message


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
    p.add_argument("--allow-code", action="store_true", default=None,
                   help="let the experiment's data loader written in Python run: trusted code, with your rights "
                        "(or set TWEAKNET_ALLOW_CODE=1)")
    p.set_defaults(func=command)


def _trial(args) -> dict:
    if (args.file is None) == (args.preset is None):
        raise SpecError("", "give an experiment file or --preset NAME (not both)")
    experiment = presets.get(args.preset) if args.preset else spec.load(args.file)
    for flag in ("epochs", "train_samples", "test_samples", "jobs"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise SpecError(f"--{flag.replace('_', '-')}", f"must be >= 1, got {value}")
    if args.seed is not None and args.seed < 0:
        raise SpecError("--seed", f"a seed must be a non-negative integer, got {args.seed}")
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


PLOTS = ("gradient_flow.png", "activation_distributions.png")


def command(args) -> int:
    trial = _trial(args)
    folder = check_outputs(args.plots, PLOTS, "--plots") if args.plots else None  # before training
    data = build.load_data(trial["data"], args.allow_code)
    build.check_shapes(trial, data)  # labels against the output layer, sizes against memory
    utils.set_random_seed(trial["seed"])
    model = build.build_model(trial, data)
    batch_size = trial["train"]["batch_size"]
    report = diagnose(model, data.x_train, data.y_train, epochs=args.epochs, batch_size=batch_size,
                      validation_data=(data.x_test, data.y_test) if args.try_fixes else None,
                      try_fixes=args.try_fixes, jobs=args.jobs)
    _print(args, trial, data, batch_size, report)  # the report first: a plot that cannot be written loses nothing
    if folder is not None:
        try:
            plots.gradient_flow(model.diagnostics_, folder / PLOTS[0])
            plots.activation_distributions(model, data.x_train[:256], folder / PLOTS[1])
        except OSError as exc:
            return error(f"cannot write the plots: {os_message(exc)} (the report above is complete)")
    return EXIT_OK


def _print(args, trial, data, batch_size, report) -> None:
    if args.json:
        print(report.to_json())  # strict JSON: a diverged (NaN) loss is written as null
    else:
        validated = f", fixes validated on {len(data.x_test):,} test samples" if args.try_fixes else ""
        epochs = f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}"
        print(f"{trial['experiment']} / {trial['configuration']} (seed {trial['seed']}): {epochs} of "
              f"{len(data.x_train):,} training samples, batch size {batch_size}{validated}")
        print(report)
