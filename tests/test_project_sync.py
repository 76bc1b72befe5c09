"The generated files (library, README) and the notebooks' cleanliness are in sync with nbs/."
import filecmp
import shutil

import pytest

from conftest import ROOT, run_tool


def _copy_project(dest):
    for name in ("pyproject.toml", "settings.ini", "nbs", "repl_nb"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)


def _diff(a, b):
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    out = [f"{a.name}: differs {cmp.diff_files}, only in repo {cmp.left_only}, only in export {cmp.right_only}"] \
        if cmp.diff_files or cmp.left_only or cmp.right_only else []
    for sub in cmp.common_dirs:
        out += _diff(a / sub, b / sub)
    return out


def test_library_matches_notebooks(tmp_path):
    _copy_project(tmp_path)
    shutil.rmtree(tmp_path / "repl_nb")
    run_tool("nbdev-export", cwd=tmp_path)
    problems = _diff(ROOT / "repl_nb", tmp_path / "repl_nb")
    assert not problems, f"repl_nb/ is out of sync with nbs/ ({problems}): run `make export` and commit."


def test_notebooks_are_clean_and_keep_parameters_tags(tmp_path):
    _copy_project(tmp_path)
    run_tool("nbdev-clean", cwd=tmp_path)
    changed = [p.relative_to(tmp_path) for p in (tmp_path / "nbs").rglob("*.ipynb")
               if p.read_text() != (ROOT / p.relative_to(tmp_path)).read_text()]
    assert not changed, f"notebooks not cleaned: {changed}; run `make export` (nbdev-clean) and commit."
    for nb in (tmp_path / "nbs" / "papers").glob("*.ipynb"):
        assert '"parameters"' in nb.read_text(), f"{nb.name} lost its papermill parameters tag"


def test_readme_matches_index_notebook(tmp_path):
    run_tool("jupyter", "nbconvert", "--log-level", "WARN", "--to", "markdown", ROOT / "nbs" / "index.ipynb",
             "--output-dir", tmp_path, "--output", "README")
    assert (tmp_path / "README.md").read_text() == (ROOT / "README.md").read_text(), \
        "README.md is out of sync with nbs/index.ipynb: run `make readme` and commit."


def test_readme_quick_start_is_the_make_commands():
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start")[1].split("```sh")[1].split("```")[0]
    assert [line.split("#")[0].strip() for line in quick.strip().splitlines()] == ["make demo", "make test", "make lab"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
