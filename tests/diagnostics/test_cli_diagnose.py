"""``tweaknet diagnose``: an experiment file or preset, a readable report or strict JSON, and ``--try-fixes``."""
import json
import subprocess
import sys


def _reject(constant):
    raise ValueError(f"not strict JSON: {constant}")


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
    head, verdict, *rest = out.stdout.strip().splitlines()
    assert head == "tiny / healthy (seed 1): 2 epochs of 1,000 training samples, batch size 32"
    assert verdict.startswith("Learning after 2 epochs (64 steps): probe accuracy ")
    initial, final = (float(v) for v in verdict.split("loss ", 1)[1].split(" (")[0].split(" -> "))
    assert final < initial
    assert rest == ["No finding: nothing unusual was measured."]

    out = _cli(str(path), "--config", "diverging", "--epochs", "1", "--train-samples", "1000")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[1].startswith("NOT LEARNING (diverged) after 1 epoch (32 steps): ")
    assert lines[2] == "ERROR   divergence"
    assert "ERROR   learning_rate_too_high at hidden layer 1 of 2: dense (Dense, 16 units, relu)" in lines
    assert "        fix: Lower the learning rate (by 10x at a time) or use Adam, whose steps are bounded by the " \
           "learning rate." in lines


def test_cli_json_is_strict_when_the_network_diverges(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(EXPERIMENT)
    out = _cli(str(path), "--config", "diverging", "--epochs", "1", "--train-samples", "1000", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout, parse_constant=_reject)  # NaN / Infinity would raise
    assert {"divergence", "learning_rate_too_high"} <= {f["code"] for f in report["findings"]}
    divergence = next(f for f in report["findings"] if f["code"] == "divergence")
    assert divergence["evidence"]["final_loss"] is None and divergence["evidence"]["all_finite"] is False
    assert divergence["layer"] is None and divergence["severity"] == "error"
    assert report["learning"]["final_loss"] is None and report["learning"]["initial_loss"] > 0
    assert report["learning"]["diverged"] is True and report["fixes_tried"] is False


def test_cli_try_fixes_ranks_a_lower_learning_rate_first_for_configuration_2():
    out = subprocess.run([sys.executable, "-m", "tweaknet", "diagnose", "--preset", "table5-1", "--config", "2",
                          "--train-samples", "3000", "--test-samples", "2000", "--try-fixes", "--jobs", "2",
                          "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout, parse_constant=_reject)
    assert report["learning"]["status"] == "not learning" and report["fixes_tried"] is True
    best = report["fixes"][0]
    assert best["change"].startswith("learning_rate 10 -> ") and best["helped"] is True
    assert best["after"]["val_accuracy"] - best["before"]["val_accuracy"] > 0.3
    assert all(f["error"] is None for f in report["fixes"])
