"""From measurements to findings: what is wrong, the evidence, and the chapter's fix.

Thresholds (module constants), with the chapter's reasoning:

- ``unscaled_inputs``: |mean| > 3, std > 10 or max |x| > 50 in the training data.  Raw MNIST pixels
  (mean ~33, std ~79, max 255) drive weighted sums of 785 inputs far into saturation; standardize.
- ``saturated_units``, ``saturated_output``, ``dead_relu`` are read from the last record whose numbers are
  all finite (after a divergence, NaN pre-activations say nothing about saturation).
- ``saturated_units``: more than half of a hidden S-shaped layer's (sample, unit) pairs have
  S'(z) < 5% of its maximum: little gradient passes (Figure 5-2).
- ``saturated_output``: the same at an S-shaped output trained with MSE: the error term
  -(y - y_hat) S'(z) vanishes (Figure 5-4); cross-entropy removes S' (Equation 5-2).
- ``dead_relu``: more than half of a ReLU layer's units never fire on the probe batch.
- ``vanishing_gradient``: before training, the first layer's gradient norm is below 1e-3 of the output
  layer's (``grad_ratio``).  Not reported when ``dead_relu`` is: dead units explain the small gradient,
  and their fix comes first.  The fix names ReLU-family activations only for S-shaped networks.
- ``exploding_gradient``: at any record, the first layer's ``grad_ratio`` is above 1e3, a gradient norm
  is above 1e3, or a gradient is non-finite.
- ``divergence``: a non-finite loss, pre-activation or weight, or a final loss above twice the initial one.
- ``learning_rate_too_high``: the optimizer's actual first step (on the probe batch, before training)
  or the measured mean update between two records moves a layer's kernel by more than 10% of its norm.
- ``learning_rate_too_low``: the measured mean update per step stays below 1e-4 of the kernel's norm
  for every layer in every interval between records, the loss fell by less than 5%, and no finding
  about the gradient itself (dead, saturated, vanishing, exploding) explains the small steps.
  Healthy runs of the zoo move their kernels by 3e-4 to 6e-3 of their norm per step; the learning
  rates that leave MNIST at chance after an epoch (SGD 1e-4 and below, Adam 1e-6 and below) by 5e-5
  or less.

JSON: ``Report.to_json()`` writes non-finite numbers (a diverged loss, a NaN gradient norm) as
``null``, so its output is strict JSON.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np

INPUT_MEAN, INPUT_STD, INPUT_MAX = 3.0, 10.0, 50.0
SATURATED_SHARE = 0.5
DEAD_SHARE = 0.5
VANISHING_RATIO, EXPLODING_RATIO, EXPLODING_NORM = 1e-3, 1e3, 1e3
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


@dataclass
class Finding:
    code: str
    layer: str | None
    evidence: dict
    fix: str = ""

    def __post_init__(self):
        self.fix = self.fix or FIXES[self.code]


@dataclass
class Report:
    findings: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    @property
    def codes(self) -> set:
        return {f.code for f in self.findings}

    def to_dict(self) -> dict:
        return {"findings": [asdict(f) for f in self.findings], "metrics": self.metrics}

    def to_json(self, **kwargs) -> str:
        """``to_dict()`` as strict JSON: non-finite numbers become ``null``."""
        return json.dumps(jsonable(self.to_dict()), allow_nan=False, **kwargs)

    def __str__(self):
        if not self.findings:
            return "No problem found: the network trains as the chapter's techniques intend."
        lines = []
        for f in self.findings:
            ev = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in f.evidence.items())
            lines += [f"[{f.code}]" + (f" layer {f.layer}" if f.layer else ""), f"  evidence: {ev}",
                      f"  fix: {f.fix}"]
        return "\n".join(lines)


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


def input_findings(x) -> list:
    x = np.asarray(x)
    mean, std, peak = float(np.mean(x)), float(np.std(x)), float(np.max(np.abs(x)))
    if abs(mean) > INPUT_MEAN or std > INPUT_STD or peak > INPUT_MAX:
        return [Finding("unscaled_inputs", "input", {"mean": mean, "std": std, "max_abs": peak})]
    return []


# findings about the gradient itself: when one of them fires, small steps are its consequence, not the rate's
GRADIENT_CODES = {"dead_relu", "saturated_units", "saturated_output", "vanishing_gradient", "exploding_gradient",
                  "divergence", "learning_rate_too_high"}


def _weighted(layers):
    return [s for s in layers if s["grad_norm"] is not None]


def diagnose(records, loss_name, data_findings=()) -> Report:
    """Findings from the probe records of one training run (the first record is before training)."""
    findings = list(data_findings)
    first, last = records[0], records[-1]
    if not all(r["finite"] for r in records) or not last["loss"] <= DIVERGENCE_FACTOR * first["loss"]:
        findings.append(Finding("divergence", None, {"initial_loss": first["loss"], "final_loss": last["loss"],
                                                     "finite": all(r["finite"] for r in records)}))
    # saturation and dead units from the last record with finite numbers: NaN pre-activations say nothing
    layers = next((r for r in reversed(records) if r["finite"]), first)["layers"]
    for i, s in enumerate(layers):
        is_output = i == len(layers) - 1
        if s["saturated"] > SATURATED_SHARE:
            if not is_output:
                findings.append(Finding("saturated_units", s["name"], {
                    "saturated_fraction": s["saturated"], "saturated_units": s["saturated_units"],
                    "z_mean": s["z_mean"], "z_std": s["z_std"]}))
            elif loss_name == "mean_squared_error":
                findings.append(Finding("saturated_output", s["name"], {
                    "saturated_fraction": s["saturated"], "z_mean": s["z_mean"], "z_std": s["z_std"]}))
        if s["dead"] > DEAD_SHARE:
            findings.append(Finding("dead_relu", s["name"], {"dead_fraction": s["dead"], "z_mean": s["z_mean"]}))
    if len(_weighted(layers)) >= 2:
        for r in records:
            w = _weighted(r["layers"])
            g = [s["grad_norm"] for s in w]
            ratio = w[0]["grad_ratio"]
            if not r.get("grad_finite", True) or not np.all(np.isfinite(g)) or max(g) > EXPLODING_NORM or (
                    ratio is not None and ratio > EXPLODING_RATIO):
                findings.append(Finding("exploding_gradient", w[0]["name"], {
                    "first_layer_grad_norm": g[0], "output_grad_norm": g[-1], "grad_ratio": ratio,
                    "largest_grad_norm": max(g), "grad_finite": bool(r.get("grad_finite", True)), "epoch": r["epoch"]}))
                break
        else:
            w = _weighted(first["layers"])
            ratio = w[0]["grad_ratio"]
            # 0/0 (no gradient at all) is no ratio; units that never fire explain a small gradient: dead_relu
            if ratio is not None and ratio < VANISHING_RATIO and "dead_relu" not in {f.code for f in findings}:
                relu_net = not any(s["s_shaped"] for s in first["layers"][:-1])
                findings.append(Finding("vanishing_gradient", w[0]["name"], {
                    "first_layer_grad_norm": w[0]["grad_norm"], "output_grad_norm": w[-1]["grad_norm"],
                    "grad_ratio": ratio}, fix=FIXES["vanishing_gradient_relu"] if relu_net else ""))
    first_steps = [(s["name"], s["step_ratio"]) for s in first["layers"] if s.get("step_ratio") is not None]
    updates = [(s["name"], s["update_ratio"], r["steps"]) for r in records[1:] for s in r["layers"]
               if s.get("update_ratio") is not None]
    if first_steps and max(v for _, v in first_steps) > STEP_TOO_HIGH:
        name, top = max(first_steps, key=lambda t: t[1])
        findings.append(Finding("learning_rate_too_high", name, {"first_step_to_weight_ratio": top}))
    elif updates and all(np.isfinite(v) for _, v, _ in updates) and max(v for _, v, _ in updates) > STEP_TOO_HIGH:
        name, top, steps = max(updates, key=lambda t: t[1])
        findings.append(Finding("learning_rate_too_high", name, {"update_to_weight_ratio": top, "steps": steps}))
    elif updates and not GRADIENT_CODES & {f.code for f in findings}:
        name, top, steps = max(updates, key=lambda t: t[1])
        if top < STEP_TOO_LOW and last["loss"] > (1 - FLAT_LOSS) * first["loss"]:
            findings.append(Finding("learning_rate_too_low", None, {
                "largest_update_to_weight_ratio": top, "steps": sum(r["steps"] or 0 for r in records[1:]),
                "initial_loss": first["loss"], "final_loss": last["loss"]}))
    metrics = {"initial_loss": first["loss"], "final_loss": last["loss"], "records": len(records),
               "layers": last["layers"]}
    return Report(findings, metrics)
