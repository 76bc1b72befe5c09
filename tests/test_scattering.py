"Scattering covariances, the factorial GMVAE and separation beyond the notebook: devices, dtypes, bad input, miniSEED."
import json
import math

import numpy as np
import pytest
import torch
from conftest import run_tool

from repl_nb.scattering import (SignalError, check_signal, envelope_triples, fit_factorial_gmvae, glitch_mixture,
                                load_miniseed, max_octaves, min_length, morlet_bank, nested_features, phase_env_pairs,
                                scattering_covariances, separate, wavelet_transform, white_noise_power)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_devices_and_dtypes_agree(one_torch_thread, device):
    x = torch.randn(4, 1024, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    reference = scattering_covariances(x, J=6).vector()
    single = scattering_covariances(x.float().to(device), J=6).vector().cpu().double()
    assert torch.allclose(single, reference, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("device", DEVICES)
def test_white_noise_closed_forms(one_torch_thread, device):
    "Power = s^2 sum|psi|^2 / N, sparsity = sqrt(pi)/2, phase-envelope = 0: each within 4 standard errors."
    noise = 0.5 * torch.randn(300, 1024, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(device)
    power = white_noise_power(1024, 6, variance=0.25).to(device)
    sc = scattering_covariances(noise, J=6, sigma=power.sqrt())
    for values, expected in ((sc.power, power), (sc.sparsity, math.sqrt(math.pi) / 2),
                             (sc.phase_env.real, 0.0), (sc.phase_env.imag, 0.0)):
        mean, se = values.mean(0), values.std(0) / math.sqrt(len(values))
        assert ((mean - expected).abs() <= 4 * se + 1e-9).all()


def test_second_order_families_match_their_time_domain_definition():
    "The Parseval shortcut against second wavelet transforms of the envelopes computed in time, then time averages."
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 400, generator=g, dtype=torch.float64).cumsum(-1) + torch.rand(2, 400, generator=g, dtype=torch.float64) ** 4
    J = 4
    bank = morlet_bank(400, J, dtype=torch.float64)
    wx = wavelet_transform(x, bank)  # (2, J, N)
    sigma = wx.abs().pow(2).mean(-1).sqrt()
    w_env = wavelet_transform(wx.abs(), bank)  # (2, J envelopes, J outer octaves, N)
    sc = scattering_covariances(x, J)
    for i, (a, j) in enumerate(phase_env_pairs(J)):
        expected = (wx[:, j] * w_env[:, a, j].conj()).mean(-1) / (sigma[:, a] * sigma[:, j])
        assert torch.allclose(sc.phase_env[:, i], expected, atol=1e-10)
    for i, (a, b, j) in enumerate(envelope_triples(J)):
        expected = (w_env[:, a, j] * w_env[:, b, j].conj()).mean(-1) / (sigma[:, a] * sigma[:, b])
        assert torch.allclose(sc.envelope[:, i], expected, atol=1e-10)
    assert torch.allclose(sc.sparsity, wx.abs().mean(-1) / sigma)


def test_index_sets():
    J = 5
    assert len(phase_env_pairs(J)) == J * (J + 1) // 2
    assert len(envelope_triples(J)) == sum((j + 1) * (j + 2) // 2 for j in range(J))
    assert all(a <= b <= j for a, b, j in envelope_triples(J))


def test_gradient_reaches_every_sample(one_torch_thread):
    x = torch.randn(2, 512, requires_grad=True)
    scattering_covariances(x, J=5).vector().pow(2).sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad.abs() > 0).float().mean() > 0.99


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(min_length(6) - 1), f"at least {min_length(6)} samples"),
    (torch.tensor([1.0, float("nan")] * 400), "NaN"),
    (torch.tensor([1.0, float("inf")] * 400), "NaN or infinite"),
    (torch.zeros(1000, dtype=torch.int64), "floats"),
    (np.zeros(1000), "torch.Tensor"),
])
def test_bad_signals_name_the_limit(bad, message):
    with pytest.raises(SignalError, match=message):
        scattering_covariances(bad, J=6 if message.startswith("at least") else 5)


def test_short_signal_error_suggests_the_largest_J():
    with pytest.raises(SignalError, match=f"use J <= {max_octaves(700)}"):
        check_signal(torch.zeros(700), J=max_octaves(700) + 1)


