"""Which report files a run writes: ``NAME.*`` for the spec that owns the name, a variant's own name for others.

The first run of an experiment file into a folder, as the file is written (its ``--seeds`` aside), owns
the report files ``NAME.csv``, ``NAME-summary.csv`` and ``NAME.png`` there: ``tweaknet table5-1`` keeps
``table5-1.png``.  A run whose spec differs (a quick look with ``--train-samples`` or ``--epochs``, a
``--set``, an edited file that kept the name) is a *variant*: it writes ``NAME+KEY=VALUE+....*``, named
after the keys that differ from the owner's spec, and its figure's title lists them.  So no run writes over
the figure of another, and a variant run twice writes its own files again.  The seeds are not part of
it: more seeds refine the same figure.
"""
from __future__ import annotations

import hashlib
import json
import re

from .spec import short_labels

#: The longest variant suffix spelled out; a longer one becomes ``+variant-HASH``.
MAX_SUFFIX = 60


def comparable(variants: list) -> list:
    """What identifies a run's report: each variant's configuration name and its spec, without the experiment's
    name, the descriptions and the seeds (more seeds refine the same figure)."""
    out = []
    for v in variants:
        v = json.loads(json.dumps(v))
        for k in ("experiment", "description", "data_fingerprint"):
            v.pop(k, None)
        v.get("train", {}).pop("seeds", None)
        out.append(v)
    return out


def key(variants: list) -> str:
    return hashlib.sha256(json.dumps(comparable(variants), sort_keys=True).encode()).hexdigest()[:16]


def _flat(d, prefix=""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flat(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(d, list) and d and all(isinstance(x, dict) for x in d):
        for i, v in enumerate(d):
            yield from _flat(v, f"{prefix}.{i}")
    else:
        yield prefix, d


def _show(v) -> str:
    return "unset" if v is None else repr(v) if isinstance(v, float) else json.dumps(v, separators=(",", ":")) \
        if isinstance(v, (dict, list)) else str(v)


def differences(owner: list, run: list) -> list[tuple[str, object, object]]:
    """``(path, owner's value, run's value)`` for every key that differs; a change made in every shared
    configuration is listed once with its plain path, one made in some with ``CONFIGURATION:path``; a
    configuration only one side has is ``('+NAME', None, None)`` or ``('-NAME', None, None)``."""
    a = {v["configuration"]: dict(_flat(v)) for v in comparable(owner)}
    b = {v["configuration"]: dict(_flat(v)) for v in comparable(run)}
    shared = [c for c in b if c in a]
    per = {c: {p: (a[c].get(p), b[c].get(p)) for p in sorted(set(a[c]) | set(b[c]))
               if p != "configuration" and a[c].get(p) != b[c].get(p)} for c in shared}
    everywhere = set.intersection(*(set(d.items()) for d in per.values())) if per else set()
    out = [(p, old, new) for p, (old, new) in sorted(everywhere)]
    common = {p for p, _ in everywhere}
    for c in shared:
        out += [(f"{c}:{p}", old, new) for p, (old, new) in per[c].items() if p not in common]
    out += [(f"+{c}", None, None) for c in b if c not in a] + [(f"-{c}", None, None) for c in a if c not in b]
    return out


def describe(diffs) -> str:
    """``data.train_samples unset -> 600, train.epochs 20 -> 2, conf2: optimizer.learning_rate 10.0 -> 5.0,
    +conf6`` (``unset``: the key's default, all samples for ``train_samples``)."""
    return ", ".join(p if p[0] in "+-" else f"{p.replace(':', ': ')} {_show(old)} -> {_show(new)}"
                     for p, old, new in diffs)


def suffix(diffs, fallback: str) -> str:
    """``+train_samples=600+epochs=2+conf2.learning_rate=5.0``: the differing keys by their shortest distinct
    names (after their configuration's where only some configurations changed)."""
    plain = [d for d in diffs if d[0][0] not in "+-"]
    paths = [p.rpartition(":")[2] for p, _, _ in plain]
    labels = short_labels(paths) if plain else []
    parts = [f"{p.rpartition(':')[0] + '.' if ':' in p else ''}{lab}={_show(new)}"
             for lab, (p, _, new) in zip(labels, plain)] + [p for p, _, _ in diffs if p[0] in "+-"]
    text = re.sub(r"[^A-Za-z0-9._+=,-]", "_", "".join(p if p[0] in "+-" else "+" + p for p in parts))
    return text if text and len(text) <= MAX_SUFFIX else f"+variant-{fallback[:8]}"


def report_name(name: str, owner: list, run: list) -> tuple[str, str]:
    """``(file name, what differs)`` for a run of ``run`` variants where ``owner``'s own ``NAME.*``: the
    name itself and ``''`` when the specs match (seeds aside), else the variant's."""
    if key(owner) == key(run):
        return name, ""
    diffs = differences(owner, run)
    if not diffs:  # only the configurations' order or the descriptions differ
        return name, ""
    return name + suffix(diffs, key(run)), describe(diffs)
