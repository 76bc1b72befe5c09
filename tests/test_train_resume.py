"An interrupted run restarted on the same folder ends with the weights of an uninterrupted run."

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from repl_nb.augment import Augment
from repl_nb.core import read_jsonl
from repl_nb.data import load_dataset
from repl_nb.models import SmallCNN
from repl_nb.train import Callback, fit

DIGITS = load_dataset("digits").subset(20)


class InterruptAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, ctx):
        if ctx.step == self.step:
            raise KeyboardInterrupt


def cnn(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(SmallCNN(1, 10, width=4), torch.nn.Dropout(0.3))


KW = dict(steps=40, batch_size=32, n_checkpoints=5, optimizer="sgd", lr=0.05, momentum=0.9,
          augment=Augment(crop_scale=0.5, flip=True, noise_std=0.05), progress=False)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return fit(cnn(0), DIGITS, run_dir=tmp_path_factory.mktemp("whole"), **KW)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stop=st.integers(1, 39))
def test_resume_is_exact(stop, uninterrupted, tmp_path_factory):
    run = tmp_path_factory.mktemp("cut")
    with pytest.raises(KeyboardInterrupt):
        fit(cnn(0), DIGITS, run_dir=run, callbacks=[InterruptAt(stop)], **KW)
    resumed = fit(cnn(123), DIGITS, run_dir=run, **KW)  # other initial weights: the checkpoint must win
    for (name, a), b in zip(uninterrupted.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resuming from an interruption at step {stop}"
    steps = [r["step"] for r in read_jsonl(run / "metrics.jsonl")]
    assert steps == [r["step"] for r in uninterrupted.metrics], "metrics.jsonl must hold each checkpoint step once"
    drop = lambda r: {k: v for k, v in r.items() if k != "time"}
    assert [drop(r) for r in read_jsonl(run / "metrics.jsonl")] == [drop(r) for r in uninterrupted.metrics]


def test_rerunning_a_finished_run_trains_no_further(tmp_path):
    first = fit(cnn(0), DIGITS, run_dir=tmp_path, **KW)
    again = fit(cnn(5), DIGITS, run_dir=tmp_path, **KW)
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()))
    assert len(read_jsonl(tmp_path / "metrics.jsonl")) == len(first.metrics)


def test_other_settings_on_the_same_folder_are_refused(tmp_path):
    fit(cnn(0), DIGITS, run_dir=tmp_path, **KW)
    with pytest.raises(ValueError, match="lr: saved 0.05, now 0.1"):
        fit(cnn(0), DIGITS, run_dir=tmp_path, **{**KW, "lr": 0.1})


def test_a_lost_or_garbled_config_is_checked_against_the_checkpoints(tmp_path):
    "Without config.json, a resume with another lr must still be refused: each checkpoint carries its settings."
    with pytest.raises(KeyboardInterrupt):
        fit(cnn(0), DIGITS, run_dir=tmp_path, callbacks=[InterruptAt(20)], **KW)
    (tmp_path / "config.json").unlink()
    with pytest.raises(ValueError, match="lr: saved 0.05, now 0.1"):
        fit(cnn(0), DIGITS, run_dir=tmp_path, **{**KW, "lr": 0.1})
    (tmp_path / "config.json").write_text('{"steps": 40, "lr"')  # garbled: the checkpoints decide
    with pytest.raises(ValueError, match="lr: saved 0.05, now 0.1"):
        fit(cnn(0), DIGITS, run_dir=tmp_path, **{**KW, "lr": 0.1})
    assert fit(cnn(0), DIGITS, run_dir=tmp_path, **KW).final["step"] == 40  # the same settings resume


def test_a_damaged_checkpoint_is_refused_by_its_checksum(tmp_path):
    from repl_nb.core import CheckpointStore
    with pytest.raises(KeyboardInterrupt):
        fit(cnn(0), DIGITS, run_dir=tmp_path, callbacks=[InterruptAt(20)], **KW)
    store = CheckpointStore(tmp_path / "checkpoints")
    path = store.path(store.latest())
    raw = bytearray(path.read_bytes())
    raw[-64:] = bytes(64)  # zeroed tensor bytes, the file's size unchanged
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=f"{path.name} fails its checksum.*delete it"):
        fit(cnn(0), DIGITS, run_dir=tmp_path, **KW)
    path.unlink()  # as the message says: the run resumes from the checkpoint before
    assert fit(cnn(0), DIGITS, run_dir=tmp_path, **KW).final["step"] == 40


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="optimizer='adam' is not valid: optimizer must be one of 'adamw', 'sgd'"):
        fit(cnn(0), DIGITS, 5, optimizer="adam", progress=False)
    with pytest.raises(ValueError, match="checkpoint_steps must lie in"):
        fit(cnn(0), DIGITS, 5, checkpoint_steps=[10], progress=False)
    with pytest.raises(ValueError, match="loss='hinge' is not valid"):
        fit(cnn(0), DIGITS, 5, loss="hinge", progress=False)
