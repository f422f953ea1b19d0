"""From records to findings and the learning verdict: thresholds, the evidence rules, and severities."""
import json
import math

import numpy as np
import pytest

import tweaknet as tn
from tweaknet.datasets import mnist
from tweaknet.diagnostics import FIXES, Report, findings_from_records, measure
from tweaknet.diagnostics.learning import judge
from tweaknet.diagnostics.probe import snapshot

D = tn.layers.Dense


def _reject(constant):
    raise ValueError(f"not strict JSON: {constant}")


def _layer(name, grad_norm, grad_ratio, s_shaped=False, dead=0.0, activation="relu"):
    return {"name": name, "activation": activation, "s_shaped": s_shaped, "units": 8, "z_mean": 0.0, "z_std": 1.0,
            "saturated": 0.0, "saturated_units": 0.0, "dead": dead, "grad_norm": grad_norm, "grad_ratio": grad_ratio,
            "weight_norm": 1.0, "step_ratio": 1e-3, "update_ratio": None, "change_ratio": None, "grad_finite": True,
            "finite": True}


def _records(layers, loss=(2.3, 1.0), accuracy=(0.1, 0.9)):
    later = [dict(s, update_ratio=1e-3, change_ratio=0.06) for s in layers]
    return [{"loss": loss[0], "accuracy": accuracy[0], "finite": True, "grad_finite": True, "steps": None,
             "epoch": 0, "layers": layers},
            {"loss": loss[1], "accuracy": accuracy[1], "finite": math.isfinite(loss[1]), "grad_finite": True,
             "steps": 63, "epoch": 1, "layers": later}]


def test_vanishing_gradient_fix_depends_on_the_activation():
    for hidden, s_shaped in (("relu", False), ("sigmoid", True)):
        layers = [_layer("a", 1e-7, 1e-7, s_shaped, activation=hidden),
                  _layer("b", 1e-3, 1e-3, s_shaped, activation=hidden), _layer("out", 1.0, 1.0, activation="softmax")]
        findings = findings_from_records(_records(layers), "categorical_crossentropy")
        assert [f.code for f in findings] == ["vanishing_gradient"]
        fix = findings[0].fix
        assert ("instead of sigmoid/tanh" in fix) == s_shaped, fix
        assert fix == (FIXES["vanishing_gradient"] if s_shaped else FIXES["vanishing_gradient_relu"])
    dead = [_layer("a", 1e-7, 1e-7, dead=0.9), _layer("out", 1.0, 1.0, activation="softmax")]
    assert [f.code for f in findings_from_records(_records(dead), "categorical_crossentropy")] == ["dead_relu"]


def test_the_vanishing_threshold_is_a_hundredfold():
    """A first layer whose gradient is 1/50 of the output layer's learns 50 times slower: no finding; 1/200: one."""
    for ratio, expected in ((1 / 50, []), (1 / 200, ["vanishing_gradient"])):
        layers = [_layer("a", ratio, ratio, True, activation="sigmoid"), _layer("out", 1.0, 1.0, activation="softmax")]
        assert [f.code for f in findings_from_records(_records(layers), "categorical_crossentropy")] == expected


def test_layers_are_named_by_position_and_name():
    tn.utils.set_random_seed(1)
    model = tn.Sequential([tn.layers.Flatten(input_shape=(28, 28)), D(25, activation="tanh"),
                           tn.layers.BatchNormalization(), D(10, activation="sigmoid")])
    from tweaknet.diagnostics.layout import describe, positions
    refs = describe(model)
    dense, bn, out = model.layers[1].name, model.layers[2].name, model.layers[3].name
    assert refs[dense].description == f"hidden layer 1 of 3: {dense} (Dense, 25 units, tanh)"
    assert refs[bn].description == f"hidden layer 2 of 3: {bn} (BatchNormalization)"
    assert refs[out].description == f"output layer 3 of 3: {out} (Dense, 10 units, sigmoid)"
    assert (refs[dense].index, refs[out].index) == (1, 3) and refs[model.layers[0].name].number is None
    assert positions([refs[dense], refs[bn], refs[out]]) == "hidden layers 1-2 and output layer 3 of 3"


def test_non_finite_gradients_are_detected_when_loss_and_weights_are_finite():
    """x ~ 1e18 through tiny weights, then a huge output kernel: the loss (~1e34), weights and pre-activations are
    finite in float32, but the first kernel's gradient (x^T delta ~ 1e18 * 1e36) overflows."""
    model = tn.Sequential([D(4, activation="tanh", input_shape=(4,)), D(10, activation="linear")])
    model.compile(optimizer="sgd", loss="mse")
    model.set_weights([np.full((4, 4), 1e-20, "float32"), np.zeros(4, "float32"),
                       np.full((4, 10), 1e18, "float32"), np.zeros(10, "float32")])
    x, y = np.full((8, 4), 1e18, "float32"), np.zeros((8, 10), "float32")
    first = measure(model, x, y)
    assert first["finite"] and np.isfinite(first["loss"])
    assert first["grad_finite"] is False
    assert [s["grad_finite"] for s in first["layers"]] == [False, True]
    record = dict(measure(model, x, y, since=snapshot(model)), epoch=1)
    findings = findings_from_records([dict(first, epoch=0), record], "mean_squared_error")
    codes = {f.code for f in findings}
    assert "exploding_gradient" in codes and "divergence" not in codes
    exploding = next(f for f in findings if f.code == "exploding_gradient")
    assert exploding.evidence["grads_finite"] is False and math.isfinite(exploding.evidence["output_layer_grad_norm"])


