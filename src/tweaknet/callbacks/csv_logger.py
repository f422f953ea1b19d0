"""CSVLogger: write the epoch logs to a CSV file, one row per epoch, with Keras's arguments.

Where Keras is known to disappoint, tweaknet does not: ``append=True`` writes no second header, and
a key that appears late (``val_*`` on resume or with ``validation_freq > 1``) widens the file.

Text cells are defused against CSV injection (OWASP's advice): a spreadsheet reads a cell starting with
``= + - @``, a tab or a carriage return as a formula, so such a text cell (a metric named ``=HYPERLINK(...)``)
is written with a leading ``'``.  Numbers are written as they are (a negative loss stays a number).
"""
from __future__ import annotations

import csv
import io
import locale
import os

from ..saving import atomic_write
from .base import Callback


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """``value`` for a CSV cell: numbers unchanged, text starting like a formula prefixed with ``'``."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        try:
            float(value)  # a number written as text ("-0.5") is not a formula
        except ValueError:
            return "'" + value
    return value


class CSVLogger(Callback):
    """One CSV row per epoch (``epoch`` then the log keys, sorted); ``append=True`` continues a file
    without a second header.

    When a key appears that the header lacks (``val_*`` added on resume, or first seen on the second
    epoch with ``validation_freq=2``), the file is rewritten atomically with the union of the columns;
    the earlier rows get empty cells there.  A key missing from a row is written ``NA``, as Keras does.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, bool(append)
        self._file = None

    def on_train_begin(self, logs=None):
        resume = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self.keys = None
        if resume:
            with open(self.filename, newline="") as f:
                header = next(csv.reader(f, delimiter=self.separator), None)
            self.keys = header[1:] if header else None
        self._file = open(self.filename, "a" if resume else "w", newline="")
        self._writer = csv.writer(self._file, delimiter=self.separator)
        self._header_written = resume and self.keys is not None

    def _widen(self, new_keys):
        """Rewrite the file atomically (``tweaknet.saving.atomic_write``) with ``new_keys`` as columns."""
        self._file.close()
        with open(self.filename, newline="") as f:
            rows = list(csv.reader(f, delimiter=self.separator))
        old = rows[0] if rows else ["epoch", *self.keys]
        header = ["epoch", *map(safe_cell, new_keys)]
        where = {name: i for i, name in enumerate(old)}
        text = io.StringIO(newline="")
        writer = csv.writer(text, delimiter=self.separator)
        writer.writerow(header)
        for row in rows[1:]:
            writer.writerow([row[where[k]] if k in where and where[k] < len(row) else "" for k in header])
        # the encoding open() uses for this file elsewhere in the class
        atomic_write(self.filename, text.getvalue().encode(locale.getpreferredencoding(False)))
        self.keys = list(new_keys)
        self._file = open(self.filename, "a", newline="")
        self._writer = csv.writer(self._file, delimiter=self.separator)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        elif not set(logs) <= set(self.keys):
            keys = sorted(set(self.keys) | set(logs))
            if self._header_written:
                self._widen(keys)
            else:
                self.keys = keys
        if not self._header_written:
            self._writer.writerow(["epoch", *map(safe_cell, self.keys)])
            self._header_written = True
        self._writer.writerow([epoch, *(safe_cell(logs.get(k, "NA")) for k in self.keys)])
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None
