"""Hyperparameter searches: Optuna chooses the trials, the lab trains them (locally or on Ray) and stores them.

An experiment's ``[search]`` table names a space of dotted key paths and how to explore it::

    [search]
    trials = 20                    # per study: one study per configuration x grid point
    sampler = "tpe"                # "tpe" | "random"
    seed = 1                       # the sampler's seed
    startup_trials = 5             # random trials before TPE models the space; trials before pruning starts
    metric = "val_accuracy"        # "val_accuracy" | "val_loss", on data.validation_split (default 0.1)
    direction = "maximize"         # default: maximize accuracy, minimize loss
    pruner = "median"              # "median" | "successive_halving" | "none", on the per-epoch metric
    warmup_epochs = 1              # epochs every trial trains before it may be pruned
    test_best = 3                  # the best trials whose test error is measured, after the search

    [search.space]
    "optimizer.learning_rate" = { log_uniform = [1e-4, 1.0] }
    "model.layers.0.activation" = { choice = ["tanh", "relu", "elu"] }
    "model.layers.0.units" = { int = [16, 256] }       # also uniform = [a, b], log_int = [a, b]

A search never looks at the test set while it runs: every trial holds out ``data.validation_split``
of its training samples and reports the metric on them after each epoch (Optuna's pruner decides
from these whether the trial goes on); only the best trials are tested, from their last checkpoint,
at the end.  The studies live in Optuna's RDB storage in ``DIR/search.sqlite`` beside
``DIR/runs.sqlite``, driven by ask and tell; a searched configuration is an ordinary lab trial named
after its values (``search[learning_rate=0.0031,activation='relu']``), so a killed search run again
continues: the trials Optuna still marks running are failed and asked again with the same values,
and resume from their stored checkpoints.
"""
from __future__ import annotations

import difflib
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import build
from .display import make_display
from .engine import BackendError, Driver
from .runner import as_experiment, backend_choice, open_backend, validate
from .schema import SpecError, check_keys, get_string, join_path, type_name
from .outputs import check_outputs, search_files
from .spec import MAX_TRIALS, point_label, short_labels, split_path
from .store import StoreError, open_for_run

SEARCH_KEYS = ("trials", "sampler", "seed", "startup_trials", "metric", "direction", "pruner", "warmup_epochs",
               "test_best", "space")
KINDS = ("uniform", "log_uniform", "int", "log_int", "choice")
METRICS = {"val_accuracy": "maximize", "val_loss": "minimize"}
#: The validation split a search holds out where the experiment sets none.
DEFAULT_SPLIT = 0.1


@dataclass
class Dimension:
    """One searched key: its dotted path, kind and range (``low``, ``high``) or ``choices``."""
    path: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    choices: list | None = None

    def distribution(self):
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
        if self.kind == "choice":
            return CategoricalDistribution(self.encoded())
        log = self.kind.startswith("log_")
        return (IntDistribution if self.kind.endswith("int") else FloatDistribution)(self.low, self.high, log=log)

    def scalar(self) -> bool:
        return all(v is None or isinstance(v, (bool, int, float, str)) for v in self.choices)

    def encoded(self) -> list:
        """The choices as Optuna takes them: as they are if scalars, else as JSON text."""
        return list(self.choices) if self.scalar() else [json.dumps(v, sort_keys=True) for v in self.choices]

    def decode(self, value):
        return json.loads(value) if self.kind == "choice" and not self.scalar() else value

    def extremes(self) -> list:
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]


@dataclass
class SearchSpec:
    trials: int = 20
    sampler: str = "tpe"
    seed: int = 1
    startup_trials: int = 5
    metric: str = "val_accuracy"
    direction: str = "maximize"
    pruner: str = "median"
    warmup_epochs: int = 1
    test_best: int = 3
    space: list = field(default_factory=list)  # Dimension per searched key

    def fingerprint(self) -> str:
        """What a stored study must match to be continued (the budget may change)."""
        d = {k: v for k, v in self.__dict__.items() if k not in ("trials", "test_best")}
        d["space"] = [dim.__dict__ for dim in self.space]
        return json.dumps(d, sort_keys=True)


def _count(d, key, default, low, path="search"):
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise SpecError(join_path(path, key), f"must be an integer >= {low}, got {type_name(v)} {v!r}")
    return v


