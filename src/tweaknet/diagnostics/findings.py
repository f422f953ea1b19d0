"""From measurements to findings: what is wrong, where, the evidence, and the chapter's fix.

``findings_from_records(records, loss_name)`` reads the probe records of one training run (``probe.py``;
the first record is before training).  Thresholds (module constants), with the chapter's reasoning:

- ``unscaled_inputs``: |mean| > 3, std > 10 or max |x| > 50 in the inputs the first weighted layer
  receives.  Raw MNIST pixels (mean ~33, std ~79, max 255) drive weighted sums of 785 inputs far into
  saturation; standardize.
- ``saturated_units``, ``saturated_output``, ``dead_relu`` are read from the last record whose numbers are
  all finite (after a divergence, NaN pre-activations say nothing about saturation).
- ``saturated_units``: more than half of a hidden S-shaped layer's (sample, unit) pairs have
  S'(z) < 5% of its maximum: little gradient passes (Figure 5-2).
- ``saturated_output``: the same at an S-shaped output trained with MSE: the error term
  -(y - y_hat) S'(z) vanishes (Figure 5-4); cross-entropy removes S' (Equation 5-2).
- ``dead_relu``: more than half of a ReLU layer's units never fire on the probe batch.
- ``vanishing_gradient``: before training, the first layer's gradient norm is below 1e-3 of the output
  layer's.  Not reported when ``dead_relu`` is: dead units explain the small gradient, and their fix
  comes first.  The fix names ReLU-family activations only for S-shaped networks.
- ``exploding_gradient``: at a record whose loss, pre-activations and weights are finite, the first
  layer's gradient norm is above 1e3 times the output layer's, a gradient norm is above 1e3, or a
  gradient overflowed.  A record whose numbers are already NaN is evidence of ``divergence``, not of a
  gradient: no gradient finding rests on NaN.
- ``divergence``: a non-finite loss, pre-activation or weight, or a final loss above twice the initial one.
- ``learning_rate_too_high``: the optimizer's actual first step (on the probe batch, before training)
  or the measured mean update between two records moves a layer's kernel by more than 10% of its norm.
- ``learning_rate_too_low``: the measured mean update per step stays below 1e-4 of the kernel's norm
  for every layer in every interval between records, the loss fell by less than 5% or the network is
  not learning (``learning.py``), and no finding about the gradient itself (dead, saturated, vanishing,
  exploding) explains the small steps.  Healthy runs of the zoo at batch 16 and more move their kernels
  by 3e-4 to 6e-3 of their norm per step; the learning rates that leave MNIST at chance after an epoch
  (SGD 1e-4 and below, Adam 1e-6 and below) by 2e-5 or less.  A whole batch-1 epoch of a healthy network
  measures 5e-5 to 1e-4 per step (60,000 noisy steps partly cancel), but its loss falls by 90%.

Every evidence key, its unit and meaning is listed in docs/diagnostics.md.  A finding's ``severity``
comes from whether the network learns (``learning.py``), set when the report is assembled.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .layout import INPUTS, LayerRef

INPUT_MEAN, INPUT_STD, INPUT_MAX = 3.0, 10.0, 50.0
SATURATED_SHARE = 0.5
DEAD_SHARE = 0.5
VANISHING_RATIO, EXPLODING_RATIO, EXPLODING_NORM = 1e-2, 1e3, 1e3
DIVERGENCE_FACTOR = 2.0
STEP_TOO_HIGH, STEP_TOO_LOW, FLAT_LOSS = 0.1, 1e-4, 0.05

FIXES = {
    "unscaled_inputs": "Standardize the inputs: subtract the training mean and divide by the training standard "
                       "deviation (tweaknet.datasets.Standardizer or a Normalization layer).",
    "saturated_units": "Keep the weighted sums near 0: standardize the inputs, use Glorot initialization for "
                       "tanh/sigmoid (He for ReLU), add batch normalization, or switch to a ReLU-family activation.",
    "saturated_output": "Use cross-entropy with a sigmoid or softmax output: its gradient (y_hat - y) does not "
                        "vanish when the output saturates.",
    "dead_relu": "Revive the units: start biases at 0 (not negative), use He initialization, a smaller learning "
                 "rate, or leaky ReLU / ELU, whose derivative is never 0.",
    "vanishing_gradient": "Let the gradient through: ReLU-family hidden activations instead of sigmoid/tanh, "
                          "Glorot/He initialization, batch normalization, cross-entropy loss.",
    "vanishing_gradient_relu": "Let the gradient through: He initialization, batch normalization, fewer layers, "
                               "or leaky ReLU / ELU, whose derivative is never 0.",
    "exploding_gradient": "Bound the steps: gradient clipping (clipnorm or global_clipnorm), Glorot/He "
                          "initialization instead of large weights, batch normalization, a smaller learning rate.",
    "divergence": "Lower the learning rate, clip the gradients, and check the inputs are standardized.",
    "learning_rate_too_high": "Lower the learning rate (by 10x at a time) or use Adam, whose steps are bounded "
                              "by the learning rate.",
    "learning_rate_too_low": "Raise the learning rate, or use momentum or Adam.",
}

SEVERITIES = ("error", "warning", "info")
#: The order of findings of one severity in a report: causes before the symptoms they produce.
ORDER = ("unscaled_inputs", "divergence", "learning_rate_too_high", "exploding_gradient", "learning_rate_too_low",
         "dead_relu", "vanishing_gradient", "saturated_units", "saturated_output")


@dataclass
class Finding:
    """One thing wrong: ``code``; ``layer`` (a :class:`LayerRef`: index, name, description; None for the
    whole network); ``evidence`` (measured numbers, keys documented in docs/diagnostics.md); ``fix`` (the
    chapter's advice); ``severity`` (``"error"``, ``"warning"`` or ``"info"``, from whether the network
    learns)."""
    code: str
    layer: LayerRef | None
    evidence: dict
    fix: str = ""
    severity: str = "info"

    def __post_init__(self):
        self.fix = self.fix or FIXES[self.code]

    def to_dict(self) -> dict:
        layer = None if self.layer is None else {"index": self.layer.index, "name": self.layer.name,
                                                 "description": self.layer.description}
        return {"code": self.code, "severity": self.severity, "layer": layer, "evidence": dict(self.evidence),
                "fix": self.fix}


def input_findings(x) -> list:
    """``unscaled_inputs`` when the inputs ``x`` (as the first weighted layer receives them) are far from
    standardized."""
    x = np.asarray(x)
    mean, std, peak = float(np.mean(x)), float(np.std(x)), float(np.max(np.abs(x)))
    if abs(mean) > INPUT_MEAN or std > INPUT_STD or peak > INPUT_MAX:
        return [Finding("unscaled_inputs", INPUTS, {"input_mean": mean, "input_std": std, "input_max_abs": peak})]
    return []


# findings about the gradient itself: when one of them fires, small steps are its consequence, not the rate's
GRADIENT_CODES = {"dead_relu", "saturated_units", "saturated_output", "vanishing_gradient", "exploding_gradient",
                  "divergence", "learning_rate_too_high"}


def _weighted(layers):
    return [s for s in layers if s["grad_norm"] is not None]


def _finite(*values) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def findings_from_records(records, loss_name, data_findings=(), layers=None, learning=None) -> list:
    """Findings from the probe records of one training run (the first record is before training).

    ``loss_name``: the model's loss (``model.loss.name``); ``data_findings``: findings about the data
    (``input_findings``); ``layers``: ``{layer name: LayerRef}`` (``layout.describe(model)``) to name the
    layers by position; ``learning``: the verdict (``learning.judge``), if known.  Severities are left at
    ``"info"``: the report sets them from the verdict.
    """
    refs = layers or {}

    def ref(name):
        return refs.get(name) or LayerRef(None, name, name)

    findings = list(data_findings)
    first, last = records[0], records[-1]
    after = np.cumsum([r["steps"] or 0 for r in records]).tolist()  # optimizer steps before each record
    all_finite = all(r["finite"] for r in records)
    if not all_finite or not last["loss"] <= DIVERGENCE_FACTOR * first["loss"]:
        findings.append(Finding("divergence", None, {
            "initial_loss": first["loss"], "final_loss": last["loss"],
            "final_to_initial_loss_ratio": last["loss"] / first["loss"] if first["loss"] else math.inf,
            "all_finite": all_finite,
            "first_non_finite_after_steps": next((s for r, s in zip(records, after) if not r["finite"]), None)}))
    # saturation and dead units from the last record with finite numbers: NaN pre-activations say nothing
    layer_stats = next((r for r in reversed(records) if r["finite"]), first)["layers"]
    for i, s in enumerate(layer_stats):
        is_output = i == len(layer_stats) - 1
        if s["saturated"] > SATURATED_SHARE:
            if not is_output:
                findings.append(Finding("saturated_units", ref(s["name"]), {
                    "saturated_pair_fraction": s["saturated"], "saturated_unit_fraction": s["saturated_units"],
                    "preactivation_mean": s["z_mean"], "preactivation_std": s["z_std"]}))
            elif loss_name == "mean_squared_error":
                findings.append(Finding("saturated_output", ref(s["name"]), {
                    "saturated_pair_fraction": s["saturated"], "preactivation_mean": s["z_mean"],
                    "preactivation_std": s["z_std"]}))
        if s["dead"] > DEAD_SHARE:
            findings.append(Finding("dead_relu", ref(s["name"]), {
                "dead_unit_fraction": s["dead"], "preactivation_mean": s["z_mean"]}))
    findings += _gradient_findings(records, after, findings, ref)
    findings += _step_findings(records, findings, ref, learning is not None and not learning.is_learning)
    return findings


def _gradient_findings(records, after, findings, ref) -> list:
    """``exploding_gradient`` (at any record with finite numbers) or ``vanishing_gradient`` (before training)."""
    if len(_weighted(records[0]["layers"])) < 2:
        return []
    for r, steps in zip(records, after):
        w = _weighted(r["layers"])
        if not r["finite"] or not _finite(w[-1]["grad_norm"]):
            continue  # NaN numbers are divergence's evidence, not a gradient's
        norms = [s["grad_norm"] for s in w]
        finite = [g for g in norms if math.isfinite(g)]
        ratio = w[0]["grad_ratio"]
        overflow = not r.get("grad_finite", True) or len(finite) < len(norms)
        if overflow or max(finite) > EXPLODING_NORM or (ratio is not None and ratio > EXPLODING_RATIO):
            evidence = {"first_layer_grad_norm": norms[0], "output_layer_grad_norm": norms[-1],
                        "grad_norm_ratio": ratio, "largest_grad_norm": max(norms),
                        "grads_finite": not overflow, "after_steps": steps}
            return [Finding("exploding_gradient", ref(w[0]["name"]),
                            {k: v for k, v in evidence.items() if v is not None})]
    w = _weighted(records[0]["layers"])
    ratio = w[0]["grad_ratio"]
    # 0/0 (no gradient at all) is no ratio; units that never fire explain a small gradient: dead_relu
    if ratio is not None and ratio < VANISHING_RATIO and "dead_relu" not in {f.code for f in findings} \
            and records[0].get("grad_finite", True):
        relu_net = not any(s["s_shaped"] for s in records[0]["layers"][:-1])
        return [Finding("vanishing_gradient", ref(w[0]["name"]), {
            "first_layer_grad_norm": w[0]["grad_norm"], "output_layer_grad_norm": w[-1]["grad_norm"],
            "grad_norm_ratio": ratio}, fix=FIXES["vanishing_gradient_relu"] if relu_net else "")]
    return []


def _step_findings(records, findings, ref, not_learning=False) -> list:
    """``learning_rate_too_high`` or ``learning_rate_too_low`` from the measured steps."""
    first, last = records[0], records[-1]
    first_steps = [(s["name"], s["step_ratio"]) for s in first["layers"] if _finite(s.get("step_ratio"))]
    updates = [(s["name"], s["update_ratio"], r["steps"]) for r in records[1:] for s in r["layers"]
               if s.get("update_ratio") is not None]
    if first_steps and max(v for _, v in first_steps) > STEP_TOO_HIGH:
        name, top = max(first_steps, key=lambda t: t[1])
        return [Finding("learning_rate_too_high", ref(name), {"first_step_to_weight_ratio": top})]
    if updates and all(math.isfinite(v) for _, v, _ in updates) and max(v for _, v, _ in updates) > STEP_TOO_HIGH:
        name, top, steps = max(updates, key=lambda t: t[1])
        return [Finding("learning_rate_too_high", ref(name), {"update_to_weight_ratio_per_step": top,
                                                              "steps": steps})]
    if updates and not GRADIENT_CODES & {f.code for f in findings}:
        name, top, steps = max(updates, key=lambda t: t[1])
        if top < STEP_TOO_LOW and (not_learning or last["loss"] > (1 - FLAT_LOSS) * first["loss"]):
            return [Finding("learning_rate_too_low", None, {
                "largest_update_to_weight_ratio_per_step": top, "steps": sum(r["steps"] or 0 for r in records[1:]),
                "initial_loss": first["loss"], "final_loss": last["loss"]})]
    return []
