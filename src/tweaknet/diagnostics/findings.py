"""From measurements to findings: what is wrong, the evidence, and the chapter's fix.

Thresholds (module constants), with the chapter's reasoning:

- ``unscaled_inputs``: |mean| > 3, std > 10 or max |x| > 50 in the training data.  Raw MNIST pixels
  (mean ~33, std ~79, max 255) drive weighted sums of 785 inputs far into saturation; standardize.
- ``saturated_units``: more than half of a hidden S-shaped layer's (sample, unit) pairs have
  S'(z) < 5% of its maximum: little gradient passes (Figure 5-2).
- ``saturated_output``: the same at an S-shaped output trained with MSE: the error term
  -(y - y_hat) S'(z) vanishes (Figure 5-4); cross-entropy removes S' (Equation 5-2).
- ``dead_relu``: more than half of a ReLU layer's units never fire on the probe batch.
- ``vanishing_gradient``: the first layer's gradient norm is below 1e-3 of the output layer's.
- ``exploding_gradient``: the first layer's gradient norm is above 1e3 times the output layer's, a
  gradient norm above 1e3, or a non-finite gradient.
- ``divergence``: a non-finite loss or weight, or a final loss above twice the initial one.
- ``learning_rate_too_high``: one step would move a layer's weights by more than 10% of their norm.
- ``learning_rate_too_low``: one step moves every layer by less than 1e-6 of its norm and the loss
  fell by less than 1%.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

INPUT_MEAN, INPUT_STD, INPUT_MAX = 3.0, 10.0, 50.0
SATURATED_SHARE = 0.5
DEAD_SHARE = 0.5
VANISHING_RATIO, EXPLODING_RATIO, EXPLODING_NORM = 1e-3, 1e3, 1e3
DIVERGENCE_FACTOR = 2.0
STEP_TOO_HIGH, STEP_TOO_LOW, FLAT_LOSS = 0.1, 1e-6, 0.01

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

    def __str__(self):
        if not self.findings:
            return "No problem found: the network trains as the chapter's techniques intend."
        lines = []
        for f in self.findings:
            ev = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in f.evidence.items())
            lines += [f"[{f.code}]" + (f" layer {f.layer}" if f.layer else ""), f"  evidence: {ev}",
                      f"  fix: {f.fix}"]
        return "\n".join(lines)


def input_findings(x) -> list:
    x = np.asarray(x)
    mean, std, peak = float(np.mean(x)), float(np.std(x)), float(np.max(np.abs(x)))
    if abs(mean) > INPUT_MEAN or std > INPUT_STD or peak > INPUT_MAX:
        return [Finding("unscaled_inputs", "input", {"mean": mean, "std": std, "max_abs": peak})]
    return []


def diagnose(records, loss_name, data_findings=()) -> Report:
    """Findings from the probe records of one training run (the first record is before training)."""
    findings = list(data_findings)
    first, last = records[0], records[-1]
    if not all(r["finite"] for r in records) or last["loss"] > DIVERGENCE_FACTOR * first["loss"]:
        findings.append(Finding("divergence", None, {"initial_loss": first["loss"], "final_loss": last["loss"]}))
    layers = last["layers"]
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
    grads = [(s["name"], s["grad_norm"]) for s in layers if s["grad_norm"] is not None]
    if len(grads) >= 2:
        for r in records:
            g = [s["grad_norm"] for s in r["layers"] if s["grad_norm"] is not None]
            ratio = g[0] / g[-1] if g[-1] > 0 else 0.0  # no output gradient (dead units): no ratio
            if not np.all(np.isfinite(g)) or ratio > EXPLODING_RATIO or max(g) > EXPLODING_NORM:
                findings.append(Finding("exploding_gradient", grads[0][0], {
                    "first_layer_grad_norm": g[0], "output_grad_norm": g[-1], "ratio": float(ratio),
                    "epoch": r["epoch"]}))
                break
        else:
            g = [s["grad_norm"] for s in first["layers"] if s["grad_norm"] is not None]
            ratio = g[0] / g[-1] if g[-1] > 0 else 0.0
            if ratio < VANISHING_RATIO:
                findings.append(Finding("vanishing_gradient", grads[0][0], {
                    "first_layer_grad_norm": g[0], "output_grad_norm": g[-1], "ratio": float(ratio)}))
    steps = [(s["name"], s["step_ratio"]) for s in first["layers"] if s["step_ratio"] is not None]
    if steps:
        name, top = max(steps, key=lambda t: t[1])
        if top > STEP_TOO_HIGH:
            findings.append(Finding("learning_rate_too_high", name, {"step_to_weight_ratio": top}))
        elif all(v < STEP_TOO_LOW for _, v in steps) and last["loss"] > (1 - FLAT_LOSS) * first["loss"]:
            findings.append(Finding("learning_rate_too_low", None, {
                "largest_step_to_weight_ratio": top, "initial_loss": first["loss"], "final_loss": last["loss"]}))
    metrics = {"initial_loss": first["loss"], "final_loss": last["loss"], "records": len(records),
               "layers": last["layers"]}
    return Report(findings, metrics)
