"""``tweaknet.diagnostics.diagnose(model, x, y, ...)``: train with diagnostics, judge, and try the fixes.

The package root attaches :func:`diagnose` to ``Sequential`` as its ``diagnose`` method (diagnosis
depends on models, never the reverse), so ``model.diagnose(x, y)`` and ``diagnose(model, x, y)`` are the
same call.
"""
from __future__ import annotations

import numpy as np

from .. import seeding
from ..training.data import check_batch_size, split_validation
from .blueprint import Blueprint
from .callback import Diagnostics
from .fixes import context_of, proposals
from .learning import accuracy_metric
from .report import Report
from .tryout import Job, Pool, TrainingData, cores, ranked, score

#: With ``try_fixes`` and no validation data, this last fraction of ``(x, y)`` is held out (Keras's
#: ``validation_split`` semantics): baseline and candidates train on the rest and are scored on it.
TRY_FIXES_VALIDATION_SPLIT = 0.2


def diagnose(model, x, y, epochs=1, batch_size=None, validation_data=None, validation_split=0.0,
             try_fixes=False, jobs=None, probe_size=256, shuffle=True, verbose=0, callbacks=None) -> Report:
    """Train ``model`` for ``epochs`` (as ``fit`` does: its weights change) while measuring every layer on a
    probe batch, and return a :class:`~tweaknet.diagnostics.Report`: whether it learns, and findings
    (code, severity, layer, evidence, fix) sorted by severity.

    ``try_fixes=True``: for every finding of severity error or warning, each candidate fix of
    ``tweaknet.diagnostics.fixes.TABLE`` is applied to a copy of the model as it was before this call and
    trained from the same random state (initial weights of every unchanged layer, data order) for the same
    epochs and batch size; ``report.fixes`` ranks them by validation improvement over the baseline (this
    model, unchanged).  Validation data: ``validation_data``, else the last ``validation_split`` of ``(x, y)``,
    else (with ``try_fixes``) the last 20%.  ``jobs``: worker processes for the candidates (default: one
    per core; 1 trains them in this process).

    ``probe_size``: samples of the probe batch; ``shuffle``, ``verbose``, ``callbacks``: as in ``fit`` (the
    callbacks serve this model's training only, not the candidates').
    """
    if getattr(model, "optimizer", None) is None or getattr(model, "loss", None) is None:
        raise RuntimeError("Call model.compile(optimizer=..., loss=...) before diagnosing the model.")
    batch_size = check_batch_size(batch_size)
    val = validation_data
    if val is None and (validation_split or try_fixes):
        x, y = np.asarray(x), np.asarray(y)
        x, y, val = split_validation(x, y, validation_split or TRY_FIXES_VALIDATION_SPLIT)
    probe = Diagnostics(probe_size=probe_size, show=False)
    fit = dict(batch_size=batch_size, epochs=epochs, shuffle=shuffle, verbose=verbose,
               callbacks=[probe, *(callbacks or [])])
    if not try_fixes:
        with np.errstate(all="ignore"):  # a diverging network is diagnosed (divergence), not warned about
            model.fit(x, y, validation_data=val, **fit)
        return probe.report

    if not model.built:
        model.build((None, *np.shape(x)[1:]))
    blueprint, state = Blueprint.of(model), seeding.get_state()  # the model and random state before training
    classify = accuracy_metric(model, np.shape(y)) is not None
    data = TrainingData(np.asarray(x), np.asarray(y), np.asarray(val[0]), np.asarray(val[1]))
    context = context_of(model, data.x, data.y, batch_size)

    def jobs_for(findings):
        return [(change, Job(name, code, change, edited, state, batch_size, epochs, shuffle, classify))
                for name, code, change, edited in proposals(findings, blueprint, context)]

    warm_up = Job("warm-up", "", "", blueprint, state, batch_size, epochs, shuffle, classify)
    with Pool(data, jobs or cores(), warm_up) as pool:
        probe.on_start = lambda early: pool.speculate(jobs_for(early.problems))
        with np.errstate(all="ignore"):
            model.fit(data.x, data.y, **fit)
        report = probe.report
        tried = jobs_for(report.problems)
        results = pool.run(tried)
        report.fixes = ranked([job for _, job in tried], results, score(model, data, classify))
    report.fixes_tried = True
    return report
