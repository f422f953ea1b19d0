"""The lab: experiments as TOML files, run as parallel, resumable trials into a SQLite store.

``tweaknet table5-1`` (the book's Table 5-1 / Figure 5-12) and ``tweaknet run FILE.toml`` use the
same pieces: :mod:`.spec` (schema, validation, expansion), :mod:`.build` (spec -> compiled model,
data), :mod:`.store` (SQLite epochs and checkpoints), :mod:`.runner` (processes, progress, resume)
and :mod:`.report` (table, CSV, PNG).  See docs/lab.md.
"""
from .spec import Experiment, SpecError, load, loads

__all__ = ["Experiment", "SpecError", "load", "loads"]
