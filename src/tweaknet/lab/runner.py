"""Run an experiment from Python: validate, prepare the store, train in parallel (resuming), collect.

:func:`run` is what ``tweaknet run`` and ``tweaknet table5-1`` do, without the printing of the table
and the files (see :class:`.results.Results`).  The pieces: :mod:`.worker` trains a trial's epochs
wherever a backend runs it (:mod:`.pool`: local processes; :mod:`.cluster`: Ray), :mod:`.engine`
drives them and writes the store, :mod:`.display` shows their progress.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from . import build, variants
from .display import label, make_display
from .engine import Driver, Grid, pending
from .outputs import check_outputs, run_files
from .results import Results
from .spec import MAX_TRIALS, Experiment, SpecError, load, loads, trial_hash
from .store import open_for_run


def validate(experiment, overrides=(), check=True, allow_code=None, max_trials=MAX_TRIALS, dry_run=False) -> list[dict]:
    """The experiment's trials, each with the fingerprint of its data; with ``check``, each distinct
    configuration is built and trained for a few steps first (see ``build.check_trial``), so that a
    spec that cannot train fails here, before anything is stored.

    ``allow_code``: let data loaders written in Python run (default: ``TWEAKNET_ALLOW_CODE``; see
    ``build.load_data``); ``max_trials``: the cap on the number of trials (None: none); ``dry_run``:
    never run a loader, even an allowed one (those trials are checked as far as the spec goes, and get
    no ``data_fingerprint``)."""
    trials = experiment.trials(overrides, max_trials)
    seen = set()
    for t in trials:
        if dry_run and build.loader(t["data"]) is not None:
            continue
        t["data_fingerprint"] = build.load_data(t["data"], allow_code).fingerprint
        h = trial_hash({**t, "seed": 0})
        if check and h not in seen:
            seen.add(h)
            build.check_trial(t, allow_code)
    build.clear_cache()  # the workers load their own copy
    return trials


def prepare(experiment, out_dir, overrides=(), restart=False, check=True, allow_code=None):
    """Validate everything, open the store and register the trials; return ``(store, rows)``."""
    return register(experiment, out_dir, validate(experiment, overrides, check, allow_code), restart)


def register(experiment, out_dir, trials, restart=False):
    """Open ``out_dir/runs.sqlite`` (created if needed) and register the validated ``trials``; return
    ``(store, rows)``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = open_for_run(out_dir / "runs.sqlite", restart)
    try:
        if restart:
            store.forget(trials)
        store.register_experiment(experiment.name, experiment.source)
        return store, store.upsert_trials(trials)
    except BaseException:
        store.close()
        raise


def report_files(experiment, overrides, store) -> tuple[str, str]:
    """``(name, what differs)`` of the report files this run writes (see :mod:`.variants`): ``NAME`` and ``''``
    for the spec that owns them in this folder (the first run of the file as written), else the variant's."""
    base = experiment.variants(())
    _, owner = store.report_owner(experiment.name, variants.key(base), variants.comparable(base))
    return variants.report_name(experiment.name, owner, experiment.variants(overrides))


def as_experiment(experiment) -> Experiment:
    """An :class:`Experiment`, a path to a TOML file, or TOML text (a string of several lines)."""
    if isinstance(experiment, Experiment):
        return experiment
    if isinstance(experiment, str) and "\n" in experiment:
        return loads(experiment)
    if isinstance(experiment, (str, os.PathLike)):
        return load(experiment)
    raise TypeError(f"expected an Experiment, a path or TOML text, got {type(experiment).__name__}")


def backend_choice(experiment, backend=None, address=None) -> tuple[str, str | None]:
    """``(backend, address)``: the arguments, else the experiment's ``[run]`` table, else the local pool;
    a Ray address from the argument, ``[run] address`` or ``RAY_ADDRESS`` (None: a local Ray instance).
    For Ray, checks that it is installed and that the cluster answers (:class:`.engine.BackendError`)."""
    backend = backend or experiment.run["backend"]
    if backend not in ("local", "ray"):
        raise SpecError("backend", f"must be 'local' or 'ray', got {backend!r}")
    if backend == "local":
        return "local", None
    address = address or experiment.run["address"] or os.environ.get("RAY_ADDRESS") or None
    from .cluster import preflight
    preflight(address)  # Ray installed, the cluster answers: before the slower validation
    return "ray", address


