"""Choosing where trials run: ``--ray [ADDRESS]``, ``--local``, ``[run]``, ``RAY_ADDRESS``; each mistake is one clear
``tweaknet: error:`` line with the fix, exit status 2, and nothing written.  (The runs on a Ray cluster are in
test_lab_ray.py.)"""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tweaknet.cli import main

TINY = """
name = "tiny"
data = { dataset = "synthetic", train_samples = 200, test_samples = 50 }
optimizer = { name = "sgd", learning_rate = 0.05 }
train = { batch_size = 20, epochs = 1, seeds = [1] }
[model]
loss = "categorical_crossentropy"
layers = [{ units = 8, activation = "tanh" }, { units = 10, activation = "softmax" }]
"""


def closed_port() -> int:
    """A local port where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_error(capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("tweaknet: error: ") and err.count("\n") == 1 and words in err, err
    return err


def test_an_unreachable_ray_address_is_refused_at_once(tmp_path, capsys, monkeypatch):
    pytest.importorskip("ray")
    exp, out = tmp_path / "tiny.toml", tmp_path / "out"
    exp.write_text(TINY)
    address = f"127.0.0.1:{closed_port()}"
    err = one_error(capsys, ["run", str(exp), "--out", str(out), "--ray", address], f"Ray address {address}: no Ray "
                    "cluster answers there")
    assert "start one with `ray start --head`" in err and "or give no address" in err
    monkeypatch.setenv("RAY_ADDRESS", address)  # from the environment
    one_error(capsys, ["table5-1", "--out", str(out), "--ray"], f"Ray address {address}: no Ray cluster answers")
    monkeypatch.delenv("RAY_ADDRESS")
    exp.write_text(TINY + f'[run]\nbackend = "ray"\naddress = "{address}"\n')  # from the file
    one_error(capsys, ["run", str(exp), "--out", str(out)], f"Ray address {address}: no Ray cluster answers")
    one_error(capsys, ["run", str(exp), "--out", str(out), "--ray", "nowhere"], "Ray address 'nowhere': expected "
                                                                               "HOST:PORT")
    assert not out.exists()
    # --local trains where the file says ray
    assert main(["run", str(exp), "--out", str(out), "--local", "--progress", "none"]) == 0
    assert (out / "runs.sqlite").exists()


SPACE = '[search.space]\n"optimizer.learning_rate" = { log_uniform = [0.01, 1.0] }\n'


@pytest.mark.parametrize("module, text, argv, words", [
    ("ray", TINY, ["run", "{exp}", "--out", "{out}", "--ray"], "Ray is not installed here: pip install 'tweaknet[ray]'"),
    ("optuna", TINY + SPACE, ["search", "{exp}", "--out", "{out}"],
     "a search needs Optuna: pip install 'tweaknet[search]'"),
])
def test_a_missing_extra_names_the_extra(tmp_path, module, text, argv, words):
    """In a process where the module cannot be imported (``sys.modules[name] = None`` makes ``import`` fail, as
    for a package that is not installed)."""
    exp, out = tmp_path / "tiny.toml", tmp_path / "out"
    exp.write_text(text)
    argv = [a.format(exp=exp, out=out) for a in argv]
    code = f"import sys; sys.modules[{module!r}] = None; from tweaknet.cli import main; sys.exit(main({argv!r}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("tweaknet: error: ") and words in done.stderr and done.stderr.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("table, words", [
    ('[run]\nbackend = "slurm"', "run.backend: must be one of 'local', 'ray', got 'slurm'"),
    ('[run]\naddress = "10.0.0.5:6379"', 'run.address: is the address of a Ray cluster: set backend = "ray" too'),
    ('[run]\nbackend = "ray"\nadress = "10.0.0.5:6379"', "run.adress: unknown key; did you mean 'address'?"),
    ('[run]\nepochs_per_task = 0', "run.epochs_per_task: must be >= 1, got 0"),
])
def test_run_table_errors(tmp_path, capsys, table, words):
    exp = tmp_path / "tiny.toml"
    exp.write_text(TINY + table + "\n")
    one_error(capsys, ["run", str(exp), "--out", str(tmp_path / "out")], words)
    assert not (tmp_path / "out").exists()


def test_ray_and_local_exclude_each_other(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "x.toml", "--ray", "--local"])
    assert exit_.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_epochs_per_task_sends_several_epochs_at_once_with_the_same_numbers(tmp_path):
    from tweaknet import lab
    text = TINY.replace("epochs = 1", "epochs = 5").replace("seeds = [1]", "seeds = [1, 2]")
    one = lab.run(text, out=tmp_path / "one", jobs=2)
    three = lab.run(text + "[run]\nepochs_per_task = 3\n", out=tmp_path / "three", jobs=2)
    keys = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy")
    assert [[{k: e[k] for k in keys} for e in t.epochs] for t in three.trials] == \
           [[{k: e[k] for k in keys} for e in t.epochs] for t in one.trials]
    # jobs of 3 epochs: epochs 1-3 and 4-5 of a trial were committed together
    stamps = [[e["finished_at"] for e in t.epochs] for t in three.trials]
    assert all(s[0] == s[1] == s[2] and s[3] == s[4] and s[2] != s[3] for s in stamps)


def test_local_loader_code_is_shipped_installed_code_is_not(tmp_path, monkeypatch):
    """What Ray ships with the job (py_modules): a loader module that is a file or folder of the user's, not
    tweaknet's own data sets, nor a module installed in site-packages (numpy here)."""
    from tweaknet.lab.cluster import shipped_modules
    (tmp_path / "mydata.py").write_text("def load():\n    pass\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "sub.py").write_text("def load():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("mydata", "pkg", "pkg.sub"):  # another test's module of the same name, imported before
        monkeypatch.delitem(sys.modules, name, raising=False)
    trials = [{"data": {"dataset": d}} for d in ("mnist", "synthetic", {"python": "mydata:load"},
                                                  {"python": "pkg.sub:load"}, {"python": "numpy.random:default_rng"},
                                                  {"python": "mydata:load"})]
    assert shipped_modules(trials) == [str(tmp_path / "mydata.py"), str(tmp_path / "pkg")]
