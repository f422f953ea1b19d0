"""Layers named by position and name, so that a report reads without a model summary beside it.

Automatic layer names (``dense_8``) count across every model built in the process, so a report names
each layer by its place in this model too: ``hidden layer 1 of 2: dense_8 (Dense, 25 units, tanh)``.
The layers counted are those with trainable weights or an activation function (``Dense``,
``BatchNormalization``, activation layers); shape-only layers (``Flatten``), input standardization
(``Normalization``) and regularization layers (``Dropout``) are not counted.  The last counted layer
is the output layer, the others hidden layers.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..training.data import take


@dataclass(frozen=True)
class LayerRef:
    """Where a finding is: ``index`` (position in ``model.layers``, None for the inputs), ``name`` (the
    layer's name) and ``description`` (``"hidden layer 1 of 2: dense_8 (Dense, 25 units, tanh)"``);
    ``number`` (1 for the first counted layer, None for uncounted ones) and ``count`` (counted layers)."""
    index: int | None
    name: str
    description: str
    number: int | None = None
    count: int | None = None

    def __str__(self):
        return self.description


INPUTS = LayerRef(None, "input", "the inputs (as the first layer with weights receives them)")


def counted(layer) -> bool:
    """Whether ``layer`` is numbered in descriptions: it has trainable weights or applies an activation."""
    return bool(layer.params) or layer.output_activation is not None


def describe(model) -> dict[str, LayerRef]:
    """``{layer name: LayerRef}`` for every layer of ``model`` (uncounted layers are described by name)."""
    numbered = [layer for layer in model.layers if counted(layer)]
    position = {id(layer): k for k, layer in enumerate(numbered, 1)}
    refs = {}
    for index, layer in enumerate(model.layers):
        details = [type(layer).__name__]
        if getattr(layer, "units", None) is not None:
            details.append(f"{layer.units} units")
        if layer.output_activation is not None:
            details.append(layer.output_activation.name)
        what = f"{layer.name} ({', '.join(details)})"
        k = position.get(id(layer))
        if k is not None:
            role = "output" if k == len(numbered) else "hidden"
            what = f"{role} layer {k} of {len(numbered)}: {what}"
        refs[layer.name] = LayerRef(index, layer.name, what, k, len(numbered) if k else None)
    return refs


def leading_inputs(model, x):
    """``x`` as the first layer with weights receives it: through the leading Flatten / Normalization layers."""
    for layer in model.layers:
        if layer.params:
            break
        x = layer.forward(take(x, slice(None), model.flat.params.dtype), False)
    return x


def positions(refs) -> str:
    """``"hidden layers 1-3, 5 and output layer 6 of 6"``: where a set of counted layers is, in few words."""
    refs = sorted((r for r in refs if r.number is not None), key=lambda r: r.number)
    if not refs:
        return ""
    count = refs[0].count
    hidden = [r.number for r in refs if r.number < count]
    parts = []
    if hidden:
        runs, start = [], hidden[0]
        for a, b in zip(hidden, hidden[1:] + [None]):
            if b != a + 1:
                runs.append(f"{start}" if start == a else f"{start}-{a}")
                start = b
        parts.append(f"hidden layer{'s' if len(hidden) > 1 else ''} {', '.join(runs)}")
    if refs[-1].number == count:
        parts.append(f"output layer {count}")
    return f"{' and '.join(parts)} of {count}"
