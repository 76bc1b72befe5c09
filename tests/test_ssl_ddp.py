"""scripts/ssl_ddp.py, the multi-GPU entry point of the SSL presets, run as torchrun runs it: two gloo processes on
the CPU. A data-parallel step must be the single-process step on the whole batch (the losses gather the other rank's
embeddings with gradients; DDP averages the gradients), and a restarted job resumes from the latest checkpoint."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import BIN, ROOT
from repl_nb.core import CheckpointStore

SCRIPT = ROOT / "scripts" / "ssl_ddp.py"
ARGS = ["--dataset", "digits", "--arch", "mlp", "--width", "32", "--proj-dim", "16", "--hidden-dim", "64",
        "--no-batch-norm", "--batch-size", "64", "--steps", "6", "--checkpoint-every", "3", "--log-every", "3",
        "--crop-scale", "0.6", "--noise-std", "0.1", "--knn-k", "20", "--no-probe", "--cpu-threads", "1"]


def launch(cmd, out, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([*cmd, str(SCRIPT), *ARGS, "--method", "simclr", "--out", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="needs torch.distributed with the gloo backend")
def test_two_processes_resume_and_take_the_single_process_steps(tmp_path):
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    out = launch([sys.executable], single, tmp_path)  # plain python: one process, no process group
    assert "1 process(es), global batch 64" in out
    # the two-process job starts from the single process's step-3 checkpoint, as a pre-empted job restarts
    (ddp / "checkpoints").mkdir(parents=True)
    shutil.copy(CheckpointStore(single / "checkpoints").path(3), ddp / "checkpoints")
    out = launch([str(BIN / "torchrun"), "--standalone", "--nproc_per_node=2"], ddp, tmp_path)
    assert "resuming from step 3" in out and "2 process(es), global batch 64" in out
    a = CheckpointStore(single / "checkpoints").load(6)["model"]
    b = CheckpointStore(ddp / "checkpoints").load(6)["model"]
    assert a.keys() == b.keys()
    assert any(not torch.equal(a[k], CheckpointStore(single / "checkpoints").load(3)["model"][k]) for k in a)
    for k in a:
        torch.testing.assert_close(b[k], a[k], atol=2e-5, rtol=1e-4, msg=k)
    loss = lambda run: [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in loss(single)] == [3, 6] and [r["step"] for r in loss(ddp)] == [6]
    assert abs(loss(ddp)[0]["loss"] - loss(single)[1]["loss"]) < 1e-4, "the ranks' losses average to the batch's loss"
    metrics = json.loads((ddp / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and 0.0 <= metrics["knn_acc"] <= 1.0
