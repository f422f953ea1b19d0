"""Keras 3's weights layout in HDF5: ``.weights.h5`` files, and ``model.weights.h5`` inside ``.keras``.

The layout, as Keras 3 writes it for a Sequential model (read from Keras 3.15; the tests check it against
the installed Keras, writing and reading files with it)::

    vars                          (attrs: name = the model's name; no datasets)
    layers/<key>/vars/0, 1, ...   each layer's variables, trainable ones first, in creation order
                                  (Dense: kernel (in, out), bias; BatchNormalization: gamma, beta,
                                  moving_mean, moving_variance; Normalization: mean, variance, count)
    optimizer/vars/0, 1, ...      iterations, the learning rate (absent with a schedule), then the
                                  optimizer's slots (below)

``<key>`` is built from the layer's *class* name, never from its own name: ``dense``, ``dense_1``,
``batch_normalization``, ``re_lu`` (Keras's snake case, then ``_1``, ``_2`` ... for repeats), and every
``vars`` group carries the object's own name as an attribute.  Layers without weights (Dropout,
Activation) still get an empty ``vars`` group.

The optimizer's slots follow Keras's ``build``: one array per trainable variable, the variables in the
model's order.  Slots that Keras creates together in one call are interleaved variable by variable (Adam
and Nadam: momentum and velocity of the first variable, then of the second...), slots created in
separate calls follow each other as blocks (RMSprop: every velocity, then every momentum, then every
average gradient; Adam's ``velocity_hat`` with ``amsgrad`` after the interleaved pairs).  Nadam ends with
its running scalar ``u_product``.
"""
from __future__ import annotations

import io
import re
import warnings

import numpy as np

#: The first eight bytes of every HDF5 file.
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def h5py():
    """The h5py module, or an ImportError that says how to install it."""
    try:
        import h5py as module
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError("tweaknet: error: Keras files (.keras, .weights.h5) need h5py: "
                          "pip install 'tweaknet[keras]' (or h5py)") from None
    return module


def keras_snake_case(name: str) -> str:
    """A class name as Keras spells it in weight paths: ``BatchNormalization`` -> ``batch_normalization``,
    ``ReLU`` -> ``re_lu`` (Keras's own rule, which differs from tweaknet's automatic layer names on digits)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_keys(class_names) -> list[str]:
    """The group names of layers of ``class_names`` (in model order): ``dense``, ``dense_1``, ..."""
    seen: dict[str, int] = {}
    keys = []
    for class_name in class_names:
        base = keras_snake_case(class_name)
        if base in seen:
            seen[base] += 1
            keys.append(f"{base}_{seen[base]}")
        else:
            seen[base] = 0
            keys.append(base)
    return keys


# -- layers: tweaknet's weights <-> Keras's variables ----------------------------------------------
def keras_layer_variables(layer) -> list[np.ndarray]:
    """The variables Keras keeps for ``layer``, in its order (Normalization adds the sample ``count``
    Keras keeps for old files, written as 0 as Keras's ``adapt`` leaves it; ``axis=None`` statistics are
    scalars in Keras)."""
    weights = [np.asarray(w) for w in layer.weights]
    if type(layer).__name__ == "Normalization":
        if layer.axis is None:
            weights = [w.reshape(()) for w in weights]
        weights.append(np.array(0, dtype=np.int64))
    return weights


def tweaknet_layer_weights(layer, variables: list[np.ndarray]) -> list[np.ndarray]:
    """The inverse of :func:`keras_layer_variables`: Keras's variables as ``layer.set_weights`` takes them."""
    if type(layer).__name__ == "Normalization" and len(variables) == 3:
        shape = (1,) if layer.axis is None else None
        return [v.reshape(shape) if shape else v for v in variables[:2]]
    return variables


# -- the optimizer's variables ------------------------------------------------------------------
def _slot_order(optimizer, n: int) -> list[tuple[str, int]]:
    """``(slot, variable index)`` of each slot array, in Keras's order (see the module docstring)."""
    def interleaved(*slots):
        return [(s, i) for i in range(n) for s in slots]

    def blocks(*slots):
        return [(s, i) for s in slots for i in range(n)]

    kind = type(optimizer).__name__
    if kind == "SGD":
        return blocks("m") if optimizer.momentum else []
    if kind in ("Adam", "AdamW"):
        return interleaved("m", "v") + (blocks("v_hat") if optimizer.amsgrad else [])
    if kind == "Nadam":
        return interleaved("m", "v")
    if kind == "RMSprop":
        return blocks("velocity", *(["momentum"] if optimizer.momentum > 0 else []),
                      *(["average_gradient"] if optimizer.centered else []))
    if kind == "Adagrad":
        return blocks("accumulator")
    raise ValueError(f"tweaknet: error: optimizer {kind} has no Keras layout known to tweaknet: "
                     f"use SGD, Adam, AdamW, Nadam, RMSprop or Adagrad, or tweaknet's own format.")


