"""The weights file: ``save_weights`` writes the weights alone as safetensors (``layer/weight``
names), ``load_weights`` reads them back into a model of the same architecture.

Loading checks the file's header against the model's weights (count, then each shape) before reading
any data, so a mismatch names the file and the first weight that differs with both shapes, and a file
declaring more than it holds costs only what it holds.  Non-finite values and negative variances are
refused; the model is left untouched by a refused load."""
from __future__ import annotations

import errno

from .arrays import ArraysError, non_finite, pack_arrays, read_data, read_header
from .atomic import atomic_write, check_path


def save_weights(model, path) -> None:
    """Write the weights alone, as a safetensors file (``layer/weight`` names)."""
    named = {f"{i:04d}:{layer.name}/{name}": w for i, (layer, name, w) in enumerate(
        (layer, name, w) for layer in model.layers for name, w in zip(layer.weight_names, layer.weights))}
    atomic_write(path, pack_arrays(named))


def _describe(layout, limit=6) -> str:
    text = ", ".join(f"{name} {shape}" for name, shape in layout[:limit])
    return text + (f", ... ({len(layout)} in all)" if len(layout) > limit else "") if layout else "none"


def load_weights(model, path) -> None:
    """Load weights written by ``save_weights`` into a model of the same architecture (built: its input
    shape known).  TypeError for a path that is not a file name, FileNotFoundError for a missing file,
    ValueError naming the file for an unbuilt model, a damaged file or weights that do not fit."""
    path = check_path(path, "weights file")
    if not model.built:
        raise ValueError(f"tweaknet: error: cannot load weights ({path}) into model {model.name!r}: it is not "
                         f"built, so it has no weights yet; give the first layer input_shape=, start with "
                         f"Input(shape=...) or call model.build((None, ...)) first.")
    layout = [(f"{layer.name}/{name}", tuple(w.shape)) for layer in model.layers
              for name, w in zip(layer.weight_names, layer.weights)]
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "No such weights file", path) from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc}).") from None
    with f:
        try:
            entries, size = read_header(f.read)
            found = [(name.split(":", 1)[-1], shape) for name, (_, shape, _, _) in entries.items()]
            if [shape for _, shape in found] != [shape for _, shape in layout]:
                first = next((i for i, (a, b) in enumerate(zip(found, layout)) if a[1] != b[1]), None)
                where = (f"; first difference: weight {first} has shape {found[first][1]} in the file "
                         f"({found[first][0]}), {layout[first][1]} in the model ({layout[first][0]})"
                         if first is not None else "")
                raise ValueError(f"{path}: the weights do not fit model {model.name!r}: the file holds "
                                 f"{len(found)} array(s) (name and shape: {_describe(found)}), the model {len(layout)} "
                                 f"({_describe(layout)}){where}. Load them into the architecture that saved them.")
            arrays = read_data(f.read, entries, size)
        except ArraysError as exc:
            raise ValueError(f"{path}: damaged or not a tweaknet weights file: it {exc}.") from None
        except OSError as exc:
            raise ValueError(f"{path}: cannot read ({exc.strerror or exc}).") from None
    for (key, array), (name, _) in zip(arrays.items(), layout):
        bad = non_finite(array)
        if bad:
            raise ValueError(f"{path}: weight {key} ({name}) holds {bad} non-finite value(s) (NaN or infinity); "
                             f"refused rather than loaded silently.")
        if name.rsplit("/", 1)[-1] in ("moving_variance", "variance") and (array < 0).any():
            raise ValueError(f"{path}: weight {key} ({name}) holds negative variances; the file is damaged.")
    model.set_weights(list(arrays.values()))
