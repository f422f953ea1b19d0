"""The Report: whether the network learns, the findings sorted by severity, and the fixes tried (best first).

``str(report)`` is the readable form (its first line says whether the network is learning);
``report.to_dict()`` has the same fields, and ``report.to_json()`` writes them as strict JSON (a diverged
loss, a NaN gradient norm or an infinite ratio become ``null``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from .findings import ORDER, SEVERITIES
from .learning import Learning


@dataclass
class Fix:
    """One candidate fix, trained for the baseline's budget from the same initial weights and data order.

    ``name`` (``"lower_learning_rate_10x"``); ``change`` (what was changed, ``"learning_rate 10.0 -> 1.0"``);
    ``finding`` (the code it answers); ``before`` and ``after`` (the baseline's and the candidate's
    validation metrics, same keys: ``val_loss`` and, for a classifier, ``val_accuracy``); ``gain``
    (``after - before`` of the validation accuracy, a fraction; without an accuracy, the relative fall of
    the validation loss); ``helped`` (``gain`` of at least 2 percentage points, or 10% of the loss);
    ``seconds`` (its training time); ``error`` (why it could not train, else None)."""
    name: str
    change: str
    finding: str
    before: dict
    after: dict
    gain: float
    helped: bool
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "change": self.change, "finding": self.finding, "before": dict(self.before),
                "after": dict(self.after), "gain": self.gain, "helped": self.helped, "seconds": self.seconds,
                "error": self.error}


@dataclass
class Report:
    """What ``tweaknet.diagnostics.diagnose`` returns: ``learning`` (the verdict and its numbers),
    ``findings`` (sorted by severity: errors, warnings, then info), ``fixes`` (the candidates tried, best
    first; empty unless ``try_fixes``), ``fixes_tried`` (whether fixes were asked for)."""
    learning: Learning
    findings: list = field(default_factory=list)
    fixes: list = field(default_factory=list)
    fixes_tried: bool = False

    def __post_init__(self):
        for f in self.findings:
            f.severity = self.learning.severity
        self.findings.sort(key=lambda f: (SEVERITIES.index(f.severity), ORDER.index(f.code)))

    @property
    def codes(self) -> set:
        return {f.code for f in self.findings}

    @property
    def problems(self) -> list:
        """The findings of severity error or warning (those whose fixes are tried)."""
        return [f for f in self.findings if f.severity != "info"]

    def to_dict(self) -> dict:
        return {"learning": self.learning.to_dict(), "findings": [f.to_dict() for f in self.findings],
                "fixes_tried": self.fixes_tried, "fixes": [f.to_dict() for f in self.fixes]}

    def to_json(self, **kwargs) -> str:
        """``to_dict()`` as strict JSON: non-finite numbers become ``null``."""
        return json.dumps(jsonable(self.to_dict()), allow_nan=False, **kwargs)

    def __str__(self):
        lines = [self.learning.summary()]
        if not self.findings:
            lines.append("No finding: nothing unusual was measured.")
        elif not self.problems:
            lines.append("Findings (info: measured, but harmless here: the network learns):")
        for f in self.findings:
            where = f" at {f.layer}" if f.layer is not None else ""
            lines += [f"{f.severity.upper():<8}{f.code}{where}",
                      f"        evidence: {format_evidence(f.evidence)}", f"        fix: {f.fix}"]
        if self.fixes_tried:
            lines += [""] + fixes_table(self.fixes, self.learning.epochs)
        return "\n".join(lines)


def format_value(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v)).lower()
    if isinstance(v, (float, np.floating)):
        return f"{v:.3g}"
    return str(v)


def format_evidence(evidence: dict) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in evidence.items())


def _metric(m: dict) -> str:
    if m.get("val_accuracy") is not None:
        return f"{100 * m['val_accuracy']:.1f}%"
    loss = m.get("val_loss")
    return "nan" if loss is None or not math.isfinite(loss) else f"{loss:.4g}"


def fixes_table(fixes, epochs) -> list:
    """The tried fixes as lines of a table, best first."""
    if not fixes:
        return ["No fix tried: no finding of severity error or warning."]
    accuracy = fixes[0].before.get("val_accuracy") is not None
    what = "validation accuracy" if accuracy else "validation loss"
    rows = [("", "fix", "change", what, "gain", "helped", "answers")]
    for rank, f in enumerate(fixes, 1):
        gain = "failed" if f.error else ("nan" if not math.isfinite(f.gain) else
                                         f"{100 * f.gain:+.1f} pp" if accuracy else f"{100 * f.gain:+.0f}%")
        rows.append((f"{rank}.", f.name, f.change, f"{_metric(f.before)} -> {_metric(f.after)}", gain,
                     "yes" if f.helped else "no", f.finding))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    head = (f"Fixes tried ({len(fixes)}), each trained {epochs} epoch{'s' if epochs != 1 else ''} from the same "
            f"initial weights and data order as the unchanged model (the baseline), best first:")
    return [head] + ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows] + \
        [f"  {f.name}: {f.error}" for f in fixes if f.error]


def jsonable(value):
    """``value`` with every non-finite float (NaN, +-inf) replaced by None, recursively, and NumPy scalars and
    arrays turned into Python numbers and lists: what ``json.dumps(..., allow_nan=False)`` accepts."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