def _variable_shapes(model) -> list[tuple]:
    return [layer.params[name].shape for layer in model.layers if layer.trainable for name in layer.params]


def keras_optimizer_variables(model) -> list[np.ndarray]:
    """The optimizer's state as Keras's list of variables (see the module docstring)."""
    opt = model.optimizer
    state = opt.get_state()
    out = [np.array(opt.iterations, dtype=np.int64)]
    if opt.schedule is None:
        out.append(np.array(opt.learning_rate, dtype=np.float32))
    shapes = _variable_shapes(model)
    for slot, i in _slot_order(opt, len(shapes)):
        start, stop = opt.segments[i]
        out.append(state[slot][start:stop].reshape(shapes[i]))
    if type(opt).__name__ == "Nadam":
        out.append(np.array(state["u_product"], dtype=model.flat.params.dtype))
    return out


def set_optimizer_variables(model, variables: Variables, path) -> bool:
    """Restore the optimizer's state from Keras's variables.  Returns False (with a warning, as Keras
    does) when their number does not match this optimizer."""
    opt = model.optimizer
    shapes = _variable_shapes(model)
    order = _slot_order(opt, len(shapes))
    has_lr = opt.schedule is None
    nadam = type(opt).__name__ == "Nadam"
    expected = 1 + has_lr + len(order) + nadam
    if len(variables) != expected:
        warnings.warn(f"tweaknet: optimizer state in {path} skipped: it holds {len(variables)} variables, "
                      f"this {type(opt).__name__} keeps {expected}; the optimizer starts fresh.", stacklevel=3)
        return False
    want = [()] * (1 + has_lr) + [tuple(shapes[i]) for _, i in order] + [()] * nadam
    for n, (got, shape) in enumerate(zip(variables.shapes, want)):  # checked before any data is read
        if got != shape:
            raise ValueError(f"tweaknet: error: optimizer variable {n} has shape {got}, this model's "
                             f"{type(opt).__name__} expects {shape} ({path}): the file belongs to another "
                             f"architecture; load it with compile=False.")
    variables = variables.read(path, "optimizer")
    state = opt.get_state()  # copies of the slots
    state["iterations"] = int(variables[0])
    for (slot, i), value in zip(order, variables[1 + has_lr:]):
        start, stop = opt.segments[i]
        state[slot][start:stop] = value.ravel()
    if nadam:
        state["u_product"] = float(variables[-1])
    try:
        opt.set_state(state)
        # Keras keeps the rate as a float32 variable: the config's value stands unless training changed it
        if has_lr and np.float32(opt.learning_rate) != np.float32(variables[1]):
            opt.learning_rate = float(variables[1])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"tweaknet: error: the optimizer state cannot be restored: {exc} ({path}): "
                         f"the file is damaged, or load the model with compile=False.") from None
    return True


# -- the HDF5 file ------------------------------------------------------------------------------
def _write_vars(h5, path: str, name: str, arrays) -> None:
    group = (h5.create_group(path) if path else h5).create_group("vars")
    group.attrs["name"] = name
    for i, value in enumerate(arrays):
        group.create_dataset(str(i), data=np.asarray(value))


def weights_h5_bytes(model) -> bytes:
    """The bytes of an HDF5 file with ``model``'s weights (and its optimizer's state once built) in
    Keras's layout."""
    buffer = io.BytesIO()
    with h5py().File(buffer, "w") as h5:
        _write_vars(h5, "", model.name, [])
        keys = layer_keys(type(layer).__name__ for layer in model.layers)
        for key, layer in zip(keys, model.layers):
            _write_vars(h5, f"layers/{key}", layer.name, keras_layer_variables(layer))
        if model.optimizer is not None and model.optimizer.built:
            _write_vars(h5, "optimizer", model.optimizer.name, keras_optimizer_variables(model))
    return buffer.getvalue()


