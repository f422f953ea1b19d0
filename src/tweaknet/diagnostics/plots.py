"""Plots (matplotlib, the ``lab`` extra): gradient flow, activation distributions, and the chapter's
figures of the activation functions with their derivatives (Figures 5-2, 5-9 to 5-11) and of the
output error term under MSE and cross-entropy (Figures 5-4 and 5-5)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - depends on the installation
        raise ImportError("Plots need matplotlib: pip install 'tweaknet[lab]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def gradient_flow(records, path) -> Path:
    """Kernel gradient norm of every layer at every record (log scale): vanishing or exploding at a glance."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = [s["name"] for s in records[0]["layers"] if s["grad_norm"] is not None]
    for name in names:
        values = [next(s["grad_norm"] for s in r["layers"] if s["name"] == name) for r in records]
        ax.plot(range(len(records)), np.maximum(values, 1e-30), marker="o", label=name)
    ax.set(yscale="log", xlabel="record (0 = before training, then each epoch or N steps)",
           ylabel="gradient norm of the kernel", title="Gradient flow per layer")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def activation_distributions(model, x, path) -> Path:
    """Histograms of every layer's pre-activations on ``x`` (inference mode)."""
    from ..training.data import take
    plt = _plt()
    h = take(np.asarray(x), slice(None), model.flat.params.dtype)
    zs = []
    for layer in model.layers:
        h = layer.forward(h, False)
        if layer.output_activation is not None:
            zs.append((f"{layer.name} ({layer.output_activation.name})", layer.preactivation))
    fig, axes = plt.subplots(1, len(zs), figsize=(3.2 * len(zs), 3), squeeze=False)
    for ax, (title, z) in zip(axes[0], zs):
        ax.hist(np.ravel(z), bins=60, color="tab:blue")
        ax.set(title=title, xlabel="pre-activation z")
    return _save(fig, path)


def activation_figures(out_dir) -> list[Path]:
    """The chapter's activation functions with their derivatives, and the error terms of Figures 5-4/5-5."""
    from .. import activations as A
    plt = _plt()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    z = np.linspace(-4, 4, 801)
    functions = [("tanh", A.Tanh()), ("sigmoid", A.Sigmoid()), ("relu", A.ReLU()), ("leaky_relu", A.LeakyReLU(0.2)),
                 ("softplus", A.Softplus()), ("elu", A.ELU())]
    written = []
    fig, axes = plt.subplots(2, 4, figsize=(14, 6))
    for ax, (name, f) in zip(axes.flat, functions):
        ax.plot(z, f(z), label=name)
        ax.plot(z, f.derivative(z), "--", label="derivative")
        ax.set(title=name, xlabel="z")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    lines = np.stack([-0.5 * z - 1, np.zeros_like(z), 1.5 * z - 0.5])  # maxout of three lines, as in Figure 5-11
    axes.flat[6].plot(z, lines.max(axis=0), label="maxout of 3 lines")
    for line in lines:
        axes.flat[6].plot(z, line, ":", color="gray")
    axes.flat[6].set(title="maxout", xlabel="z")
    axes.flat[6].legend(fontsize=8)
    axes.flat[7].axis("off")
    written.append(_save(fig, out_dir / "activations.png"))
    y_hat = np.linspace(0.001, 0.999, 500)  # ground truth y = 0, as in Figures 5-4 and 5-5
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (title, dloss) in zip(axes, (("MSE (Figure 5-4)", y_hat), ("cross-entropy (Figure 5-5)", 1 / (1 - y_hat)))):
        ds = y_hat * (1 - y_hat)
        ax.plot(y_hat, dloss, label="loss derivative")
        ax.plot(y_hat, ds, label="sigmoid derivative")
        ax.plot(y_hat, dloss * ds, label="error term (product)")
        ax.set(title=title, xlabel="output y_hat (target 0)", ylim=(0, 2))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    written.append(_save(fig, out_dir / "error_terms.png"))
    return written


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path
