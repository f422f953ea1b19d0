"""Models: Sequential."""
from ..saving import load_model
from .sequential import Sequential

__all__ = ["Sequential", "load_model"]
