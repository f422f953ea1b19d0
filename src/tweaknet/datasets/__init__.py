"""Datasets shipped with tweaknet (``tweaknet.datasets.mnist.load_data()`` as in Keras) and their preprocessing."""
from . import mnist
from .idx import DataError, read_idx
from .preprocessing import Standardizer

__all__ = ["mnist", "Standardizer", "DataError", "read_idx"]
