"""Experiment specs: validation with dotted paths, defaults, configurations, grids, TOML round trip."""
from __future__ import annotations

import pytest

from tweaknet.cli import main
from tweaknet.lab import presets, spec
from tweaknet.lab.spec import SpecError

BASE = """
name = "t"
[data]
dataset = "synthetic"
[model]
loss = "categorical_crossentropy"
[[model.layers]]
units = 8
activation = "relu"
[[model.layers]]
units = 10
activation = "softmax"
[optimizer]
name = "sgd"
learning_rate = 0.1
[train]
batch_size = 4
epochs = 2
"""


def error(text, overrides=()):
    with pytest.raises(SpecError) as info:
        spec.loads(text).trials(overrides)
    return info.value


def test_table5_1_preset_matches_the_book():
    trials = presets.get("table5-1").trials()
    by = {t["configuration"]: t for t in trials}
    assert list(by) == ["conf1", "conf2", "conf3", "conf4", "conf5"]
    for t in trials:
        hidden, out = t["model"]["layers"]
        assert (hidden["units"], out["units"]) == (25, 10)
        assert hidden["bias_initializer"] == out["bias_initializer"] == "zeros"
        assert t["data"] == {"dataset": "mnist", "standardize": "scalar", "standardize_epsilon": 0.0,
                             "train_samples": None, "test_samples": None, "labels": "one_hot"}
        assert t["train"]["epochs"] == 20 and t["seed"] == 1
    uniform = {"class_name": "RandomUniform", "config": {"minval": -0.1, "maxval": 0.1}}
    c1, c2, c3, c4, c5 = by.values()
    assert c1["model"]["layers"][0] == {**c1["model"]["layers"][0], "activation": "tanh", "kernel_initializer": uniform}
    assert c1["model"]["layers"][1]["activation"] == "sigmoid" and c1["model"]["loss"] == "mean_squared_error"
    assert (c1["optimizer"]["name"], c1["optimizer"]["learning_rate"], c1["train"]["batch_size"]) == ("sgd", 0.01, 1)
    assert c2["optimizer"]["learning_rate"] == 10.0 and c2["model"] == c1["model"]
    assert c3["optimizer"]["name"] == "adam" and c3["optimizer"]["learning_rate"] == 0.001  # Adam's defaults
    assert [la["kernel_initializer"] for la in c3["model"]["layers"]] == ["glorot_uniform"] * 2
    assert c3["model"]["loss"] == "mean_squared_error" and c3["train"]["batch_size"] == 1
    assert [(la["activation"], la["kernel_initializer"]) for la in c4["model"]["layers"]] == [
        ("relu", "he_normal"), ("softmax", "glorot_uniform")]
    assert c4["model"]["loss"] == "categorical_crossentropy" and c4["train"]["batch_size"] == 1
    assert c5["train"]["batch_size"] == 64 and {**c5, "train": c4["train"], "configuration": "conf4",
                                                 "description": c4["description"]} == c4


@pytest.mark.parametrize("override, path, words", [
    (("model.layers.0.unit", 3), "model.layers.0.unit", "did you mean 'units'"),
    (("optimizer.momentm", 0.9), "optimizer.momentm", "did you mean 'momentum'"),
    (("data.sizes", 3), "data.sizes", "unknown key"),
    (("train.batch", 3), "train.batch", "did you mean 'batch_size'"),
    (("model.layers.0.kernel_initializer", {"class_name": "RandomUniform", "config": {"maxvl": 1.0}}),
     "model.layers.0.kernel_initializer.config.maxvl", "did you mean 'maxval'"),
])
def test_unknown_key_names_its_path(override, path, words):
    e = error(BASE, [override])
    assert e.path == path and words in str(e) and str(e).startswith(path)


@pytest.mark.parametrize("override, path, words", [
    (("model.layers.0.units", "8"), "model.layers.0.units", "must be an integer"),
    (("model.layers.0.units", 8.0), "model.layers.0.units", "must be an integer"),
    (("model.layers.1.use_bias", 1), "model.layers.1.use_bias", "true or false"),
    (("optimizer.learning_rate", "fast"), "optimizer.learning_rate", "must be a number"),
    (("optimizer.nesterov", "yes"), "optimizer.nesterov", "true or false"),
    (("train.seeds", "1"), "train.seeds", "count"),
    (("model.layers", {"units": 3}), "model.layers", "array of tables"),
    (("data", 3), "data", "must be a table"),
])
def test_wrong_type_names_its_path(override, path, words):
    e = error(BASE, [override])
    assert e.path == path and words in e.reason


