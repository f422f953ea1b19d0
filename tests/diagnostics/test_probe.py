"""The measurements behind every finding: per-layer records on a probe batch, on both training paths, without
changing what training computes."""
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
    monkeypatch.setattr(fast, "COMPILE_MIN_SAMPLES", 0)  # a short fit, compiled all the same
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


def test_records_hold_the_probe_accuracy(data):
    """Each record has the accuracy on the probe batch (for a classifier), which the learning verdict reads; a
    regression model's records have none."""
    _, std, y = data
    tn.utils.set_random_seed(5)
    model = tn.Sequential([D(16, activation="relu", input_shape=(784,)), D(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(std, y, epochs=2, verbose=0, diagnostics=True)
    records = model.diagnostics_
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in records)
    assert records[-1]["accuracy"] > records[0]["accuracy"] + 0.3  # it learned
    regression = tn.Sequential([D(8, activation="relu", input_shape=(784,)), D(1)])
    regression.compile(optimizer="adam", loss="mse")
    regression.fit(std[:200], y[:200, :1], verbose=0, diagnostics=True)
    assert all(r["accuracy"] is None for r in regression.diagnostics_)
