"""Safe saving: ``model.save(path)``, ``tweaknet.models.load_model(path)``, ``save_weights``/``load_weights``.

A ``.tweaknet`` file is a zip archive holding:

- ``config.json``: ``format_version``, the model's architecture (each layer's class and constructor
  arguments) and its compile settings (optimizer class and config, loss, metrics);
- ``model.safetensors``: the weights, in Keras order;
- ``optimizer.safetensors`` and ``state.json``: the optimizer's slots and step counter, whether they
  were saved, the global random state and each seeded layer's own generator state
  (``Dropout(seed=...)``), so that training resumed from the file gives the same weights, bit for
  bit, as training that was never interrupted.

Loading checks the format version first (a newer file may have another layout), then the entries;
a missing file raises ``FileNotFoundError``, every other problem a ``ValueError`` naming the file.

Nothing is pickled and nothing is executed on load: arrays come from safetensors, everything else
from JSON, and classes only from tweaknet's registry.  Writes are atomic: the archive is written to
a temporary file in the same folder, flushed to disk, given the mode a plain write would give it,
then renamed over the target (and the folder flushed where the platform allows).

Names ending in ``.keras`` and ``.weights.h5`` get Keras 3's formats instead (``keras_format``,
``keras_weights``, chosen in ``dispatch``): files that real Keras opens, and files from Keras that
tweaknet opens.
"""
from .atomic import atomic_write
from .dispatch import load_model, load_weights, save_model, save_weights
from .model_file import FORMAT_VERSION

__all__ = ["FORMAT_VERSION", "atomic_write", "save_model", "load_model", "save_weights", "load_weights"]
