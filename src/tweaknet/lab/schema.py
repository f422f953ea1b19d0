"""The schema of an experiment variant: checks with dotted key paths, defaults, normalization.

Every check raises :class:`SpecError` with the key's dotted path (``model.layers.0.units``) and the
reason.  Names of activations, initializers, losses, optimizers and schedules are resolved through
tweaknet's registry, and their arguments are checked against the constructors' signatures and
then by constructing them, so the library's own validation applies.
"""
from __future__ import annotations

import difflib
import inspect
import re

from .. import activations, initializers, losses, registry

TOP_KEYS = ("name", "description", "data", "model", "optimizer", "train", "grid", "configurations", "run", "search")
#: The tables that describe how an experiment runs, not what a trial computes: not part of any trial.
RUN_TABLES = ("run", "search")
DATA_KEYS = ("dataset", "standardize", "standardize_epsilon", "train_samples", "test_samples", "labels",
             "validation_split")
MODEL_KEYS = ("loss", "layers")
LAYER_KEYS = ("units", "activation", "kernel_initializer", "bias_initializer", "use_bias", "batch_norm",
              "batch_norm_momentum", "batch_norm_epsilon")
TRAIN_KEYS = ("batch_size", "epochs", "seeds", "shuffle")
BUILTIN_DATASETS = ("mnist", "synthetic")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
#: A data loader: ``package.module:function`` (Python identifiers).
LOADER_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


class SpecError(ValueError):
    """An experiment spec is invalid: ``path`` is the dotted key path, ``reason`` what is wrong."""

    def __init__(self, path: str, reason: str, context: str = ""):
        self.path, self.reason, self.context = path, reason, context
        where = f" (in {context})" if context else ""
        super().__init__(f"{path or '<spec>'}: {reason}{where}")


# -- small checkers (check_keys, get_string, join_path, type_name: spec.py uses them too) ------------
def join_path(path, key):
    return f"{path}.{key}" if path else str(key)


def type_name(v):
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
            dict: "table"}.get(type(v), type(v).__name__)


