"""``tweaknet search FILE.toml``: run the ``[search]`` of an experiment file with ``tweaknet.lab.search``, print the
best trials and write the search's CSV and plot."""
from __future__ import annotations

import sys
from pathlib import Path

from .. import lab
from ..lab.studies import check_space, parse, search_overrides
from ..lab.spec import SpecError
from .common import EXIT_OK
from .run import backend, conclude, overrides, run_options


def register(sub) -> None:
    p = sub.add_parser("search", help="search the [search] space of an experiment file with Optuna",
                       description="Search the [search] space of an experiment file: Optuna (TPE or random) asks for "
                                   "configurations, the lab trains them on a validation split (locally or on Ray), "
                                   "prunes the poor ones per epoch, and tests only the best. Killed, it continues "
                                   "where it stopped. See docs/lab.md, Searches.")
    p.add_argument("file", type=Path, help="the experiment, a .toml file with a [search] table")
    run_options(p, "runs/NAME (NAME: the experiment's name)")
    p.add_argument("--trials", type=int, default=None, help="trials per study (overrides search.trials)")
    p.set_defaults(func=search_file)


def search_file(args) -> int:
    experiment = lab.load(args.file)
    if args.jobs is not None and args.jobs < 1:
        raise SpecError("--jobs", f"must be >= 1, got {args.jobs}")
    changes = overrides(args)
    if args.dry_run:
        if experiment.search is None:
            raise SpecError("search", "this experiment has no [search] table")
        spec = parse(experiment.search)
        check_space(experiment, spec, search_overrides(experiment, changes))
        for v in experiment.variants(search_overrides(experiment, changes), args.max_trials):
            print(f"study {experiment.name}/{v['configuration']}: {args.trials or spec.trials} trials of "
                  f"{v['train']['epochs']} epochs at most, {spec.metric} ({spec.direction}), pruner {spec.pruner}")
        for d in spec.space:
            print(f"  {d.path}: {d.kind} {d.choices if d.kind == 'choice' else [d.low, d.high]}")
        print("spec OK")
        return EXIT_OK
    results = lab.search(experiment, out=args.out, jobs=args.jobs, overrides=changes, restart=args.restart,
                         progress=args.progress, stream=sys.stdout, trials=args.trials, allow_code=args.allow_code,
                         max_trials=args.max_trials, **backend(args))
    return conclude(results, lambda t: f"trial #{t.number} ({t.configuration}) failed")