def _dimension(path, d) -> Dimension:
    where = f"search.space.{path}"
    if not isinstance(d, dict) or len(d) != 1 or next(iter(d)) not in KINDS:
        close = difflib.get_close_matches(str(next(iter(d))), KINDS, n=1) if isinstance(d, dict) and d else []
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise SpecError(where, f"{hint}a distribution must be one of {{ uniform = [LOW, HIGH] }}, {{ log_uniform = "
                               f"[LOW, HIGH] }}, {{ int = [LOW, HIGH] }}, {{ log_int = [LOW, HIGH] }} or "
                               f"{{ choice = [A, B, ...] }}, got {d!r}")
    (kind, args), = d.items()
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise SpecError(where, f"choice needs a non-empty array of values, got {args!r}")
        if len({json.dumps(a, sort_keys=True) for a in args}) != len(args):
            raise SpecError(where, f"choice values must be distinct, got {args!r}")
        return Dimension(path, kind, choices=list(args))
    integer = kind.endswith("int")
    number = (lambda v: isinstance(v, int) and not isinstance(v, bool)) if integer else \
        (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
    if not isinstance(args, list) or len(args) != 2 or not all(number(v) for v in args):
        raise SpecError(where, f"{kind} needs [LOW, HIGH], two {'integers' if integer else 'finite numbers'}, "
                               f"got {args!r}")
    low, high = args
    if not low < high:
        raise SpecError(where, f"the range [{low}, {high}] is empty: {kind} needs LOW < HIGH")
    if kind.startswith("log_") and low <= 0:
        raise SpecError(where, f"{kind} needs LOW > 0 (a log scale), got {low}")
    return Dimension(path, kind, low if integer else float(low), high if integer else float(high))


def _flatten(d, prefix=""):
    """Space entries: a distribution table is a leaf; any other table (from unquoted dotted keys) nests."""
    for k, v in d.items():
        path = join_path(prefix, k)
        if isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()):
            yield from _flatten(v, path)
        else:
            yield path, v


def parse(table) -> SearchSpec:
    """The ``[search]`` table as a :class:`SearchSpec`; raises :class:`SpecError` naming the key."""
    check_keys(table, "search", SEARCH_KEYS, ("space",))
    out = SearchSpec()
    out.trials = _count(table, "trials", out.trials, 1)
    out.sampler = get_string(table, "sampler", "search", out.sampler, ("tpe", "random"))
    out.seed = _count(table, "seed", out.seed, 0)
    out.startup_trials = _count(table, "startup_trials", out.startup_trials, 0)
    out.metric = get_string(table, "metric", "search", out.metric, tuple(METRICS))
    out.direction = get_string(table, "direction", "search", METRICS[out.metric], ("maximize", "minimize"))
    out.pruner = get_string(table, "pruner", "search", out.pruner, ("median", "successive_halving", "none"))
    out.warmup_epochs = _count(table, "warmup_epochs", out.warmup_epochs, 1)
    out.test_best = _count(table, "test_best", out.test_best, 0)
    space = table["space"]
    if not isinstance(space, dict) or not space:
        raise SpecError("search.space", "must be a table of at least one dotted key path and its distribution, e.g. "
                                        "\"optimizer.learning_rate\" = { log_uniform = [1e-4, 1.0] }")
    for path, d in _flatten(space):
        split_path(path)
        out.space.append(_dimension(path, d))
    return out


def check_space(experiment, spec: SearchSpec, overrides) -> None:
    """Validate every configuration at both ends of each range and with each choice, so that a key the schema
    does not know, or a value it refuses, fails here (naming ``search.space.PATH``) before anything runs."""
    for dim in spec.space:
        for value in dim.extremes():
            try:
                experiment.variants([*overrides, (dim.path, value)])
            except SpecError as exc:
                reason = exc.reason if exc.path == dim.path else f"{exc.path}: {exc.reason}"
                raise SpecError(f"search.space.{dim.path}", f"{reason} (with the value {value!r})",
                                exc.context) from None


def search_overrides(experiment, overrides) -> list:
    """``overrides`` with ``data.validation_split`` at :data:`DEFAULT_SPLIT` where the experiment sets none."""
    given = any(p == "data.validation_split" for p, _ in overrides) or \
        "validation_split" in (experiment.raw.get("data") or {}) or \
        any("data.validation_split" in sets or "validation_split" in (sets.get("data") or {})
            for _, _, sets in experiment.configurations)
    return list(overrides) if given else [("data.validation_split", DEFAULT_SPLIT), *overrides]


