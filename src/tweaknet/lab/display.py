"""Progress of a run in the driver: a bar per running trial on a terminal, else a line per epoch.

The displays consume the driver's messages (see :mod:`.engine`): ``("start", id, first_epoch,
epochs)``, ``("epoch", id, epoch, epochs, metrics, seconds)``, ``("done", id, epochs)``,
``("pruned", id, epochs)``, ``("error", id, text)``, ``("lost", id, why, epochs_stored)`` (a job
lost with its worker or node, submitted again) and ``("status", None, counts)`` (the backend and
how many trials are running, waiting and done; sent when these change).  Progress is per epoch,
never per batch: a per-batch callback would take ``fit`` off its compiled path, whose numbers differ
from the reference path's in the last bits.
"""
from __future__ import annotations

import sys


def label(trial: dict) -> str:
    """How a trial is named in progress lines and messages: ``conf1 seed 1``."""
    return f"{trial['configuration']} seed {trial['seed']}"


def epoch_line(name, e, epochs, m, seconds):
    line = f"{name}: epoch {e}/{epochs}  loss {m['train_loss']:.4f}  acc {m['train_accuracy']:.4f}  "
    for part in ("val", "test"):
        if m.get(f"{part}_accuracy") is not None:
            line += (f"{part} loss {m[f'{part}_loss']:.4f}  {part} acc {m[f'{part}_accuracy']:.4f}  "
                     f"{part} error {100 * (1 - m[f'{part}_accuracy']):.2f}%  ")
    return line + f"({seconds:.2f} s)"


def status_line(c) -> str:
    """``2 local processes: 2 running, 3 waiting, 0 done``."""
    return f"{c['cluster']}: {c['running']} running, {c['waiting']} waiting, {c['done']} done"


def headline(m) -> str:
    """The error a bar shows: validation where there is one, else test."""
    part = "test" if m.get("test_accuracy") is not None else "val"
    return f"{part} error {100 * (1 - m[f'{part}_accuracy']):.2f}%" if m.get(f"{part}_accuracy") is not None else ""


class LineDisplay:
    """One line per finished epoch per trial (for logs and pipes)."""

    def __init__(self, names, stream=None):
        self.names, self.stream = names, stream or sys.stdout

    def write(self, text):
        print(text, file=self.stream, flush=True)

    def handle(self, msg):
        kind, key = msg[0], msg[1]
        if kind == "status":
            self.write(f"[{status_line(msg[2])}]")
            return
        name = self.names[key]
        if kind == "start" and msg[2] > 0:
            self.write(f"{name}: resuming after epoch {msg[2]}/{msg[3]}")
        elif kind == "epoch":
            self.write(epoch_line(name, *msg[2:]))
        elif kind == "pruned":
            self.write(f"{name}: pruned after epoch {msg[2]}")
        elif kind == "lost":
            self.write(f"{name}: {msg[2]}; training again from the checkpoint after epoch {msg[3]}")
        elif kind == "error":
            self.write(f"{name}: FAILED: {msg[2].strip().splitlines()[-1]}")

    def close(self):
        pass


class BarDisplay(LineDisplay):
    """A tqdm bar of epochs per running trial; finished epochs print above the bars."""

    def __init__(self, names, stream=None):
        super().__init__(names, stream)
        import tqdm
        self.tqdm, self.bars, self.overall = tqdm.tqdm, {}, None

    def write(self, text):
        self.tqdm.write(text, file=self.stream)

    def handle(self, msg):
        kind, key = msg[0], msg[1]
        if kind == "status":  # one bar of trials above the others: done of all, the backend, running, waiting
            c = msg[2]
            if self.overall is None:
                self.overall = self.tqdm(desc="trials", unit="trial", file=self.stream, dynamic_ncols=True, leave=False)
            self.overall.total = c["running"] + c["waiting"] + c["done"]
            self.overall.update(c["done"] - self.overall.n)
            self.overall.set_postfix_str(status_line(c))
        elif kind == "start":
            start, epochs = msg[2:]
            self.bars[key] = self.tqdm(total=epochs, initial=start, desc=self.names[key], unit="epoch",
                                       leave=False, file=self.stream, dynamic_ncols=True)
            if start:
                super().handle(msg)
        elif kind == "epoch" and key in self.bars:
            bar = self.bars[key]
            bar.update(msg[2] - bar.n)
            bar.set_postfix_str(headline(msg[4]))
            super().handle(msg)
        elif kind == "lost":
            super().handle(msg)
        elif kind in ("done", "error", "pruned"):
            bar = self.bars.pop(key, None)
            if bar is not None:
                bar.close()
            super().handle(msg)

    def close(self):
        for bar in [*self.bars.values(), *([self.overall] if self.overall is not None else [])]:
            bar.close()
        self.bars.clear()
        self.overall = None


def make_display(names, mode="auto", stream=None):
    """``mode``: 'auto' (bars on a terminal, lines otherwise), 'bars', 'lines' or 'none' (returns None)."""
    stream = stream or sys.stdout
    if mode == "none":
        return None
    if mode == "bars" or (mode == "auto" and stream.isatty()):
        try:
            return BarDisplay(names, stream)
        except ImportError:
            pass
    return LineDisplay(names, stream)
