"""Why a network does not learn: measurements on a probe batch, findings with evidence, and the fix.

``model.diagnose(x, y, epochs=1)`` (``model.py``) or ``fit(..., diagnostics=True)`` (or the
``Diagnostics`` callback, ``callback.py``) record per-layer statistics (``probe.py``); ``findings.py``
turns them into findings with a code, the layer, the evidence and the chapter's fix.  Thresholds are
documented there.
"""
from .callback import Diagnostics
from .findings import FIXES, Finding, Report, diagnose, input_findings
from .model import diagnose_model
from .probe import measure

__all__ = ["Diagnostics", "Finding", "Report", "diagnose", "diagnose_model", "input_findings", "measure", "FIXES"]