# -- one study per configuration x grid point ----------------------------------------------------------
class Study:
    """An Optuna study of one variant, its budget and the lab trials it has in flight."""

    def __init__(self, optuna, storage, name, variant, spec: SearchSpec, budget: int, restart: bool):
        self.optuna, self.name, self.variant, self.spec = optuna, name, variant, spec
        names = optuna.get_all_study_names(storage)
        if restart and name in names:
            optuna.delete_study(study_name=name, storage=storage)
        # The sampler's seed moves on with the trials already stored: a search continued after a kill does not
        # draw again the values its first part drew (an uninterrupted search is reproducible from `seed`).
        seed = spec.seed + (len(optuna.load_study(study_name=name, storage=storage).trials)
                            if name in names and not restart else 0)
        sampler = (optuna.samplers.TPESampler(seed=seed, n_startup_trials=spec.startup_trials)
                   if spec.sampler == "tpe" else optuna.samplers.RandomSampler(seed=seed))
        pruner = {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=spec.startup_trials,
                                                                n_warmup_steps=spec.warmup_epochs),
                  "successive_halving": lambda: optuna.pruners.SuccessiveHalvingPruner(
                      min_resource=spec.warmup_epochs, reduction_factor=3),
                  "none": lambda: optuna.pruners.NopPruner()}[spec.pruner]()
        self.study = optuna.create_study(storage=storage, study_name=name, direction=spec.direction, sampler=sampler,
                                         pruner=pruner, load_if_exists=True)
        stored = self.study.user_attrs.get("search")
        if stored is None:
            self.study.set_user_attr("search", spec.fingerprint())
        elif stored != spec.fingerprint():
            raise StoreError(f"search.sqlite holds study {name!r} searched with another [search] table (space, metric, "
                             f"sampler or pruner). Use another --out folder, or --restart to discard it.")
        self.dists = {d.path: d.distribution() for d in spec.space}
        self.labels = short_labels([d.path for d in spec.space])
        state = optuna.trial.TrialState
        trials = self.study.get_trials(deepcopy=False)
        # A trial still running belongs to a search that was killed: fail it, ask its values again (the
        # lab trial of those values resumes from its checkpoint).
        for t in trials:
            if t.state == state.RUNNING:
                self.study.tell(t.number, state=state.FAIL, skip_if_finished=True)
                self.study.enqueue_trial(t.params, user_attrs={"resumes": t.number})
        trials = self.study.get_trials(deepcopy=False)
        resumed = sum("resumes" in t.user_attrs for t in trials)
        used = sum(t.state in (state.COMPLETE, state.PRUNED, state.FAIL) for t in trials) - resumed
        self.asks_left = max(0, budget - used)

    def values(self, trial) -> list:
        by_path = {d.path: d for d in self.spec.space}
        return [(p, by_path[p].decode(trial.params[p])) for p in self.dists]

    def configuration(self, values) -> str:
        base = self.variant["configuration"]
        return f"{base if base != 'default' else 'search'}[{point_label(self.labels, [v for _, v in values])}]"


class SearchSource:
    """The driver's source of a search: asks Optuna for a trial when a slot frees, reports each epoch's metric
    (the pruner may stop the trial), tells Optuna each result."""

    def __init__(self, experiment, studies, overrides, store, spec: SearchSpec):
        self.experiment, self.studies, self.overrides, self.store, self.spec = experiment, studies, overrides, store, spec
        self.allow_code = None  # let a data loader written in Python run (search(allow_code=...))
        self.flying = {}  # lab trial id -> (study, [optuna trials asking for it])
        self.rows = []    # every lab row handed out, in order

    def left(self) -> int:
        return sum(s.asks_left for s in self.studies)

    def lab_trial(self, study, values) -> dict:
        (t,) = [t for t in self.experiment.trials([*self.overrides, *values])
                if t["configuration"] == study.variant["configuration"] and t["seed"] == study.variant["seed"]]
        t["configuration"] = study.configuration(values)
        t["data_fingerprint"] = build.load_data(t["data"], self.allow_code).fingerprint
        return t

    def next(self):
        for study in self.studies:
            while study.asks_left > 0:
                study.asks_left -= 1
                trial = study.study.ask(study.dists)
                values = study.values(trial)
                try:
                    spec = self.lab_trial(study, values)
                except SpecError as exc:  # values the schema refuses together (each was checked alone before)
                    trial.set_user_attr("error", str(exc))
                    study.study.tell(trial, state=self.state("FAIL"))
                    continue
                (row,) = self.store.upsert_trials([spec], scope="search")
                if row["id"] in self.flying:  # the same values are training already: share their result
                    self.flying[row["id"]][1].append(trial)
                    continue
                self.flying[row["id"]] = (study, [trial])
                for e in self.store.epochs([row["id"]]):  # a resumed trial: its stored epochs, as reported then
                    if e[self.spec.metric] is not None and math.isfinite(e[self.spec.metric]):
                        trial.report(e[self.spec.metric], e["epoch"])
                self.rows.append(row)
                return row
        return None

    def state(self, name):
        return getattr(self.studies[0].optuna.trial.TrialState, name)

    def epoch(self, row, epoch, metrics) -> bool:
        value = metrics.get(self.spec.metric)
        if value is None or not math.isfinite(value):
            return False  # diverged: stop it; Optuna is told it failed
        for trial in self.flying[row["id"]][1]:
            trial.report(value, epoch)
        return not self.flying[row["id"]][1][0].should_prune()

    def finished(self, row, status) -> None:
        study, trials = self.flying.pop(row["id"])
        epochs = self.store.epochs([row["id"]])
        last = epochs[-1][self.spec.metric] if epochs else None
        for trial in trials:
            if status == "done" and last is not None and math.isfinite(last):
                study.study.tell(trial, last)
            elif status == "pruned" and last is not None and math.isfinite(last):
                study.study.tell(trial, state=self.state("PRUNED"))
            else:
                study.study.tell(trial, state=self.state("FAIL"))


