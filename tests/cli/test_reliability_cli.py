"""Issue 15, the command line and the lab: every bad input and fault of ``shared/reliability/probes.md``
(and the issue) that once ended badly, run through the real ``tweaknet`` command (``python -m tweaknet`` in a
subprocess, or ``tweaknet.cli.main`` in this process where nothing process-wide is at stake).  Each case
asserts the exit status, the message (one ``tweaknet: error:`` line, no traceback) and that nothing stored
was lost or changed.  The cases are listed in docs/reliability.md.

As root (a container), modes do not stop the test process: the cases about read-only folders use
``/sys/kernel`` there, where root cannot create files, and the read-only store is checked only as a user.
"""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tweaknet.cli import main
from tweaknet.cli import run as run_cli
from tweaknet.lab import store as store_mod

SMALL = """\
name = "small"
data = { dataset = "synthetic", train_samples = 200, test_samples = 50 }
[model]
loss = "categorical_crossentropy"
[[model.layers]]
units = 10
activation = "softmax"
[optimizer]
name = "sgd"
learning_rate = 0.05
[train]
batch_size = 20
epochs = 2
seeds = 2
"""
LOADER_MODULE = """\
import pathlib
pathlib.Path(__file__).with_name("RAN").write_text("imported")
def load():
    pathlib.Path(__file__).with_name("RAN").write_text("called")
    import numpy as np
    x = np.arange(200 * 16, dtype=np.uint8).reshape(200, 4, 4)
    y = (np.arange(200) % 10).astype(np.uint8)
    return (x[:150], y[:150]), (x[150:], y[150:])
"""
ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


def small(dataset=None, **replace) -> str:
    text = SMALL
    if dataset is not None:
        text = text.replace('dataset = "synthetic", train_samples = 200, test_samples = 50', f"dataset = {dataset}")
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def tweaknet(*args, cwd, env=None, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, timeout=240):
    """Run ``python -m tweaknet ARGS`` (the current folder on the import path, as ``python -m`` puts it)."""
    full = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), **(env or {})}
    full.pop("TWEAKNET_ALLOW_CODE", None) if "TWEAKNET_ALLOW_CODE" not in (env or {}) else None
    done = subprocess.run([sys.executable, "-m", "tweaknet", *map(str, args)], cwd=cwd, env=full, stdin=stdin,
                          stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout)
    return done.returncode, done.stdout or "", done.stderr


