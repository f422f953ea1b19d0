"""``dumps``: a spec (a dict of TOML values) as TOML text, which ``spec.loads`` reads back (:mod:`.spec` exports it)."""
from __future__ import annotations

import json
import re

from .schema import join_path

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k):
    return k if _BARE.match(k) else json.dumps(k)


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if v == v and abs(v) != float("inf") else ("nan" if v != v else ("inf" if v > 0 else "-inf"))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items() if x is not None) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _small(v) -> bool:
    """A table short enough to write inline."""
    try:
        return len(_value(v)) <= 72 and not any(isinstance(x, (dict, list)) and not _small_list(x) for x in v.values())
    except TypeError:
        return False


def _small_list(x):
    return not isinstance(x, list) or not any(isinstance(i, dict) for i in x)


def dumps(d: dict, _prefix: str = "") -> str:
    """Write a dict as TOML: scalars and inline values first, then sub-tables, then arrays of tables."""
    lines, tables, arrays = [], [], []
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, dict) and not (_prefix and _small(v)):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_value(v)}")
    out = "\n".join(lines)
    for k, v in tables:
        name = join_path(_prefix, _key(k))
        out += f"\n\n[{name}]\n" + dumps(v, name)
    for k, items in arrays:
        name = join_path(_prefix, _key(k))
        for item in items:
            out += f"\n\n[[{name}]]\n" + dumps(item, name)
    return out.strip("\n") + ("\n" if not _prefix else "")
