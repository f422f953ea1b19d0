"""The lab: experiments as TOML files, run as parallel, resumable trials into a SQLite store.

From Python, ``tweaknet.lab.run(experiment, ...)`` validates, trains (resuming) and returns the
:class:`Results`; ``tweaknet run FILE.toml`` and ``tweaknet table5-1`` are a thin layer over it.
The pieces: :mod:`.spec` (schema, validation, expansion), :mod:`.build` (spec -> compiled model,
data), :mod:`.store` (SQLite epochs and checkpoints), :mod:`.runner` (validate, prepare, run),
:mod:`.pool`, :mod:`.worker` and :mod:`.display` (processes, resume, progress), :mod:`.results` and
:mod:`.report` (table, CSV, PNG).  See docs/lab.md.
"""
from . import presets
from .engine import BackendError
from .results import Results, TrialResult
from .runner import run, validate
from .spec import Experiment, SpecError, load, loads
from .store import StoreError

__all__ = ["BackendError", "Experiment", "Results", "SpecError", "StoreError", "TrialResult", "load", "loads",
           "presets", "run", "validate"]