def one_error(err: str, *parts):
    """stderr holds exactly one ``tweaknet: error:`` line with every part, and no traceback."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("tweaknet: error:")]
    assert len(lines) == 1, err
    for p in parts:
        assert p in lines[0], (p, lines[0])
    return lines[0]


def sql(db, *statements):
    """Run statements on ``db`` and close the connection (so that SQLite removes its -wal and -shm files)."""
    c = sqlite3.connect(db)
    try:
        rows = [c.execute(st).fetchall() for st in statements]
        c.commit()
        return rows
    finally:
        c.close()


def snapshot(folder: Path) -> dict:
    """Every file below ``folder`` and its bytes (what must not change)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def cli(argv, capsys):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def exp(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A folder holding a complete run of SMALL (2 trials x 2 epochs): the store the lab cases damage."""
    folder = tmp_path_factory.mktemp("trained")
    (folder / "small.toml").write_text(SMALL)
    status, out, err = tweaknet("run", "small.toml", "--out", "out", "--jobs", "1", "--progress", "none", cwd=folder)
    assert status == 0, out + err
    return folder


@pytest.fixture
def store_copy(trained, tmp_path):
    """A copy of the trained folder: the experiment and ``out/`` with its store."""
    shutil.copytree(trained, tmp_path / "w")
    return tmp_path / "w"


# -- 1. code from experiment files only with consent ---------------------------------------------------
@pytest.mark.parametrize("how", ["python -m (current folder)", "PYTHONPATH"])
def test_a_bare_loader_string_is_refused_and_never_imported(tmp_path, how):
    (tmp_path / "evilmod.py").write_text(LOADER_MODULE)
    (tmp_path / "e.toml").write_text(small('"evilmod:load"'))
    env = {"PYTHONPATH": str(tmp_path)} if how == "PYTHONPATH" else None
    for extra in ([], ["--dry-run"], ["--allow-code"]):
        status, out, err = tweaknet("run", "e.toml", "--out", "o", *extra, cwd=tmp_path, env=env)
        assert status == 2
        one_error(err, "data.dataset", 'dataset = { python = "evilmod:load" }', "--allow-code")
    status, out, err = tweaknet("diagnose", "e.toml", cwd=tmp_path, env=env)
    assert status == 2 and "--allow-code" in one_error(err)
    assert not (tmp_path / "RAN").exists() and not (tmp_path / "o").exists()


def test_a_marked_loader_runs_only_with_consent_and_never_in_a_dry_run(tmp_path):
    (tmp_path / "evilmod.py").write_text(LOADER_MODULE)
    (tmp_path / "e.toml").write_text(small('{ python = "evilmod:load" }'))
    status, out, err = tweaknet("run", "e.toml", "--out", "o", cwd=tmp_path)
    assert status == 2
    one_error(err, "evilmod:load", "--allow-code", "TWEAKNET_ALLOW_CODE=1")
    status, out, err = tweaknet("diagnose", "e.toml", cwd=tmp_path)
    assert status == 2 and "--allow-code" in one_error(err)
    for env in (None, {"TWEAKNET_ALLOW_CODE": "1"}):
        status, out, err = tweaknet("run", "e.toml", "--dry-run", "--allow-code", cwd=tmp_path, env=env)
        assert status == 0 and "spec OK" in out and "was not run" in out, err
    assert not (tmp_path / "RAN").exists() and not (tmp_path / "o").exists()
    # allowed by the environment variable (documented next to --allow-code): it runs, in the workers too
    status, out, err = tweaknet("run", "e.toml", "--out", "o", "--jobs", "1", "--epochs", "1", "--seeds", "1",
                                cwd=tmp_path, env={"TWEAKNET_ALLOW_CODE": "1"})
    assert status == 0, err
    assert (tmp_path / "RAN").read_text() == "called"


def test_a_search_runs_an_allowed_loader_and_refuses_it_without_consent(tmp_path):
    pytest.importorskip("optuna")
    (tmp_path / "evilmod.py").write_text(LOADER_MODULE)
    (tmp_path / "e.toml").write_text(small('{ python = "evilmod:load" }', **{"seeds = 2": "seeds = 1"}) + """
[search]
trials = 2
pruner = "none"
[search.space]
"optimizer.learning_rate" = { log_uniform = [0.01, 0.1] }
""")
    status, out, err = tweaknet("search", "e.toml", "--out", "o", "--jobs", "1", cwd=tmp_path)
    assert status == 2 and "--allow-code" in one_error(err, "evilmod:load")
    assert not (tmp_path / "RAN").exists()
    status, out, err = tweaknet("search", "e.toml", "--out", "o", "--jobs", "1", "--allow-code", cwd=tmp_path)
    assert status == 0, out + err
    assert (tmp_path / "RAN").read_text() == "called"


@pytest.mark.parametrize("loader, message", [
    ("sys:exit", "it called sys.exit(None)"),
    ("builtins:input", "EOFError"),
    ("pdb:set_trace", "BdbQuit"),
    ("tweaknet.cli:main", "ran a data loader itself"),
    ("json:nosuchfunction", "cannot load the loader json:nosuchfunction"),
    ("nosuchmodule_xyz:load", "cannot load the loader nosuchmodule_xyz:load: ModuleNotFoundError"),
])
def test_an_allowed_loader_that_fails_is_one_error_naming_it(tmp_path, loader, message):
    (tmp_path / "e.toml").write_text(small(f'{{ python = "{loader}" }}'))
    # stdin a pipe that stays open: input() must not wait for it
    status, out, err = tweaknet("run", "e.toml", "--out", "o", "--allow-code", cwd=tmp_path, stdin=subprocess.PIPE,
                                timeout=120)
    assert status == 2
    one_error(err, "data.dataset", loader, message)
    assert not (tmp_path / "o" / "runs.sqlite").exists()


def test_os_abort_is_not_run_without_consent(tmp_path):
    (tmp_path / "e.toml").write_text(small('{ python = "os:abort" }'))
    for args in (["run", "e.toml"], ["run", "e.toml", "--dry-run", "--allow-code"], ["diagnose", "e.toml"]):
        status, out, err = tweaknet(*args, cwd=tmp_path)
        assert status in (0, 2) and status != -signal.SIGABRT, err  # 0: the dry run; never an abort


def test_ctrl_c_in_a_loader_still_means_interrupted(tmp_path):
    (tmp_path / "slow.py").write_text("import pathlib, time\ndef load():\n    pathlib.Path('STARTED').write_text('')\n"
                                      "    time.sleep(60)\n")
    (tmp_path / "e.toml").write_text(small('{ python = "slow:load" }'))
    proc = subprocess.Popen([sys.executable, "-m", "tweaknet", "run", "e.toml", "--allow-code"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    deadline = time.monotonic() + 120
    while not (tmp_path / "STARTED").exists() and time.monotonic() < deadline:  # the loader is running
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err


# -- 2. one error boundary: input files ---------------------------------------------------------------
@pytest.mark.parametrize("name, data, parts", [
    ("random bytes", bytes(range(256)) * 4, ["not UTF-8 text", "save it as UTF-8"]),
    ("Latin-1", 'name = "café"\n'.encode("latin-1"), ["not UTF-8 text", "0xe9"]),
    ("20,000 nested arrays", ("a = " + "[" * 20000 + "]" * 20000).encode(), ["nested too deeply"]),
    ("a folder", None, ["is a folder"]),
    ("missing", b"", ["cannot read it", "No such file"]),
])
def test_an_unreadable_experiment_file_is_one_error_naming_it(tmp_path, capsys, name, data, parts):
    path = tmp_path / "e.toml"
    if name == "a folder":
        path.mkdir()
    elif name != "missing":
        path.write_bytes(data)
    status, out, err = cli(["run", path, "--out", tmp_path / "o"], capsys)
    assert status == 2
    one_error(err, str(path), *parts)
    assert not (tmp_path / "o").exists()


def test_a_utf8_bom_is_accepted(tmp_path, capsys):
    path = tmp_path / "e.toml"
    path.write_bytes(b"\xef\xbb\xbf" + SMALL.encode())
    status, out, err = cli(["run", path, "--dry-run"], capsys)
    assert status == 0 and "spec OK" in out, err


def test_huge_units_are_refused_before_anything_is_allocated(tmp_path):
    text = small(**{'[[model.layers]]\nunits = 10': '[[model.layers]]\nunits = 100000000\nactivation = "relu"\n'
                                                   '[[model.layers]]\nunits = 10'})
    (tmp_path / "e.toml").write_text(text)
    t0 = time.perf_counter()
    status, out, err = tweaknet("run", "e.toml", "--dry-run", cwd=tmp_path)
    assert status == 2 and time.perf_counter() - t0 < 60
    one_error(err, "model.layers.0.units", "100,000,000 units", "memory", "use fewer units")


@pytest.mark.parametrize("what", ["grid of 10^6 points", "--seeds 1000000", "seeds = 10**12"])
def test_too_many_trials_are_refused_quickly_naming_max_trials(tmp_path, capsys, what):
    text, args = SMALL, []
    if what == "grid of 10^6 points":
        text += "[grid]\n" + "\n".join(f'"optimizer.learning_rate_{i}" = {list(range(1, 11))}' for i in range(6))
        text = text.replace('"optimizer.learning_rate_', '"model.layers.0.units_')  # 10^6 points, all refused alike
    elif what == "--seeds 1000000":
        args = ["--seeds", "1000000"]
    else:
        text = text.replace("seeds = 2", "seeds = 1000000000000")
    (tmp_path / "e.toml").write_text(text)
    t0 = time.perf_counter()
    status, out, err = cli(["run", tmp_path / "e.toml", "--dry-run", *args], capsys)
    assert status == 2 and time.perf_counter() - t0 < 10
    line = one_error(err)
    assert "--max-trials" in line or "at most 10,000,000 seeds" in line
    # a limit raised on purpose is a limit, not a wall
    (tmp_path / "f.toml").write_text(SMALL + '[grid]\n"optimizer.learning_rate" = [0.1, 0.2, 0.3]\n')
    status, out, err = cli(["run", tmp_path / "f.toml", "--dry-run", "--seeds", "4", "--max-trials", "11"], capsys)
    assert status == 2 and "the limit of 11 trials" in one_error(err, "--max-trials")
    status, out, err = cli(["run", tmp_path / "f.toml", "--dry-run", "--seeds", "4", "--max-trials", "12"], capsys)
    assert status == 0 and out.count("seed") == 12, err


def test_grid_and_seed_expansion_is_linear():
    """10,000 trials expand in well under a second per thousand (the quadratic name check took hours at 10^6)."""
    from tweaknet.lab import spec
    exp = spec.loads(SMALL + '[grid]\n"optimizer.learning_rate" = [' + ", ".join(str(0.001 * (i + 1)) for i in range(500))
                     + "]\n")
    t0 = time.perf_counter()
    trials = exp.trials([("train.seeds", 20)])
    assert len(trials) == 10_000 and len({(t["configuration"], t["seed"]) for t in trials}) == 10_000
    assert time.perf_counter() - t0 < 60


@pytest.mark.parametrize("value, message", [
    ("name=", "expected PATH=VALUE"), ("grid.", "expected PATH=VALUE"),
    ("configurations=3", "'configurations' is not one of them"), ("name=x", "'name' is not one of them"),
    ("grid.optimizer.learning_rate=[1]", "'grid' is not one of them"),
])
def test_set_refuses_what_it_would_ignore(exp, capsys, value, message):
    with pytest.raises(SystemExit) as stop:
        main(["run", str(exp), "--dry-run", "--set", value])
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_a_file_named_with_a_leading_underscore_gets_a_valid_name(tmp_path, capsys):
    path = tmp_path / "_x.toml"
    path.write_text(SMALL.replace('name = "small"\n', ""))
    status, out, err = cli(["run", path, "--dry-run"], capsys)
    assert status == 0 and "spec OK" in out, err
    path.write_text(SMALL.replace('name = "small"', 'name = "_x"'))
    status, out, err = cli(["run", path, "--dry-run"], capsys)
    assert status == 2 and "must start with a letter or digit" in one_error(err, "name")


def test_tweaknet_data_alone_shows_the_data_help(capsys):
    status, out, err = cli(["data"], capsys)
    assert status == 2 and "usage: tweaknet data" in err and "download" in err


# -- 2. output paths, before training and after ---------------------------------------------------------
@pytest.mark.parametrize("kind", ["a file", "/dev/null", "under a file"])
def test_out_that_is_not_a_folder_is_refused_before_training(exp, tmp_path, capsys, kind):
    target = {"a file": tmp_path / "afile", "/dev/null": Path(os.devnull), "under a file": tmp_path / "afile" / "x"}
    (tmp_path / "afile").write_text("keep me")
    status, out, err = cli(["run", exp, "--out", target[kind], "--jobs", "1"], capsys)
    assert status == 2
    one_error(err, "--out", str(target[kind]))
    assert (tmp_path / "afile").read_text() == "keep me"


@pytest.mark.parametrize("name", ["small.png", "small.csv", "small-summary.csv"])
def test_a_result_file_that_is_a_folder_is_refused_before_training(exp, tmp_path, capsys, name):
    (tmp_path / "o" / name).mkdir(parents=True)
    status, out, err = cli(["run", exp, "--out", tmp_path / "o", "--jobs", "1"], capsys)
    assert status == 2
    one_error(err, name, "is a folder", "rename or remove it")
    assert not (tmp_path / "o" / "runs.sqlite").exists()  # nothing trained, nothing stored


def test_a_failure_writing_the_files_after_training_keeps_the_table_and_says_where_the_results_are(
        store_copy, capsys):
    """The files fail after training (here: the plot's name became a folder meanwhile): the table is printed,
    the message names the store, and the same command writes the files later without training."""
    from tweaknet import lab
    out = store_copy / "out"
    results = lab.run(lab.load(store_copy / "small.toml"), out=out, jobs=1)
    assert results.trained == 0
    (out / "small.png").unlink()
    (out / "small.png").mkdir()
    status = run_cli.conclude(results, lambda t: "")
    printed, err = capsys.readouterr()
    assert status == 2 and "final test error" in printed and "default" in printed
    one_error(err, "small.png", str(out / "runs.sqlite"), "run the same command again")


def test_out_with_a_tilde_is_the_home_folder(tmp_path, monkeypatch):
    (tmp_path / "e.toml").write_text(small(**{'name = "small"': 'name = "small"\n'
                                                                   '[[configurations]]\nname = "=HYPERLINK(1)"'}))
    status, out, err = tweaknet("run", "e.toml", "--out", "~/x", "--jobs", "1", "--epochs", "1", "--seeds", "1",
                                cwd=tmp_path, env={"HOME": str(tmp_path / "home")})
    assert status == 0, err
    assert (tmp_path / "home" / "x" / "runs.sqlite").exists() and not (tmp_path / "~").exists()
    # a configuration named like a formula is defused in the CSV files (named after the variant: --epochs 1 ...)
    files = sorted((tmp_path / "home" / "x").glob("small*.csv"))
    assert len(files) == 2
    for path in files:
        cells = path.read_text().splitlines()[1].split(",")
        assert cells[0] == "'=HYPERLINK(1)"


def test_a_huge_batch_size_trains_as_one_batch(tmp_path):
    (tmp_path / "e.toml").write_text(small(**{"batch_size = 20": "batch_size = 9223372036854775807"}))
    status, out, err = tweaknet("run", "e.toml", "--out", "o", "--jobs", "1", "--epochs", "1", "--seeds", "1",
                                cwd=tmp_path)
    assert status == 0 and "Traceback" not in err, err


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
@pytest.mark.parametrize("case", ["--out under a read-only folder", "--out a read-only folder",
                                  "read-only store with --restart", "diagnose --plots read-only",
                                  "plot --out read-only", "data download --dest read-only"])
def test_read_only_paths_are_one_error_before_any_work(tmp_path, case):
    """A folder this user cannot write (mode 0555; as root, whom modes do not stop: /sys/kernel)."""
    (tmp_path / "e.toml").write_text(SMALL)
    if ROOT:
        if case == "read-only store with --restart":
            pytest.skip("root writes any file: run the tests as a user to check a read-only store")
        ro = Path("/sys/kernel")
        if not ro.is_dir() or os.access(ro, os.W_OK) and _can_create(ro):
            pytest.skip("no folder here that root cannot write")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        if case == "read-only store with --restart":
            sql(ro / "runs.sqlite", "CREATE TABLE t(x)")
        ro.chmod(0o555)
    args = {"--out under a read-only folder": ["run", "e.toml", "--out", ro / "sub"],
            "--out a read-only folder": ["run", "e.toml", "--out", ro],
            "read-only store with --restart": ["run", "e.toml", "--out", ro, "--restart"],
            "diagnose --plots read-only": ["diagnose", "e.toml", "--plots", ro],
            "plot --out read-only": ["plot", "activations", "--out", ro],
            "data download --dest read-only": ["data", "download", "--dest", ro, "--url", "http://127.0.0.1:9/"],
            }[case]
    before = None if ROOT else snapshot(ro)
    try:
        status, out, err = tweaknet(*args, cwd=tmp_path, timeout=120)
    finally:
        None if ROOT else ro.chmod(0o755)
    assert status == 2, out + err
    line = one_error(err, str(ro))
    assert "permission denied" in line or "read-only" in line or "not permitted" in line
    assert before is None or snapshot(ro) == before


def _can_create(folder: Path) -> bool:
    try:
        fd, name = tempfile.mkstemp(dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


@pytest.mark.parametrize("args, option", [
    (["plot", "activations", "--out"], "--out"),
    (["data", "download", "--url", "http://127.0.0.1:9/", "--dest"], "--dest"),
    (["diagnose", "--preset", "table5-1", "--plots"], "--plots"),
])
def test_other_commands_refuse_a_file_as_their_folder(tmp_path, capsys, args, option):
    (tmp_path / "afile").write_text("keep me")
    status, out, err = cli([*args, tmp_path / "afile"], capsys)
    assert status == 2
    one_error(err, option, str(tmp_path / "afile"), "not a folder")
    assert (tmp_path / "afile").read_text() == "keep me"


@pytest.mark.parametrize("args", [["preset", "table5-1"], ["run", "{exp}", "--dry-run"], ["preset", "--list"],
                                  ["diagnose", "{exp}", "--json"]])
def test_stdout_on_a_full_disk_is_one_error(exp, args):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        status, out, err = tweaknet(*[a.format(exp=exp) for a in args], cwd=exp.parent, stdout=full)
    assert status == 2
    one_error(err, "the disk is full", "stdout")


# -- 2. diagnose ------------------------------------------------------------------------------------------
def test_diagnose_refuses_a_negative_seed(capsys):
    status, out, err = cli(["diagnose", "--preset", "table5-1", "--seed", "-3"], capsys)
    assert status == 2 and "non-negative" in one_error(err, "--seed", "-3")


def test_diagnose_checks_the_output_units_against_the_labels(tmp_path, capsys):
    path = tmp_path / "e.toml"
    path.write_text(small(**{"units = 10": "units = 7"}))
    status, out, err = cli(["diagnose", path], capsys)
    assert status == 2
    one_error(err, "model.layers.0.units", "7 units", "10 classes")


def test_diagnose_prints_the_report_even_when_its_plots_cannot_be_written(tmp_path, capsys, monkeypatch):
    """The plots' folder is checked before training; if writing fails anyway, the report is printed first."""
    from tweaknet.diagnostics import plots
    path = tmp_path / "e.toml"
    path.write_text(SMALL)

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device", str(tmp_path / "p" / "gradient_flow.png"))
    monkeypatch.setattr(plots, "gradient_flow", full_disk)  # the disk fills up after the check
    status, out, err = cli(["diagnose", path, "--plots", tmp_path / "p"], capsys)
    assert status == 2 and "seed 1" in out and "gradient_flow.png" in one_error(err, "the disk is full",
                                                                                     "the report above")


# -- 3. damaged stores --------------------------------------------------------------------------------
def _damage(db: Path, how: str):
    data = db.read_bytes()
    if how == "truncated to half":
        db.write_bytes(data[: len(data) // 2])
    elif how == "garbage":
        db.write_bytes(os.urandom(len(data)))
    elif how == "text":
        db.write_text("this is not a database\n" * 100)
    elif how == "corrupted pages":
        page = 4096
        db.write_bytes(data[:page] + b"\xa5" * page * 2 + data[3 * page:])
    elif how == "a folder":
        db.unlink()
        db.mkdir()
        (db / "keep").write_text("x")
    elif how == "a foreign trials table":
        db.unlink()
        sql(db, "CREATE TABLE trials(name TEXT, score REAL)", "INSERT INTO trials VALUES ('mine', 1.0)")
    elif how == "a newer schema":
        sql(db, f"PRAGMA user_version = {store_mod.SCHEMA_VERSION + 7}")


DAMAGES = ["truncated to half", "garbage", "text", "corrupted pages", "a folder", "a foreign trials table",
           "a newer schema"]


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_store_is_one_error_and_stays_as_it_was(store_copy, how):
    db = store_copy / "out" / "runs.sqlite"
    _damage(db, how)
    before = snapshot(store_copy / "out")
    status, out, err = tweaknet("run", "small.toml", "--out", "out", "--jobs", "1", cwd=store_copy)
    assert status == 2, out + err
    line = one_error(err, str(Path("out") / "runs.sqlite"))
    assert "--restart" in line or "upgrade tweaknet" in line
    assert snapshot(store_copy / "out") == before


@pytest.mark.parametrize("how", ["truncated to half", "garbage", "a folder", "a foreign trials table"])
def test_restart_moves_a_damaged_store_aside_and_starts_a_new_one(store_copy, how):
    db = store_copy / "out" / "runs.sqlite"
    _damage(db, how)
    damaged = snapshot(db) if db.is_dir() else db.read_bytes()
    status, out, err = tweaknet("run", "small.toml", "--out", "out", "--jobs", "1", "--restart", "--epochs", "1",
                                cwd=store_copy)
    assert status == 0, out + err
    (aside,) = [p for p in (store_copy / "out").iterdir() if p.name.startswith("runs.sqlite.damaged-")]
    assert (snapshot(aside) if aside.is_dir() else aside.read_bytes()) == damaged  # kept, not deleted
    assert "moved it to" in err and aside.name in err
    assert sql(db, "SELECT COUNT(*) FROM epochs") == [[(2,)]]


def test_garbage_spec_json_is_no_traceback_and_nothing_is_lost(store_copy):
    """Trials are found by their spec's hash (issue 16): a row whose spec and hash were replaced is another
    trial, kept as it is; the run trains its own trial and reads no garbage."""
    db = store_copy / "out" / "runs.sqlite"
    sql(db, "UPDATE trials SET spec_json = 'garbage{', spec_hash = 'x' WHERE id = 1")
    (damaged,) = sql(db, "SELECT * FROM trials WHERE id = 1")
    status, out, err = tweaknet("run", "small.toml", "--out", "out", "--jobs", "1", cwd=store_copy)
    assert status == 0 and "Traceback" not in err, out + err
    assert sql(db, "SELECT * FROM trials WHERE id = 1") == [damaged]
    pytest.importorskip("tensorboardX")
    status, out, err = tweaknet("export", "tensorboard", "tb", "--from", "out", cwd=store_copy)
    assert status == 0 and "Traceback" not in err, out + err  # the damaged row exports without hyperparameters


def test_a_lock_held_by_another_program_is_waited_on_visibly_and_within_a_limit(store_copy):
    db = store_copy / "out" / "runs.sqlite"
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.perf_counter()
        status, out, err = tweaknet("run", "small.toml", "--out", "out", "--epochs", "3", cwd=store_copy,
                                    env={"TWEAKNET_STORE_WAIT": "3"})
        took = time.perf_counter() - t0
    finally:
        holder.execute("ROLLBACK")
    assert status == 2 and took < 60
    assert "waiting for the store" in err and "TWEAKNET_STORE_WAIT" in err
    one_error(err, "locked by another program", str(Path("out") / "runs.sqlite"), "run the same command again")
    # released while it waits: the run goes on
    holder.execute("BEGIN EXCLUSIVE")
    proc = subprocess.Popen([sys.executable, "-m", "tweaknet", "run", "small.toml", "--out", "out", "--epochs", "3",
                             "--jobs", "1"], cwd=store_copy, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
                                 "TWEAKNET_STORE_WAIT": "120"})
    first = proc.stderr.readline()  # blocks until the message is shown
    holder.execute("ROLLBACK")
    holder.close()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "waiting for the store" in first, out + err


# -- 5. no silent wrong number ----------------------------------------------------------------------------
def test_a_diverging_trial_is_stored_and_reported_as_diverged(tmp_path):
    text = small(**{"categorical_crossentropy": "mean_squared_error", '"softmax"': '"linear"',
                    "learning_rate = 0.05": "learning_rate = 10.0", "epochs = 2": "epochs = 3"})
    (tmp_path / "e.toml").write_text(text)
    status, out, err = tweaknet("run", "e.toml", "--out", "o", "--jobs", "1", cwd=tmp_path)
    assert status == 3, out + err
    assert "DIVERGED" in out and "diverged" in err and "Traceback" not in err
    table = out[out.index("final test error"):]
    assert "%" not in table.splitlines()[3]  # no error rate for the configuration whose seeds all diverged
    (rows,) = sql(tmp_path / "o" / "runs.sqlite",
                  "SELECT status, (SELECT COUNT(*) FROM epochs WHERE trial_id = t.id) FROM trials t")
    assert rows == [("diverged", 1), ("diverged", 1)]  # stopped at the epoch that went non-finite
    status, out, err = tweaknet("run", "e.toml", "--out", "o", "--jobs", "1", cwd=tmp_path)
    assert status == 3 and "0 to train" in out  # not trained on from NaN weights; --restart starts it again


# -- 6. the store tells the truth ------------------------------------------------------------------------
def _store_rows(db):
    return tuple(sql(db, "SELECT id, status FROM trials ORDER BY id",
                     "SELECT trial_id, epoch, train_loss, test_accuracy FROM epochs ORDER BY 1, 2"))


def test_ctrl_c_marks_only_the_unfinished_trials(tmp_path):
    text = SMALL.replace("seeds = 2", "seeds = 1") + """
[[configurations]]
name = "quick"
"train.epochs" = 1
[[configurations]]
name = "long"
"train.epochs" = 5000
"data.train_samples" = 2000
"""
    (tmp_path / "e.toml").write_text(text)
    # PYTHONFAULTHANDLER: a run that does not stop prints where each of its threads is when the test aborts it
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "PYTHONFAULTHANDLER": "1"}
    log = open(tmp_path / "log.txt", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "tweaknet", "run", "e.toml", "--out", "o", "--jobs", "1",
                             "--progress", "none"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, text=True,
                            env=env)
    db = tmp_path / "o" / "runs.sqlite"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            ((n,),), = sql(db, "SELECT COUNT(*) FROM epochs e JOIN trials t ON t.id = e.trial_id WHERE "
                               "t.configuration = 'long'")
            if n >= 1:
                break
        except sqlite3.Error:
            pass
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        proc.wait(timeout=30)
        log.seek(0)
        pytest.fail(f"the run did not stop within 120 s of its Ctrl-C; its threads then:\n{log.read()}")
    log.seek(0)
    assert proc.returncode == 130, log.read()
    statuses, epochs = _store_rows(db)
    assert statuses[0][1] == "done" and statuses[1][1] == "interrupted"
    # a store of 0.1.0 could hold a complete trial marked 'interrupted': the next run repairs it
    sql(db, "UPDATE trials SET status = 'interrupted' WHERE id = 1")
    store = store_mod.Store(db)
    try:
        store.interrupt("nobody")  # only the owner's trials, and never a complete one as interrupted
        from tweaknet import lab
        rows = store.upsert_trials(lab.validate(lab.loads(text)))
        assert rows[0]["status"] == "done" and rows[0]["done"] == 1
    finally:
        store.close()


def test_two_runs_into_one_folder_train_each_trial_once_and_report_no_failure(tmp_path):
    """The first run's workers wait (their loader blocks) until the second run says it waits for the first."""
    (tmp_path / "gate.py").write_text(
        "import multiprocessing, pathlib, time\n"
        "import numpy as np\n"
        "def load():\n"
        "    if multiprocessing.parent_process() is not None:  # a worker of the first run: wait for the go\n"
        "        for _ in range(600):\n"
        "            if pathlib.Path('GO').exists():\n"
        "                break\n"
        "            time.sleep(0.1)\n"
        "    x = (np.arange(300 * 16) % 251).astype(np.uint8).reshape(300, 4, 4)\n"
        "    y = (np.arange(300) % 10).astype(np.uint8)\n"
        "    return (x[:200], y[:200]), (x[200:], y[200:])\n")
    (tmp_path / "e.toml").write_text(small('{ python = "gate:load" }'))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *(p for p in sys.path if p)])}
    cmd = [sys.executable, "-m", "tweaknet", "run", "e.toml", "--out", "o", "--jobs", "1", "--progress", "none",
           "--allow-code"]
    first = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lock = tmp_path / "o" / "runs.sqlite.run-lock"
    deadline = time.monotonic() + 120
    while not (lock.exists() and lock.read_text().startswith("pid")) and time.monotonic() < deadline:
        time.sleep(0.2)
    second = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    waiting = second.stderr.readline()  # blocks until the second run says it waits
    (tmp_path / "GO").write_text("")
    out1, err1 = first.communicate(timeout=300)
    out2, err2 = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, err1 + waiting + err2
    assert "another run (pid" in waiting and "waiting for it to finish" in waiting
    assert "2 already complete, 0 to train" in out2 and "FAILED" not in out1 + err1 + out2 + err2
    statuses, epochs = _store_rows(tmp_path / "o" / "runs.sqlite")
    assert [s for _, s in statuses] == ["done", "done"] and len(epochs) == 4  # each epoch stored once


