"""A zoo of broken and healthy networks that must be diagnosed right (and no wolf cried on healthy ones)."""
import json
import subprocess
import sys

import numpy as np
import pytest

import tweaknet as tn
from tweaknet.datasets import mnist

D = tn.layers.Dense


@pytest.fixture(scope="module")
def data():
    (x, y), _ = mnist.load_data()
    x = x[:2000].reshape(-1, 784)
    return x, (x - x.mean()) / x.std(), tn.utils.to_categorical(y[:2000], 10)


def uniform():
    return tn.initializers.RandomUniform(-0.1, 0.1)


def _diagnose(layers, optimizer, loss, x, y, epochs=1, batch_size=32):
    tn.utils.set_random_seed(1)
    model = tn.Sequential(layers())
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model.diagnose(x, y, epochs=epochs, batch_size=batch_size)


BROKEN = {
    "raw pixels into tanh": (lambda: [D(25, activation="tanh", input_shape=(784,)), D(10, activation="sigmoid")],
                             "sgd", "mse", "raw", 32, {"unscaled_inputs", "saturated_units"}),
    "table 5-1 conf 2 (lr 10)": (
        lambda: [D(25, activation="tanh", kernel_initializer=uniform(), input_shape=(784,)),
                 D(10, activation="sigmoid", kernel_initializer=uniform())],
        lambda: tn.optimizers.SGD(10.0), "mse", "std", 1,
        {"learning_rate_too_high", "saturated_units", "saturated_output"}),
    "10 sigmoid layers with MSE": (
        lambda: [D(32, activation="sigmoid", input_shape=(784,))] + [D(32, activation="sigmoid") for _ in range(8)]
        + [D(10, activation="sigmoid")], "sgd", "mse", "std", 32, {"vanishing_gradient"}),
    "ReLU with biases at -20": (
        lambda: [D(64, activation="relu", bias_initializer=tn.initializers.Constant(-20.0), input_shape=(784,)),
                 D(10, activation="softmax")], "adam", "categorical_crossentropy", "std", 32, {"dead_relu"}),
    "weights scaled up tenfold": (
        lambda: [D(64, activation="relu", kernel_initializer=tn.initializers.RandomNormal(stddev=0.5),
                   input_shape=(784,))] + [D(64, activation="relu", kernel_initializer=tn.initializers.RandomNormal(
                       stddev=1.8)) for _ in range(5)] + [D(10, activation="softmax")],
        lambda: tn.optimizers.SGD(0.01), "categorical_crossentropy", "std", 32,
        {"exploding_gradient", "divergence", "learning_rate_too_high"}),
    "sigmoid output saturated under MSE": (
        lambda: [D(25, activation="relu", kernel_initializer="he_normal", input_shape=(784,)),
                 D(10, activation="sigmoid", bias_initializer=tn.initializers.Constant(8.0))],
        lambda: tn.optimizers.SGD(0.01), "mse", "std", 32, {"saturated_output"}),
    "learning rate 1e-9": (
        lambda: [D(25, activation="relu", kernel_initializer="he_normal", input_shape=(784,)),
                 D(10, activation="softmax")], lambda: tn.optimizers.SGD(1e-9), "categorical_crossentropy", "std",
        32, {"learning_rate_too_low"}),
    # learning rates that leave MNIST near chance after an epoch (accuracy ~12%): the measured steps are tiny
    "SGD learning rate 1e-5": (
        lambda: [D(25, activation="relu", kernel_initializer="he_normal", input_shape=(784,)),
                 D(10, activation="softmax")], lambda: tn.optimizers.SGD(1e-5), "categorical_crossentropy", "std",
        32, {"learning_rate_too_low"}),
    "SGD learning rate 1e-4": (
        lambda: [D(25, activation="relu", kernel_initializer="he_normal", input_shape=(784,)),
                 D(10, activation="softmax")], lambda: tn.optimizers.SGD(1e-4), "categorical_crossentropy", "std",
        32, {"learning_rate_too_low"}),
    "Adam learning rate 1e-7": (
        lambda: [D(25, activation="relu", kernel_initializer="he_normal", input_shape=(784,)),
                 D(10, activation="softmax")], lambda: tn.optimizers.Adam(1e-7), "categorical_crossentropy", "std",
        32, {"learning_rate_too_low"}),
    "SGD learning rate 1000 (diverges)": (
        lambda: [D(25, activation="relu", kernel_initializer="he_normal", input_shape=(784,)),
                 D(10, activation="softmax")], lambda: tn.optimizers.SGD(1000.0), "categorical_crossentropy", "std",
        32, {"divergence", "exploding_gradient", "learning_rate_too_high"}),
}

