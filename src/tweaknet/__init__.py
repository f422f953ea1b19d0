"""tweaknet: the techniques that make deep networks train, on NumPy, with Keras 3's API.

``import tweaknet as keras`` runs the book's Keras code.
"""
from . import (activations, callbacks, config, initializers, layers, losses, metrics, models, optimizers,
               regularizers, utils)
from . import diagnostics
from .layers import Input
from .models import Sequential

# Diagnosis depends on models, never the reverse: the conveniences a user reaches through the model and the
# callbacks module are wired here, at the root, which may import every package.
Sequential.diagnose = diagnostics.diagnose
Sequential.diagnostics_callback = diagnostics.Diagnostics
callbacks.Diagnostics = diagnostics.Diagnostics
callbacks.__all__.append("Diagnostics")

backend = config  # keras.backend.floatx() and friends

__version__ = "0.1.0"
__all__ = ["Sequential", "Input", "activations", "callbacks", "config", "diagnostics", "initializers", "layers", "losses",
           "metrics", "models", "optimizers", "regularizers", "utils", "datasets"]


def __getattr__(name):
    # datasets is imported lazily: it is not needed to train a model.
    if name == "datasets":
        import importlib
        return importlib.import_module(".datasets", __name__)
    raise AttributeError(f"module 'tweaknet' has no attribute {name!r}")
