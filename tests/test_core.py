"Properties of the core helpers: schedules, settings precedence, atomic checkpoint writes."
import math
import os

import pytest
import torch
from hypothesis import given, settings, strategies as st

from repl_nb import core
from repl_nb.core import CheckpointStore, load_settings, log_spaced_steps


@settings(max_examples=300, deadline=None)
@given(total=st.integers(0, 10**7), n=st.integers(1, 500))
def test_log_spaced_steps_properties(total, n):
    steps = log_spaced_steps(total, n)
    assert len(steps) == min(n, total + 1)
    assert steps == sorted(set(steps)) and steps[-1] == total and steps[0] >= 0
    if len(steps) > 1:
        assert steps[0] == 0


@settings(max_examples=50, deadline=None)
@given(total=st.integers(10**4, 10**7), n=st.integers(10, 60))
def test_log_spaced_steps_are_log_spaced_away_from_the_crowded_start(total, n):
    steps = [s for s in log_spaced_steps(total, n) if s >= 100]
    ratios = [b / a for a, b in zip(steps, steps[1:])]
    ideal = (total + 1) ** (1 / (n - 1))
    assert max(ratios) < ideal * 1.5 and min(ratios) > ideal / 1.5


def test_settings_file_then_environment(tmp_path, monkeypatch):
    ini = tmp_path / "settings.ini"
    ini.write_text("[repl_nb]\ndata_root = here/data\nscale = tiny\ndevice = cpu\n")
    s = load_settings(ini)
    assert s.data_root == tmp_path / "here" / "data" and s.scale == "tiny" and s.project_root == tmp_path
    monkeypatch.setenv("REPL_NB_SCALE", "full")
    monkeypatch.setenv("REPL_NB_DATA", str(tmp_path / "elsewhere"))
    s = load_settings(ini)
    assert s.scale == "full" and s.data_root == tmp_path / "elsewhere"
    monkeypatch.setenv("REPL_NB_SCALE", "huge")
    with pytest.raises(ValueError, match="scale='huge'.*tiny"):
        load_settings(ini)


def test_settings_file_found_from_environment_and_validated(tmp_path, monkeypatch):
    ini = tmp_path / "custom.ini"
    ini.write_text("[repl_nb]\nrunz_dir = x\n")
    monkeypatch.setenv("REPL_NB_SETTINGS", str(ini))
    with pytest.raises(ValueError, match="unknown key.*runz_dir"):
        load_settings()
    monkeypatch.setenv("REPL_NB_SETTINGS", str(tmp_path / "absent.ini"))
    with pytest.raises(FileNotFoundError, match="absent.ini"):
        load_settings()


def test_dashboard_defaults_to_localhost():
    assert load_settings().dashboard_host_port[0] == "127.0.0.1"


def test_interrupted_checkpoint_write_keeps_the_previous_file(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path)
    store.save(5, {"w": torch.ones(3)})
    def crash(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(core.files.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.save(5, {"w": torch.zeros(3)})
    monkeypatch.undo()
    assert torch.equal(store.load(5)["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000000005.safetensors"]


def test_checkpoints_are_plain_safetensors(tmp_path):
    from safetensors.torch import load_file
    path = CheckpointStore(tmp_path).save(0, {"model": {"w": torch.arange(4.0)}})
    assert torch.equal(load_file(path)["/model/w"], torch.arange(4.0))
    with pytest.raises(TypeError, match="Cannot checkpoint object"):
        CheckpointStore(tmp_path).save(1, {"bad": object()})
