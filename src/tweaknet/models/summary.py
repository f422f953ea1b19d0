"""The Keras 3 style model summary table."""
from __future__ import annotations


def _size(n_params, itemsize):
    b = n_params * itemsize
    for unit in ("B", "KB", "MB", "GB"):
        if b < 1024 or unit == "GB":
            return f"{b:.2f} {unit}"
        b /= 1024


def summary(model) -> str:
    rows = [(f"{layer.name} ({type(layer).__name__})", str((None, *layer.output_shape)), f"{layer.count_params():,}")
            for layer in model.layers]
    heads = ("Layer (type)", "Output Shape", "Param #")
    w = [max(len(h), *(len(r[i]) for r in rows)) + 2 for i, h in enumerate(heads)]
    w[0], w[1], w[2] = max(w[0], 33), max(w[1], 24), max(w[2], 15)

    def line(left, mid, right, fill="━"):
        return left + mid.join(fill * x for x in w) + right

    def row(cells, edge="│"):
        return edge + edge.join([f" {cells[0]:<{w[0] - 1}}", f" {cells[1]:<{w[1] - 1}}", f"{cells[2]:>{w[2] - 1}} "]) + edge

    total = model.count_params()
    trainable = sum(layer.trainable_count() for layer in model.layers)
    item = model.flat.params.dtype.itemsize
    out = [f'Model: "{model.name}"', line("┏", "┳", "┓"), row(heads, "┃"), line("┡", "╇", "┩")]
    for i, r in enumerate(rows):
        out.append(row(r))
        if i < len(rows) - 1:
            out.append(line("├", "┼", "┤", "─"))
    out += [line("└", "┴", "┘", "─"),
            f" Total params: {total:,} ({_size(total, item)})",
            f" Trainable params: {trainable:,} ({_size(trainable, item)})",
            f" Non-trainable params: {total - trainable:,} ({_size(total - trainable, item)})"]
    return "\n".join(out)
