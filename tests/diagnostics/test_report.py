"""The Report as a user meets it: from model.diagnose, fit(diagnostics=True) and its fields, readable and as JSON."""
import json

import pytest

import tweaknet as tn
from tweaknet.diagnostics import Report, diagnose, zoo


def _network(name):
    return next(n for n in zoo.NETWORKS if n.name.startswith(name))


@pytest.fixture(scope="module")
def conf2_report():
    net = _network("book configuration 2")
    (x, y), val = net.dataset()
    return diagnose(net.build(), x[:1500], y[:1500], batch_size=1, validation_data=val, try_fixes=True, jobs=1)


def test_model_diagnose_is_the_function():
    net = _network("book configuration 5")
    (x, y), _ = net.dataset()
    ra = net.build().diagnose(x, y, batch_size=64)
    rb = diagnose(net.build(), x, y, batch_size=64)  # build seeds the generator: the same weights and data order
    assert isinstance(ra, Report) and ra.to_dict() == rb.to_dict()
    assert ra.learning.is_learning and ra.fixes == [] and not ra.fixes_tried


def test_the_report_fields(conf2_report):
    report = conf2_report
    assert report.learning.status == "not learning" and report.learning.task == "classification"
    assert 0.05 < report.learning.chance_accuracy < 0.2 and report.learning.steps == 1500
    top = report.findings[0]
    assert (top.code, top.severity) == ("learning_rate_too_high", "error")
    assert top.layer.index == 2 and top.layer.description.startswith("output layer 2 of 2: ")
    assert top.layer.description.endswith("(Dense, 10 units, sigmoid)")
    assert set(top.evidence) == {"first_step_to_weight_ratio"} and top.fix.startswith("Lower the learning rate")
    fix = report.fixes[0]
    assert fix.name.startswith("lower_learning_rate") or fix.name == "default_learning_rate"
    assert fix.change.startswith("learning_rate 10 -> ") and fix.finding == "learning_rate_too_high"
    assert set(fix.before) == set(fix.after) == {"val_loss", "val_accuracy"} and fix.helped
    gains = [f.gain for f in report.fixes]
    assert gains == sorted(gains, reverse=True)


def test_to_dict_and_strict_json_have_the_same_fields(conf2_report):
    d = conf2_report.to_dict()
    assert set(d) == {"learning", "findings", "fixes_tried", "fixes"}
    assert {"status", "is_learning", "progress", "initial_accuracy", "final_accuracy", "chance_accuracy",
            "initial_loss", "final_loss", "loss_change", "diverged", "epochs", "steps"} <= set(d["learning"])
    assert all(set(f) == {"code", "severity", "layer", "evidence", "fix"} for f in d["findings"])
    assert all(set(f["layer"]) == {"index", "name", "description"} for f in d["findings"] if f["layer"])
    assert all({"name", "change", "finding", "before", "after", "gain", "helped"} <= set(f) for f in d["fixes"])
    assert json.loads(conf2_report.to_json()) == json.loads(json.dumps(d))  # nothing non-finite here


def test_the_readable_report(conf2_report):
    lines = str(conf2_report).splitlines()
    assert lines[0].startswith("NOT LEARNING after 1 epoch (1500 steps): probe accuracy ")
    assert lines[1].startswith("ERROR   learning_rate_too_high at output layer 2 of 2: ")
    assert lines[2].startswith("        evidence: first_step_to_weight_ratio=")
    head = next(i for i, line in enumerate(lines) if line.startswith("Fixes tried"))
    assert lines[head + 1].split() == ["fix", "change", "validation", "accuracy", "gain", "helped", "answers"]
    assert lines[head + 2].split()[:2] == ["1.", conf2_report.fixes[0].name]
    assert "-> " in lines[head + 2] and " pp " in lines[head + 2]


def test_fit_with_diagnostics_prints_the_report_and_keeps_it_in_history(capsys):
    net = _network("book configuration 5")
    (x, y), _ = net.dataset()
    model = net.build()
    history = model.fit(x, y, batch_size=64, verbose=2, diagnostics=True)
    out = capsys.readouterr().out
    assert isinstance(history.diagnostics, Report) and history.diagnostics.learning.status == "learning"
    assert out.splitlines()[-2].startswith("Learning after 1 epoch")
    assert out.splitlines()[-1] == "No finding: nothing unusual was measured."
    quiet = net.build().fit(x, y, batch_size=64, verbose=0, diagnostics=True)
    assert capsys.readouterr().out == "" and isinstance(quiet.diagnostics, Report)
    assert net.build().fit(x[:100], y[:100], verbose=0).diagnostics is None


def test_a_diagnostics_callback_report_reaches_history():
    net = _network("ReLU with biases at -20")
    (x, y), _ = net.dataset()
    cb = tn.callbacks.Diagnostics(every_n_steps=20)
    history = net.build().fit(x, y, verbose=0, callbacks=[cb])
    assert history.diagnostics is cb.report and "dead_relu" in cb.report.codes
    assert len(cb.records) > 3 and cb.report.findings[0].severity == "error"
