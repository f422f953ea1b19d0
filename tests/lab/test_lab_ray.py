"""The lab on a real Ray cluster of two nodes on this machine (``ray.cluster_utils.Cluster``, 1 CPU each): the
trials run on both nodes and give the local pool's numbers; a node that dies while its trials run costs only the
epochs in flight.  Marked ``ray``: run alone (``python -m pytest -m ray``), see conftest.py."""
from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = pytest.mark.ray

MiB = 2 ** 20
# Node death is noticed within about 5 s instead of Ray's default 30 s or more (not less: a node of a busy CI machine
# may answer late, and must not be taken for dead).
FAST_DEATH = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 1000, "health_check_timeout_ms": 1000,
              "health_check_failure_threshold": 5}

EXPERIMENT = """
name = "spread"
[data]
dataset = "synthetic"
train_samples = 1500
test_samples = 300
[model]
loss = "categorical_crossentropy"
[[model.layers]]
units = 256
activation = "tanh"
[[model.layers]]
units = 10
activation = "softmax"
[optimizer]
name = "sgd"
momentum = 0.9
[train]
batch_size = 1        # about 0.3 s per epoch
epochs = 5
seeds = 3
[grid]                # 6 trials
"optimizer.learning_rate" = [0.01, 0.03]
"""
RESULTS = ("SELECT configuration, seed, epoch, train_loss, train_accuracy, test_loss, test_accuracy "
           "FROM results ORDER BY configuration, seed, epoch")
TRIALS, EPOCHS = 6, 5


def tweaknet(*args):
    return [sys.executable, "-m", "tweaknet", *map(str, args)]


def rows(db, sql=RESULTS):
    with sqlite3.connect(db) as c:
        return c.execute(sql).fetchall()


def count(db):
    try:
        return len(rows(db, "SELECT 1 FROM epochs"))
    except sqlite3.Error:  # not created yet
        return 0