def check_keys(d, path, allowed, required=()):
    if not isinstance(d, dict):
        raise SpecError(path, f"must be a table, got {type_name(d)} {d!r}")
    for k in d:
        if k not in allowed:
            close = difflib.get_close_matches(str(k), list(allowed), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise SpecError(join_path(path, k), f"unknown key; {hint}valid keys: {', '.join(allowed)}")
    for k in required:
        if k not in d:
            raise SpecError(join_path(path, k), "required key is missing")


def _int(d, key, path, default, low=None, optional=False):
    v = d.get(key, default)
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(join_path(path, key), f"must be an integer, got {type_name(v)} {v!r}")
    if low is not None and v < low:
        raise SpecError(join_path(path, key), f"must be >= {low}, got {v}")
    return v


def _num(d, key, path, default, low=None):
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SpecError(join_path(path, key), f"must be a number, got {type_name(v)} {v!r}")
    if low is not None and not v >= low:
        raise SpecError(join_path(path, key), f"must be >= {low}, got {v}")
    return float(v)


def _bool(d, key, path, default):
    v = d.get(key, default)
    if not isinstance(v, bool):
        raise SpecError(join_path(path, key), f"must be true or false, got {type_name(v)} {v!r}")
    return v


def get_string(d, key, path, default=None, choices=None):
    v = d.get(key, default)
    if not isinstance(v, str):
        raise SpecError(join_path(path, key), f"must be a string, got {type_name(v)} {v!r}")
    if choices is not None and v not in choices:
        raise SpecError(join_path(path, key), f"must be one of {', '.join(map(repr, choices))}, got {v!r}")
    return v


def _check_args(cls, args, path, skip=("self", "kwargs", "name")):
    """Check ``args`` against ``cls.__init__``'s signature: known keys, required ones present, types by default."""
    params = {n: p for n, p in inspect.signature(cls.__init__).parameters.items()
              if n not in skip and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    check_keys(args, path, list(params), [n for n, p in params.items() if p.default is p.empty])
    for k, v in args.items():
        default = params[k].default
        if isinstance(default, bool) and not isinstance(v, bool):
            raise SpecError(join_path(path, k), f"must be true or false, got {type_name(v)} {v!r}")
        if (default is None or (isinstance(default, (int, float)) and not isinstance(default, bool))) \
                and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise SpecError(join_path(path, k), f"must be a number, got {type_name(v)} {v!r}")


def _construct(cls, args, path):
    """Construct ``cls(**args)``; the library's own check failing names the argument when it can."""
    try:
        return cls(**args)
    except (TypeError, ValueError) as exc:
        named = re.search(r"`(\w+)`", str(exc))
        key = named.group(1) if named and named.group(1) in args else None
        raise SpecError(join_path(path, key) if key else path, str(exc)) from None


def _call(cls, args, path):
    _check_args(cls, args, path)
    return _construct(cls, args, path)


def _lookup(kind, name, path):
    if not isinstance(name, str):
        raise SpecError(path, f"must be a string naming a {kind}, got {type_name(name)} {name!r}")
    try:
        return registry.lookup(kind, name)
    except ValueError as exc:
        raise SpecError(path, str(exc)) from None


def _identifier(kind, value, path, base):
    """A name or a Keras config table ``{class_name = ..., config = {...}}``; returned normalized."""
    if isinstance(value, str):
        obj = _lookup(kind, value, path)
        if isinstance(obj, type):
            _call(obj, {}, path)
        return value
    check_keys(value, path, ("class_name", "config"), ("class_name",))
    cls = _lookup(kind, value["class_name"], join_path(path, "class_name"))
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise SpecError(join_path(path, "class_name"), f"{value['class_name']!r} cannot take a config table")
    cfg = value.get("config", {})
    _call(cls, cfg, join_path(path, "config"))
    return {"class_name": cls.__name__, "config": dict(cfg)}


# -- the sections -----------------------------------------------------------------------------------
def _dataset(v, path):
    """A built-in dataset's name, or a loader marked as code: ``{python = "package.module:function"}``
    (normalized to ``{'python': ...}``).  Whether the loader may run is decided where it would run
    (``tweaknet.lab.build.load_data``: ``--allow-code``), never here."""
    if isinstance(v, dict):
        check_keys(v, path, ("python",), ("python",))
        ref = get_string(v, "python", path)
        if not LOADER_RE.match(ref):
            raise SpecError(join_path(path, "python"), f"must name a function as 'package.module:function', "
                                                       f"got {ref!r}")
        return {"python": ref}
    if not isinstance(v, str):
        raise SpecError(path, f"must be a dataset's name or {{ python = \"package.module:function\" }}, got "
                              f"{type_name(v)} {v!r}")
    if v in BUILTIN_DATASETS:
        return v
    if ":" in v:
        raise SpecError(path, f"{v!r} names Python code, which an experiment file runs only when it is marked as "
                              f"code and allowed: write dataset = {{ python = \"{v}\" }} and run with --allow-code "
                              f"(or TWEAKNET_ALLOW_CODE=1), for code you trust")
    close = difflib.get_close_matches(v, BUILTIN_DATASETS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise SpecError(path, f"unknown dataset {v!r}; {hint}use one of {', '.join(BUILTIN_DATASETS)}, or your own "
                          f"loader as {{ python = \"package.module:function\" }} (run with --allow-code)")


def _data(d, path="data"):
    check_keys(d, path, DATA_KEYS)
    out = {"dataset": _dataset(d.get("dataset", "mnist"), join_path(path, "dataset"))}
    out["standardize"] = get_string(d, "standardize", path, "scalar", ("scalar", "per_feature", "none"))
    out["standardize_epsilon"] = _num(d, "standardize_epsilon", path, 0.0, low=0.0)
    out["train_samples"] = _int(d, "train_samples", path, None, low=1, optional=True)
    out["test_samples"] = _int(d, "test_samples", path, None, low=1, optional=True)
    out["labels"] = get_string(d, "labels", path, "one_hot", ("one_hot", "integer"))
    split = _num(d, "validation_split", path, 0.0, low=0.0)
    if split >= 1:
        raise SpecError(join_path(path, "validation_split"), f"must be < 1 (a fraction of the training samples), "
                                                            f"got {split}")
    if split:  # absent when 0, so that trials stored before the key existed keep their identity
        out["validation_split"] = split
    return out


def _layer(d, path):
    check_keys(d, path, LAYER_KEYS, ("units",))
    act = get_string(d, "activation", path, "linear")
    try:
        activations.get(act)
    except (TypeError, ValueError) as exc:
        raise SpecError(join_path(path, "activation"), str(exc)) from None
    out = {"units": _int(d, "units", path, None, low=1), "activation": act}
    for key, default in (("kernel_initializer", "glorot_uniform"), ("bias_initializer", "zeros")):
        out[key] = _identifier("initializer", d.get(key, default), join_path(path, key), initializers.Initializer)
    out["use_bias"] = _bool(d, "use_bias", path, True)
    out["batch_norm"] = get_string(d, "batch_norm", path, "none", ("none", "before", "after"))
    out["batch_norm_momentum"] = _num(d, "batch_norm_momentum", path, 0.99, low=0.0)
    if out["batch_norm_momentum"] > 1:
        raise SpecError(join_path(path, "batch_norm_momentum"), f"must be <= 1, got {out['batch_norm_momentum']}")
    out["batch_norm_epsilon"] = _num(d, "batch_norm_epsilon", path, 1e-3, low=0.0)
    if out["batch_norm_epsilon"] == 0:
        raise SpecError(join_path(path, "batch_norm_epsilon"), "must be > 0")
    return out


def _model(d, path="model"):
    check_keys(d, path, MODEL_KEYS, ("loss", "layers"))
    layers = d["layers"]
    if not isinstance(layers, list) or not layers:
        raise SpecError(join_path(path, "layers"), "must be a non-empty array of tables ([[model.layers]])")
    return {"loss": _identifier("loss", d["loss"], join_path(path, "loss"), losses.Loss),
            "layers": [_layer(layer, f"{path}.layers.{i}") for i, layer in enumerate(layers)]}


def _optimizer(d, path="optimizer"):
    if not isinstance(d, dict):
        raise SpecError(path, f"must be a table, got {type_name(d)} {d!r}")
    if "name" not in d:
        raise SpecError(join_path(path, "name"), "required key is missing (e.g. name = \"sgd\")")
    cls = _lookup("optimizer", d["name"], join_path(path, "name"))
    args = {k: v for k, v in d.items() if k not in ("name", "schedule")}
    defaults = {n: p.default for n, p in inspect.signature(cls.__init__).parameters.items()
                if n not in ("self", "name", "kwargs") and p.default is not p.empty and p.default is not None}
    out = {"name": cls._registry_name, **defaults, **args}
    if "schedule" in d:
        s = d["schedule"]
        check_keys(s, join_path(path, "schedule"), list(s) if isinstance(s, dict) else [], ("name",))
        scls = _lookup("schedule", s["name"], join_path(path, "schedule.name"))
        sargs = {k: v for k, v in s.items() if k != "name"}
        if "initial_learning_rate" in inspect.signature(scls.__init__).parameters \
                and "initial_learning_rate" not in sargs:
            lr = args.get("learning_rate", inspect.signature(cls.__init__).parameters["learning_rate"].default)
            sargs["initial_learning_rate"] = lr
        schedule = _call(scls, sargs, join_path(path, "schedule"))
        out["schedule"] = {"name": scls._registry_name, **sargs}
        _check_args(cls, args, path)
        _construct(cls, {**args, "learning_rate": schedule}, path)
    else:
        _call(cls, args, path)
    return out


def _seeds(d, path):
    v = d.get("seeds", [1])
    if isinstance(v, int) and not isinstance(v, bool):
        if v < 1:
            raise SpecError(join_path(path, "seeds"), f"a number of seeds must be >= 1, got {v}")
        if v > MAX_SEEDS:
            raise SpecError(join_path(path, "seeds"), f"at most {MAX_SEEDS:,} seeds, got {v:,} (and a run trains at "
                                                      f"most --max-trials trials, 10,000 by default)")
        return list(range(1, v + 1))
    if not isinstance(v, list) or not v:
        raise SpecError(join_path(path, "seeds"),
                        f"must be a count (seeds 1..N) or a non-empty array of seeds, got {v!r}")
    for i, s in enumerate(v):
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise SpecError(f"{path}.seeds.{i}", f"a seed must be a non-negative integer, got {s!r}")
    if len(set(v)) != len(v):
        raise SpecError(join_path(path, "seeds"), f"seeds must be distinct, got {v}")
    return list(v)


def _train(d, path="train"):
    check_keys(d, path, TRAIN_KEYS)
    return {"batch_size": _int(d, "batch_size", path, 32, low=1), "epochs": _int(d, "epochs", path, 20, low=1),
            "seeds": _seeds(d, path), "shuffle": _bool(d, "shuffle", path, True)}


#: A bound on a seed count, so that ``seeds = 10**12`` is refused before a list of that length is made.
MAX_SEEDS = 10_000_000
RUN_KEYS = ("backend", "address", "epochs_per_task")
BACKENDS = ("local", "ray")


def run_table(d, path="run") -> dict:
    """The ``[run]`` table: ``backend`` ('local' or 'ray'), ``address`` (a Ray cluster's; only with 'ray'),
    ``epochs_per_task`` (epochs a worker trains before it sends them and the checkpoint back)."""
    check_keys(d, path, RUN_KEYS)
    out = {"backend": get_string(d, "backend", path, "local", BACKENDS), "address": None,
           "epochs_per_task": _int(d, "epochs_per_task", path, 1, low=1)}
    if "address" in d:
        out["address"] = get_string(d, "address", path)
        if out["backend"] != "ray":
            raise SpecError(join_path(path, "address"), 'is the address of a Ray cluster: set backend = "ray" too')
    return out


def normalize(raw: dict, context: str = "") -> dict:
    """Validate one variant (base spec with overrides applied); return it with every default filled in."""
    try:
        check_keys(raw, "", TOP_KEYS, ("model", "optimizer"))
        return {"data": _data(raw.get("data", {})), "model": _model(raw["model"]),
                "optimizer": _optimizer(raw["optimizer"]), "train": _train(raw.get("train", {}))}
    except SpecError as exc:
        raise SpecError(exc.path, exc.reason, context) from None
