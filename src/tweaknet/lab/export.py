"""Every stored trial as TensorBoard event files: its curves per epoch and its hyperparameters (HParams).

``export_tensorboard(sources, out_dir)`` reads each ``runs.sqlite`` (a file, or every one below a
folder) and writes one TensorBoard run per trial, ``OUT/EXPERIMENT/CONFIGURATION-seedN``: the
scalars ``train/loss``, ``train/accuracy``, ``val/...`` and ``test/...`` (``loss``, ``accuracy``,
``error``) at step = epoch, and an HParams session whose hyperparameters are the configuration, the
seed and every key of the trial's spec that differs between the experiment's trials, and whose
metrics are the last epoch's (``hparams/test_error``, ``hparams/val_error``, ``hparams/train_loss``).
``tensorboard --logdir OUT`` then shows the curves side by side, and its HParams dashboard the table
and parallel-coordinates view of all trials.  Needs tensorboardX (``pip install 'tweaknet[tensorboard]'``).
"""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from .spec import fmt_value
from .store import Store

#: (tag, metric key) of the per-epoch scalars.
SCALARS = (("train/loss", "train_loss"), ("train/accuracy", "train_accuracy"), ("val/loss", "val_loss"),
           ("val/accuracy", "val_accuracy"), ("test/loss", "test_loss"), ("test/accuracy", "test_accuracy"))


def stores(sources) -> list[Path]:
    """The ``runs.sqlite`` files of ``sources`` (files, or folders searched recursively), in order."""
    found = []
    for src in map(Path, sources):
        if src.is_file():
            found.append(src)
        elif src.is_dir():
            found += sorted(src.rglob("runs.sqlite"))
        else:
            raise FileNotFoundError(f"{src}: no such file or folder (give a runs folder or a runs.sqlite)")
    return list(dict.fromkeys(found))


def flat(d, prefix=""):
    """``{dotted path: value}`` of a spec; lists of tables by index, other non-scalars as JSON text."""
    for k, v in d.items():
        path = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and "class_name" not in v:
            yield from flat(v, path)
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for i, x in enumerate(v):
                yield from flat(x, f"{path}.{i}")
        elif v is None or isinstance(v, (bool, int, float, str)):
            yield path, v
        else:
            yield path, json.dumps(v, sort_keys=True)


def run_name(configuration: str, seed: int) -> str:
    return re.sub(r"[^A-Za-z0-9._=+,-]+", "_", f"{configuration}-seed{seed}")[:200]


def _spec(text) -> dict:
    """A stored trial's spec; a damaged one (not the JSON of a table) has no hyperparameters to show."""
    try:
        spec = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return spec if isinstance(spec, dict) else {}


def hyperparameters(trials) -> dict:
    """``{trial id: {name: value}}``: configuration, seed and the spec keys that differ between ``trials``."""
    specs = {t["id"]: dict(flat(_spec(t["spec_json"]))) for t in trials}
    keys = sorted({k for s in specs.values() for k in s})
    skip = {"experiment", "configuration", "description", "seed", "data_fingerprint"}
    varying = [k for k in keys if k not in skip and len({json.dumps(s.get(k)) for s in specs.values()}) > 1]
    out = {}
    for t in trials:
        hp = {"configuration": t["configuration"], "seed": t["seed"]}
        for k in varying:
            v = specs[t["id"]].get(k)
            hp[k] = "-" if v is None else v if isinstance(v, (bool, int, float, str)) else fmt_value(v)
        out[t["id"]] = hp
    return out


def export_tensorboard(sources, out_dir) -> dict:
    """Write the event files; return ``{'trials': n, 'experiments': [names], 'out': out_dir}``."""
    try:
        from tensorboardX import SummaryWriter
        from tensorboardX.summary import hparams
    except ImportError:
        raise ImportError("exporting to TensorBoard needs tensorboardX: pip install 'tweaknet[tensorboard]'") \
            from None
    out_dir, count, names = Path(out_dir), 0, []
    for path in stores(sources):
        try:  # look before opening: Store() would add the lab's tables to any SQLite file
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as peek:
                tables = {r[0] for r in peek.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{path}: not a lab store ({exc})") from None
        if not {"trials", "epochs"} <= tables:
            raise ValueError(f"{path}: not a lab store (no trials and epochs tables)")
        store = Store(path)  # an older lab store gains the newer columns
        try:
            trials = store.trials()
            epochs = {}
            for e in store.epochs():
                epochs.setdefault(e["trial_id"], []).append(e)
            by_experiment = {}
            for t in trials:
                by_experiment.setdefault(t["experiment"], []).append(t)
            for name, group in by_experiment.items():
                names.append(name)
                hps = hyperparameters(group)
                for t in group:
                    mine = epochs.get(t["id"], [])
                    if not mine:
                        continue
                    folder = out_dir / name / run_name(t["configuration"], t["seed"])
                    folder.mkdir(parents=True, exist_ok=True)
                    for old in folder.glob("events.out.tfevents.*"):  # exported before: replaced, not doubled
                        old.unlink()
                    with SummaryWriter(logdir=str(folder)) as w:
                        for e in mine:
                            for tag, key in SCALARS:
                                if e[key] is not None:
                                    w.add_scalar(tag, e[key], e["epoch"])
                            for part in ("val", "test"):
                                if e[f"{part}_accuracy"] is not None:
                                    w.add_scalar(f"{part}/error", 1 - e[f"{part}_accuracy"], e["epoch"])
                        last = mine[-1]
                        metrics = {"hparams/train_loss": last["train_loss"]}
                        for part in ("val", "test"):
                            if last[f"{part}_accuracy"] is not None:
                                metrics[f"hparams/{part}_error"] = 1 - last[f"{part}_accuracy"]
                        # add_hparams would open a second writer on a file of the same name: one writer does both
                        for summary in hparams(hps[t["id"]], metrics):
                            w.file_writer.add_summary(summary)
                        for tag, value in metrics.items():
                            w.add_scalar(tag, value, last["epoch"])
                    count += 1
        finally:
            store.close()
    return {"trials": count, "experiments": list(dict.fromkeys(names)), "out": out_dir}
