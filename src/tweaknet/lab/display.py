"""Progress of a run in the driver: a bar per running trial on a terminal, else a line per epoch.

The displays consume the driver's messages (see :mod:`.engine`): ``("start", id, first_epoch,
epochs)``, ``("epoch", id, epoch, epochs, metrics, seconds)``, ``("done", id, epochs)``,
``("pruned", id, epochs)``, ``("diverged", id, epochs)``, ``("error", id, text)``, ``("lost", id, why, epochs_stored)`` (a job
lost with its worker or node, submitted again), ``("status", None, counts)`` (the backend and
how many trials are running, waiting and done; sent when these change) and ``("tick", None, counts)``
(the same counts and ``epochs_left``, the epochs still to train or None where a search decides; sent on
every turn of the driver's loop, about twice a second): the line display prints an overall line from it
every :data:`OVERALL_EVERY` seconds, the bars move the overall bar.  Progress is per epoch,
never per batch: a per-batch callback would take ``fit`` off its compiled path, whose numbers differ
from the reference path's in the last bits.
"""
from __future__ import annotations

import sys
import time

#: Seconds between two overall lines (trials done, elapsed, time left) of the line display.
OVERALL_EVERY = 5.0
#: Seconds before the first overall line.
FIRST_OVERALL = 2.0


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


def duration(seconds: float) -> str:
    """``45 s``, ``3 min 05 s``, ``2 h 04 min``."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Clock:
    """Elapsed time and the time left, from the epochs trained since the display started (the rate over all
    workers together, so it includes start-up and compiling: the estimate settles after a few epochs)."""

    def __init__(self):
        self.started, self.epochs = time.monotonic(), 0

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self, epochs_left):
        """Seconds left for ``epochs_left`` epochs, or None before the first epoch (or when unknown)."""
        if epochs_left is None or not self.epochs:
            return None
        return epochs_left * self.elapsed() / self.epochs

    def overall(self, c) -> str:
        """``overall: 7/25 trials done, 2 running; 1 min 12 s elapsed, about 3 min 05 s left``."""
        total = c["running"] + c["waiting"] + c["done"]
        left = self.left(c.get("epochs_left"))
        return (f"overall: {c['done']}/{total} trials done, {c['running']} running; {duration(self.elapsed())} "
                f"elapsed" + ("" if left is None else f", about {duration(left)} left"))


class LineDisplay:
    """One line per finished epoch per trial (for logs and pipes), and an overall line every
    ``overall_every`` seconds while trials run."""

    def __init__(self, names, stream=None, overall_every=None):
        self.names, self.stream = names, stream or sys.stdout
        self.clock = Clock()
        self.every = OVERALL_EVERY if overall_every is None else overall_every
        # The first overall line comes after 2 s (a first run starts its workers and compiles in silence
        # otherwise), the next ones every ``overall_every`` seconds.
        self.last = self.clock.started - max(0.0, self.every - FIRST_OVERALL)

    def write(self, text):
        print(text, file=self.stream, flush=True)

    def handle(self, msg):
        kind, key = msg[0], msg[1]
        if kind == "epoch":
            self.clock.epochs += 1
        if kind == "status":
            self.write(f"[{status_line(msg[2])}]")
            return
        if kind == "tick":
            now = time.monotonic()
            if msg[2]["running"] and now - self.last >= self.every:
                self.last = now
                self.write(f"[{self.clock.overall(msg[2])}]")
            return
        name = self.names[key]
        if kind == "start" and msg[2] > 0:
            self.write(f"{name}: resuming after epoch {msg[2]}/{msg[3]}")
        elif kind == "epoch":
            self.write(epoch_line(name, *msg[2:]))
        elif kind == "pruned":
            self.write(f"{name}: pruned after epoch {msg[2]}")
        elif kind == "diverged":
            self.write(f"{name}: DIVERGED: the loss became NaN or infinite at epoch {msg[2]}; stopped")
        elif kind == "lost":
            self.write(f"{name}: {msg[2]}; training again from the checkpoint after epoch {msg[3]}")
        elif kind == "error":
            self.write(f"{name}: FAILED: {msg[2].strip().splitlines()[-1]}")

    def close(self):
        pass


class BarDisplay(LineDisplay):
    """An overall bar (epochs of the whole run, or trials in a search) above a bar of epochs per running
    trial; finished epochs print above the bars.  ``tqdm.auto``: widgets in a notebook."""

    def __init__(self, names, stream=None):
        super().__init__(names, stream)
        from tqdm.auto import tqdm
        self.tqdm, self.bars = tqdm, {}
        # Created first, so it stays at the top, above the trials' bars.
        self.overall = tqdm(desc="overall", unit="epoch", file=self.stream, dynamic_ncols=True, leave=False,
                            position=0)
        self.unit, self.counts = None, None

    def write(self, text):
        self.tqdm.write(text, file=self.stream)

    def handle(self, msg):
        kind, key = msg[0], msg[1]
        if kind == "epoch":
            self.clock.epochs += 1
        if kind in ("status", "tick"):
            c = self.counts = msg[2] if kind == "tick" else {**(self.counts or {}), **msg[2]}
            bar, trials = self.overall, c["running"] + c["waiting"] + c["done"]
            if c.get("epochs_left") is not None:  # a grid: epochs, with tqdm's rate and time left
                self.unit = bar.unit = "epoch"
                bar.total = self.clock.epochs + c["epochs_left"]
                bar.update(self.clock.epochs - bar.n)
            elif kind == "tick" or self.unit is None:  # a search: trials done of those asked for
                bar.unit = "trial"
                bar.total = trials
                bar.update(c["done"] - bar.n)
            now = time.monotonic()
            refresh = kind == "status" or now - self.last >= 1.0  # the elapsed time moves while a compile runs
            if refresh:
                self.last = now
            bar.set_postfix_str(f"{c['done']}/{trials} trials done; {status_line(c)}", refresh=refresh)
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
            self.write(epoch_line(self.names[key], *msg[2:]))
        elif kind == "lost":
            super().handle(msg)
        elif kind in ("done", "error", "pruned", "diverged"):
            bar = self.bars.pop(key, None)
            if bar is not None:
                bar.close()
            super().handle(msg)

    def close(self):
        for bar in [*self.bars.values(), *([self.overall] if self.overall is not None else [])]:
            bar.close()
        self.bars.clear()
        self.overall = None


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (where tqdm.auto draws widgets and a terminal's codes do not work)."""
    shell = sys.modules.get("IPython")
    shell = shell.get_ipython() if shell is not None and hasattr(shell, "get_ipython") else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def make_display(names, mode="auto", stream=None):
    """``mode``: 'auto' (bars on a terminal or in a notebook, lines otherwise), 'bars', 'lines' or 'none'
    (returns None)."""
    stream = stream or sys.stdout
    if mode == "none":
        return None
    if mode == "bars" or (mode == "auto" and (stream.isatty() or in_notebook())):
        try:
            return BarDisplay(names, stream)
        except ImportError:
            pass
    return LineDisplay(names, stream)
