"""What :func:`tweaknet.lab.run` returns: every trial with its spec, status and per-epoch metrics.

The summary table, ``NAME.csv``, ``NAME-summary.csv`` and ``NAME.png`` are made from it (see
:mod:`.report`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import machine, report
from .display import label

#: The keys of each epoch's metrics, as the store holds them (``epoch`` counts completed epochs, from 1;
#: ``val_*`` are None without a validation split; ``node`` and ``host``: where the epoch was trained).
EPOCH_KEYS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds", "finished_at",
              "val_loss", "val_accuracy", "node", "host")


@dataclass
class TrialResult:
    id: int                 # the trial's id in the store
    spec: dict              # the normalized trial spec (configuration, seed, data, model, optimizer, train)
    status: str             # 'done', 'failed', 'interrupted', 'pending' (not trained yet), 'running' or 'pruned'
    error: str | None       # the traceback of a failed trial
    epochs: list = field(default_factory=list)  # one dict of EPOCH_KEYS per completed epoch, in order

    @property
    def configuration(self) -> str:
        return self.spec["configuration"]

    @property
    def seed(self) -> int:
        return self.spec["seed"]

    @property
    def label(self) -> str:
        return label(self.spec)

    @property
    def nodes(self) -> list:
        """Where the trial's epochs were trained (Ray node ids, or the host name in the local pool), in order."""
        return list(dict.fromkeys(e["node"] for e in self.epochs if e["node"] is not None))


@dataclass
class Results:
    name: str               # the experiment's name
    description: str
    out: Path               # the output folder
    store: Path             # its runs.sqlite
    trials: list            # a TrialResult per trial, in experiment order
    trained: int = 0        # trials that trained in this call
    interrupted: bool = False  # Ctrl-C stopped the training: run again to continue
    machines: list = field(default_factory=list)  # the machine records its epochs were trained on (.machine)

    @classmethod
    def collect(cls, experiment, out, store, outcome, name=None, variant="") -> Results:
        """Read the trials of ``outcome`` (from :meth:`.engine.Driver.run`) back from the open ``store``.  ``name``:
        the report files' name (default: the experiment's); ``variant``: what differs from the spec that owns
        the experiment's own files (then the description says so instead of the file's)."""
        rows = outcome.trials
        stored = {t["id"]: t for t in store.trials(experiment.name)}
        epochs = {}
        for e in store.epochs([r["id"] for r in rows]):
            epochs.setdefault(e["trial_id"], []).append({k: e[k] for k in EPOCH_KEYS})
        trials = []
        for r in rows:
            target = r["trial"]["train"]["epochs"]
            mine = [e for e in epochs.get(r["id"], []) if e["epoch"] <= target]  # fewer epochs: the first N
            status, error = stored[r["id"]]["status"], stored[r["id"]]["error"]
            if r["id"] in outcome.failed:
                status, error = "failed", outcome.failed[r["id"]]
            elif len(mine) >= target and status != "diverged":
                status, error = "done", None
            trials.append(TrialResult(r["id"], r["trial"], status, error, mine))
        description = f"variant of {experiment.name}: {variant}" if variant else experiment.description
        return cls(name or experiment.name, description, Path(out), Path(store.path), trials, outcome.ran,
                   outcome.interrupted, store.machines([r["id"] for r in rows]))

    @property
    def failed(self) -> list:
        """The trials that failed (their ``error`` says why)."""
        return [t for t in self.trials if t.status == "failed"]

    @property
    def diverged(self) -> list:
        """The trials whose loss became NaN or infinite (stopped there; left out of the summaries)."""
        return [t for t in self.trials if t.status == "diverged"]

    def groups(self, diverged: bool = True) -> dict:
        """``{configuration: (description, epochs asked for, {seed: [epoch dict, ...]})}``, as :mod:`.report` takes;
        without the diverged trials with ``diverged=False`` (what the summaries average)."""
        out = {}
        for t in self.trials:
            if not diverged and t.status == "diverged":
                out.setdefault(t.configuration, (t.spec.get("description", ""), t.spec["train"]["epochs"], {}))
                continue
            entry = out.setdefault(t.configuration, (t.spec.get("description", ""), t.spec["train"]["epochs"], {}))
            entry[2][t.seed] = t.epochs
        return out

    def summaries(self) -> list:
        """The final test error per configuration, over seeds (:class:`.report.Summary`)."""
        return report.summarize(self.groups(diverged=False))

    def format_table(self) -> str:
        """The summary table that ``tweaknet run`` prints; diverged trials are named under it, not averaged."""
        table = report.format_table(self.summaries(), self.name)
        if self.machines:
            table += "\n" + "\n".join(self.machine_lines())
        if self.diverged:
            table += "\nDIVERGED (loss NaN or infinite; not in the means above): " + ", ".join(
                f"{t.label} at epoch {len(t.epochs)}" for t in self.diverged)
        return table

    def machine_lines(self) -> list:
        """``trained on: CPU, BLAS, versions`` per machine the epochs were trained on (the README explains why
        results move between machines)."""
        several = len(self.machines) > 1
        return [f"trained on: {machine.describe(m)}" + (f" ({m['epochs']} epochs)" if several else "")
                for m in self.machines]

    def write_all(self, out=None) -> dict:
        """Write ``NAME.csv``, ``NAME-summary.csv`` and ``NAME.png`` into ``out`` (default: the run's folder);
        return their paths. Without matplotlib the CSV files are written, then ImportError is raised."""
        groups = self.groups()
        title = f"{self.name} ({self.description})" if self.description else self.name
        return report.write_all(out or self.out, self.name, groups, self.summaries(), title,
                                self.machine_lines()[:3])
