"""The model's contiguous parameter and gradient buffers.

All trainable parameters live in one flat array and all gradients in another with the same
layout; each layer's ``params[name]`` and ``grads[name]`` become reshaped views into them.  One
vectorized optimizer update then serves every parameter, and per-variable operations (clipnorm)
use the table of ``segments``.
"""
from __future__ import annotations

import numpy as np


class FlatParameters:
    """Packs the trainable weights of ``layers`` into ``params`` and ``grads`` (flat, same dtype)."""

    def __init__(self, layers):
        entries = [(layer, name) for layer in layers if layer.trainable for name in layer.params]
        dtypes = {layer.params[name].dtype for layer, name in entries}
        if len(dtypes) > 1:
            raise ValueError(f"All layers must share one float type, got {sorted(map(str, dtypes))}; "
                             f"call tweaknet.config.set_floatx before creating the layers.")
        dtype = dtypes.pop() if dtypes else np.dtype("float32")
        sizes = [layer.params[name].size for layer, name in entries]
        bounds = np.cumsum([0, *sizes])
        self.segments = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        self.names = [f"{layer.name}/{name}" for layer, name in entries]
        self.params = np.empty(int(bounds[-1]), dtype=dtype)
        self.grads = np.zeros(int(bounds[-1]), dtype=dtype)
        for (layer, name), (a, b) in zip(entries, self.segments):
            shape = layer.params[name].shape
            view = self.params[a:b].reshape(shape)
            view[...] = layer.params[name]
            layer.params[name] = view
            layer.grads[name] = self.grads[a:b].reshape(shape)

    @property
    def size(self) -> int:
        return self.params.size
