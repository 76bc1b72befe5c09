"""Executors of `repl-nb reproduce`: several local notebooks at once through submitit's local executor (real
processes), GPU pinning on a fake device list, requeue after a time limit resuming in the run folder, and SLURM
submission through submitit's own SLURM code path with stand-ins for sbatch / sacct / scancel on PATH."""
import json
import os
import signal
import time
from pathlib import Path

import psutil
import pytest
import submitit

from conftest import run_tool
from fake_papers import COUNT, write_paper

from repl_nb import executors as E
from repl_nb.core import available_cpus, read_json
from repl_nb.cli import main
from repl_nb.registry import load_registry, plan_jobs

# the fake paper also reports the environment its kernel saw: GPU pinning and CPU threads
ENV_END = '''\
import os
(run / "metrics.json").write_text(json.dumps({"steps": steps, "resumed_from": resumed_from,
    "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"), "threads": os.environ.get("OMP_NUM_THREADS")}))
'''


@pytest.fixture
def papers(tmp_path, monkeypatch):
    folder = tmp_path / "papers"
    folder.mkdir()
    for name in ("count", "count_b"):
        write_paper(folder, name, (COUNT, ENV_END), "steps = 3\nfail_at = -1\ninterrupt_at = -1\nsleep = 0.0")
    monkeypatch.setenv("REPL_NB_PAPERS", str(folder))
    return load_registry(folder)


def test_two_notebooks_at_once_each_pinned_to_its_gpu(papers, tmp_path):
    jobs, _ = plan_jobs(["count", "count_b"], {"sleep": 0.5}, "tiny", papers)
    start = time.perf_counter()
    outcomes = E.run_parallel(jobs, tmp_path / "runs", n_jobs=2, gpus=[2, 3], visible=4, say=print)
    parallel = time.perf_counter() - start
    assert [o.status for o in outcomes] == ["done", "done"], [o.message for o in outcomes]
    metrics = [read_json(o.run_dir / "metrics.json") for o in outcomes]
    assert sorted(m["gpus"] for m in metrics) == ["2", "3"], "each job sees its own GPU only"
    assert {m["threads"] for m in metrics} == {str(max(1, available_cpus() // 2))}, "CPU cores split between jobs"
    # the same jobs again: skipped, without starting any process
    assert [o.status for o in E.run_parallel(jobs, tmp_path / "runs", n_jobs=2, say=print)] == ["skipped", "skipped"]
    sequential_runs = tmp_path / "sequential"
    start = time.perf_counter()
    assert main(["reproduce", "count", "count_b", "--scale", "tiny", "-p", "sleep", "0.5", "--out", str(sequential_runs),
                 "--quiet"]) == 0
    print(f"--jobs 2: {parallel:.1f} s; one after the other: {time.perf_counter() - start:.1f} s")


def test_cli_refuses_bad_executor_options_before_anything_runs(papers, tmp_path, capsys):
    out = str(tmp_path / "runs")
    cases = [(["--jobs", "3", "--gpus", "0,1"], "GPU"), (["--partition", "gpu"], "apply to --executor slurm only"),
             (["--jobs", "2", "--force"], "--force runs with the local sequential executor only"),
             (["--executor", "slurm", "--jobs", "2"], "--jobs and --gpus are for --executor local"),
             (["--gpus", "0,0"], "distinct GPU indices")]
    for extra, message in cases:
        assert main(["reproduce", "count", "--scale", "tiny", "--out", out, *extra]) == 2, extra
        assert message in capsys.readouterr().err, extra
    assert not (tmp_path / "runs" / "count").exists()


def test_a_preempted_job_is_requeued_and_resumes_in_its_folder(papers, tmp_path):
    job = plan_jobs(["count"], {"steps": 30, "sleep": 0.2}, "tiny", papers)[0][0]
    executor = submitit.LocalExecutor(tmp_path / "runs" / E.SUBMITIT_FOLDER)
    executor.update_parameters(timeout_min=30)
    handle = executor.submit(E.PaperTask(E.job_spec(job, tmp_path / "runs")))
    deadline = time.monotonic() + 300
    while not list((tmp_path / "runs" / "count").glob("*/train/step-2")):
        assert time.monotonic() < deadline and not handle.done(), "the job never reached step 2"
        time.sleep(0.1)
    (task,) = psutil.Process(int(handle.job_id)).children()  # submitit's controller runs one task
    task.send_signal(signal.SIGUSR2)  # what SLURM sends before pre-emption or the time limit
    handle.wait()
    (run,) = (tmp_path / "runs" / "count").iterdir()
    metrics = read_json(run / "metrics.json")
    assert metrics["steps"] == 30 and metrics["resumed_from"] >= 3, "resumed from the checkpoints of the first attempt"
    assert "preempted" in Path(handle.paths.stderr).read_text()


def _fake_slurm(bin_dir: Path, log: Path) -> None:
    "Stand-ins for SLURM's commands: sbatch keeps the script it is given, sacct says PENDING, scancel is logged."
    bin_dir.mkdir()
    scripts = {
        "srun": "#!/bin/sh\necho 'slurm 23.02'\n",
        "sbatch": f"#!/bin/sh\nfor a; do last=$a; done\ncp \"$last\" {log}/sbatch-script.sh\necho \"sbatch $*\" >> {log}/calls\n"
                  "echo 'Submitted batch job 4242'\n",
        "sacct": "#!/bin/sh\necho 'JobID|State|NodeList'\necho '4242|PENDING|'\n",
        "scancel": f"#!/bin/sh\necho \"scancel $*\" >> {log}/calls\n",
        "sinfo": "#!/bin/sh\necho 'cpu'\necho 'gpu*'\n",
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)


def test_slurm_submission_status_and_cancel(papers, tmp_path, monkeypatch, capsys):
    log = tmp_path / "log"
    log.mkdir()
    _fake_slurm(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "runs"
    args = ["reproduce", "count", "--scale", "tiny", "--executor", "slurm", "--out", str(out)]
    assert main([*args, "--partition", "gpu"]) == 2
    assert "SLURM jobs on other nodes cannot see it" in capsys.readouterr().err, "a /tmp runs folder is refused"
    assert not (out / E.SUBMITIT_FOLDER).exists(), "nothing submitted"
    monkeypatch.setattr(E, "check_shared_folder", lambda out: None)  # tmp_path stands in for a shared disk
    assert main([*args, "--partition", "nope"]) == 2
    assert "is not a partition of this cluster; sinfo lists cpu, gpu" in capsys.readouterr().err
    assert main([*args, "--partition", "gpu", "--hours", "0.5", "--gpus-per-job", "1"]) == 0
    assert "submitted as SLURM job 4242" in capsys.readouterr().out
    script = (log / "sbatch-script.sh").read_text()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --time=30", "#SBATCH --gpus-per-node=1", "#SBATCH --signal=USR2@120",
                 "#SBATCH --cpus-per-task=2", "submitit.core._submit"):
        assert line in script, (line, script)
    assert main(["status", str(out)]) == 0
    status = capsys.readouterr().out
    assert "4242" in status and "PENDING" in status and "not started" in status
    assert main(["cancel", str(out)]) == 0
    assert "scancel 4242" in (log / "calls").read_text()
