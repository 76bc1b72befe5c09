"""Every public function and class of the library documents each of its parameters with nbdev docments (a comment
after the parameter, or a dataclass field's trailing comment), so that `show_doc` renders a parameter table."""
import dataclasses
import importlib
import inspect
import pkgutil

import pytest
from fastcore.docments import docments

import repl_nb

MODULES = sorted(m.name for m in pkgutil.walk_packages(repl_nb.__path__, "repl_nb.") if not m.name.endswith("_modidx"))


def undocumented(module_name: str) -> dict[str, list[str]]:
    "Public definitions of `module_name` (its own, not re-exports) -> their parameters without a docment."
    module, missing = importlib.import_module(module_name), {}
    for name in getattr(module, "__all__", []):
        obj = getattr(module, name, None)
        if getattr(obj, "__module__", None) != module_name or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        # a dataclass documents its fields (docments reads the class); another class its constructor
        target = obj if dataclasses.is_dataclass(obj) or not inspect.isclass(obj) else obj.__init__
        try:
            params = inspect.signature(target).parameters.values()
        except (TypeError, ValueError):  # a builtin constructor: nothing of ours to document
            continue
        named = [p.name for p in params if p.name not in ("self", "cls")
                 and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
        docs = docments(target) if named else {}
        if [p for p in named if not docs.get(p)]:
            missing[name] = [p for p in named if not docs.get(p)]
    return missing


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_parameter_is_documented(module_name):
    assert not undocumented(module_name), f"parameters without a docment (`x: int, # what x is`): {undocumented(module_name)}"


def test_the_check_sees_a_missing_docment(tmp_path, monkeypatch):
    "The check fails on a function without docments (so a passing run means something)."
    (tmp_path / "docments_probe.py").write_text("__all__ = ['f']\n\ndef f(x: int, # documented\n      y: int): pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert undocumented("docments_probe") == {"f": ["y"]}
