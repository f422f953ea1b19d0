"""Run an experiment from Python: validate, prepare the store, train in parallel (resuming), collect.

:func:`run` is what ``tweaknet run`` and ``tweaknet table5-1`` do, without the printing of the table
and the files (see :class:`.results.Results`).  The pieces: :mod:`.worker` trains one trial in a
worker process, :mod:`.pool` runs the workers, :mod:`.display` shows their progress.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from . import build
from .pool import execute, pending
from .results import Results
from .spec import Experiment, SpecError, load, loads, trial_hash
from .store import Store


def validate(experiment, overrides=(), check=True) -> list[dict]:
    """The experiment's trials, each with the fingerprint of its data; with ``check``, each distinct
    configuration is built and trained for a few steps first (see ``build.check_trial``), so that a
    spec that cannot train fails here, before anything is stored."""
    trials = experiment.trials(overrides)
    seen = set()
    for t in trials:
        t["data_fingerprint"] = build.load_data(t["data"]).fingerprint
        h = trial_hash({**t, "seed": 0})
        if check and h not in seen:
            seen.add(h)
            build.check_trial(t)
    build.clear_cache()  # the workers load their own copy
    return trials


def prepare(experiment, out_dir, overrides=(), restart=False, check=True):
    """Validate everything, open the store and register the trials; return ``(store, rows)``."""
    trials = validate(experiment, overrides, check)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = Store(out_dir / "runs.sqlite")
    if restart:
        store.delete_experiment(experiment.name)
    store.register_experiment(experiment.name, experiment.source)
    return store, store.upsert_trials(trials)


def as_experiment(experiment) -> Experiment:
    """An :class:`Experiment`, a path to a TOML file, or TOML text (a string of several lines)."""
    if isinstance(experiment, Experiment):
        return experiment
    if isinstance(experiment, str) and "\n" in experiment:
        return loads(experiment)
    if isinstance(experiment, (str, os.PathLike)):
        return load(experiment)
    raise TypeError(f"expected an Experiment, a path or TOML text, got {type(experiment).__name__}")


def run(experiment, out=None, jobs=None, overrides=(), restart=False, progress="none", stream=None) -> Results:
    """Validate ``experiment``, register its trials in ``out/runs.sqlite``, train what is not trained yet,
    and return the :class:`Results` of every trial (those stored before included).

    ``out``: the folder (default ``runs/NAME``); ``jobs``: worker processes (default: the number of CPUs,
    never more than trials to train); ``overrides``: ``(dotted path, value)`` pairs or a dict, applied to
    every configuration last (as ``--set`` does); ``restart``: forget this experiment's stored trials
    first; ``progress``: ``'none'``, ``'lines'``, ``'bars'`` or ``'auto'``; ``stream``: where the header
    line and the progress go (default: nowhere with ``progress='none'``, else ``sys.stdout``).

    Raises :class:`SpecError` for an invalid spec (before anything is stored) and ``StoreError`` when
    ``out`` holds these trials trained with another spec.  Ctrl-C stops the training and returns what
    is stored, with ``interrupted`` set: run it again to continue.
    """
    experiment = as_experiment(experiment)
    overrides = list(overrides.items()) if isinstance(overrides, dict) else list(overrides)
    if jobs is not None and jobs < 1:
        raise SpecError("jobs", f"must be >= 1, got {jobs}")
    out = Path(out) if out is not None else Path("runs") / experiment.name
    log = stream if stream is not None else (None if progress == "none" else sys.stdout)
    store, rows = prepare(experiment, out, overrides, restart=restart)
    try:
        todo = len(pending(rows))
        jobs = max(1, min(jobs or os.cpu_count() or 1, todo or 1))
        if log is not None:
            print(f"{experiment.name}: {len(rows)} trials, {len(rows) - todo} already complete, {todo} to train "
                  f"in {jobs} process{'es' if jobs > 1 else ''}; store {Path(store.path)}", file=log, flush=True)
        outcome = execute(rows, store.path, jobs, progress, log)
        return Results.collect(experiment, out, store, outcome)
    finally:
        store.close()
