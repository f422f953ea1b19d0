"""What a run leaves behind: the printed table, ``NAME.csv``, ``NAME-summary.csv`` and ``NAME.png``.

- ``NAME.csv``: one row per configuration, seed and epoch (losses, accuracies, test error, seconds);
- ``NAME-summary.csv`` and the printed table: the final test error of each configuration, mean
  over seeds with its spread (sample standard deviation, minimum and maximum);
- ``NAME.png``: test error against epoch, one line per configuration (the mean over seeds, with
  a band from the best to the worst seed), in the style of the book's Figure 5-12.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass

EPOCH_COLUMNS = ("configuration", "seed", "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
                 "test_error", "seconds")


def _f(v):
    return float("nan") if v is None else float(v)


@dataclass
class Summary:
    configuration: str
    description: str
    seeds: int           # seeds with at least one epoch
    epochs: int          # epochs completed by every seed
    target: int          # epochs asked for
    mean: float          # final test error, mean over seeds
    std: float           # sample standard deviation (nan for one seed)
    low: float
    high: float
    seconds: float       # mean seconds per epoch


def summarize(groups) -> list[Summary]:
    """A :class:`Summary` per configuration of ``groups`` (see ``Results.groups``)."""
    out = []
    for conf, (description, target, seeds) in groups.items():
        finals = [1 - _f(s[-1]["test_accuracy"]) for s in seeds.values() if s]
        done = [len(s) for s in seeds.values()]
        secs = [e["seconds"] for s in seeds.values() for e in s]
        n = len(finals)
        mean = sum(finals) / n if n else float("nan")
        std = math.sqrt(sum((x - mean) ** 2 for x in finals) / (n - 1)) if n > 1 else float("nan")
        out.append(Summary(conf, description, n, min(done) if done else 0, target, mean, std,
                           min(finals) if n else float("nan"), max(finals) if n else float("nan"),
                           sum(secs) / len(secs) if secs else float("nan")))
    return out


def _pct(x):
    return "-" if x != x else f"{100 * x:.2f}%"


def format_table(summaries: list[Summary], title: str = "") -> str:
    head = ("configuration", "test error", "spread (std; min-max)", "seeds", "epochs", "s/epoch", "description")
    lines = []
    for s in summaries:
        spread = "-" if s.seeds < 2 else f"±{100 * s.std:.2f}% ({_pct(s.low)}-{_pct(s.high)})"
        epochs = f"{s.epochs}" if s.epochs == s.target else f"{s.epochs}/{s.target}"
        lines.append((s.configuration, _pct(s.mean), spread, str(s.seeds), epochs,
                      "-" if s.seconds != s.seconds else f"{s.seconds:.2f}", s.description))
    body = text_table(head, lines)
    return f"{title}: final test error (mean over seeds)\n{body}" if title else body


def text_table(head, rows) -> str:
    """Columns of text, left-aligned, two spaces apart, a rule under the header."""
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = lambda row: "  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), "  ".join("-" * w for w in widths), *map(line, rows)])


def write_epochs_csv(path, groups) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(EPOCH_COLUMNS)
        for conf, (_, _, seeds) in groups.items():
            for seed, epochs in seeds.items():
                for e in epochs:
                    acc = e["test_accuracy"]
                    w.writerow([cell(conf), seed, e["epoch"], *(repr(_f(e[k])) for k in EPOCH_COLUMNS[3:7]),
                                _num(1 - _f(acc)), f"{e['seconds']:.3f}"])


def write_summary_csv(path, summaries: list[Summary]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("configuration", "description", "seeds", "epochs", "test_error_mean", "test_error_std",
                    "test_error_min", "test_error_max", "seconds_per_epoch"))
        for s in summaries:
            w.writerow((cell(s.configuration), cell(s.description), s.seeds, s.epochs, _num(s.mean), _num(s.std), _num(s.low),
                        _num(s.high), f"{s.seconds:.3f}"))


def cell(text) -> str:
    """A text cell of a CSV file, defused: a spreadsheet reads a cell starting with ``= + - @`` (or a tab or a
    carriage return) as a formula, so such a cell gets a leading ``'`` (OWASP's advice on CSV injection)."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _num(x) -> str:
    """A rate for the CSV files: 10 significant digits (1 - 0.9411 is 0.0589, not 0.05889999999999995);
    empty where undefined (the spread of a single seed)."""
    return "" if x is None or x != x else f"{x:.10g}"


