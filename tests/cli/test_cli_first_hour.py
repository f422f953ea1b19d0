"""What a new user meets in the first hour (issue 16): the help names every file a command writes, and every
subcommand the README leads to is documented there."""
from __future__ import annotations

import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pytest

from tweaknet.cli import build_parser, main

README = Path(__file__).resolve().parents[2] / "README.md"


def _help(capsys, *argv):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines: compare words


def test_table5_1_help_names_every_file_it_writes(capsys):
    text = _help(capsys, "table5-1")
    for name in ("table5-1.csv", "table5-1-summary.csv", "table5-1.png", "Figure 5-12"):
        assert name in text, name


def test_every_subcommand_is_in_the_readme():
    readme = README.read_text(encoding="utf-8")
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    missing = [name for name in sub.choices if not re.search(rf"`tweaknet {re.escape(name)}\b", readme)]
    assert not missing, f"subcommands the README does not mention: {missing}"


def test_preset_prints_no_name_so_a_copy_is_named_after_its_file(capsys, tmp_path):
    from tweaknet.lab import load, presets
    assert main(["preset", "table5-1"]) == 0
    text = capsys.readouterr().out
    assert "name" not in tomllib.loads(text)  # the configurations and the optimizer have names, the file none
    (tmp_path / "my-variant.toml").write_text(text)
    assert load(tmp_path / "my-variant.toml").name == "my-variant"
    assert presets.get("table5-1").name == "table5-1"