@pytest.mark.parametrize("override, path, words", [
    (("model.layers.0.units", -3), "model.layers.0.units", ">= 1"),
    (("model.layers.0.units", 0), "model.layers.0.units", ">= 1"),
    (("optimizer.learning_rate", -0.1), "optimizer.learning_rate", ">= 0"),
    (("optimizer.momentum", 1.5), "optimizer.momentum", "<= 1"),
    (("train.epochs", 0), "train.epochs", ">= 1"),
    (("train.batch_size", -1), "train.batch_size", ">= 1"),
    (("train.seeds", [1, 1]), "train.seeds", "distinct"),
    (("train.seeds", [-1]), "train.seeds.0", "non-negative"),
    (("data.train_samples", 0), "data.train_samples", ">= 1"),
    (("data.standardize", "minmax"), "data.standardize", "'scalar'"),
    (("model.layers.0.batch_norm", "middle"), "model.layers.0.batch_norm", "'before'"),
    (("model.layers.0.activation", "tanhh"), "model.layers.0.activation", "Unknown activation 'tanhh'"),
    (("model.layers.0.kernel_initializer", "glorot"), "model.layers.0.kernel_initializer", "Unknown initializer"),
    (("model.loss", "msee"), "model.loss", "Unknown loss"),
    (("optimizer.name", "adamm"), "optimizer.name", "Unknown optimizer 'adamm'"),
    (("optimizer.clipvalue", 1.0), "optimizer.clipnorm", "Only one of"),  # clipnorm set below as well
    (("optimizer.schedule", {"name": "exponential_decay", "decay_steps": 0, "decay_rate": 0.5}),
     "optimizer.schedule.decay_steps", "> 0"),
    (("optimizer.schedule", {"name": "exponential_decay", "decay_rate": 0.5}),
     "optimizer.schedule.decay_steps", "required"),
    (("data.dataset", "cifar"), "data.dataset", "unknown dataset"),
])
def test_impossible_values_are_rejected_with_their_path(override, path, words):
    overrides = [override] + ([("optimizer.clipnorm", 1.0)] if override[0] == "optimizer.clipvalue" else [])
    e = error(BASE, overrides)
    assert e.path == path and words in e.reason


def test_structural_errors():
    assert error("name = 't'\n[model]\nloss='mse'\nlayers=[{units=1}]").path == "optimizer"
    assert error(BASE + "\n[extra]\nx = 1\n").path == "extra"
    assert "not valid TOML" in error("name = ").reason
    assert error(BASE.replace('name = "t"', 'name = "a b"')).path == "name"
    assert error(BASE, [("model.layers.5.units", 3)]).path == "model.layers.5"
    assert error(BASE, [("optimizer", {"learning_rate": 1.0})]).path == "optimizer.name"
    e = error(BASE + '[[configurations]]\nname = "a"\n[[configurations]]\nname = "a"\n')
    assert e.path == "configurations.1.name"


def test_defaults_are_filled_in():
    (t,) = spec.loads(BASE).trials()
    assert t["experiment"] == "t" and t["configuration"] == "default" and t["seed"] == 1
    assert t["model"]["layers"][0] == {"units": 8, "activation": "relu", "kernel_initializer": "glorot_uniform",
                                       "bias_initializer": "zeros", "use_bias": True, "batch_norm": "none",
                                       "batch_norm_momentum": 0.99, "batch_norm_epsilon": 0.001}
    assert t["optimizer"] == {"name": "sgd", "learning_rate": 0.1, "momentum": 0.0, "nesterov": False}
    assert t["train"] == {"batch_size": 4, "epochs": 2, "shuffle": True}


def test_schedule_takes_the_optimizer_learning_rate():
    (t,) = spec.loads(BASE + '[optimizer.schedule]\nname = "ExponentialDecay"\ndecay_steps = 10\n'
                             'decay_rate = 0.5\n').trials()
    assert t["optimizer"]["schedule"] == {"name": "exponential_decay", "decay_steps": 10, "decay_rate": 0.5,
                                          "initial_learning_rate": 0.1}


def test_grid_and_configurations_expand_to_their_product():
    text = BASE + """
[grid]
"optimizer.learning_rate" = [0.01, 0.1, 1.0]
model.layers.0.units = [4, 16]          # unquoted dotted keys work in [grid]

[[configurations]]
name = "sgd"

[[configurations]]
name = "adam"
"optimizer" = { name = "adam" }
"train.seeds" = 2
"""
    exp = spec.loads(text)
    variants = exp.variants()
    assert len(variants) == 2 * 3 * 2
    names = [v["configuration"] for v in variants]
    assert names[:2] == ["sgd[learning_rate=0.01,units=4]", "sgd[learning_rate=0.01,units=16]"]
    assert len(set(names)) == 12
    assert len(exp.trials()) == 6 * 1 + 6 * 2
    v = variants[-1]
    assert v["optimizer"]["name"] == "adam" and v["optimizer"]["learning_rate"] == 1.0
    assert v["model"]["layers"][0]["units"] == 16
    assert {t["seed"] for t in exp.trials() if t["configuration"].startswith("adam")} == {1, 2}