def plot(path, groups, title: str = "", notes=()) -> None:
    """Test error (percent) against epoch, one line per configuration: the mean over seeds, with a band from
    the best to the worst seed, in the style of the book's Figure 5-12.  Where some configurations do not
    learn, a second panel shows the others, zoomed.  ``title``: the figure's title (``Figure 5-12:`` is put
    before it); ``notes``: lines of small print under the plot (the machine, the command).  Needs
    matplotlib: pip install 'tweaknet[lab]'."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
        from matplotlib.ticker import MaxNLocator, PercentFormatter
    except ImportError:
        raise ImportError("Plotting needs matplotlib: pip install 'tweaknet[lab]' (or pip install matplotlib).") \
            from None
    series = []
    for conf, (description, _, seeds) in groups.items():
        curves = [{e["epoch"]: 100 * (1 - _f(e["test_accuracy"])) for e in s} for s in seeds.values() if s]
        if not curves:
            continue
        xs = sorted(set().union(*curves))
        vals = [[c[x] for c in curves if x in c] for x in xs]
        series.append((f"{conf}: {description}" if description else conf, xs, vals))
    # Where some configurations do not learn (Table 5-1's conf2 near 50-90% error), the learning ones
    # crowd the bottom of the axis: a second panel shows those alone, zoomed.
    finals = [sum(v[-1]) / len(v[-1]) for _, _, v in series]
    learning = [i for i, f in enumerate(finals) if f < 30]
    zoom = bool(learning) and len(learning) < len(series)
    seeds = max((len(v) for _, _, vals in series for v in vals), default=0)
    fig = Figure(figsize=(14, 5.6) if zoom else (8.5, 5.6), dpi=120)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2) if zoom else [fig.add_subplot()]
    for k, ax in enumerate(axes):
        top = 0.0
        for i, (name, xs, vals) in enumerate(series):
            if k == 1 and i not in learning:
                continue
            color = f"C{i % 10}"
            mean = [sum(v) / len(v) for v in vals]
            ax.plot(xs, mean, marker="o" if len(xs) < 3 else None, label=name, color=color, linewidth=1.6)
            if max(len(v) for v in vals) > 1:
                ax.fill_between(xs, [min(v) for v in vals], [max(v) for v in vals], color=color, alpha=0.18,
                                linewidth=0)
            top = max(top, *(max(v) for v in vals))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=None))
        ax.set_xlabel("epoch")
        ax.set_ylabel("test error")
        # headroom for the legend above the curves (error curves fall: their start is the highest point)
        ax.set_ylim(0, top * (1.05 + 0.06 * (len(ax.lines) + 1)) if top > 0 else None)
        ax.grid(True, alpha=0.3)
        if k == 1:
            ax.set_title("the configurations that learn, zoomed", fontsize="medium")
        handles, _ = ax.get_legend_handles_labels()
        if handles:
            band = (f"band: best to worst of {seeds} seeds; line: their mean" if seeds > 1
                    else "one seed (run more with --seeds N for a band from best to worst)")
            handles.append(Patch(facecolor="0.5", alpha=0.3 if seeds > 1 else 0.0, label=band))
            ax.legend(handles=handles, fontsize="small", loc="best", framealpha=0.9)
    fig.suptitle(f"Figure 5-12: {title}" if title else "Figure 5-12: test error per epoch")
    for j, line in enumerate(notes):
        fig.text(0.01, 0.01 + 0.025 * (len(notes) - 1 - j), line, fontsize="x-small", color="0.35")
    fig.tight_layout(rect=(0, 0.025 * len(notes), 1, 1))
    fig.savefig(path, format="png")


def write_all(out_dir, name: str, groups, summaries, title: str = "", notes=()) -> dict:
    """Write ``NAME.csv``, ``NAME-summary.csv`` and ``NAME.png`` into ``out_dir``; return their paths.
    ``title`` and ``notes``: the figure's (see :func:`plot`)."""
    from pathlib import Path
    out = Path(out_dir)
    paths = {"csv": out / f"{name}.csv", "summary": out / f"{name}-summary.csv", "png": out / f"{name}.png"}
    write_epochs_csv(paths["csv"], groups)
    write_summary_csv(paths["summary"], summaries)
    plot(paths["png"], groups, title or name, notes)
    return paths
