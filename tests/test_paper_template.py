"Adding a paper whose method exists touches two files: a copy of the template notebook and a registry table."
import json
import shutil

from conftest import ROOT, run_tool

from repl_nb.core import NO_VERDICT
from repl_nb.registry import notebook_parameters

TABLE = '''
[my_paper]
title = "My paper: an MLP learns digits"
arxiv = "0000.00000"
reproduces = "test accuracy above chance over seeds"
presets.tiny = { steps = 30, seeds = [0], n_checkpoints = 2, png = false }
presets.small = {}
expected = { tiny = "10 s, CPU", small = "1 min, CPU" }
claims."test_acc" = "above chance"
'''


def test_template_declares_the_shared_vocabulary():
    declared = set(notebook_parameters(ROOT / "nbs" / "papers" / "_template.ipynb"))
    assert {"dataset", "model", "width", "depth", "steps", "batch_size", "lr", "seeds", "cpu_threads", "png",
            "scale", "out_dir"} <= declared


def test_a_paper_from_the_template_runs_with_two_files(tmp_path):
    papers = tmp_path / "papers"
    papers.mkdir()
    shutil.copy(ROOT / "nbs" / "papers" / "_template.ipynb", papers / "my_paper.ipynb")
    (papers / "registry.toml").write_text(TABLE)
    env = {"REPL_NB_PAPERS": str(papers)}
    assert "my_paper" in run_tool("repl-nb", "list", env=env).stdout
    run_tool("repl-nb", "reproduce", "my_paper", "--scale", "tiny", "--out", tmp_path / "runs", "--quiet", env=env)
    (run,) = (tmp_path / "runs" / "my_paper").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    (check,) = metrics["claims"]
    assert check["verdict"] == NO_VERDICT and "chance" in check["evidence"]  # the runner told the notebook its scale
    assert json.loads((run / "params.json").read_text())["scale"] == "tiny"
    assert (run / "accuracy.html").exists()