@pytest.mark.parametrize("fault", ["a 4-byte checkpoint", "a checkpoint copied from another trial",
                                   "an epoch row deleted", "rng_json garbage", "the checkpoint deleted"])
def test_a_checkpoint_or_epoch_row_that_cannot_be_trusted_retrains_the_trial_from_its_start(store_copy, fault):
    db = store_copy / "out" / "runs.sqlite"
    (good,) = sql(db, "SELECT trial_id, epoch, train_loss, test_accuracy FROM epochs ORDER BY 1, 2")
    fault_sql = {
        "a 4-byte checkpoint": "UPDATE checkpoints SET state = x'00010203' WHERE trial_id = 1",
        "a checkpoint copied from another trial": "UPDATE checkpoints SET (state, rng_json, digest) = (SELECT state, "
                                                  "rng_json, digest FROM checkpoints WHERE trial_id = 2) "
                                                  "WHERE trial_id = 1",
        "an epoch row deleted": "DELETE FROM epochs WHERE trial_id = 1 AND epoch = 1",
        "rng_json garbage": "UPDATE checkpoints SET rng_json = 'garbage' WHERE trial_id = 1",
        "the checkpoint deleted": "DELETE FROM checkpoints WHERE trial_id = 1",
    }[fault]
    sql(db, fault_sql)
    status, out, err = tweaknet("run", "small.toml", "--out", "out", "--jobs", "1", "--epochs", "3", cwd=store_copy)
    assert status == 0, out + err
    assert "training it again from its start" in out and "default seed 1" in out
    statuses, epochs = _store_rows(db)
    assert [s for _, s in statuses] == ["done", "done"]
    assert [e[:2] for e in epochs] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert epochs[:2] == good[:2]  # retrained from its start: the same numbers, bit for bit
    assert epochs[3:5] == good[2:4]  # the other trial continued from its own checkpoint


def test_restart_with_fewer_seeds_forgets_only_the_trials_it_runs(exp):
    """``--restart --seeds 1`` after 3 seeds: seed 1 starts over, seeds 2 and 3 are kept (they were deleted)."""
    folder = exp.parent
    status, out, err = tweaknet("run", exp.name, "--out", "o", "--jobs", "1", "--seeds", "3", cwd=folder)
    assert status == 0, err
    db = folder / "o" / "runs.sqlite"
    (before,) = sql(db, "SELECT t.seed, e.epoch, e.train_loss FROM epochs e JOIN trials t ON t.id = e.trial_id "
                        "WHERE t.seed > 1 ORDER BY 1, 2")
    status, out, err = tweaknet("run", exp.name, "--out", "o", "--jobs", "1", "--seeds", "1", "--restart", cwd=folder)
    assert status == 0, err
    (after,) = sql(db, "SELECT t.seed, e.epoch, e.train_loss FROM epochs e JOIN trials t ON t.id = e.trial_id "
                       "WHERE t.seed > 1 ORDER BY 1, 2")
    assert after == before and len(after) == 4
