"""What :func:`tweaknet.lab.search` returns and writes: the best trials, the search's history, each parameter's effect.

- the printed table: per study, its trials (complete, pruned, failed), the trial-epochs they cost,
  the best trials by the search's metric with their test error (measured only for these, after the
  search) and Optuna's parameter importances;
- ``NAME-search.csv``: one row per trial: study, number, state, the values, the metric, epochs, errors;
- ``NAME-search.png``: per study, the history (the metric of each trial in the order they were asked,
  the best so far), the learning curves (pruned trials in grey) and, per parameter, the metric
  against its value (its effect).
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .report import cell, text_table
from .spec import short_labels
from .worker import evaluate_test


@dataclass
class SearchTrial:
    number: int             # Optuna's trial number in its study
    state: str              # 'complete', 'pruned', 'failed' or 'running'
    values: dict            # {dotted path: value}
    value: float | None     # the metric Optuna was told (complete trials)
    configuration: str      # the lab trial's name in runs.sqlite
    id: int | None          # the lab trial's id (None: never trained, e.g. values the schema refused)
    spec: dict | None
    epochs: list = field(default_factory=list)  # the stored epochs (dicts as in Results), in order

    @property
    def test_error(self) -> float | None:
        acc = self.epochs[-1]["test_accuracy"] if self.epochs else None
        return None if acc is None else 1 - acc


@dataclass
class StudyResult:
    name: str               # the Optuna study's name: EXPERIMENT/CONFIGURATION
    metric: str
    direction: str
    paths: list             # the searched keys
    trials: list            # SearchTrial per trial, in the order they were asked
    best: list              # the complete trials, best first (at most test_best)
    importances: dict       # {path: importance} (Optuna's default evaluator), empty if undefined

    @property
    def trial_epochs(self) -> int:
        return sum(len(t.epochs) for t in {t.id: t for t in self.trials if t.id is not None}.values())


@dataclass
class SearchResults:
    name: str
    out: Path
    store: Path
    studies: list           # StudyResult per configuration x grid point
    trained: int = 0        # trials trained by this call
    interrupted: bool = False
    failed: list = field(default_factory=list)  # SearchTrial that failed with an error

    @classmethod
    def collect(cls, experiment, out, store, studies, spec, outcome) -> SearchResults:
        labs = {t["configuration"]: t for t in store.trials(experiment.name)}
        epochs = {}
        for e in store.epochs([t["id"] for t in labs.values()]):
            epochs.setdefault(e["trial_id"], []).append(e)
        results = []
        for s in studies:
            frozen = s.study.get_trials(deepcopy=False)
            resumed = {t.user_attrs["resumes"] for t in frozen if "resumes" in t.user_attrs}
            trials = []
            for t in frozen:
                if t.number in resumed:  # failed by a killed search, asked again under another number
                    continue
                values = dict(s.values(t))
                conf = s.configuration(list(values.items()))
                lab = labs.get(conf)
                trials.append(SearchTrial(t.number, t.state.name.lower().replace("fail", "failed"), values,
                                          t.value if t.state.name == "COMPLETE" else None, conf,
                                          lab and lab["id"], lab and json.loads(lab["spec_json"]),
                                          epochs.get(lab["id"], []) if lab else []))
            done = [t for t in trials if t.state == "complete"]
            done.sort(key=lambda t: t.value, reverse=spec.direction == "maximize")
            try:
                importances = dict(s.optuna.importance.get_param_importances(s.study)) if len(done) > 1 else {}
            except (RuntimeError, ValueError, ZeroDivisionError):  # too few or identical values
                importances = {}
            results.append(StudyResult(s.name, spec.metric, spec.direction, [d.path for d in spec.space], trials,
                                       done[:spec.test_best], importances))
        failed = [t for r in results for t in r.trials
                  if t.id is not None and t.id in outcome.failed]
        return cls(experiment.name, Path(out), Path(store.path), results, outcome.ran, outcome.interrupted, failed)

    def test_best(self, store) -> None:
        """Measure the test error of each study's best trials (from their last checkpoint), once; stored in the
        last epoch's row."""
        for r in self.studies:
            for t in r.best:
                last = t.epochs[-1]
                if last["test_accuracy"] is None:
                    epoch, state, _ = store.checkpoint(t.id, packed=True)
                    loss, acc = evaluate_test(t.spec, state)
                    store.set_test(t.id, epoch, loss, acc)
                    last["test_loss"], last["test_accuracy"] = loss, acc

    @property
    def trial_epochs(self) -> int:
        """Epochs trained (and stored) for all the searches' trials: what the search cost."""
        return sum(r.trial_epochs for r in self.studies)

    def format_table(self) -> str:
        """The report ``tweaknet search`` prints."""
        out = []
        for r in self.studies:
            states = [t.state for t in r.trials]
            counts = ", ".join(f"{states.count(s)} {s}" for s in ("complete", "pruned", "failed", "running")
                               if states.count(s))
            out.append(f"{r.name}: {len(r.trials)} trials ({counts}), {r.trial_epochs} trial-epochs; "
                       f"best by {r.metric} ({r.direction}) on the validation split:")
            head = ("rank", "trial", *short_labels(r.paths), "val loss", "val error", "epochs", "test error")
            rows = []
            for i, t in enumerate(r.best, 1):
                last = t.epochs[-1] if t.epochs else {}
                rows.append((str(i), f"#{t.number}", *(fmt(t.values[p]) for p in r.paths),
                             num(last.get("val_loss")), pct(last.get("val_accuracy"), True), str(len(t.epochs)),
                             pct(t.test_error)))
            out.append(text_table(head, rows) if rows else "(no complete trial yet)")
            if r.importances:
                out.append("parameter importance: " + ", ".join(f"{p} {v:.2f}" for p, v in r.importances.items()))
            out.append("")
        return "\n".join(out).rstrip()

    def write_all(self, out=None) -> dict:
        """Write ``NAME-search.csv`` and ``NAME-search.png`` into ``out`` (default: the search's folder); return
        their paths.  Without matplotlib the CSV is written, then ImportError is raised."""
        out = Path(out or self.out)
        paths = {"csv": out / f"{self.name}-search.csv", "png": out / f"{self.name}-search.png"}
        self.write_csv(paths["csv"])
        self.plot(paths["png"])
        return paths

    def write_csv(self, path) -> None:
        keys = list(dict.fromkeys(p for r in self.studies for p in r.paths))
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(("study", "trial", "state", *keys, "metric", "value", "epochs", "val_loss", "val_error",
                        "test_error", "configuration"))
            for r in self.studies:
                for t in r.trials:
                    last = t.epochs[-1] if t.epochs else {}
                    w.writerow((cell(r.name), t.number, t.state, *(t.values.get(k, "") for k in keys), r.metric,
                                "" if t.value is None else repr(t.value), len(t.epochs),
                                "" if last.get("val_loss") is None else repr(last["val_loss"]),
                                "" if last.get("val_accuracy") is None else f"{1 - last['val_accuracy']:.10g}",
                                "" if t.test_error is None else f"{t.test_error:.10g}", cell(t.configuration)))

    def plot(self, path) -> None:
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError("Plotting needs matplotlib: pip install 'tweaknet[lab]'.") from None
        cols = 2 + max(len(r.paths) for r in self.studies)
        fig = Figure(figsize=(3.6 * cols, 3.2 * len(self.studies)), dpi=110)
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(self.studies), cols, squeeze=False)
        for row, r in zip(axes, self.studies):
            plot_study(row, r)
        fig.suptitle(f"{self.name}: search history and parameter effects")
        fig.tight_layout()
        fig.savefig(path, format="png")


