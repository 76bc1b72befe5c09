"""The `repl-nb` command: the registry, parameter validation, the batch runner (skip, --force, failure, interruption,
resume), the report and the dashboard subcommand; and every real paper notebook at tiny scale.

Runner behaviour is tested on the fake papers of tests/fake_papers.py (`count`, `fitcount`) in a tmp folder
($REPL_NB_PAPERS)."""
import fnmatch
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import nbformat
import papermill
import pytest

from conftest import BIN, ROOT, run_tool
from fake_papers import FITCOUNT, count_papers, write_paper
from repl_nb import runner
from repl_nb.cli import main
from repl_nb.registry import (PAPERS_VAR, flatten, get_paper, load_registry, notebook_parameters, plan_jobs,
                              validate_parameters)
from repl_nb.report import write_report
from repl_nb.runner import run_job
from repl_nb.runs import run_lock, run_status

PAPER_NOTEBOOKS = sorted(p for p in (ROOT / "nbs" / "papers").glob("*.ipynb") if not p.name.startswith("_"))  # _template: not a paper


@pytest.fixture
def papers(tmp_path, monkeypatch):
    "A papers folder with the fake papers count, count_b and count_c, selected by $REPL_NB_PAPERS."
    folder = tmp_path / "papers"
    folder.mkdir()
    count_papers(folder, ("count", "count_b", "count_c"))
    monkeypatch.setenv(PAPERS_VAR, str(folder))
    return folder


def runs_of(root: Path, name: str) -> list[Path]:
    return sorted(p for p in (root / name).iterdir() if p.is_dir()) if (root / name).exists() else []


# ---------------------------------------------------------------- the real registry and notebooks

def test_every_paper_notebook_is_registered_and_vice_versa():
    "Every notebook serves at least one registry table (several tables may share one protocol's notebook)."
    assert {p.stem for p in PAPER_NOTEBOOKS} == {paper.notebook.stem for paper in load_registry().values()}
    assert all(paper.notebook.exists() for paper in load_registry().values())


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


