"""``tweaknet export tensorboard``: every stored trial's curves and hyperparameters, read back by TensorBoard itself."""
from __future__ import annotations

import numpy as np
import pytest

from tweaknet import lab
from tweaknet.cli import main

pytest.importorskip("tensorboardX")  # the writer (the tensorboard extra)
pytest.importorskip("tensorboard")  # the reader
from tensorboard.backend.event_processing import event_accumulator as ea  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402

SMALL = """
name = "tb"
data = { dataset = "synthetic", train_samples = 300, test_samples = 60, validation_split = 0.2 }
optimizer = { name = "sgd", learning_rate = 0.05 }
train = { batch_size = 20, epochs = 3, seeds = [1, 2] }
[model]
loss = "categorical_crossentropy"
layers = [{ units = 8, activation = "tanh" }, { units = 10, activation = "softmax" }]
[[configurations]]
name = "plain"
[[configurations]]
name = "momentum"
"optimizer.momentum" = 0.9
"""


def read(folder):
    acc = ea.EventAccumulator(str(folder), size_guidance={ea.SCALARS: 0})
    acc.Reload()
    scalars = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()[ea.SCALARS]}
    hp = {}
    for content in acc.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            for k, v in data.session_start_info.hparams.items():
                hp[k] = v.string_value if v.HasField("string_value") else v.number_value
        if data.HasField("experiment"):
            hp["__metrics__"] = sorted(m.name.tag for m in data.experiment.metric_infos)
    return scalars, hp


def test_every_trial_becomes_a_tensorboard_run_with_its_hyperparameters(tmp_path, capsys):
    results = lab.run(SMALL, out=tmp_path / "runs" / "tb", jobs=2)
    out = tmp_path / "tb-logs"
    assert main(["export", "tensorboard", str(out), "--from", str(tmp_path / "runs")]) == 0
    assert f"tensorboard --logdir {out}" in capsys.readouterr().out
    runs = sorted(p.name for p in (out / "tb").iterdir())
    assert runs == ["momentum-seed1", "momentum-seed2", "plain-seed1", "plain-seed2"]
    f32 = lambda v: float(np.float32(v))  # noqa: E731 - TensorBoard stores float32
    for t in results.trials:
        scalars, hp = read(out / "tb" / f"{t.configuration}-seed{t.seed}")
        for tag, key in (("train/loss", "train_loss"), ("val/accuracy", "val_accuracy"), ("test/loss", "test_loss")):
            assert scalars[tag] == [(e["epoch"], f32(e[key])) for e in t.epochs]
        assert scalars["test/error"] == [(e["epoch"], f32(1 - e["test_accuracy"])) for e in t.epochs]
        # the hyperparameters: the configuration, the seed, and the one key that differs between the trials
        assert hp["configuration"] == t.configuration and hp["seed"] == t.seed
        assert hp["optimizer.momentum"] == (0.9 if t.configuration == "momentum" else 0.0)
        assert "optimizer.learning_rate" not in hp  # the same in every trial: no column in the dashboard
        assert hp["__metrics__"] == ["hparams/test_error", "hparams/train_loss", "hparams/val_error"]
        assert scalars["hparams/test_error"] == [(3, f32(1 - t.epochs[-1]["test_accuracy"]))]
    # Exported again: the runs are replaced, not doubled.
    before = read(out / "tb" / "plain-seed1")
    assert main(["export", "tensorboard", str(out), "--from", str(tmp_path / "runs" / "tb" / "runs.sqlite")]) == 0
    assert all(len(list(p.glob("events.out.tfevents.*"))) == 1 for p in (out / "tb").iterdir())
    assert read(out / "tb" / "plain-seed1") == before


def test_export_errors_are_one_line(tmp_path, capsys):
    assert main(["export", "tensorboard", str(tmp_path / "o"), "--from", str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["export", "tensorboard", str(tmp_path / "o"), "--from", str(tmp_path / "empty")]) == 2
    assert "no stored trial found" in capsys.readouterr().err
    other = tmp_path / "other" / "runs.sqlite"
    other.parent.mkdir()
    import sqlite3
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t(x)")
    assert main(["export", "tensorboard", str(tmp_path / "o"), "--from", str(other)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tweaknet: error: ") and "not a lab store" in err
    with sqlite3.connect(other) as c:  # looked at, not changed
        assert [r[0] for r in c.execute("SELECT name FROM sqlite_master")] == ["t"]
