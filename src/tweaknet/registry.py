"""One registry for every named technique: ``@register(kind, *names)`` and ``get(kind, identifier)``.

``get`` accepts what Keras accepts: a name (``'glorot_uniform'``, ``'GlorotUniform'``),
a config dict (``{'class_name': 'RandomUniform', 'config': {'minval': -0.1}}``),
an instance (returned as is) or a class (instantiated with its defaults).
An unknown name raises a ``ValueError`` listing the closest valid names.
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Callable

_REGISTRY: dict[str, dict[str, Any]] = {}


def snake_case(name: str) -> str:
    """``LeakyReLU`` -> ``leaky_re_lu``, ``GlorotUniform`` -> ``glorot_uniform`` (Keras's automatic names)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


def register(kind: str, *names: str) -> Callable:
    """Register a class or function under ``kind``, by its own name, its snake_case name and ``names``."""

    def deco(obj):
        table = _REGISTRY.setdefault(kind, {})
        own = getattr(obj, "__name__", None) or type(obj).__name__
        # The class name and the given names; the snake_case form only when no name is given
        # (so 'RMSprop' registers 'rmsprop', not also 'rm_sprop').
        for key in {own, *(names or (snake_case(own),))}:
            table[key] = obj
        obj._registry_name = names[0] if names else snake_case(own)
        return obj

    return deco


def names(kind: str) -> list[str]:
    """All registered names of ``kind``, sorted."""
    return sorted(_REGISTRY.get(kind, {}))


def _lowercase_names(kind: str) -> list[str]:
    """The names to offer a user: the lowercase ones (``'relu'``, not also the class name ``'ReLU'``)."""
    return [n for n in names(kind) if n == n.lower()]


def lookup(kind: str, name: str, also_valid=()):
    """Return the object registered as ``name``, or raise a ValueError naming the closest valid names.

    ``also_valid``: names the caller resolves itself (``'accuracy'`` for metrics), offered as suggestions too.
    """
    table = _REGISTRY.get(kind, {})
    if isinstance(name, str) and name in table:
        return table[name]
    if isinstance(name, str) and name.lower() in table:
        return table[name.lower()]
    valid = sorted({*also_valid, *_lowercase_names(kind)})
    close = difflib.get_close_matches(str(name).lower(), valid, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(
        f"Unknown {kind} {name!r}.{hint} Valid names: {', '.join(valid)}."
    )


def get(kind: str, identifier, base: type | None = None):
    """Resolve ``identifier`` (name, config dict, instance or class) to an object of ``kind``.

    Classes are instantiated with their defaults; functions and instances are returned as is.
    ``None`` is returned unchanged so that callers can apply their own default.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        obj = lookup(kind, identifier)
        return obj() if isinstance(obj, type) else obj
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(
                f"A {kind} config dict needs a 'class_name' key (and optionally 'config'), got {identifier!r}."
            )
        cls = lookup(kind, identifier["class_name"])
        return cls(**identifier.get("config", {}))
    if isinstance(identifier, type):
        if base is not None and not issubclass(identifier, base):
            raise TypeError(f"{identifier.__name__} is not a {kind}.")
        return identifier()
    if base is not None and isinstance(identifier, base):
        return identifier
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Could not interpret {kind} {identifier!r}: pass a name (one of {', '.join(_lowercase_names(kind)[:8])}, ...), "
        f"a config dict or an instance."
    )
