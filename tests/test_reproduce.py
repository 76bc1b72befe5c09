"The `repl-nb` command: listing, parameter validation, and a real papermill run into a run folder."
import json

import nbformat
import papermill
import pytest

from conftest import ROOT, run_tool
from repl_nb.reproduce import load_registry, notebook_parameters, validate_parameters

PAPER_NOTEBOOKS = sorted((ROOT / "nbs" / "papers").glob("*.ipynb"))


def test_every_paper_notebook_is_registered_and_vice_versa():
    assert {p.stem for p in PAPER_NOTEBOOKS} == set(load_registry())


@pytest.mark.parametrize("paper", load_registry().values(), ids=lambda p: p.name)
def test_presets_name_real_parameters_of_the_right_type(paper):
    defaults = notebook_parameters(paper.notebook)
    for scale, preset in paper.presets.items():
        validate_parameters(preset, defaults, f"{paper.name} preset {scale}")


@pytest.mark.parametrize("notebook", PAPER_NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_is_tagged_and_holds_plain_literals(notebook):
    nb = nbformat.read(notebook, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{notebook.name} needs exactly one cell tagged 'parameters'"
    declared = papermill.inspect_notebook(str(notebook))
    assert "out_dir" in declared
    assert notebook_parameters(notebook).keys() == declared.keys()  # every default is a literal


def test_list_shows_every_reproduction():
    out = run_tool("repl-nb", "list").stdout
    for name in load_registry():
        assert name in out


def test_unknown_parameter_is_refused_with_the_valid_ones(tmp_path):
    proc = run_tool("repl-nb", "reproduce", "quickstart", "-p", "stepz", "10", "--out", tmp_path, check=False)
    assert proc.returncode == 2
    assert "Unknown parameter(s) stepz" in proc.stderr and "steps (int, default 1500)" in proc.stderr
    assert not any(tmp_path.iterdir()), "nothing may run (or be created) before the parameters are valid"


def test_wrongly_typed_parameter_is_refused(tmp_path):
    proc = run_tool("repl-nb", "reproduce", "quickstart", "-p", "lr", "fast", "--out", tmp_path, check=False)
    assert proc.returncode == 2 and "lr of quickstart" in proc.stderr and "expects float" in proc.stderr


def test_unknown_reproduction_is_refused():
    proc = run_tool("repl-nb", "reproduce", "grokk", check=False)
    assert proc.returncode == 2 and "Unknown reproduction 'grokk'. Available: " in proc.stderr


def test_out_must_be_a_folder(tmp_path):
    (tmp_path / "file").write_text("")
    proc = run_tool("repl-nb", "reproduce", "quickstart", "--out", tmp_path / "file", check=False)
    assert proc.returncode == 2 and "is not a folder" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("paper", sorted(set(load_registry()) - {"quickstart"}))
def test_every_paper_runs_at_tiny_scale(paper, tmp_path):
    run_tool("repl-nb", "reproduce", paper, "--scale", "tiny", "--out", tmp_path, "--quiet")
    run_dir = next((tmp_path / paper).iterdir())
    assert json.loads((run_dir / "metrics.json").read_text()), f"{paper} wrote an empty metrics.json"
    assert [p for p in run_dir.glob("*.html") if p.name != "index.html"], f"{paper} saved no figure"


def test_quickstart_runs_headlessly_into_a_run_folder(tmp_path):
    proc = run_tool("repl-nb", "reproduce", "quickstart", "--scale", "tiny", "-p", "width", "32", "--out", tmp_path,
                    "--quiet")
    run_dir = next((tmp_path / "quickstart").iterdir())
    assert f"Report: {run_dir / 'index.html'}" in proc.stdout
    params = json.loads((run_dir / "params.json").read_text())
    assert params["width"] == 32 and params["steps"] == 100 and params["scale"] == "tiny"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["test_acc"] <= 1.0
    for name in ("quickstart.ipynb", "accuracy.html", "confusion.html", "index.html", "train/metrics.jsonl"):
        assert (run_dir / name).exists(), name
    assert list((run_dir / "train" / "checkpoints").glob("*.safetensors"))
    executed = nbformat.read(run_dir / "quickstart.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)


def test_a_failing_notebook_leaves_its_partial_output_and_an_error(tmp_path):
    proc = run_tool("repl-nb", "reproduce", "quickstart", "--scale", "tiny", "-p", "lr", "-1.0", "--out", tmp_path,
                    "--quiet", check=False)
    assert proc.returncode == 1 and "quickstart failed" in proc.stderr
    run_dir = next((tmp_path / "quickstart").iterdir())
    assert (run_dir / "quickstart.ipynb").exists() and "traceback" in json.loads((run_dir / "error.json").read_text())
