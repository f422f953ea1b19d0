"""Callbacks with Keras's names and hooks."""
from .base import Callback, CallbackList
from .diagnostics import Diagnostics
from .history import History
from .progress import ProgressLogger

__all__ = ["Callback", "CallbackList", "Diagnostics", "History", "ProgressLogger"]