def open_backend(backend, address, jobs, trials):
    """The backend that runs ``trials``: a :class:`.pool.LocalPool` of ``jobs`` processes (default: the
    number of CPUs), or a connection to a Ray cluster (:class:`.cluster.RayCluster`) that runs at most
    ``jobs`` jobs at once (default: as many as it has CPUs).  Raises :class:`.engine.BackendError`."""
    if backend == "ray":
        from .cluster import RayCluster
        return RayCluster(address, jobs, trials)
    from .pool import LocalPool
    return LocalPool(jobs or os.cpu_count() or 1)


def header(name, rows, todo, backend, store) -> str:
    return (f"{name}: {len(rows)} trials, {len(rows) - todo} already complete, {todo} to train "
            f"on {backend.describe()}; store {Path(store.path)}")


def run(experiment, out=None, jobs=None, overrides=(), restart=False, progress="none", stream=None, backend=None,
        address=None, allow_code=None, max_trials=MAX_TRIALS) -> Results:
    """Validate ``experiment``, register its trials in ``out/runs.sqlite``, train what is not trained yet,
    and return the :class:`Results` of every trial (those stored before included).

    ``out``: the folder (default ``runs/NAME``); ``jobs``: worker processes, or jobs at once on Ray
    (default: the number of CPUs, never more than trials to train); ``overrides``: ``(dotted path,
    value)`` pairs or a dict, applied to every configuration last (as ``--set`` does); ``restart``:
    forget the stored trials this run would continue (those with these specs and seeds) first; ``progress``: ``'none'``, ``'lines'``, ``'bars'`` or
    ``'auto'``; ``stream``: where the header line and the progress go (default: nowhere with
    ``progress='none'``, else ``sys.stdout``); ``backend``: ``'local'`` (a pool of processes) or
    ``'ray'`` (default: the experiment's ``[run] backend``, else local); ``address``: the Ray cluster's
    (default: ``[run] address``, else ``RAY_ADDRESS``, else a local Ray instance); ``allow_code``: let a
    data loader written in Python (``dataset = {python = "pkg.mod:load"}``) run, trusted code (default:
    ``TWEAKNET_ALLOW_CODE=1``; else such a spec raises :class:`SpecError`); ``max_trials``: the cap on
    the number of trials (default 10,000; None: none).  The numbers do not depend on the backend or ``jobs``.

    Raises :class:`SpecError` for an invalid spec and :class:`.engine.BackendError` for a backend that cannot
    run (Ray not installed, a cluster that does not answer), both before anything is stored, and
    ``StoreError`` for a store that cannot be used.  Trials are stored under their spec (content-addressed,
    see :mod:`.store`), so another spec into the same folder is stored beside the first, and writes its own
    report files (see :mod:`.variants`).  Ctrl-C stops the training and returns what is stored, with
    ``interrupted`` set: run it again to continue.
    """
    experiment = as_experiment(experiment)
    if experiment.search is not None:
        raise SpecError("search", "this experiment holds a [search] table: run it with `tweaknet search FILE` "
                                  "(tweaknet.lab.search), or remove the table to run the grid")
    overrides = list(overrides.items()) if isinstance(overrides, dict) else list(overrides)
    if jobs is not None and jobs < 1:
        raise SpecError("jobs", f"must be >= 1, got {jobs}")
    out = Path(out) if out is not None else Path("runs") / experiment.name
    log = stream if stream is not None else (None if progress == "none" else sys.stdout)
    kind, address = backend_choice(experiment, backend, address)
    trials = validate(experiment, overrides, allow_code=allow_code, max_trials=max_trials)
    out = check_outputs(out, run_files(experiment.name))
    runner = open_backend(kind, address, jobs, trials)
    try:
        store, rows = register(experiment, out, trials, restart)
        try:
            todo = pending(rows)
            if kind == "local":
                runner.jobs = max(1, min(runner.jobs, len(todo) or 1))
            if log is not None:
                print(header(experiment.name, rows, len(todo), runner, store), file=log, flush=True)
            for r in rows:  # a checkpoint or epoch rows that could not be trusted (see Store.upsert_trials)
                if r.get("reset"):
                    print(f"{label(r['trial'])}: {r['reset']}: training it again from its start", file=log or sys.stderr,
                          flush=True)
            display = make_display({}, progress, log)
            name, variant = report_files(experiment, overrides, store)
            if name != experiment.name:
                check_outputs(out, run_files(name))
            driver = Driver(store, runner, display, experiment.run["epochs_per_task"])
            outcome = driver.run(Grid(rows), rows)
            return Results.collect(experiment, out, store, outcome, name, variant)
        finally:
            store.close()
    finally:
        runner.close()
