"""Why a network does not learn: measurements on a probe batch, findings with evidence, and fixes tried.

``diagnose(model, x, y, epochs=1)`` (``diagnose.py``; ``model.diagnose(...)`` is the same call, wired at
the package root) trains the model with the ``Diagnostics`` callback (``callback.py``), which records
per-layer statistics on a probe batch (``probe.py``); ``findings.py`` turns them into findings (code,
layer, evidence, the chapter's fix), ``learning.py`` judges whether the network learns (each finding's
severity), and with ``try_fixes=True`` ``fixes.py`` names the candidate fixes of each error or warning,
which ``tryout.py`` trains from the same initial weights and data order and ranks.  ``report.py``
holds the Report.  Thresholds are documented in those modules and in docs/diagnostics.md.
"""
from .callback import Diagnostics
from .diagnose import diagnose
from .findings import FIXES, Finding, findings_from_records, input_findings
from .layout import LayerRef
from .learning import Learning
from .probe import measure
from .report import Fix, Report

__all__ = ["Diagnostics", "FIXES", "Finding", "Fix", "LayerRef", "Learning", "Report", "diagnose",
           "findings_from_records", "input_findings", "measure"]
