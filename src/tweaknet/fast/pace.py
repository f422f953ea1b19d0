"""How many threads each chunk of an epoch runs on, chosen by the time the chunks take.

A step on the compiled path's own threads (``Composer.split``, or the parallel loops at batch 1) meets its threads
at the end of every parallel loop, several times per step.  When another process takes one of the cores, the
thread that waits for it waits a time slice of the scheduler (milliseconds) at each meeting: measured on 2 cores
with one busy loop on the second, width 512 at batch 8 went from 3.5 s per epoch to 14-35 s, where one thread
took 7.1 s (JAX, whose epoch at that size runs mostly on one thread, went from 4.8 to 7.6 s).

The step's numbers do not depend on how many threads run it: its work is cut into a count of parts fixed when it
is composed (``T``, or the fixed chunks at batch 1), and a loop of ``T`` parts on one thread runs them one after
the other.  So the runner may run each chunk of an epoch on all the step's threads or on one, and :class:`Pace`
chooses, from the seconds per step that each count took: all threads while they are fast; one thread for a short
probe chunk once at the start and again whenever all threads become :data:`SLOWER` times slower than their
fastest chunk (or than their speed when one thread last lost); one thread while it is the faster, with a probe of
all threads after a wait that doubles each time the probe loses (at most :data:`PATIENCE` chunks).  The figures
are the runner's own measurements of whole chunks, so this needs no knowledge of the machine, and a quiet machine
pays one short probe per model and batch size.
"""
from __future__ import annotations

import math
import os


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 0 or math.isinf(value):
        raise ValueError(f"TWEAKNET_PACE_SECONDS must be a number of seconds, 0 or more (0 keeps every chunk on "
                         f"every thread; unset: 0.2), not {text!r}")
    return value


#: Seconds a chunk aims at (the runner's chunks end where progress is due anyway; this cuts them further).  0 turns
#: pacing off: every chunk runs on all the step's threads.
SECONDS = _seconds(os.environ.get("TWEAKNET_PACE_SECONDS", "0.2"))
#: Steps of the first chunk of a model, before any time per step is known.
FIRST = 4
#: All threads this much slower per step than their fastest chunk: probe one thread.
SLOWER = 1.25
#: At most this many chunks between probes of the count not chosen.
PATIENCE = 16


class Pace:
    """The thread count for each chunk: :attr:`now` (``threads`` or 1); :meth:`steps` says how many steps the next
    chunk takes, :meth:`record` what it took."""

    def __init__(self, threads: int, seconds: float | None = None):
        self.threads, self.seconds = int(threads), float(SECONDS if seconds is None else seconds)
        self.chosen = self.now = self.threads  # the count chosen, and the count of the next chunk
        self.per: dict[int, float] = {}  # thread count -> seconds per step of its last chunk
        self.fastest = math.inf  # seconds per step of the fastest chunk on all threads
        self.wait = 0  # chunks before the count not chosen is probed again
        self.backoff = 1
        self.chunks = 0  # chunks recorded

    @property
    def probing(self) -> bool:
        return self.now != self.chosen

    def steps(self, remaining: int) -> int:
        """Steps for the next chunk, of the ``remaining`` steps: :attr:`seconds` worth at the count's last speed
        (a quarter of that for a probe), :data:`FIRST` before any is known."""
        per = self.per.get(self.now, self.per.get(self.chosen))
        if per is None:
            return max(1, min(remaining, FIRST))
        target = self.seconds / 4 if self.probing else self.seconds
        return max(1, min(remaining, int(target / max(per, 1e-9))))

    def record(self, steps: int, seconds: float) -> None:
        """The chunk just run took ``seconds`` for ``steps`` steps on :attr:`now` threads: choose the next count."""
        count, per = self.now, seconds / max(1, steps)
        self.per[count] = per
        self.chunks += 1
        if count == self.threads:
            self.fastest = min(self.fastest, per)
        other = 1 if count == self.threads else self.threads
        if self.probing:  # the probe against the chosen count's last chunk
            if per < self.per[self.chosen]:
                self.chosen, self.backoff = count, 1
            else:
                self.backoff = min(2 * self.backoff, PATIENCE)
                if count == 1:  # all threads slower than before, one slower still: their speed now is the mark
                    self.fastest = self.per[self.threads]
            self.wait, self.now = self.backoff, self.chosen
            return
        self.wait -= 1
        if other not in self.per:  # the first probe, after a chunk of full length: one thread may be the faster
            probe = self.chunks >= 2  # from the start
        elif count == self.threads:
            probe = self.wait <= 0 and per > SLOWER * self.fastest
        else:
            probe = self.wait <= 0
        self.now = other if probe else count


def paces(threads: int) -> bool:
    """True when the runner paces a step made for ``threads`` threads (:data:`SECONDS` not 0)."""
    return threads > 1 and SECONDS > 0