def _descendants(pid: int) -> list[int]:
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    children.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except OSError:
                continue
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def training(node) -> bool:
    """Whether a worker process of Ray node ``node`` runs a job now (Ray names a busy worker after its task)."""
    for pid in _descendants(node.all_processes["raylet"][0].process.pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().startswith(b"ray::train_epochs"):
                    return True
        except OSError:
            continue
    return False


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The experiment file and its results in the local pool (2 processes)."""
    folder = tmp_path_factory.mktemp("local")
    exp = folder / "spread.toml"
    exp.write_text(EXPERIMENT)
    done = subprocess.run(tweaknet("run", exp, "--out", folder / "out", "--jobs", 2), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return exp, rows(folder / "out" / "runs.sqlite")


@pytest.fixture
def cluster():
    """A head node and a second node, 1 CPU and 80 MiB of object store each, node death noticed in seconds."""
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 80 * MiB,
                                                       "include_dashboard": False, "_system_config": FAST_DEATH})
    worker = c.add_node(num_cpus=1, object_store_memory=80 * MiB)
    c.wait_for_nodes()
    yield c, c.head_node.node_id, worker
    c.shutdown()


def test_trials_run_on_both_nodes_with_the_local_pools_numbers(local, cluster, tmp_path):
    c, head, worker = cluster
    exp, expected = local
    ray_file = tmp_path / "spread.toml"
    ray_file.write_text(EXPERIMENT.replace('name = "spread"', 'name = "spread"\n[run]\nbackend = "ray"'))
    # [run] backend = "ray" in the file, the address from RAY_ADDRESS
    done = subprocess.run(tweaknet("run", ray_file, "--out", tmp_path / "out", "--progress", "lines"),
                          capture_output=True, text=True, timeout=300, env={**os.environ, "RAY_ADDRESS": c.address})
    assert done.returncode == 0, done.stderr
    db = tmp_path / "out" / "runs.sqlite"
    assert rows(db) == expected  # float for float
    nodes = rows(db, "SELECT DISTINCT node FROM epochs")
    assert sorted(n for (n,) in nodes) == sorted([head, worker.node_id])  # both nodes trained epochs
    assert f"on Ray ({c.address}): 2 nodes, 2 CPUs" in done.stdout
    assert "2 nodes, 2 CPUs: 0 running, 0 waiting, 6 done" in done.stdout  # the progress counts trials


def test_a_node_that_dies_costs_only_the_epochs_in_flight(local, cluster, tmp_path):
    c, head, worker = cluster
    exp, expected = local
    out = tmp_path / "out"
    child = subprocess.Popen(tweaknet("run", exp, "--out", out, "--ray", c.address, "--progress", "lines"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    db, deadline = out / "runs.sqlite", time.monotonic() + 180
    # wait until the second node has stored an epoch and trains the next one, then kill it
    while count(db) < 1 or not rows(db, f"SELECT 1 FROM epochs WHERE node = '{worker.node_id}'") or \
            not training(worker):
        assert child.poll() is None and time.monotonic() < deadline, "the run ended before the node trained"
        time.sleep(0.01)
    before = rows(db, "SELECT trial_id, epoch, finished_at, node FROM epochs")
    assert len(before) < TRIALS * EPOCHS - 2, "killed too late: nothing left to resubmit"
    c.remove_node(worker, allow_graceful=False)
    stdout, stderr = child.communicate(timeout=300)
    assert child.returncode == 0, stderr
    assert re.search(r"seed \d: node \w{8} \(.*\) is gone \(NodeDiedError\); training again from the checkpoint "
                     r"after epoch \d", stdout), stdout  # the job in flight was lost and submitted again
    assert "2 nodes, 2 CPUs" in stdout and "1 node, 1 CPUs" in stdout  # the progress saw the cluster shrink
    after = rows(db, "SELECT trial_id, epoch, finished_at, node FROM epochs")
    assert set(before) <= set(after)  # stored epochs kept, not recomputed
    pairs = [(t, e) for t, e, _, _ in after]
    assert sorted(pairs) == sorted({(t, e) for t in {t for t, _ in pairs} for e in range(1, EPOCHS + 1)})
    assert len(pairs) == TRIALS * EPOCHS  # none missing, none twice
    assert rows(db) == expected  # the numbers of the uninterrupted local run
    assert rows(db, "SELECT DISTINCT status FROM trials") == [("done",)]


def test_without_an_address_a_local_ray_instance_runs_them(local, tmp_path):
    exp, expected = local
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(tweaknet("run", exp, "--out", tmp_path / "out", "--ray", "--progress", "none"),
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "on Ray (a local instance): 1 node, 2 CPUs" in done.stdout
    assert rows(tmp_path / "out" / "runs.sqlite") == expected


SEARCH = """
name = "lr"
data = { dataset = "synthetic", train_samples = 1500, test_samples = 300, validation_split = 0.2 }
optimizer = { name = "sgd" }
train = { batch_size = 16, epochs = 3, seeds = [3] }
[model]
loss = "categorical_crossentropy"
layers = [{ units = 24, activation = "tanh" }, { units = 10, activation = "softmax" }]
[search]
trials = 6
startup_trials = 2
[search.space]
"optimizer.learning_rate" = { log_uniform = [1e-3, 3.0] }
"model.layers.0.activation" = { choice = ["tanh", "relu"] }
"""


def test_a_search_on_ray_asks_and_trains_what_it_does_locally(cluster, tmp_path):
    from tweaknet import lab
    c, head, worker = cluster
    here = lab.search(SEARCH, out=tmp_path / "local", jobs=1)  # one at a time: the same history, the same asks
    there = lab.search(SEARCH, out=tmp_path / "ray", jobs=1, backend="ray", address=c.address)
    assert not ray.is_initialized()  # lab.search connected, and disconnected at the end

    def seen(results):
        return [(t.number, t.state, t.values, t.value, [{k: e[k] for k in ("epoch", "train_loss", "val_loss",
                                                                             "val_accuracy", "test_accuracy")}
                                                      for e in t.epochs]) for t in results.studies[0].trials]
    assert seen(there) == seen(here) and len(seen(here)) == 6
    nodes = {e["node"] for t in there.studies[0].trials for e in t.epochs}
    assert nodes and nodes <= {head, worker.node_id}


def test_a_loader_beside_the_experiment_works_on_the_nodes(cluster, tmp_path):
    """The loader's module is a file in the driver's folder.  It is shipped with the job (test_lab_backends.py checks
    what is shipped); on one machine Ray would also find it through the driver's import path, so this checks the
    run, not the shipping."""
    c, head, worker = cluster
    (tmp_path / "mydata.py").write_text(
        "import numpy as np\n"
        "def load():\n"
        "    rng = np.random.default_rng(5)\n"
        "    x = rng.integers(0, 256, (400, 28, 28)).astype(np.uint8)\n"
        "    y = (np.arange(400) % 10).astype(np.uint8)\n"
        "    return (x[:300], y[:300]), (x[300:], y[300:])\n")
    exp = tmp_path / "mine.toml"
    exp.write_text(EXPERIMENT.replace('dataset = "synthetic"\ntrain_samples = 1500\ntest_samples = 300',
                                      'dataset = { python = "mydata:load" }').replace("units = 256", "units = 16"))
    done = subprocess.run(tweaknet("run", exp, "--out", tmp_path / "out", "--ray", c.address, "--progress", "none",
                                   "--allow-code"),
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    db = tmp_path / "out" / "runs.sqlite"
    assert rows(db, "SELECT COUNT(*), COUNT(DISTINCT trial_id) FROM epochs") == [(TRIALS * EPOCHS, TRIALS)]
    assert {n for (n,) in rows(db, "SELECT DISTINCT node FROM epochs")} <= {head, worker.node_id}