HEALTHY = {
    "table 5-1 conf 4": (lambda: [D(25, activation="relu", kernel_initializer="he_normal", input_shape=(784,)),
                                  D(10, activation="softmax")], "adam", 1, 1),
    "table 5-1 conf 5": (lambda: [D(25, activation="relu", kernel_initializer="he_normal", input_shape=(784,)),
                                  D(10, activation="softmax")], "adam", 64, 2),
    "deep ReLU, He init, batch normalization": (
        lambda: sum([[D(64, kernel_initializer="he_normal", **({"input_shape": (784,)} if i == 0 else {})),
                      tn.layers.BatchNormalization(), tn.layers.Activation("relu")] for i in range(6)], [])
        + [D(10, activation="softmax")], "adam", 32, 2),
    "leaky ReLU with momentum": (
        lambda: [D(64, activation="leaky_relu", kernel_initializer="he_uniform", input_shape=(784,)),
                 D(10, activation="softmax")], lambda: tn.optimizers.SGD(0.01, momentum=0.9), 32, 2),
    "tanh, Glorot init, cross-entropy, plain SGD": (
        lambda: [D(64, activation="tanh", input_shape=(784,)), D(10, activation="softmax")], "sgd", 32, 2),
    "two sigmoid layers, Glorot init, cross-entropy, Adam": (
        lambda: [D(64, activation="sigmoid", input_shape=(784,)), D(32, activation="sigmoid"),
                 D(10, activation="softmax")], "adam", 32, 2),
    "tanh with Nadam": (
        lambda: [D(64, activation="tanh", input_shape=(784,)), D(10, activation="softmax")], "nadam", 32, 2),
    "two ELU layers, He init, Adam, batch 64": (
        lambda: [D(64, activation="elu", kernel_initializer="he_normal", input_shape=(784,)),
                 D(32, activation="elu", kernel_initializer="he_normal"), D(10, activation="softmax")], "adam", 64, 2),
    "ReLU with RMSprop": (
        lambda: [D(64, activation="relu", kernel_initializer="he_normal", input_shape=(784,)),
                 D(10, activation="softmax")], "rmsprop", 32, 2),
    "ReLU with SGD 0.01 (slow but learning)": (
        lambda: [D(25, activation="relu", kernel_initializer="he_normal", input_shape=(784,)),
                 D(10, activation="softmax")], lambda: tn.optimizers.SGD(0.01), 32, 1),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_networks_are_flagged_with_the_right_codes(name, data):
    layers, opt, loss, inputs, batch_size, expected = BROKEN[name]
    raw, std, y = data
    report = _diagnose(layers, opt() if callable(opt) else opt, loss, raw if inputs == "raw" else std, y,
                       batch_size=batch_size)
    assert report.codes == expected, str(report)  # the right codes, and no wolf cried besides
    for f in report.findings:
        assert f.fix and f.evidence and all(isinstance(v, (int, float)) for v in f.evidence.values())
    json.loads(report.to_json(), parse_constant=_reject)  # strict JSON even when the network diverged


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_healthy_networks_get_no_finding(name, data):
    layers, opt, batch_size, epochs = HEALTHY[name]
    _, std, y = data
    report = _diagnose(layers, opt() if callable(opt) else opt, "categorical_crossentropy", std, y, epochs=epochs,
                       batch_size=batch_size)
    assert report.findings == [], str(report)
    assert report.metrics["final_loss"] < report.metrics["initial_loss"]


def _reject(constant):
    raise ValueError(f"not strict JSON: {constant}")


def test_dead_relus_are_not_also_called_vanishing_gradients(data):
    """Every unit dead: no gradient at all.  The cause is dead_relu (whose fix applies), not vanishing_gradient
    (whose fix would say 'use ReLU' to a ReLU network)."""
    _, std, y = data
    layers, opt, loss, _, batch_size, _ = BROKEN["ReLU with biases at -20"]
    report = _diagnose(layers, opt, loss, std, y, batch_size=batch_size)
    assert "vanishing_gradient" not in report.codes and "dead_relu" in report.codes, str(report)


def _layer(name, grad_norm, grad_ratio, s_shaped=False, dead=0.0, activation="relu"):
    return {"name": name, "activation": activation, "s_shaped": s_shaped, "units": 8, "z_mean": 0.0, "z_std": 1.0,
            "saturated": 0.0, "saturated_units": 0.0, "dead": dead, "grad_norm": grad_norm, "grad_ratio": grad_ratio,
            "weight_norm": 1.0, "step_ratio": 1e-3, "update_ratio": None, "change_ratio": None, "grad_finite": True,
            "finite": True}


def _records(layers, loss=(2.3, 1.0)):
    later = [dict(s, update_ratio=1e-3, change_ratio=0.06) for s in layers]
    return [{"loss": loss[0], "finite": True, "grad_finite": True, "steps": None, "epoch": 0, "layers": layers},
            {"loss": loss[1], "finite": True, "grad_finite": True, "steps": 63, "epoch": 1, "layers": later}]


def test_vanishing_gradient_fix_depends_on_the_activation():
    from tweaknet.diagnostics import FIXES, diagnose
    for hidden, s_shaped in (("relu", False), ("sigmoid", True)):
        layers = [_layer("a", 1e-7, 1e-7, s_shaped, activation=hidden), _layer("b", 1e-3, 1e-3, s_shaped,
                                                                               activation=hidden),
                  _layer("out", 1.0, 1.0, activation="softmax")]
        report = diagnose(_records(layers), "categorical_crossentropy")
        assert report.codes == {"vanishing_gradient"}, str(report)
        fix = report.findings[0].fix
        assert ("instead of sigmoid/tanh" in fix) == s_shaped, fix
        assert fix == (FIXES["vanishing_gradient"] if s_shaped else FIXES["vanishing_gradient_relu"])
    dead = [_layer("a", 1e-7, 1e-7, dead=0.9), _layer("out", 1.0, 1.0, activation="softmax")]
    assert diagnose(_records(dead), "categorical_crossentropy").codes == {"dead_relu"}


def test_records_measure_gradient_ratio_and_actual_updates(data):
    """grad_ratio is each layer's gradient norm over the output layer's; update_ratio is the weights' actual change.
    With the probe batch equal to the training batch, the optimizer's next step on the probe batch (step_ratio)
    is exactly the update the next training step makes (update_ratio of the next record), for SGD and Adam."""
    _, std, y = data
    for optimizer in (tn.optimizers.SGD(0.05, momentum=0.9), tn.optimizers.Adam(1e-3)):
        tn.utils.set_random_seed(2)
        model = tn.Sequential([D(16, activation="tanh", input_shape=(784,)), D(12, activation="relu"),
                               D(10, activation="softmax")])
        model.compile(optimizer=optimizer, loss="categorical_crossentropy")
        cb = tn.callbacks.Diagnostics(every_n_steps=1, probe_size=64)
        kernels = []

        class Kernels(tn.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                kernels.append([layer.params["kernel"].copy() for layer in self.model.layers])

        initial = [layer.params["kernel"].copy() for layer in model.layers]
        model.fit(std[:64], y[:64], epochs=1, batch_size=16, shuffle=False, verbose=0, callbacks=[cb, Kernels()])
        records = [r for r in cb.records if r["step"] is not None]  # the every-step records
        assert [r["steps"] for r in records] == [None, 1, 1, 1, 1]
        for r in cb.records:
            out = r["layers"][-1]["grad_norm"]
            for s in r["layers"]:
                assert s["grad_ratio"] == pytest.approx(s["grad_norm"] / out)
                assert s["grad_finite"] is True
            assert r["grad_finite"] is True
        for k, r in enumerate(records[1:]):
            before = initial if k == 0 else kernels[k - 1]
            for s, w0, w1 in zip(r["layers"], before, kernels[k]):
                assert s["update_ratio"] == pytest.approx(np.linalg.norm(w1 - w0) / np.linalg.norm(w0), rel=1e-4)

    tn.utils.set_random_seed(2)
    model = tn.Sequential([D(16, activation="tanh", input_shape=(784,)), D(10, activation="softmax")])
    model.compile(optimizer=tn.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    cb = tn.callbacks.Diagnostics(every_n_steps=1, probe_size=64)
    model.fit(std[:64], y[:64], epochs=1, batch_size=64, shuffle=False, verbose=0, callbacks=[cb])
    before, after = cb.records[0], cb.records[1]
    for s0, s1 in zip(before["layers"], after["layers"]):
        assert s1["update_ratio"] == pytest.approx(s0["step_ratio"], rel=1e-3)


def test_non_finite_gradients_are_detected_when_loss_and_weights_are_finite():
    """x ~ 1e18 through tiny weights, then a huge output kernel: the loss (~1e34), weights and pre-activations are
    finite in float32, but the first kernel's gradient (x^T delta ~ 1e18 * 1e36) overflows."""
    from tweaknet.diagnostics import diagnose, measure
    from tweaknet.diagnostics.probe import snapshot
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
    report = diagnose([dict(first, epoch=0), record], "mean_squared_error")
    assert "exploding_gradient" in report.codes and "divergence" not in report.codes, str(report)
    json.loads(report.to_json(), parse_constant=_reject)


def test_diagnostics_do_not_change_training(data):
    _, std, y = data
    weights = []
    for diagnostics in (False, True):
        tn.utils.set_random_seed(3)
        model = tn.Sequential([D(16, activation="tanh", input_shape=(784,)), tn.layers.BatchNormalization(),
                               D(10, activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        model.fit(std[:500], y[:500], epochs=2, batch_size=16, verbose=0, diagnostics=diagnostics)
        weights.append(model.get_weights())
    assert len(model.diagnostics_) == 3  # before training and after each epoch
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_every_n_steps_records_during_the_epoch(data):
    _, std, y = data
    cb = tn.callbacks.Diagnostics(every_n_steps=5)
    model = tn.Sequential([D(8, activation="relu", input_shape=(784,)), D(10, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.fit(std[:320], y[:320], epochs=1, batch_size=32, verbose=0, callbacks=[cb])
    assert [r["step"] for r in cb.records] == [0, 5, 10, None]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "tweaknet", "diagnose", *args], capture_output=True, text=True,
                          timeout=180)


EXPERIMENT = """
name = "tiny"
[data]
dataset = "mnist"
standardize = "scalar"
labels = "one_hot"

[model]
loss = "categorical_crossentropy"

[[model.layers]]
units = 16
activation = "relu"
kernel_initializer = "he_normal"

[[model.layers]]
units = 10
activation = "softmax"

[optimizer]
name = "adam"
learning_rate = 0.001

[train]
batch_size = 32
epochs = 5
seeds = [1]

[[configurations]]
name = "healthy"

[[configurations]]
name = "diverging"
"optimizer" = { name = "sgd", learning_rate = 1000.0 }
"""


def test_cli_diagnoses_a_toml_experiment_with_a_readable_report(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(EXPERIMENT)
    out = _cli(str(path), "--config", "healthy", "--epochs", "2", "--train-samples", "1000")
    assert out.returncode == 0, out.stderr
    head, *rest = out.stdout.strip().splitlines()
    assert head.startswith("tiny / healthy (seed 1), 2 epoch(s): loss ")
    initial, final = (float(v) for v in head.rsplit("loss ", 1)[1].split(" -> "))
    assert final < initial
    assert rest == ["No problem found: the network trains as the chapter's techniques intend."]

    out = _cli(str(path), "--config", "diverging", "--epochs", "1", "--train-samples", "1000")
    assert out.returncode == 0, out.stderr
    assert "[divergence]" in out.stdout and "[learning_rate_too_high] layer dense" in out.stdout
    assert "  evidence: " in out.stdout and "  fix: Lower the learning rate" in out.stdout


def test_cli_json_is_strict_when_the_network_diverges(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(EXPERIMENT)
    out = _cli(str(path), "--config", "diverging", "--epochs", "1", "--train-samples", "1000", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout, parse_constant=_reject)  # NaN / Infinity would raise
    codes = {f["code"] for f in report["findings"]}
    assert {"divergence", "exploding_gradient", "learning_rate_too_high"} <= codes
    divergence = next(f for f in report["findings"] if f["code"] == "divergence")
    assert divergence["evidence"]["final_loss"] is None and divergence["evidence"]["finite"] is False
    assert report["metrics"]["final_loss"] is None and report["metrics"]["initial_loss"] > 0


def test_cli_json():
    out = subprocess.run([sys.executable, "-m", "tweaknet", "diagnose", "--preset", "table5-1", "--config", "2",
                          "--epochs", "1", "--train-samples", "1000", "--json"], capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert set(report) == {"findings", "metrics"}
    codes = {f["code"] for f in report["findings"]}
    assert "learning_rate_too_high" in codes or "divergence" in codes
    assert all(set(f) == {"code", "layer", "evidence", "fix"} for f in report["findings"])


def _is_png(path):
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_plots_write_png_files(tmp_path, data):
    pytest.importorskip("matplotlib")
    from tweaknet.diagnostics import plots
    _, std, y = data
    model = tn.Sequential([D(16, activation="tanh", input_shape=(784,)), D(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(std[:300], y[:300], epochs=2, verbose=0, diagnostics=True)
    assert _is_png(plots.gradient_flow(model.diagnostics_, tmp_path / "flow.png"))
    assert _is_png(plots.activation_distributions(model, std[:100], tmp_path / "dist.png"))
    out = subprocess.run([sys.executable, "-m", "tweaknet", "plot", "activations", "--out", str(tmp_path / "act")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert all(_is_png(tmp_path / "act" / name) for name in ("activations.png", "error_terms.png"))


def test_every_n_steps_keeps_the_compiled_path_with_the_reference_numbers(data, monkeypatch):
    """Records every N steps come from chunks of the compiled epoch that end at those steps: the same
    records (to round-off) as on the reference path, and the same weights as training without diagnostics."""
    from tweaknet import fast
    _, std, y = data
    runs = {}
    real = fast.epoch_runner
    for path in ("reference", "compiled", "none"):
        tn.utils.set_random_seed(4)
        model = tn.Sequential([D(12, activation="tanh", input_shape=(784,)), D(10, activation="softmax")])
        model.compile(optimizer=tn.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
        cb = tn.callbacks.Diagnostics(every_n_steps=7, probe_size=64)
        runners = []
        monkeypatch.setattr(fast, "epoch_runner", lambda *a: runners.append(real(*a)) or runners[-1])
        kw = dict(epochs=2, batch_size=16, verbose=0, callbacks=[cb] if path != "none" else [])
        if path == "reference":
            with fast.reference_only():
                model.fit(std[:400], y[:400], **kw)
        else:
            model.fit(std[:400], y[:400], **kw)
            assert runners and runners[0] is not None  # trained on the compiled path
        runs[path] = (cb.records, model.get_weights())
    ref, cmp = runs["reference"][0], runs["compiled"][0]
    steps = [r["step"] for r in cmp]
    assert steps == [r["step"] for r in ref] and steps[:4] == [0, 7, 14, 21] and steps.count(None) == 2
    for a, b in zip(ref, cmp):
        for la, lb in zip(a["layers"], b["layers"]):
            assert lb["grad_norm"] == pytest.approx(la["grad_norm"], rel=1e-4)
            if la["update_ratio"] is None:  # the record before training: nothing to compare with yet
                assert lb["update_ratio"] is None
            else:
                assert lb["update_ratio"] == pytest.approx(la["update_ratio"], rel=1e-3, abs=1e-9)
    for w, w0 in zip(runs["compiled"][1], runs["none"][1]):
        np.testing.assert_array_equal(w, w0)  # diagnostics change nothing that training uses
