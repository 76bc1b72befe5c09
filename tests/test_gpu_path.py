"""The GPU code path of `fit`, run on the CPU: torch.compile trains exactly like eager mode and checkpoints plain names;
bench/gpu_smoke.py runs every full preset's training step at tiny size."""
import torch

from conftest import ROOT, run_tool

from repl_nb.core import CheckpointStore
from repl_nb.data import load_dataset
from repl_nb.models import MLP
from repl_nb.train import fit


def test_compiled_training_matches_eager_and_saves_plain_names(tmp_path, one_torch_thread):
    data = load_dataset("digits").subset(30, seed=0)
    runs = {}
    for compiled in (False, True):
        torch.manual_seed(0)
        runs[compiled] = fit(MLP(data.input_shape, [16], data.n_classes), data, 20, progress=False, compile=compiled,
                             run_dir=tmp_path / str(compiled), n_checkpoints=2)
    assert runs[True].final["train_loss"] == runs[False].final["train_loss"]
    state = CheckpointStore(tmp_path / "True" / "checkpoints").load()
    assert set(state["model"]) == set(runs[False].model.state_dict()), "no _orig_mod. prefixes in checkpoints"


def test_gpu_smoke_runs_every_full_preset_at_tiny_size():
    out = run_tool("python", ROOT / "bench" / "gpu_smoke.py", "--tiny").stdout
    assert "lc_dynamics" in out and "ssl_cookbook" in out and "images/s" in out
