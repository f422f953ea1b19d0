"""``model.diagnose(x, y)``: train with the Diagnostics callback, then turn its records into a Report.

The package root attaches :func:`diagnose_model` to ``Sequential`` as its ``diagnose`` method (diagnosis
depends on models, never the reverse), so ``model.diagnose(...)`` and ``diagnose_model(model, ...)`` are
the same call.
"""
from __future__ import annotations

from ..training.data import take
from .callback import Diagnostics
from .findings import Report, diagnose, input_findings


def diagnose_model(model, x, y, epochs=1, batch_size=None, probe_size=256, **fit_kwargs) -> Report:
    """Train ``model`` (as ``fit`` does: its weights change) with diagnostics, and return a
    :class:`~tweaknet.diagnostics.Report`: findings (code, layer, evidence, fix) and metrics."""
    probe = Diagnostics(probe_size=probe_size)
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=fit_kwargs.pop("verbose", 0),
              callbacks=[probe, *fit_kwargs.pop("callbacks", [])], **fit_kwargs)
    seen = probe.probe[0]
    for layer in model.layers:  # inputs as the first weighted layer sees them (after Normalization)
        if layer.params:
            break
        seen = layer.forward(take(seen, slice(None), model.flat.params.dtype), False)
    return diagnose(probe.records, model.loss.name, input_findings(seen))