def test_grid_errors_name_the_configuration():
    e = error(BASE + '[grid]\n"model.layers.0.units" = [4, -1]\n')
    assert e.path == "model.layers.0.units" and "units=-1" in e.context
    assert error(BASE + '[grid]\n"train.epochs" = 3\n').path == "grid.train.epochs"
    assert error(BASE + '[grid]\n"train.epochs" = [3, 3]\n').path == "grid.train.epochs"


def test_overrides_apply_after_configurations():
    exp = presets.get("table5-1")
    trials = exp.trials([("train.epochs", 3), ("train.seeds", 2), ("data.train_samples", 100),
                         ("train.batch_size", 8)])
    assert len(trials) == 10
    assert all(t["train"]["epochs"] == 3 and t["train"]["batch_size"] == 8 for t in trials)
    assert all(t["data"]["train_samples"] == 100 for t in trials)


def test_toml_round_trip():
    for v in presets.get("table5-1").variants():
        body = {k: v[k] for k in ("data", "model", "optimizer", "train")}
        assert spec.normalize(spec._toml.loads(spec.dumps({"name": "x", **body}))) == body
    exp = spec.loads(presets.text("table5-1"))
    assert exp.trials() == spec.loads(spec.dumps(exp.raw)).trials()


def test_trial_hash_ignores_epochs_only():
    t1, t2 = spec.loads(BASE).trials(), spec.loads(BASE).trials([("train.epochs", 9)])
    assert spec.trial_hash(t1[0]) == spec.trial_hash(t2[0])
    t3 = spec.loads(BASE).trials([("optimizer.learning_rate", 0.2)])
    assert spec.trial_hash(t1[0]) != spec.trial_hash(t3[0])


def test_parse_value():
    assert spec.parse_value("0.5") == 0.5 and spec.parse_value("true") is True
    assert spec.parse_value("[1, 2]") == [1, 2] and spec.parse_value("adam") == "adam"
    assert spec.parse_value('{ name = "adam" }') == {"name": "adam"}


def test_cli_rejects_a_bad_spec_before_training(tmp_path, capsys):
    f = tmp_path / "bad.toml"
    f.write_text(BASE.replace("units = 8", "units = -8"))
    assert main(["run", str(f), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "model.layers.0.units: must be >= 1, got -8" in err
    assert not (tmp_path / "out").exists()
    assert main(["table5-1", "--set", "optimizer.name=rmsprp", "--out", str(tmp_path / "o2")]) == 2
    assert "optimizer.name: Unknown optimizer 'rmsprp'" in capsys.readouterr().err
    assert main(["table5-1", "--epochs", "0", "--dry-run"]) == 2
    assert "train.epochs: must be >= 1" in capsys.readouterr().err


def test_cli_preset_prints_toml(capsys):
    assert main(["preset", "--list"]) == 0
    assert "table5-1" in capsys.readouterr().out
    assert main(["preset", "table5-1"]) == 0
    assert spec.loads(capsys.readouterr().out, "table5-1").trials() == presets.get("table5-1").trials()
    assert main(["preset", "nope"]) == 2


def test_data_and_shape_checks_run_before_training(tmp_path, capsys):
    f = tmp_path / "e.toml"
    f.write_text(BASE.replace("units = 10", "units = 7"))
    assert main(["run", str(f), "--out", str(tmp_path / "o")]) == 2
    assert "model.layers.1.units: the output layer has 7 units but the data has 10 classes" in capsys.readouterr().err
    f.write_text(BASE + '\n[grid]\n"data.train_samples" = [10, 100000]\n')
    assert main(["run", str(f), "--out", str(tmp_path / "o")]) == 2
    assert "data.train_samples: asks for 100000 training samples" in capsys.readouterr().err


def test_unquoted_dotted_key_in_a_configuration_gets_a_hint():
    e = error(BASE + '[[configurations]]\nname = "c2"\noptimizer.learning_rate = 10.0\n')
    assert e.path == "optimizer.name" and "replaces the whole table 'optimizer'" in str(e)


def test_cli_data_errors_and_a_closed_pipe_end_cleanly(tmp_path, capsys, monkeypatch):
    # unreadable data: one line naming the data section and the reader's explanation, exit status 2
    monkeypatch.setenv("TWEAKNET_DATA", str(tmp_path / "nowhere"))
    assert main(["table5-1", "--epochs", "1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tweaknet: error: data.dataset:") and "nowhere" in err and "Traceback" not in err
    assert main(["table5-1", "--dry-run"]) == 2  # the dry run checks the data too
    monkeypatch.delenv("TWEAKNET_DATA")

    class ClosedPipe:  # `tweaknet preset table5-1 | head -1`: the reader has gone away
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert main(["preset", "table5-1"]) == 141  # quietly, with the shell's status for SIGPIPE
