"""The library's layers: data -> augment -> models -> train -> analysis -> viz -> widgets / dashboard / papers. A module
imports only modules of earlier layers (every import in its source, inside functions too), so there is no upward
import and no cycle; a new module must be given its layer here."""
import ast
import collections
from pathlib import Path

import pytest

from conftest import ROOT

LAYERS = [  # top-level modules and packages of repl_nb, lowest first
    {"core"},
    {"data"},
    {"augment"},
    {"models"},
    {"train"},
    {"splines", "robustness", "losses", "classwise", "recon", "scattering"},  # analysis on trained models
    {"dynamics", "ssl", "lso"},  # analysis built on the tier above
    {"viz"},
    {"widgets"},
    {"widgets_llm", "lso_viz", "scattering_viz"},
    {"registry"},
    {"runs"},
    {"report"},
    {"dashboard"},
    {"runner"},
    {"executors"},
    {"cli"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def imports(package: Path = ROOT / "repl_nb") -> dict[str, set[str]]:
    "Top-level module -> the top-level modules of repl_nb its source imports (relative and absolute imports alike)."
    edges = collections.defaultdict(set)
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        if parts[1] in ("__init__", "_modidx"):  # the package's own files: no layer of their own
            continue
        module, where = parts[1], list(parts[:-1])  # `where`: the package holding this file
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = (where[:len(where) - node.level + 1] + [node.module or ""] if node.level else [node.module or ""])
                target = ".".join(t for t in target if t).split(".")
                if target[0] == "repl_nb":
                    edges[module] |= {target[1]} if len(target) > 1 else {a.name for a in node.names}
            elif isinstance(node, ast.Import):
                edges[module] |= {a.name.split(".")[1] for a in node.names if a.name.startswith("repl_nb.")}
        edges[module].discard(module)
    return edges


def upward(edges: dict[str, set[str]]) -> list[str]:
    "The imports of a module from its own or a later layer."
    return sorted(f"{a} -> {b}" for a, targets in edges.items() for b in targets if LAYER[b] >= LAYER[a])


def test_every_module_has_a_layer():
    modules = {p.stem for p in (ROOT / "repl_nb").glob("*.py") if p.stem not in ("__init__", "_modidx")}
    modules |= {p.name for p in (ROOT / "repl_nb").iterdir() if (p / "__init__.py").exists()}
    assert modules == set(LAYER), f"without a layer: {sorted(modules - set(LAYER))}; gone: {sorted(set(LAYER) - modules)}"


def test_no_module_imports_upward():
    assert not upward(imports()), upward(imports())


def test_an_upward_import_is_seen(tmp_path):
    "The check finds an upward import, relative or absolute, at any depth (so a passing run means something)."
    (tmp_path / "repl_nb" / "models").mkdir(parents=True)
    (tmp_path / "repl_nb" / "models" / "__init__.py").write_text("def f():\n    from ..train import fit\n")
    (tmp_path / "repl_nb" / "data.py").write_text("import repl_nb.viz\n")
    assert upward(imports(tmp_path / "repl_nb")) == ["data -> viz", "models -> train"]
