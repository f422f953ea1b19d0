"""The Diagnostics callback: per-layer evidence on a fixed probe batch during training, and a Report at the end."""
from __future__ import annotations

import sys

import numpy as np

from .. import fast
from ..callbacks.base import Callback
from ..validation import check_int
from .findings import findings_from_records, input_findings
from .layout import describe, leading_inputs
from .learning import accuracy_metric, chance_accuracy, judge, reference_loss
from .probe import measure, snapshot
from .report import Report


class Diagnostics(Callback):
    """Records ``tweaknet.diagnostics.measure`` on a probe batch drawn from the training data (``fit``
    passes it in ``params["training_data"]``) before training, at each epoch end and,
    with ``every_n_steps``, every N steps.  Records are in ``callback.records`` and ``model.diagnostics_``;
    at the end of training ``callback.report`` holds the :class:`~tweaknet.diagnostics.Report` (``fit``
    returns it as ``history.diagnostics``), printed when ``fit``'s ``verbose > 0`` and ``show`` is True.

    The probe batch (``probe_size`` samples, drawn with its own ``seed``) is fixed for the run, and
    the measurements change nothing that training uses: the weights after ``fit`` are the same with or
    without this callback.  Cost: one forward and backward pass over the probe batch per record, and a
    copy of the kernels (to measure the actual update at the next record); at the
    default (epoch ends only) the compiled training path stays in use.  ``every_n_steps`` records
    whenever the optimizer's step count reaches a multiple of N, through ``on_progress`` with
    ``progress_steps = N``: no per-batch hook, so the compiled path stays in use there too (it runs
    its epoch in chunks that end at those steps).  ``on_start``: a function called with the Report of the
    record before training (``diagnose(..., try_fixes=True)`` starts likely candidates from it).
    """

    def __init__(self, every_n_steps=None, probe_size=256, seed=0, show=True, stream=None, on_start=None):
        super().__init__()
        self.every_n_steps = None if every_n_steps is None else check_int("every_n_steps", every_n_steps, low=1)
        self.probe_size, self.seed = check_int("probe_size", probe_size, low=1), int(seed)
        self.show, self.stream, self.on_start = bool(show), stream, on_start
        self.records = []
        self.report = None
        if self.every_n_steps:
            self.progress_steps = self.every_n_steps
            self.on_progress = self._every_n

    def on_train_begin(self, logs=None):
        x, y = self.params["training_data"]
        idx = np.sort(np.random.default_rng(self.seed).choice(len(x), min(self.probe_size, len(x)), replace=False))
        self.probe = (x[idx], y[idx])
        self.accuracy = accuracy_metric(self.model, self.probe[1].shape)
        self.records = []
        self.report = None
        self._first_step = self.model.optimizer.iterations
        self._snapshot = None
        self._record(epoch=0, step=0)
        if self.on_start is not None:
            self.on_start(self.build_report())

    def _every_n(self, seen, logs=None):  # called at each multiple of every_n_steps (``progress_steps``)
        self._record(epoch=None, step=self.model.optimizer.iterations - self._first_step)

    def on_epoch_end(self, epoch, logs=None):
        self._record(epoch=epoch + 1, step=None, train_loss=(logs or {}).get("loss"))

    def on_train_end(self, logs=None):
        self.report = self.build_report()
        if self.show and self.params.get("verbose"):
            print(self.report, file=self.stream or sys.stdout, flush=True)

    def _record(self, **where):
        with fast.numerics():  # the floating-point mode training uses
            record = measure(self.model, *self.probe, since=self._snapshot, accuracy=self.accuracy)
        self._snapshot = snapshot(self.model)  # the actual update of the next record is measured from here
        record.update(where)
        self.records.append(record)
        self.model.diagnostics_ = self.records

    def build_report(self) -> Report:
        """The Report of the records so far: the learning verdict, and findings with their severity."""
        model, (_, y) = self.model, self.probe
        if self.accuracy is not None:
            learning = judge(self.records, chance=chance_accuracy(self.accuracy, y, (len(y), *model.output_shape[1:])))
        else:
            learning = judge(self.records, reference=reference_loss(model.loss, y))
        inputs = input_findings(leading_inputs(model, self.probe[0]))
        findings = findings_from_records(self.records, model.loss.name, inputs, describe(model), learning)
        return Report(learning, findings)
