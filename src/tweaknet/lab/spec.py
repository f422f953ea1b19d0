"""Experiment files: the TOML schema, its validation, and the expansion into trials.

An experiment is a base spec (``[data]``, ``[model]``, ``[optimizer]``, ``[train]``) plus optional
named ``[[configurations]]`` (each sets several dotted key paths at once) and an optional ``[grid]``
(the cartesian product of lists of values at dotted key paths).  Every expanded variant is
validated in full, before anything trains; a mistake raises :class:`SpecError` naming the key's
dotted path (``model.layers.0.units``) and the reason.  Validated specs are *normalized*: every
default filled in, names canonical, so a trial's JSON says exactly how it was trained.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re

from .schema import (NAME_RE, RUN_TABLES, TOP_KEYS, SpecError, check_keys, get_string, join_path, normalize, run_table,
                     type_name)
from .toml_writer import dumps

try:  # Python >= 3.11
    import tomllib as _toml
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as _toml

__all__ = ["SpecError", "Experiment", "normalize", "load", "loads", "dumps", "trial_hash", "set_path", "parse_value"]


#: The default cap on the trials of one run (``--max-trials``): the expansion is linear, but a grid of a
#: million points is more likely a mistake than a plan.
MAX_TRIALS = 10_000


def too_many(n: int, limit: int, what: str) -> str:
    return (f"the experiment expands to {n:,} {what}, more than the limit of {limit:,} trials; make the grid or "
            f"the seeds smaller, or raise the limit with --max-trials N (max_trials=N in Python)")


# -- dotted paths -------------------------------------------------------------------------------------
def split_path(path: str) -> list:
    parts = re.sub(r"\[(\d+)\]", r".\1", path).split(".")
    if not path or any(p == "" for p in parts):
        raise SpecError(path, "not a valid dotted key path (like 'optimizer.learning_rate' or 'model.layers.0.units')")
    return [int(p) if p.isdigit() else p for p in parts]


def set_path(d: dict, path: str, value) -> None:
    """Set ``value`` at dotted ``path`` in ``d`` (tables are created; array elements must exist)."""
    parts, node = split_path(path), d
    for i, key in enumerate(parts):
        last, where = i == len(parts) - 1, ".".join(map(str, parts[:i + 1]))
        if isinstance(node, list):
            if not isinstance(key, int) or not -len(node) <= key < len(node):
                raise SpecError(where, f"no element {key!r}: the array has {len(node)} element(s)")
        elif isinstance(node, dict):
            key = str(key)
            if not last and key not in node:
                node[key] = {}
        else:
            raise SpecError(where, f"cannot set a key inside a {type_name(node)}")
        if last:
            node[key] = copy.deepcopy(value)
        else:
            node = node[key]


def _flatten(d, prefix=""):
    for k, v in d.items():
        path = join_path(prefix, k)
        if isinstance(v, dict):
            yield from _flatten(v, path)
        else:
            yield path, v


def short_labels(paths) -> list[str]:
    """For each dotted path, the shortest suffix that tells it apart from the others (``learning_rate`` for
    ``optimizer.learning_rate``): how grid points and searched configurations are named."""
    parts = [split_path(p) for p in paths]
    labels = []
    for ps in parts:
        n = next(n for n in range(1, len(ps) + 1) if sum(q[-n:] == ps[-n:] for q in parts) == 1 or n == len(ps))
        labels.append(".".join(map(str, ps[-n:])))
    return labels


def point_label(labels, values) -> str:
    """``learning_rate=0.1,batch_norm=before``: a grid point's or a searched configuration's name."""
    return ",".join(f"{lab}={fmt_value(v)}" for lab, v in zip(labels, values))


def fmt_value(v):
    return (repr(v) if isinstance(v, float) else str(v) if not isinstance(v, (dict, list))
            else json.dumps(v, separators=(",", ":")))


# -- the experiment ------------------------------------------------------------------------------------
class Experiment:
    """A parsed experiment file: ``variants(overrides)`` validates and expands it."""

    def __init__(self, raw: dict, source: str = "", default_name: str = "experiment"):
        if not isinstance(raw, dict):
            raise SpecError("", "an experiment must be a TOML table")
        check_keys(raw, "", TOP_KEYS, ("model", "optimizer") if "configurations" not in raw else ())
        self.raw, self.source = raw, source
        self.name = get_string(raw, "name", "", default_name)
        if not NAME_RE.match(self.name):
            raise SpecError("name", f"must start with a letter or digit, then letters, digits and . _ + - (it names "
                                    f"files), got {self.name!r}")
        self.description = get_string(raw, "description", "", "")
        self.grid = self._grid(raw.get("grid", {}))
        self.configurations = self._configurations(raw.get("configurations", []))
        #: the ``[run]`` table: how the trials run (backend, address, epochs per task), not what they compute
        self.run = run_table(raw.get("run", {}))
        #: the ``[search]`` table as written (validated by ``tweaknet.lab.search``), or None
        self.search = raw.get("search")

    @staticmethod
    def _grid(grid):
        check_keys(grid, "grid", list(grid) if isinstance(grid, dict) else [])
        axes = list(_flatten(grid))
        for path, values in axes:
            if not isinstance(values, list) or not values:
                raise SpecError(f"grid.{path}", f"must be a non-empty array of values, got {values!r}")
            if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
                raise SpecError(f"grid.{path}", f"values must be distinct, got {values!r}")
            split_path(path)
        labels = short_labels([p for p, _ in axes])
        return [(p, lab, v) for (p, v), lab in zip(axes, labels)]

    @staticmethod
    def _configurations(confs):
        if not isinstance(confs, list) or not all(isinstance(c, dict) for c in confs):
            raise SpecError("configurations", "must be an array of tables ([[configurations]])")
        seen, out = set(), []
        for i, c in enumerate(confs):
            path = f"configurations.{i}"
            name = get_string(c, "name", path, f"conf{i + 1}")
            if not name or name in seen:
                raise SpecError(join_path(path, "name"),
                                f"configuration names must be non-empty and distinct, got {name!r}")
            seen.add(name)
            sets = {k: v for k, v in c.items() if k not in ("name", "description")}
            for k in sets:
                split_path(k)
            out.append((name, get_string(c, "description", path, ""), sets))
        return out

    def count(self) -> int:
        """How many variants (configurations x grid points) the experiment expands to, without expanding it."""
        n = max(1, len(self.configurations))
        for _, _, values in self.grid:
            n *= len(values)
        return n

    def variants(self, overrides=(), max_trials: int | None = MAX_TRIALS) -> list[dict]:
        """Every configuration x grid point, validated and normalized, with ``overrides`` (path, value) applied last.
        More than ``max_trials`` variants (None: no limit) raise :class:`SpecError` before any is expanded."""
        if max_trials is not None and self.count() > max_trials:
            raise SpecError("grid" if self.grid else "configurations", too_many(self.count(), max_trials, "variants"))
        base = {k: v for k, v in self.raw.items()
                if k not in ("name", "description", "grid", "configurations", *RUN_TABLES)}
        confs = self.configurations or [("default" if not self.grid else "", self.description, {})]
        points = list(itertools.product(*[[(p, lab, v) for v in vals] for p, lab, vals in self.grid]))
        out, names = [], set()
        for name, description, sets in confs:
            for point in points:
                raw = copy.deepcopy(base)
                label = point_label([lab for _, lab, _ in point], [v for _, _, v in point])
                full = f"{name}[{label}]" if name and label else name or label
                context = f"configuration {full!r}"
                try:
                    for path, value in sets.items():
                        set_path(raw, path, value)
                    for path, _, value in point:
                        set_path(raw, path, value)
                    for path, value in overrides:
                        set_path(raw, path, value)
                except SpecError as exc:
                    raise SpecError(exc.path, exc.reason, context) from None
                try:
                    spec = normalize(raw, context)
                except SpecError as exc:
                    replaced = [k for k, v in sets.items() if isinstance(v, dict) and exc.path.startswith(k + ".")]
                    if replaced:
                        exc.args = (f"{exc.args[0]}; note: configuration {name!r} replaces the whole table "
                                    f"{replaced[0]!r}; to change single keys, quote dotted keys such as "
                                    f"\"{replaced[0]}.KEY\" = ...",)
                    raise
                if full in names:
                    raise SpecError("grid", f"two variants are both named {full!r}; make the grid values distinct")
                names.add(full)
                out.append({"experiment": self.name, "configuration": full, "description": description, **spec})
        return out

    def trials(self, overrides=(), max_trials: int | None = MAX_TRIALS) -> list[dict]:
        """One trial spec per variant and seed (``train.seeds`` replaced by ``seed``); more than ``max_trials``
        (default 10,000; None: no limit) raise :class:`SpecError` naming ``--max-trials``, before any is made."""
        variants = self.variants(overrides, max_trials)
        total = sum(len(v["train"]["seeds"]) for v in variants)
        if max_trials is not None and total > max_trials:
            raise SpecError("train.seeds", too_many(total, max_trials, "trials"))
        out = []
        for v in variants:
            for seed in v["train"]["seeds"]:
                t = copy.deepcopy(v)
                del t["train"]["seeds"]
                t["seed"] = seed
                out.append(t)
        return out

    def trial(self, configuration=None, seed=None, overrides=()) -> dict:
        """One trial spec: ``configuration`` by name, or by number (``3`` is ``conf3``; default: the first),
        ``seed`` (default: the experiment's first; another seed trains the same variant with that seed).

        An unknown configuration raises :class:`SpecError` (path ``configuration``) listing the valid names.
        """
        trials = self.trials(overrides)
        if configuration is not None:
            want = {str(configuration), f"conf{configuration}"}
            chosen = [t for t in trials if t["configuration"] in want]
            if not chosen:
                names = sorted({t["configuration"] for t in trials})
                raise SpecError("configuration", f"no configuration {str(configuration)!r}; "
                                                 f"choose from {', '.join(names)}")
            trials = chosen
        if seed is not None:
            trials = [t for t in trials if t["seed"] == seed] or [dict(trials[0], seed=seed)]
        return trials[0]


def trial_hash(trial: dict) -> str:
    """Identity of a trial's computation: everything but the epoch count and descriptions."""
    t = copy.deepcopy(trial)
    t.pop("description", None)
    t["train"].pop("epochs", None)
    return hashlib.sha256(json.dumps(t, sort_keys=True).encode()).hexdigest()[:16]


#: How deeply tables and arrays may nest in an experiment file (a real one nests 4 deep).
MAX_DEPTH = 64


def _depth_ok(raw) -> bool:
    """Whether ``raw`` nests at most :data:`MAX_DEPTH` deep (checked without recursion)."""
    stack = [(raw, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return True


def loads(text: str, default_name: str = "experiment") -> Experiment:
    """Parse an experiment from TOML text (a leading byte-order mark is ignored)."""
    text = text[1:] if text.startswith("\ufeff") else text
    try:
        raw = _toml.loads(text)
    except _toml.TOMLDecodeError as exc:
        raise SpecError("", f"not valid TOML: {exc}") from None
    except RecursionError:
        raise SpecError("", f"tables or arrays nested too deeply (more than {MAX_DEPTH} levels)") from None
    if not _depth_ok(raw):
        raise SpecError("", f"tables or arrays nested too deeply (more than {MAX_DEPTH} levels)")
    return Experiment(raw, text, default_name)


#: The largest experiment file read (a real one is a few KB).
MAX_BYTES = 10 * 2 ** 20


def load(path) -> Experiment:
    """Read an experiment file: UTF-8 text (with or without a byte-order mark), at most 10 MiB.  A file that
    cannot be read or parsed raises :class:`SpecError` whose path is the file's."""
    from pathlib import Path
    path = Path(path).expanduser()
    where = str(path)
    try:
        if path.is_dir():
            raise SpecError(where, "is a folder: give an experiment file (.toml)")
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SpecError(where, f"cannot read it: {exc.strerror or exc}") from None
    stem = re.sub(r"[^A-Za-z0-9._+-]", "-", path.stem).lstrip("._+-") or "experiment"
    return from_bytes(data, where, stem)


def from_bytes(data: bytes, where: str = "<bytes>", default_name: str = "experiment") -> Experiment:
    """An experiment from the bytes of a file (``where`` names it in errors): UTF-8 with or without a
    byte-order mark, at most :data:`MAX_BYTES`.  Raises only :class:`SpecError`."""
    if len(data) > MAX_BYTES:
        raise SpecError(where, f"larger than {MAX_BYTES // 2 ** 20} MiB: not an experiment file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(where, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}): save it as "
                               f"UTF-8") from None
    try:
        return loads(text, default_name)
    except SpecError as exc:
        if exc.path:
            raise
        raise SpecError(where, exc.reason, exc.context) from None


def parse_value(text: str):
    """A command-line value as TOML (``0.1``, ``true``, ``[1, 2]``, ``"x"``); bare words stay strings."""
    try:
        return _toml.loads(f"v = {text}")["v"]
    except _toml.TOMLDecodeError:
        return text