@pytest.fixture(scope="module")
def mnist_small():
    (x, y), _ = mnist.load_data()
    x = x[:2000].reshape(-1, 784)
    return (x - x.mean()) / x.std(), tn.utils.to_categorical(y[:2000], 10)


@pytest.mark.parametrize("lr", [1000.0, 1e6])
def test_no_finding_rests_on_nan_evidence(mnist_small, lr):
    """A network that diverges to NaN gets ``divergence``; a gradient finding only from a record whose numbers
    are finite, and every finding has at least one finite number in its evidence."""
    x, y = mnist_small
    tn.utils.set_random_seed(1)
    model = tn.Sequential([D(25, activation="relu", kernel_initializer="he_normal", input_shape=(784,)),
                           D(10, activation="softmax")])
    model.compile(optimizer=tn.optimizers.SGD(lr), loss="categorical_crossentropy", metrics=["accuracy"])
    report = model.diagnose(x, y, batch_size=32)
    assert "divergence" in report.codes and report.learning.diverged and report.learning.status == "not learning"
    for f in report.findings:
        numbers = [v for v in f.evidence.values() if isinstance(v, float)]
        assert any(math.isfinite(v) for v in numbers), f
        if f.code in ("exploding_gradient", "vanishing_gradient"):
            assert f.evidence["after_steps"] == 0 or all(math.isfinite(v) for v in numbers), f
    json.loads(report.to_json(), parse_constant=_reject)


def test_dead_relus_are_not_also_called_vanishing_gradients(mnist_small):
    """Every unit dead: no gradient at all.  The cause is dead_relu (whose fix applies), not vanishing_gradient
    (whose fix would say 'use ReLU' to a ReLU network)."""
    x, y = mnist_small
    tn.utils.set_random_seed(1)
    model = tn.Sequential([D(64, activation="relu", bias_initializer=tn.initializers.Constant(-20.0),
                             input_shape=(784,)), D(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    report = model.diagnose(x, y, batch_size=32)
    assert "vanishing_gradient" not in report.codes and "dead_relu" in report.codes, str(report)


@pytest.mark.parametrize("final_accuracy, status, severity", [
    (0.12, "not learning", "error"), (0.35, "not learning", "error"), (0.5, "learning slowly", "warning"),
    (0.62, "learning slowly", "warning"), (0.7, "learning", "info"), (0.95, "learning", "info")])
def test_severity_follows_progress_against_chance(final_accuracy, status, severity):
    """Chance 10%: progress (acc - 0.1) / 0.9 below 0.3 (acc < 37%) is not learning, below 0.6 (acc < 64%) slow."""
    layers = [_layer("a", 1.0, 1.0, True, activation="tanh"), _layer("out", 1.0, 1.0, activation="softmax")]
    layers[0]["saturated"] = 0.9  # a saturated_units finding, whose severity the verdict sets
    records = _records(layers, accuracy=(0.1, final_accuracy))
    learning = judge(records, chance=0.1)
    assert learning.status == status and learning.progress == pytest.approx((final_accuracy - 0.1) / 0.9)
    report = Report(learning, findings_from_records(records, "categorical_crossentropy"))
    assert [(f.code, f.severity) for f in report.findings] == [("saturated_units", severity)]
    assert report.learning.is_learning == (status != "not learning")
    assert str(report).splitlines()[0].startswith({"not learning": "NOT LEARNING", "learning slowly":
                                                   "Learning slowly", "learning": "Learning after"}[status])


def test_regression_is_judged_by_its_loss_against_the_mean_target():
    layers = [_layer("a", 1.0, 1.0), _layer("out", 1.0, 1.0, activation="linear")]
    for final, status in ((0.9, "not learning"), (0.5, "learning slowly"), (0.2, "learning")):
        learning = judge(_records(layers, loss=(3.0, final), accuracy=(None, None)), reference=1.0)
        assert (learning.task, learning.status) == ("regression", status)
        assert learning.progress == pytest.approx(1 - final)
    diverged = judge(_records(layers, loss=(3.0, math.nan), accuracy=(None, None)), reference=1.0)
    assert diverged.diverged and diverged.status == "not learning"


def test_findings_are_sorted_by_severity_then_cause_first():
    layers = [_layer("a", 1.0, 1.0, True, activation="tanh"), _layer("out", 1.0, 1.0, activation="sigmoid",
                                                                       s_shaped=True)]
    layers[0]["saturated"], layers[1]["saturated"], layers[1]["step_ratio"] = 0.9, 0.9, 1.5
    records = _records(layers, accuracy=(0.1, 0.12))
    report = Report(judge(records, chance=0.1), findings_from_records(records, "mean_squared_error"))
    assert [f.code for f in report.findings] == ["learning_rate_too_high", "saturated_units", "saturated_output"]
    assert {f.severity for f in report.findings} == {"error"} and report.problems == report.findings
