"""The lab: experiments as TOML files, run as parallel, resumable trials into a SQLite store.

From Python, ``tweaknet.lab.run(experiment, ...)`` validates, trains (resuming) and returns the
:class:`Results`; ``tweaknet run FILE.toml`` and ``tweaknet table5-1`` are a thin layer over it.
The pieces: :mod:`.spec` (schema, validation, expansion), :mod:`.build` (spec -> compiled model,
data), :mod:`.store` (SQLite epochs and checkpoints), :mod:`.runner` (validate, prepare, run),
:mod:`.engine` (the driver, the only writer of the store), :mod:`.worker` (a trial's epochs, wherever they
run), :mod:`.pool` and :mod:`.cluster` (local processes, Ray), :mod:`.display` (progress),
:mod:`.results` and :mod:`.report` (table, CSV, PNG), :mod:`.studies` and :mod:`.search_report`
(Optuna searches), :mod:`.export` (TensorBoard).  See docs/lab.md.
"""
from . import presets
from .engine import BackendError
from .results import Results, TrialResult
from .runner import run, validate
from .studies import search
from .spec import Experiment, SpecError, load, loads
from .store import StoreError

__all__ = ["BackendError", "Experiment", "Results", "SpecError", "StoreError", "TrialResult", "load", "loads",
           "presets", "run", "search", "validate"]
