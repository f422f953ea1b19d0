"""The ``tweaknet`` command: every subcommand is registered; ``python -m tweaknet`` enters it."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tweaknet import __version__
from tweaknet.cli import build_parser, main

SUBCOMMANDS = ("table5-1", "run", "search", "preset", "diagnose", "plot", "data", "export")


def _help(capsys, *argv):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def test_every_subcommand_is_registered(capsys):
    top = _help(capsys)
    listed = [m.group(1) for m in re.finditer(r"^ {4}(\S+)", top, re.M)]  # not the wrapped help lines
    assert tuple(listed) == SUBCOMMANDS
    assert "usage: tweaknet table5-1" in _help(capsys, "table5-1") and "--dry-run" in _help(capsys, "table5-1")
    run = _help(capsys, "run")
    assert "usage: tweaknet run" in run and "file" in run and "--set PATH=VALUE" in run
    assert "--list" in _help(capsys, "preset")
    diagnose = _help(capsys, "diagnose")
    assert all(option in diagnose for option in ("--preset", "--config", "--seed", "--json", "--plots"))
    assert "{activations}" in _help(capsys, "plot")
    assert "download" in _help(capsys, "data")
    assert "--dest" in _help(capsys, "data", "download") and "--url" in _help(capsys, "data", "download")
    assert build_parser().prog == "tweaknet"


def test_no_command_prints_the_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: tweaknet" in capsys.readouterr().err
    assert main(["data"]) == 2  # no action
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"tweaknet {__version__}"


def test_python_dash_m_tweaknet():
    done = subprocess.run([sys.executable, "-m", "tweaknet", "preset", "--list"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("table5-1\t")
