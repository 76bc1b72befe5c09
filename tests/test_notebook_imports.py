"""Every notebook runs with the runtime install alone (`pip install repl-nb`, or `make lab`): each module a notebook's
code cells import is in the standard library, is repl_nb itself, or comes from a distribution that pyproject.toml
lists as a runtime dependency (not from the dev extra), or is one of the test references in tests/ that the library
notebooks share with the test suite (each written once, there; their own imports are held to the same rule)."""
import ast
import functools
import importlib.metadata
import json
import re
import sys
import tomllib

import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "nbs").rglob("*.ipynb"))


@functools.cache
def runtime_distributions() -> set[str]:
    "Normalised names of the runtime dependencies (pyproject's [project] dependencies), and of what they require."
    norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
    todo = [re.match(r"[A-Za-z0-9_.-]+", d).group() for d in
            tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    seen = set()
    while todo:
        name = norm(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:  # a dependency's own (unconditional) requirements come with it
            todo += [re.match(r"[A-Za-z0-9_.-]+", r).group() for r in importlib.metadata.requires(name) or []
                     if "extra ==" not in r]
        except importlib.metadata.PackageNotFoundError:
            pass
    return seen


@functools.cache
def providers() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def executed_nodes(node):
    "The nodes under `node`, not descending into function bodies."
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from executed_nodes(child)


def source_imports(source: str) -> set[str]:
    "Top-level module names that `source` imports when run (an import inside a function runs only when called)."
    modules = set()
    for node in executed_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules


def imported_modules(notebook) -> set[str]:
    """The modules the notebook's code cells import when run (IPython magics and shell lines skipped; an import inside a
    function runs only when called, e.g. behind an optional dependency's check)."""
    cells = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    return set().union(*(source_imports("\n".join(l for l in "".join(c["source"]).splitlines()
                                                  if not l.lstrip().startswith(("%", "!")))) for c in cells))


def imported_modules_of_file(path) -> set[str]:
    return source_imports(path.read_text())


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "nbs")))
def test_notebook_imports_only_runtime_dependencies(notebook):
    allowed, provided_by = runtime_distributions(), providers()
    norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
    test_references = {m for m in imported_modules(notebook) if (ROOT / "tests" / f"{m}.py").exists()}
    imported = imported_modules(notebook).union(*(imported_modules_of_file(ROOT / "tests" / f"{m}.py") for m in test_references))
    missing = {m: provided_by.get(m, ["?"]) for m in imported - test_references - set(sys.stdlib_module_names) - {"repl_nb"}
               if not any(norm(d) in allowed for d in provided_by.get(m, []))}
    assert not missing, (f"{notebook.name} imports modules that a runtime install lacks (module: distributions): "
                         f"{missing}; add the distribution to [project] dependencies or drop the import")
