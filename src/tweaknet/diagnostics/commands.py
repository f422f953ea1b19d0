"""``tweaknet diagnose`` (build a model from an experiment spec, train it with diagnostics, report) and
``tweaknet plot activations``."""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("diagnose", help="tell why a network does not learn, and which technique fixes it")
    p.add_argument("file", nargs="?", help="an experiment TOML file (or use --preset)")
    p.add_argument("--preset", help="a built-in experiment, e.g. table5-1")
    p.add_argument("--config", help="the configuration to diagnose: its name or number (default: the first)")
    p.add_argument("--seed", type=int, help="the seed (default: the experiment's first)")
    p.add_argument("--epochs", type=int, default=1, help="epochs to train while measuring (default 1)")
    p.add_argument("--train-samples", type=int, help="use the first N training samples")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a readable report")
    p.add_argument("--plots", metavar="DIR", help="also write gradient-flow and activation-distribution plots")
    p.set_defaults(func=run)
    register_plot(sub)


def register_plot(sub) -> None:
    p = sub.add_parser("plot", help="plot the chapter's figures")
    p.add_argument("what", choices=["activations"], help="activations: functions, derivatives, error terms")
    p.add_argument("--out", default="plots", help="folder for the PNG files (default: plots)")
    p.set_defaults(func=plot)


def plot(args) -> int:
    from .plots import activation_figures
    for path in activation_figures(args.out):
        print(f"wrote {path}")
    return 0


def _trial(args):
    from ..lab import presets, spec
    if (args.file is None) == (args.preset is None):
        raise spec.SpecError("", "give an experiment file or --preset NAME (not both)")
    experiment = presets.get(args.preset) if args.preset else spec.load(args.file)
    overrides = [("train.epochs", args.epochs)]
    if args.train_samples is not None:
        overrides.append(("data.train_samples", args.train_samples))
    trials = experiment.trials(overrides)
    if args.config is not None:
        want = {args.config, f"conf{args.config}"}
        trials = [t for t in trials if t["configuration"] in want]
        if not trials:
            names = sorted({t["configuration"] for t in experiment.trials(overrides)})
            raise spec.SpecError("--config", f"no configuration {args.config!r}; choose from {', '.join(names)}")
    if args.seed is not None:
        trials = [t for t in trials if t["seed"] == args.seed] or [dict(trials[0], seed=args.seed)]
    return trials[0]


def run(args) -> int:
    from .. import utils
    from ..lab import build
    from ..lab.spec import SpecError
    try:
        trial = _trial(args)
        data = build.load_data(trial["data"])
        utils.set_random_seed(trial["seed"])
        model = build.build_model(trial, data)
    except SpecError as exc:
        print(f"tweaknet: error: {exc}", file=sys.stderr)
        return 2
    report = model.diagnose(data.x_train, data.y_train, epochs=args.epochs, batch_size=trial["train"]["batch_size"])
    if args.plots:
        from pathlib import Path

        from .plots import activation_distributions, gradient_flow
        gradient_flow(model.diagnostics_, Path(args.plots) / "gradient_flow.png")
        activation_distributions(model, data.x_train[:256], Path(args.plots) / "activation_distributions.png")
    if args.json:
        print(report.to_json())  # strict JSON: a diverged (NaN) loss is written as null
    else:
        print(f"{trial['experiment']} / {trial['configuration']} (seed {trial['seed']}), "
              f"{args.epochs} epoch(s): loss {report.metrics['initial_loss']:.4g} -> {report.metrics['final_loss']:.4g}")
        print(report)
    return 0
