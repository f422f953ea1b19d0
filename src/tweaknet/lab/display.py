"""Progress of a run in the parent process: a bar per running trial on a terminal, else a line per epoch.

The displays consume the workers' messages (see :mod:`.worker`).  Progress is per epoch, never per
batch: a per-batch callback would take ``fit`` off its compiled path, whose numbers differ from the
reference path's in the last bits.
"""
from __future__ import annotations

import sys


def label(trial: dict) -> str:
    """How a trial is named in progress lines and messages: ``conf1 seed 1``."""
    return f"{trial['configuration']} seed {trial['seed']}"


def epoch_line(name, e, epochs, m, seconds):
    return (f"{name}: epoch {e}/{epochs}  loss {m['train_loss']:.4f}  acc {m['train_accuracy']:.4f}  "
            f"test loss {m['test_loss']:.4f}  test acc {m['test_accuracy']:.4f}  "
            f"test error {100 * (1 - m['test_accuracy']):.2f}%  ({seconds:.2f} s)")


class LineDisplay:
    """One line per finished epoch per trial (for logs and pipes)."""

    def __init__(self, names, stream=None):
        self.names, self.stream = names, stream or sys.stdout

    def write(self, text):
        print(text, file=self.stream, flush=True)

    def handle(self, msg):
        kind, key = msg[0], msg[1]
        name = self.names[key]
        if kind == "start" and msg[2] > 0:
            self.write(f"{name}: resuming after epoch {msg[2]}/{msg[3]}")
        elif kind == "epoch":
            self.write(epoch_line(name, *msg[2:]))
        elif kind == "error":
            self.write(f"{name}: FAILED: {msg[2].strip().splitlines()[-1]}")

    def close(self):
        pass


class BarDisplay(LineDisplay):
    """A tqdm bar of epochs per running trial; finished epochs print above the bars."""

    def __init__(self, names, stream=None):
        super().__init__(names, stream)
        import tqdm
        self.tqdm, self.bars = tqdm.tqdm, {}

    def write(self, text):
        self.tqdm.write(text, file=self.stream)

    def handle(self, msg):
        kind, key = msg[0], msg[1]
        if kind == "start":
            start, epochs = msg[2:]
            self.bars[key] = self.tqdm(total=epochs, initial=start, desc=self.names[key], unit="epoch",
                                       leave=False, file=self.stream, dynamic_ncols=True)
            if start:
                super().handle(msg)
        elif kind == "epoch" and key in self.bars:
            bar = self.bars[key]
            bar.update(msg[2] - bar.n)
            bar.set_postfix_str(f"test error {100 * (1 - msg[4]['test_accuracy']):.2f}%")
            super().handle(msg)
        elif kind in ("done", "error"):
            bar = self.bars.pop(key, None)
            if bar is not None:
                bar.close()
            super().handle(msg)

    def close(self):
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


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