class Variables(list):
    """The datasets ``0, 1, ...`` of a ``vars`` group, unread: ``shapes`` first, ``read()`` once they fit."""

    @property
    def shapes(self) -> list[tuple]:
        return [tuple(d.shape) for d in self]

    def read(self, where, what) -> list[np.ndarray]:
        arrays = [np.asarray(d[()]) for d in self]
        for i, a in enumerate(arrays):
            if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a)):
                raise ValueError(f"tweaknet: error: {what} variable {i} holds NaN or infinite values ({where}): "
                                 f"the file is damaged, or it was saved after training diverged.")
        return arrays


def _read_vars(h5, path: str, where) -> Variables | None:
    """The datasets of ``path/vars``, unread (None when the group is missing)."""
    group = h5.get(f"{path}/vars" if path else "vars")
    if group is None:
        return None
    keys = list(group.keys())
    if sorted(keys, key=lambda k: int(k) if k.isdigit() else -1) != [str(i) for i in range(len(keys))] \
            or not all(isinstance(group[k], h5py().Dataset) for k in keys):
        raise ValueError(f"tweaknet: error: {path}/vars holds {', '.join(keys)}, not variables 0..n-1 ({where}): "
                         f"the file was not written in Keras 3's layout.")
    return Variables(group[str(i)] for i in range(len(keys)))


def load_weights_h5(model, data: bytes, where, optimizer: bool = True) -> None:
    """Set ``model``'s weights (and, when ``optimizer`` and the model is compiled, its optimizer's
    state) from the bytes of an HDF5 file in Keras's layout; ``where`` names the file in errors.  Every
    layer's weights are read and checked before any is set, and whatever h5py raises on a damaged file
    becomes one ``ValueError`` naming the file."""
    try:
        h5 = h5py().File(io.BytesIO(data), "r")
    except (OSError, OverflowError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise ValueError(f"tweaknet: error: damaged or not an HDF5 weights file ({where}): {exc}.") from None
    try:
        with h5:
            planned = _read_layers(model, h5, where)
            if optimizer and model.optimizer is not None and model.optimizer.built:
                variables = _read_vars(h5, "optimizer", where)
                if variables is not None:
                    set_optimizer_variables(model, variables, where)
    except ValueError as exc:
        if str(exc).startswith("tweaknet: error:"):
            raise
        raise ValueError(f"tweaknet: error: damaged HDF5 weights file ({where}): {exc}.") from None
    except (OSError, OverflowError, KeyError, RuntimeError, TypeError, IndexError, AttributeError, EOFError) as exc:
        raise ValueError(f"tweaknet: error: damaged HDF5 weights file ({where}): {type(exc).__name__}: {exc}.") from None
    for layer, weights in planned:
        layer.set_weights(weights)


def _read_layers(model, h5, where) -> list:
    """``[(layer, weights)]`` for every layer that has weights in the file, read and checked; nothing is set."""
    keys = layer_keys(type(layer).__name__ for layer in model.layers)
    present = set(h5["layers"].keys()) if "layers" in h5 else set()
    extra = sorted(present - set(keys))
    if extra:
        raise ValueError(f"tweaknet: error: the file has weights for layers {', '.join(extra)} that this model "
                         f"({', '.join(keys)}) lacks ({where}): load it into the model it was saved from.")
    planned = []
    for key, layer in zip(keys, model.layers):
        variables = _read_vars(h5, f"layers/{key}", where)
        if variables is None:
            if layer.weights:
                raise ValueError(f"tweaknet: error: no weights for layer {layer.name!r} (layers/{key}) ({where}): "
                                 f"the file holds {', '.join(sorted(present)) or 'no layers'}.")
            continue
        expected = [tuple(w.shape) for w in keras_layer_variables(layer)]
        if type(layer).__name__ == "Normalization" and not variables:
            continue  # statistics given in the config (Keras keeps no variables then): already in place
        if variables.shapes != expected:  # checked before any data is read
            raise ValueError(f"tweaknet: error: layer {layer.name!r} (layers/{key}) expects weights of shapes "
                             f"{expected} ({', '.join(layer.weight_names)}), the file holds {variables.shapes} "
                             f"({where}): the file belongs to another architecture.")
        weights = tweaknet_layer_weights(layer, variables.read(where, f"layer {layer.name!r}"))
        planned.append((layer, [w.astype(layer.dtype, copy=False) for w in weights]))
    return planned