def test_unknown_parameter_is_refused_with_the_valid_ones(tmp_path, capsys):
    assert main(["reproduce", "quickstart", "-p", "stepz", "10", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Unknown parameter(s) stepz" in err and "steps (int, default 1500)" in err
    assert not any(tmp_path.iterdir()), "nothing may run (or be created) before the parameters are valid"


def test_wrongly_typed_parameter_is_refused(tmp_path, capsys):
    assert main(["reproduce", "quickstart", "-p", "lr", "fast", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "lr of quickstart" in err and "expects float" in err


def test_unknown_reproduction_is_refused(capsys):
    assert main(["reproduce", "grokk"]) == 2
    assert "Unknown reproduction 'grokk'. Available: " in capsys.readouterr().err


def test_out_must_be_a_folder(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exit_:
        main(["reproduce", "quickstart", "--out", str(tmp_path / "file")])
    assert exit_.value.code == 2 and "is not a folder" in capsys.readouterr().err


def test_bad_batch_parameters_are_refused_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "runs"
    cases = [(["--all", "-p", "wdth", "3"], "Unknown parameter(s) wdth: no notebook among"),
             (["quickstart", "-p", "grok.width", "3"], "'grok' is not among the reproductions to run"),
             (["quickstart", "lc_dynamics", "-p", "lc_dynamics.width", "wide"], "Parameter width of lc_dynamics"),
             (["quickstart", "-p", "out_dir", "/tmp/x"], "out_dir is set by the runner"),
             (["quickstart", "--all"], "or pass --all (not both)"),
             ([], "or pass --all (not both)")]
    for args, message in cases:
        assert main(["reproduce", *args, "--scale", "tiny", "--out", str(out)]) == 2, args
        assert message in capsys.readouterr().err, args
    assert not out.exists(), "nothing may run (or be created) before every job's parameters are valid"
    jobs, notes = plan_jobs(["quickstart", "lc_dynamics"], {"n_probe": 30, "width": 8}, "tiny")
    assert notes == ["quickstart has no parameter n_probe; not applied there."]
    assert [j.params["width"] for j in jobs] == [8, 8] and jobs[1].params["n_probe"] == 30


def test_claims_are_strings_keyed_by_metric_names():
    for paper in load_registry().values():
        assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in paper.claims.items()), paper.name
    assert any(p.claims for p in load_registry().values()), "no paper states a claim for the report"


@pytest.mark.slow
@pytest.mark.parametrize("paper", sorted(set(load_registry()) - {"quickstart"}))
def test_every_paper_runs_at_tiny_scale(paper, tmp_path):
    run_tool("repl-nb", "reproduce", paper, "--scale", "tiny", "--out", tmp_path, "--quiet")
    run_dir = next((tmp_path / paper).iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics, f"{paper} wrote an empty metrics.json"
    assert [p for p in run_dir.glob("*.html") if p.name != "index.html"], f"{paper} saved no figure"
    keys = set(flatten(metrics))
    for pattern in load_registry()[paper].claims:  # a claim must sit next to a metric the notebook really writes
        assert any(k == pattern or fnmatch.fnmatchcase(k, pattern) for k in keys), f"{paper}: claim {pattern!r} matches no metric"


def test_quickstart_runs_headlessly_into_a_run_folder(tmp_path):
    proc = run_tool("repl-nb", "reproduce", "quickstart", "--scale", "tiny", "-p", "width", "32", "--out", tmp_path,
                    "--quiet")
    run_dir = next((tmp_path / "quickstart").iterdir())
    assert f"Report: {run_dir / 'index.html'}" in proc.stdout
    params = json.loads((run_dir / "params.json").read_text())
    assert params["width"] == 32 and params["steps"] == 100 and params["scale"] == "tiny"
    assert params["depth"] == 2, "params.json records every parameter, defaults included"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["test_acc"] <= 1.0
    for name in ("quickstart.ipynb", "accuracy.html", "confusion.html", "index.html", "train/metrics.jsonl", "run.json"):
        assert (run_dir / name).exists(), name
    assert list((run_dir / "train" / "checkpoints").glob("*.safetensors"))
    executed = nbformat.read(run_dir / "quickstart.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert (tmp_path / "report.html").exists(), "reproduce refreshes the runs folder's report"


def test_a_failing_notebook_leaves_its_partial_output_and_an_error(tmp_path):
    proc = run_tool("repl-nb", "reproduce", "quickstart", "--scale", "tiny", "-p", "lr", "-1.0", "--out", tmp_path,
                    "--quiet", check=False)
    assert proc.returncode == 1 and "quickstart failed" in proc.stderr
    run_dir = next((tmp_path / "quickstart").iterdir())
    assert (run_dir / "quickstart.ipynb").exists() and "traceback" in json.loads((run_dir / "error.json").read_text())


# ---------------------------------------------------------------- runner behaviour on fake papers

def test_registry_comes_from_repl_nb_papers(papers, tmp_path):
    assert set(load_registry()) == {"count", "count_b", "count_c"}
    assert load_registry(papers / "registry.toml").keys() == load_registry(papers).keys()
    assert get_paper("count").claims == {"acc": "0.9 in the paper", "resumed_*": "a pattern"}
    os.environ[PAPERS_VAR] = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="REPL_NB_PAPERS"):
        load_registry()


def test_a_finished_run_is_skipped_and_force_runs_it_again(papers, tmp_path):
    out = tmp_path / "runs"
    first = run_tool("repl-nb", "reproduce", "count", "--scale", "tiny", "--out", out)
    assert re.search(r"^count \(tiny, \w+\): running in ", first.stdout, re.M) and "count: done" in first.stdout
    assert "\r" not in first.stderr and re.search(r"count: 100%.*cell", first.stderr), "one readable line per refresh"
    (run,) = runs_of(out, "count")
    assert json.loads((run / "metrics.json").read_text())["steps"] == 3
    stamp = (run / "metrics.json").stat().st_mtime_ns
    assert main(["reproduce", "count", "--scale", "tiny", "--out", str(out), "--quiet"]) == 0
    assert runs_of(out, "count") == [run] and (run / "metrics.json").stat().st_mtime_ns == stamp, "skipped"
    # other parameters are another run
    assert main(["reproduce", "count", "--scale", "tiny", "-p", "steps", "4", "--out", str(out), "--quiet"]) == 0
    assert len(runs_of(out, "count")) == 2
    assert main(["reproduce", "count", "--scale", "tiny", "--out", str(out), "--quiet", "--force"]) == 0
    runs = runs_of(out, "count")
    assert len(runs) == 3 and all((r / "metrics.json").exists() for r in runs)


def test_failure_leaves_partial_output_and_all_goes_on(papers, tmp_path, capsys):
    out = tmp_path / "runs"
    code = main(["reproduce", "--all", "--scale", "tiny", "-p", "count_b.fail_at", "1", "-p", "sleep", "0.01",
                 "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    (failed,) = runs_of(out, "count_b")
    error = json.loads((failed / "error.json").read_text())
    assert "RuntimeError: failing at step 1 as asked" in error["error"] and "failing at step" in error["traceback"]
    assert (failed / "train" / "step-0").exists() and not (failed / "metrics.json").exists()
    executed = nbformat.read(failed / "count_b.ipynb", as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in executed.cells for o in c.get("outputs", []))
    assert "starting at step 0" in (failed / "run.log").read_text(), "the kernel's output goes to run.log"
    assert "count_b failed after" in captured.err
    for name in ("count", "count_c"):
        assert run_status(runs_of(out, name)[0]) == "finished", name
    table = captured.out[captured.out.index("name "):]
    for name, status in (("count", "done"), ("count_b", "failed"), ("count_c", "done")):
        assert re.search(rf"^{name}\s+{status}\s+\d+ s\s+{re.escape(str(out))}/{name}/", table, re.M), (name, table)
    # a failed run is resumed in its folder by the same command (which succeeds here without fail_at)
    assert main(["reproduce", "count_b", "--scale", "tiny", "--out", str(out), "--quiet"]) == 0
    assert [run_status(r) for r in runs_of(out, "count_b")] == ["failed", "finished"]


def test_a_run_interrupted_in_the_kernel_resumes_in_its_folder_from_fit_checkpoints(papers, tmp_path, capsys):
    write_paper(papers, "fitcount", [FITCOUNT], "steps = 40\ninterrupt_at = -1")
    out = tmp_path / "runs"
    args = ["reproduce", "fitcount", "-p", "interrupt_at", "25", "-p", "steps", "40", "--scale", "tiny", "--out", str(out),
            "--quiet"]
    assert main(args) == 130
    (run,) = runs_of(out, "fitcount")
    assert run_status(run) == "incomplete" and not (run / "error.json").exists()
    assert "run the same command again to resume" in capsys.readouterr().out
    assert main(args) == 0
    assert runs_of(out, "fitcount") == [run], "resumed in its own folder"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["resumed_from"] == 20 and metrics["final_step"] == 40  # from the last checkpoint before step 25
    steps = [json.loads(line)["step"] for line in (run / "train" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 10, 20, 30, 40]
    record = json.loads((run / "run.json").read_text())
    assert [a["outcome"] for a in record["attempts"]] == ["interrupted", "done"]
    assert "resumed" in capsys.readouterr().out


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_a_runner_stopped_by_a_signal_leaves_a_resumable_run(papers, tmp_path, how, capsys):
    "Ctrl-C (SIGINT to the runner's process group, as a terminal sends it) or SIGTERM (a scheduler pre-empting the job)."
    out, log = tmp_path / "runs", open(tmp_path / "runner.log", "w")
    cmd = [str(BIN / "repl-nb"), "reproduce", "count", "-p", "steps", "60", "-p", "sleep", "0.05", "--scale", "tiny",
           "--out", str(out), "--quiet"]
    # as from a terminal, where Ctrl-C is never ignored: a test run started as a background job (which ignores SIGINT,
    # and its children with it) must not make the runner deaf to it
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        while not list(out.glob("count/*/train/step-3")):
            assert proc.poll() is None and time.time() < deadline, (tmp_path / "runner.log").read_text()
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT) if how == "ctrl-c" else proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130, (tmp_path / "runner.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    (run,) = runs_of(out, "count")
    assert run_status(run) == "incomplete" and not (run / "error.json").exists()
    done_before = len(list((run / "train").glob("step-*")))
    assert 3 < done_before < 60
    assert main(cmd[1:]) == 0  # the same command again
    assert "count: resumed" in capsys.readouterr().out
    assert runs_of(out, "count") == [run], "resumed in its own folder"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["resumed_from"] >= done_before and metrics["steps"] == 60


KILLCOUNT = '''\
from pathlib import Path
import json, os, signal
run = Path(out_dir)
(run / "train").mkdir(exist_ok=True)
resumed_from = len(list((run / "train").glob("step-*")))
for step in range(resumed_from, steps):
    if step == kill_at and not (run / "killed-once").exists():
        (run / "killed-once").touch()
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer or a crashing extension would
    (run / "train" / f"step-{step}").touch()
(run / "metrics.json").write_text(json.dumps({"steps": steps, "resumed_from": resumed_from}))
'''


def test_a_killed_kernel_resumes_in_its_folder(papers, tmp_path, capsys):
    write_paper(papers, "killcount", [KILLCOUNT], "steps = 6\nkill_at = -1")
    out = tmp_path / "runs"
    args = ["reproduce", "killcount", "-p", "kill_at", "3", "-p", "steps", "6", "--scale", "tiny", "--out", str(out), "--quiet"]
    assert main(args) == 1
    (run,) = runs_of(out, "killcount")
    assert run_status(run) == "failed" and "DeadKernelError" in json.loads((run / "error.json").read_text())["error"]
    (run / ".step-000000009.safetensors.tmp-999999999").write_text("torn")  # a write the kill cut short
    assert main(args) == 0
    assert "resuming in" in capsys.readouterr().out
    assert runs_of(out, "killcount") == [run], "resumed in its own folder, not a new one"
    assert json.loads((run / "metrics.json").read_text()) == {"steps": 6, "resumed_from": 3}
    record = json.loads((run / "run.json").read_text())
    assert [a["outcome"] for a in record["attempts"]] == ["failed", "done"] and "DeadKernel" in record["attempts"][0]["error"]
    assert not (run / "error.json").exists() and not list(run.glob(".*.tmp-*")), "the error is history, stray temps gone"


def _race(out: Path, barrier, results) -> None:
    "One runner of a race (a forked child): fake notebook execution, so that only the claim is timed."
    def execute(job, run_dir, progress):
        time.sleep(0.3)
        (run_dir / "metrics.json").write_text("{}")
        return "done", ""
    runner._execute = execute
    job = plan_jobs(["count"], {}, "tiny")[0][0]
    barrier.wait()
    outcome = run_job(job, out, progress=False, say=lambda s: None)
    results.put(outcome.status)


def test_simultaneous_runners_run_each_job_once(papers, tmp_path):
    "8 pairs of runners of the same job, each pair started at the same instant: one runs it, the other is told so."
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    for trial in range(8):
        out, barrier, results = tmp_path / f"runs{trial}", ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_race, args=(out, barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        statuses = sorted(results.get(timeout=5) for _ in procs)
        assert statuses in (["busy", "done"], ["done", "skipped"]), (trial, statuses)
        assert len(runs_of(out, "count")) == 1, trial


def test_two_reproduce_commands_at_once_run_the_job_once(papers, tmp_path):
    out = tmp_path / "runs"
    cmd = [str(BIN / "repl-nb"), "reproduce", "count", "-p", "sleep", "0.2", "--scale", "tiny", "--out", str(out), "--quiet"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert sorted(p.returncode for p in procs) == [0, 1], outputs  # done, and busy (not ok)
    assert "Traceback" not in "".join(o[1] for o in outputs), outputs
    assert "without encryption" not in "".join(o[1] for o in outputs), "kernels talk over IPC, not TCP"
    assert len(runs_of(out, "count")) == 1 and sum("count: done" in o[0] for o in outputs) == 1, outputs


def test_torn_and_garbled_files_are_named(papers, tmp_path, capsys):
    out = tmp_path / "runs"
    args = ["reproduce", "count", "--scale", "tiny", "--out", str(out), "--quiet"]
    assert main(args) == 0
    (run,) = runs_of(out, "count")
    metrics = (run / "metrics.json").read_text()
    (run / "metrics.json").write_text(metrics[:10])  # torn: the run did not finish writing it, so it is resumed
    assert main(args) == 0 and runs_of(out, "count") == [run]
    assert json.loads((run / "metrics.json").read_text())["steps"] == json.loads(metrics)["steps"]
    params = (run / "params.json").read_text()
    (run / "params.json").write_text(params[:15])  # torn: whether this job finished cannot be known - say so
    capsys.readouterr()
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{run / 'params.json'} is not valid JSON" in err and "Traceback" not in err
    assert runs_of(out, "count") == [run], "nothing redone"


def test_out_under_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    for out in (tmp_path / "file", tmp_path / "file" / "runs"):
        with pytest.raises(SystemExit) as exit_:
            main(["reproduce", "count", "--out", str(out)])
        assert exit_.value.code == 2 and "is not a folder" in capsys.readouterr().err


def test_a_run_in_progress_is_not_run_twice(papers, tmp_path):
    out = tmp_path / "runs"
    job = plan_jobs(["count"], {}, "tiny")[0][0]
    run = out / "count" / "20250101-000000"
    run.mkdir(parents=True)
    (run / "params.json").write_text(json.dumps({**job.record, "out_dir": str(run)}))
    lock = run_lock(run)  # as another runner would hold it
    try:
        outcome = run_job(job, out, progress=False)
        assert outcome.status == "busy" and outcome.run_dir == run and not outcome.ok
        assert runs_of(out, "count") == [run], "no other folder is started for the same parameters"
    finally:
        lock.close()


# ---------------------------------------------------------------- the report and the dashboard command

def make_run(root: Path, paper: str, stamp: str, params: dict, metrics: dict | None = None, error: str | None = None,
             figures=(), pngs=(), seconds: float = 12.0) -> Path:
    run = root / paper / stamp
    run.mkdir(parents=True)
    (run / "params.json").write_text(json.dumps({"paper": paper, **params, "out_dir": str(run)}))
    (run / "run.json").write_text(json.dumps({"seconds": seconds, "device": "cpu", "attempts": [{"seconds": seconds}]}))
    if metrics is not None:
        (run / "metrics.json").write_text(json.dumps(metrics))
    if error:
        (run / "error.json").write_text(json.dumps({"error": error, "traceback": "..."}))
    for name in figures:
        (run / f"{name}.html").write_text(f"<!doctype html><p>{name}</p>")
    for name in pngs:
        (run / f"{name}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return run


def test_report_lists_runs_latest_first_with_claims_figures_and_no_network(papers, tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "count", "20250101-000000", {"scale": "tiny", "steps": 3}, {"acc": 0.25})
    make_run(runs, "count", "20250301-000000", {"scale": "small", "steps": 5},
             {"acc": 0.75, "resumed_from": 0, "nested": {"a": {"b": 1.23456}}, "summary": ["a <b>finding</b>"]},
             figures=["curve", "b & c"], pngs=["curve"])
    make_run(runs, "count_b", "20250201-000000", {"scale": "tiny"}, error="RuntimeError: boom")
    make_run(runs, "unregistered", "20250101-000000", {}, {"x": 1})
    assert main(["report", str(runs)]) == 0
    page = (runs / "report.html").read_text()
    # papers in registry order, unknown ones last; the latest run of a paper first, the older folded in <details>
    assert page.index("Fake paper count<") < page.index("Fake paper count_b<") < page.index("<h2 id='unregistered'>")
    section = page[page.index("Fake paper count<"):page.index("Fake paper count_b<")]
    assert section.index("20250301-000000") < section.index("1 older run(s)") < section.index("20250101-000000")
    assert section.count("class='run'") == 2 and "<details class='older'>" in section
    assert "https://arxiv.org/abs/1234.56785" in page
    assert re.search(r"<th>acc</th><td>0.75</td><td class='claim'>0.9 in the paper</td>", page)
    assert re.search(r"<th>resumed_from</th><td>0</td><td class='claim'>a pattern</td>", page)
    assert "<th>nested.a.b</th><td>1.235</td>" in page and "a &lt;b&gt;finding&lt;/b&gt;" in page
    assert "src='count/20250301-000000/curve.html'" in page and "src='count/20250301-000000/b%20%26%20c.html'" in page
    assert "<img loading='lazy' alt='curve.png' src='count/20250301-000000/curve.png'>" in page
    assert "RuntimeError: boom" in page and "badge failed" in page and "12 s on cpu" in page
    external = re.findall(r"(?:src|href)='(\w+:[^']*)'", page)
    assert external and all(u.startswith("https://arxiv.org/abs/") for u in external), external
    assert not re.search(r"<script[^>]*\bsrc=", page) and "<link" not in page, "the page loads nothing itself (its script is inline)"


def test_report_follows_no_symlink_out_of_the_runs_folder(papers, tmp_path):
    runs, secret = tmp_path / "runs", tmp_path / "secret.txt"
    secret.write_text("SECRET-OUTSIDE")
    run = make_run(runs, "count", "20250101-000000", {"scale": "tiny"}, {"acc": 0.5})
    for name in ("findings.md", "leak.html", "leak.png", "error.json"):
        (run / name).symlink_to(secret)
    make_run(tmp_path / "elsewhere", "count", "20250201-000000", {"scale": "tiny"}, {"acc": 0.9}, figures=["far"])
    (runs / "count" / "20250201-000000").symlink_to(tmp_path / "elsewhere" / "count" / "20250201-000000")
    page = write_report(runs).read_text()
    assert "SECRET-OUTSIDE" not in page and "leak" not in page and "20250201" not in page and "far.html" not in page
    assert "20250101-000000" in page


def test_report_and_dashboard_refuse_a_missing_folder(tmp_path, capsys):
    for command in ("report", "dashboard"):
        with pytest.raises(SystemExit) as exit_:
            main([command, str(tmp_path / "nowhere")])
        assert exit_.value.code == 2
        assert "nowhere does not exist" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit):
        main(["dashboard", str(tmp_path / "file"), "--port", "99999"])
    err = capsys.readouterr().err
    assert "is not an existing folder" in err or "is not a port number" in err


def test_dashboard_command_serves_the_folder_on_the_given_address(tmp_path, monkeypatch):
    import repl_nb.dashboard
    calls = []
    monkeypatch.setattr(repl_nb.dashboard, "serve", lambda *a, **kw: calls.append((a, kw)))
    monkeypatch.setenv("REPL_NB_DASHBOARD", "127.0.0.1:5123")
    assert main(["dashboard", str(tmp_path)]) == 0
    assert main(["dashboard", str(tmp_path), "--port", "8000", "--address", "0.0.0.0"]) == 0
    assert main(["dashboard", str(tmp_path), "--address", "::1"]) == 0
    assert main(["dashboard", str(tmp_path), "--address", "127.0.0.1:8123"]) == 0  # HOST:PORT, as the setting
    assert [(a, kw) for a, kw in calls] == [((tmp_path,), {"address": "127.0.0.1:5123", "show": False}),
                                            ((tmp_path,), {"address": "0.0.0.0:8000", "show": False}),
                                            ((tmp_path,), {"address": "[::1]:5123", "show": False}),
                                            ((tmp_path,), {"address": "127.0.0.1:8123", "show": False})]


class FakeServer:
    "What dashboard.serve needs of the server pn.serve returns when not started."
    def __init__(self, **kw):
        import types
        self.kw, self._tornado = kw, types.SimpleNamespace(websocket_origins=set(kw["websocket_origin"]))


def serve_without_serving(monkeypatch, tmp_path, address):
    import panel
    from repl_nb import dashboard
    monkeypatch.setattr(panel, "serve", lambda *a, **kw: FakeServer(**kw))
    return dashboard.serve(tmp_path, address=address, start=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "0", "[::]", "[0:0:0:0:0:0:0:0]"])
def test_every_wildcard_spelling_warns(host, tmp_path, monkeypatch):
    with pytest.warns(UserWarning, match="every interface"):
        server = serve_without_serving(monkeypatch, tmp_path, f"{host}:8123")
    assert server.kw["port"] == 8123


def test_ipv6_loopback_is_served_with_a_bracketed_origin(tmp_path, monkeypatch, recwarn):
    server = serve_without_serving(monkeypatch, tmp_path, "[::1]:8123")
    assert server.kw["address"] == "::1" and server._tornado.websocket_origins == {"[::1]:8123", "localhost:8123"}
    assert not [w for w in recwarn if "every interface" in str(w.message)]


def test_list_does_not_import_the_dashboard():
    code = ("import sys; from repl_nb.cli import main; main(['list']); "
            "assert 'panel' not in sys.modules and 'repl_nb.dashboard' not in sys.modules, 'panel imported'")
    run_tool("python", "-c", code)