def test_miniseed_round_trip_and_bad_rates(tmp_path):
    obspy = pytest.importorskip("obspy")
    samples = np.arange(2000, dtype=np.int32) % 97 - 48
    header = {"sampling_rate": 20.0, "network": "XB", "station": "ELYSE", "channel": "BHU"}
    trace = obspy.Trace(samples, header=header)
    path = tmp_path / "one.mseed"
    obspy.Stream([trace]).write(str(path), format="MSEED")
    signal, rate = load_miniseed(path, channel="BHU", sampling_rate=20.0)
    assert rate == 20.0 and np.array_equal(signal.numpy(), samples.astype(np.float32))
    with pytest.raises(SignalError, match="not the expected 2.0 Hz"):
        load_miniseed(path, sampling_rate=2.0)
    with pytest.raises(SignalError, match="no channel 'BHV'"):
        load_miniseed(path, channel="BHV")
    # two traces of one channel at different rates
    other = obspy.Trace(samples, header={**header, "sampling_rate": 10.0})
    other.stats.starttime += 1000
    obspy.Stream([trace, other]).write(str(tmp_path / "mixed.mseed"), format="MSEED")
    with pytest.raises(SignalError, match=r"mixes sampling rates \[10.0, 20.0\]"):
        load_miniseed(tmp_path / "mixed.mseed")
    # two channels: the caller must pick one
    obspy.Stream([trace, obspy.Trace(samples, header={**header, "channel": "BHV"})]).write(str(tmp_path / "two.mseed"), format="MSEED")
    with pytest.raises(SignalError, match="several channels"):
        load_miniseed(tmp_path / "two.mseed")
    assert len(load_miniseed(tmp_path / "two.mseed", channel="BHV")[0]) == 2000
    # a gap in the record becomes NaN, which the scattering functions refuse
    late = trace.copy()
    late.stats.starttime += 200.0
    obspy.Stream([trace, late]).write(str(tmp_path / "gap.mseed"), format="MSEED")
    gappy, _ = load_miniseed(tmp_path / "gap.mseed")
    assert torch.isnan(gappy).any()
    with pytest.raises(SignalError, match="NaN"):
        scattering_covariances(gappy, J=5)


def test_clusters_and_separation_smoke(one_torch_thread):
    "End to end on a short record: clusters follow the glitches, the separation loss falls, sources add up."
    record = glitch_mixture(64 * 1024, seed=0)
    features = nested_features(record.mixture, window=1024, J=6, n_nested=4)
    model = fit_factorial_gmvae(features, steps=400, progress=False)
    coarse = model.clusters(features.flat())[0][:, 0]
    has_glitch = record.glitches.view(64, 1024).amax(1) > 0.05
    agreement = max((coarse == has_glitch.long()).float().mean(), (coarse != has_glitch.long()).float().mean())
    assert agreement > 0.8
    references = features.windows[~has_glitch][:4]
    mixture = features.windows[has_glitch][:2]
    sep = separate(mixture, references, J=6, steps=30, progress=False)
    assert sep.losses[-1] < sep.losses[0]
    assert torch.allclose(sep.background + sep.glitches, mixture, atol=1e-5)
    with pytest.raises(SignalError, match="at least 2 background windows"):
        separate(mixture, references[:1], J=6, steps=1)
    # two scales: the nested fine windows of the background match fine references too
    fine_references = references.reshape(-1, 256)
    two = separate(mixture, references, J=6, steps=30, fine_references=fine_references, progress=False)
    assert two.losses[-1] < two.losses[0] and two.glitches.shape == mixture.shape
    with pytest.raises(SignalError, match="must tile"):
        separate(mixture, references, J=6, steps=1, fine_references=references[:, :300])


@pytest.mark.slow
def test_paper_notebook_runs_on_a_miniseed_record(tmp_path):
    "The `full` path of the paper notebook (dataset=miniseed) at tiny size, on a record the test writes."
    obspy = pytest.importorskip("obspy")
    record = glitch_mixture(24 * 512, seed=3, glitch_rate=1 / 1024)
    header = {"sampling_rate": 20.0, "network": "XB", "station": "ELYSE", "channel": "BHU"}
    path = tmp_path / "record.mseed"
    obspy.Stream([obspy.Trace((record.mixture.numpy() * 1000).astype(np.int32), header=header)]).write(str(path), format="MSEED")
    run_tool("repl-nb", "reproduce", "scattering_separation", "--scale", "tiny", "-p", "dataset", "miniseed",
             "-p", "data_path", path, "-p", "sampling_rate", "20.0", "--out", tmp_path / "runs", "--quiet")
    metrics = json.loads(next((tmp_path / "runs").glob("scattering_separation/*/metrics.json")).read_text())
    assert metrics["dataset"] == "miniseed" and metrics["runs"][0]["n_windows"] == 24
    assert metrics["runs"][0]["loss_last"] < metrics["runs"][0]["loss_first"]