def metric_value(r: StudyResult, epoch: dict):
    """What the plots show of an epoch: the validation error in percent, or the validation loss."""
    if r.metric == "val_accuracy":
        return None if epoch.get("val_accuracy") is None else 100 * (1 - epoch["val_accuracy"])
    return epoch.get("val_loss")


def plot_study(axes, r: StudyResult) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator
    label = "val error (%)" if r.metric == "val_accuracy" else "val loss"
    final = [(t, metric_value(r, t.epochs[-1])) for t in r.trials if t.epochs]
    final = [(t, v) for t, v in final if v is not None and math.isfinite(v)]
    hist, curves = axes[0], axes[1]
    best, line = math.inf, []
    for t, v in final:
        ok = t.state == "complete"
        hist.scatter([t.number], [v], color="C0" if ok else "0.6", marker="o" if ok else "x", s=18, zorder=3)
        if ok:
            best = min(best, v)
        line.append((t.number, best))
    if line:
        hist.step([n for n, _ in line], [b for _, b in line], where="post", color="C3", label="best so far")
        hist.legend(fontsize="small")
    hist.set(title=f"{r.name}: history", xlabel="trial (in the order asked)", ylabel=label)
    for t in r.trials:
        pts = [(e["epoch"], metric_value(r, e)) for e in t.epochs if metric_value(r, e) is not None]
        if pts:
            done = t.state == "complete"
            curves.plot(*zip(*pts), color="C0" if done else "0.6", lw=1 if done else 0.7, marker=".",
                        markersize=3, alpha=0.8, zorder=3 if done else 2)
    curves.set(title="learning curves (pruned: grey)", xlabel="epoch", ylabel=label)
    curves.xaxis.set_major_locator(MaxNLocator(integer=True))
    values = [v for _, v in final]
    if values and min(values) > 0 and max(values) / min(values) > 5:  # a few diverged trials: a log scale shows all
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        for ax in axes:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(plain)
    for ax, path in zip(axes[2:], r.paths):
        xs = [(t.values[path], v, t.state == "complete") for t, v in final]
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x, _, _ in xs)
        if numeric:
            ax.scatter([x for x, _, ok in xs if ok], [v for _, v, ok in xs if ok], color="C0", s=18)
            ax.scatter([x for x, _, ok in xs if not ok], [v for _, v, ok in xs if not ok], color="0.6", marker="x",
                       s=18)
            if xs and min(x for x, _, _ in xs) > 0 and max(x for x, _, _ in xs) / min(x for x, _, _ in xs) > 50:
                ax.set_xscale("log")
        else:
            names = sorted({fmt(x) for x, _, _ in xs})
            for x, v, ok in xs:
                ax.scatter([names.index(fmt(x))], [v], color="C0" if ok else "0.6", marker="o" if ok else "x", s=18)
            ax.set_xticks(range(len(names)), names, rotation=30, fontsize="small")
            ax.set_xlim(-0.5, len(names) - 0.5)
        ax.set(title=f"effect of {short_labels([path])[0]}", xlabel=path, ylabel=label)
    for ax in axes[2 + len(r.paths):]:
        ax.set_visible(False)


def fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def num(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def pct(v, complement=False) -> str:
    if v is None:
        return "-"
    return f"{100 * (1 - v if complement else v):.2f}%"
