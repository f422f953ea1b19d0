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
        lambda: tn.optimizers.SGD(10.0), "mse", "std", 1, {"learning_rate_too_high", "saturated_units"}),
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
        lambda: tn.optimizers.SGD(0.01), "categorical_crossentropy", "std", 32, {"exploding_gradient"}),
    "sigmoid output saturated under MSE": (
        lambda: [D(25, activation="relu", kernel_initializer="he_normal", input_shape=(784,)),
                 D(10, activation="sigmoid", bias_initializer=tn.initializers.Constant(8.0))],
        lambda: tn.optimizers.SGD(0.01), "mse", "std", 32, {"saturated_output"}),
    "learning rate 1e-9": (
        lambda: [D(25, activation="relu", kernel_initializer="he_normal", input_shape=(784,)),
                 D(10, activation="softmax")], lambda: tn.optimizers.SGD(1e-9), "categorical_crossentropy", "std",
        32, {"learning_rate_too_low"}),
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
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_networks_are_flagged_with_the_right_codes(name, data):
    layers, opt, loss, inputs, batch_size, expected = BROKEN[name]
    raw, std, y = data
    report = _diagnose(layers, opt() if callable(opt) else opt, loss, raw if inputs == "raw" else std, y,
                       batch_size=batch_size)
    assert expected <= report.codes, str(report)
    for f in report.findings:
        assert f.fix and f.evidence and all(isinstance(v, (int, float)) for v in f.evidence.values())


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_healthy_networks_get_no_finding(name, data):
    layers, opt, batch_size, epochs = HEALTHY[name]
    _, std, y = data
    report = _diagnose(layers, opt() if callable(opt) else opt, "categorical_crossentropy", std, y, epochs=epochs,
                       batch_size=batch_size)
    assert report.findings == [], str(report)
    assert report.metrics["final_loss"] < report.metrics["initial_loss"]


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