def _optuna():
    try:
        import optuna
    except ImportError:
        raise BackendError("a search needs Optuna: pip install 'tweaknet[search]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def search(experiment, out=None, jobs=None, overrides=(), restart=False, progress="none", stream=None, backend=None,
           address=None, trials=None, allow_code=None, max_trials=MAX_TRIALS):
    """Run the experiment's ``[search]``: a study per configuration x grid point, ``trials`` trials each
    (default: ``search.trials``), in the local pool or on Ray (``backend``, ``address``: as in
    :func:`tweaknet.lab.run`; ``allow_code``, ``max_trials`` too); return the
    :class:`.search_report.SearchResults`.

    Raises :class:`SpecError` (a bad ``[search]`` table or spec), :class:`BackendError` (Optuna or Ray
    missing, a cluster that does not answer), both before anything is written, and ``StoreError``.
    Interrupted (Ctrl-C, or killed), it continues where it stopped when called again.
    """
    from .search_report import SearchResults
    experiment = as_experiment(experiment)
    if experiment.search is None:
        raise SpecError("search", "this experiment has no [search] table: add one (see docs/lab.md, Searches), "
                                  "or run its grid with `tweaknet run`")
    overrides = list(overrides.items()) if isinstance(overrides, dict) else list(overrides)
    if jobs is not None and jobs < 1:
        raise SpecError("jobs", f"must be >= 1, got {jobs}")
    spec = parse(experiment.search)
    if trials is not None:
        if trials < 1:
            raise SpecError("trials", f"must be >= 1, got {trials}")
        spec.trials = trials
    overrides = search_overrides(experiment, overrides)
    check_space(experiment, spec, overrides)
    variants = [dict(v, seed=v["train"]["seeds"][0]) for v in experiment.variants(overrides)]
    for v in variants:
        if not v["data"].get("validation_split"):
            raise SpecError("data.validation_split", "a search needs a validation split > 0: it never looks at the "
                                                     "test set while it runs", f"configuration {v['configuration']!r}")
    optuna = _optuna()
    kind, address = backend_choice(experiment, backend, address)
    base = validate(experiment, overrides, allow_code=allow_code, max_trials=max_trials)
    out = check_outputs(out if out is not None else Path("runs") / experiment.name, search_files(experiment.name))
    log = stream if stream is not None else (None if progress == "none" else sys.stdout)
    runner = open_backend(kind, address, jobs, base)
    try:
        out.mkdir(parents=True, exist_ok=True)
        store = open_for_run(out / "runs.sqlite", restart)
        try:
            if restart:
                store.delete_experiment(experiment.name)
            store.register_experiment(experiment.name, experiment.source)
            storage = f"sqlite:///{(out / 'search.sqlite').resolve()}"
            studies = [Study(optuna, storage, f"{experiment.name}/{v['configuration']}", v, spec, spec.trials,
                             restart) for v in variants]
            source = SearchSource(experiment, studies, overrides, store, spec)
            source.allow_code = allow_code  # the trials it makes load the data the driver loaded with consent
            if log is not None:
                print(f"{experiment.name}: {len(studies)} stud{'ies' if len(studies) > 1 else 'y'} of {spec.trials} "
                      f"trials, {source.left()} to ask for, {spec.metric} ({spec.direction}), on {runner.describe()}; "
                      f"store {store.path}", file=log, flush=True)
            driver = Driver(store, runner, make_display({}, progress, log), experiment.run["epochs_per_task"],
                            test=False)
            outcome = driver.run(source, source.rows)
            results = SearchResults.collect(experiment, out, store, studies, spec, outcome)
            results.test_best(store)
            return results
        finally:
            store.close()
    finally:
        runner.close()
