"""The house rules of the source tree, read from the code itself (``ast``), so that a change that breaks them
fails here: no import cycle between packages (function-level imports count), imports point down the floors
drawn in the README, no private name imported from another module, argparse only in the command line."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "tweaknet"

# The floors of the README's diagram: a package may import those below it, never those above.
TECHNIQUES = {"layers", "activations", "initializers", "losses", "optimizers", "regularizers", "metrics"}
FORBIDDEN = {
    # package: the packages it must never import
    **{t: {"models", "training", "fast", "callbacks", "saving", "lab", "diagnostics", "cli", "datasets"}
       for t in TECHNIQUES},
    "models": {"diagnostics", "lab", "cli", "datasets"},
    "training": {"models", "fast", "diagnostics", "lab", "cli", "callbacks", "saving"},
    "fast": {"training", "models", "diagnostics", "lab", "cli", "callbacks", "saving"},
    "callbacks": {"models", "diagnostics", "lab", "cli"},
    "saving": {"models", "callbacks", "diagnostics", "lab", "cli", "training", "fast"},
    "diagnostics": {"lab", "cli"},
    "lab": {"cli"},
    "datasets": {"models", "lab", "cli", "diagnostics", "training", "fast"},
}


def modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        is_package = path.name == "__init__.py"
        yield path, parts, is_package


def imports(path, parts, is_package):
    """(target module parts inside tweaknet, imported names) for every import in the file, at any depth."""
    here = parts if is_package else parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                bits = alias.name.split(".")
                if bits[0] == "tweaknet":
                    yield bits[1:], []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)] if node.level > 1 else here
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "tweaknet":
                target = node.module.split(".")[1:]
            else:
                continue
            yield target, [a.name for a in node.names]


def package_edges():
    edges = {}
    for path, parts, is_package in modules():
        if not parts:
            continue  # the package root may import everything: it wires the floors together
        src = parts[0]
        for target, names in imports(path, parts, is_package):
            dsts = [target[0]] if target else names  # "from .. import fast, losses" names packages
            for dst in dsts:
                if dst != src and ((ROOT / dst).is_dir() or (ROOT / f"{dst}.py").exists()):
                    edges.setdefault(src, set()).add(dst)
    return edges


def test_the_package_graph_has_no_cycle():
    edges = package_edges()
    state, cycle = {}, []

    def visit(v, trail):
        state[v] = "open"
        for w in sorted(edges.get(v, ())):
            if state.get(w) == "open":
                cycle.append(trail[trail.index(w):] + [w] if w in trail else [v, w])
            elif w not in state:
                visit(w, trail + [w])
        state[v] = "done"

    for v in sorted(edges):
        if v not in state:
            visit(v, [v])
    assert not cycle, f"import cycles between packages: {cycle}"


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_down_the_floors(package):
    wrong = package_edges().get(package, set()) & FORBIDDEN[package]
    assert not wrong, f"{package} imports {sorted(wrong)}, a floor above it (see the README's Development section)"


def test_no_private_name_is_imported_from_another_module():
    found = []
    for path, parts, is_package in modules():
        for target, names in imports(path, parts, is_package):
            found += [f"{path.relative_to(ROOT)}: {n} from {'.'.join(target)}" for n in names
                      if n.startswith("_") and n != "__version__"]
    assert not found, found


def test_only_the_command_line_knows_argparse():
    users = [str(path.relative_to(ROOT)) for path, parts, _ in modules()
             if parts[:1] != ["cli"] and any(isinstance(n, (ast.Import, ast.ImportFrom)) and
                                             "argparse" in ([a.name for a in n.names] if isinstance(n, ast.Import)
                                                            else [n.module or ""])
                                             for n in ast.walk(ast.parse(path.read_text())))]
    assert not users, f"argparse outside tweaknet/cli: {users}"


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path, monkeypatch):
    """The rules above can fail: a tree where models imports diagnostics and back is caught."""
    fake = tmp_path / "tweaknet"
    for pkg, body in {"models": "from ..diagnostics import x\n", "diagnostics": "from ..models import y\n"}.items():
        (fake / pkg).mkdir(parents=True)
        (fake / pkg / "__init__.py").write_text(body)
    (fake / "__init__.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    assert package_edges() == {"models": {"diagnostics"}, "diagnostics": {"models"}}
    with pytest.raises(AssertionError, match="cycles"):
        test_the_package_graph_has_no_cycle()
    with pytest.raises(AssertionError, match="floor above"):
        test_imports_point_down_the_floors("models")
