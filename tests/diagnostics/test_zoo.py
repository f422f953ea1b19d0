"""The zoo (``tweaknet.diagnostics.zoo``) in its reduced form: every broken network is detected with the expected
codes and severity and its top-ranked fix repairs it by a clear margin; every healthy one gets no error and no
warning.  ``bench/diagnose_zoo.py`` runs the full form."""
import json

import pytest

from tweaknet import registry
from tweaknet.diagnostics import diagnose, zoo

BROKEN = [n for n in zoo.NETWORKS if n.broken]
HEALTHY = [n for n in zoo.NETWORKS if not n.broken]


def _reject(constant):
    raise ValueError(f"not strict JSON: {constant}")


@pytest.mark.parametrize("net", BROKEN, ids=[n.name for n in BROKEN])
def test_a_broken_network_is_detected_and_its_top_fix_repairs_it(net):
    (x, y), val = net.dataset()
    report = diagnose(net.build(), x, y, epochs=net.epochs, batch_size=net.batch_size, validation_data=val,
                      try_fixes=True, jobs=1)
    found = {f.code for f in report.findings if f.severity == net.expect_severity}
    assert set(net.expect) <= found, str(report)
    assert {f.severity for f in report.findings} == {net.expect_severity}, str(report)
    best = report.fixes[0]
    if net.data == "regression":
        assert best.gain >= zoo.REPAIR_LOSS_MARGIN, str(report)
    else:
        assert best.after["val_accuracy"] - best.before["val_accuracy"] >= zoo.REPAIR_MARGIN, str(report)
    assert best.helped and best.error is None
    assert all(f.finding in {p.code for p in report.problems} for f in report.fixes)
    json.loads(report.to_json(), parse_constant=_reject)


@pytest.mark.parametrize("net", HEALTHY, ids=[n.name for n in HEALTHY])
def test_a_healthy_network_gets_no_error_and_no_warning(net):
    (x, y), _ = net.dataset()
    report = diagnose(net.build(), x, y, epochs=net.epochs, batch_size=net.batch_size)
    assert report.learning.status == "learning", str(report)
    assert report.problems == [], str(report)


def test_the_zoo_covers_depths_activations_optimizers_and_batch_sizes():
    assert len(zoo.NETWORKS) >= 20 and len(BROKEN) >= 10 and len(HEALTHY) >= 10
    assert {n.expect_severity for n in BROKEN} == {"error", "warning"}
    models = [n.build() for n in zoo.NETWORKS]
    used = {layer.output_activation.name for m in models for layer in m.layers if layer.output_activation}
    registered = {name for name in registry.names("activation") if name == name.lower()}
    assert used == registered  # every registered activation (a new one must join the zoo), and maxout:
    assert any(type(layer).__name__ == "Maxout" for m in models for layer in m.layers)
    optimizers = {type(m.optimizer).__name__ for m in models}
    assert {"SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Nadam"} <= optimizers
    assert any(m.optimizer.momentum and m.optimizer.nesterov for m in models if type(m.optimizer).__name__ == "SGD")
    assert {1, 256} <= {n.batch_size for n in zoo.NETWORKS}
    depths = {sum(1 for layer in m.layers if "kernel" in layer.params) for m in models}
    assert {2, 3, 4, 5, 7, 10} <= depths
    assert {n.data for n in zoo.NETWORKS} == {"mnist", "raw", "regression"}
