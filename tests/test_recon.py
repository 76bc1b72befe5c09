"repl_nb.recon: PCA projectors (properties), closed-form linear DAEs against their formulas and Monte-Carlo fits."
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from repl_nb.recon import (Autoencoder, fit_pca, fitted_variance, label_alignment, linear_probe_accuracy,
                           optimal_linear_dae, patch_ids, pca_projector, sample_masks, steps_to_fit, subspace_overlap)

F64 = torch.float64
TOL = 1e-9  # the slack recon allows on variance fractions


def anisotropic_data(seed: int, n: int, d: int, decay: float = 0.7) -> torch.Tensor:
    "n samples in d dimensions with variances decay^i along a random rotation, plus an offset (a nonzero mean)."
    g = torch.Generator().manual_seed(seed)
    rotation = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))[0]
    scales = decay ** torch.arange(d, dtype=F64)
    return torch.randn(n, d, generator=g, dtype=F64) * scales @ rotation.T + torch.randn(d, generator=g, dtype=F64)


def numpy_pca(X: np.ndarray):
    "Eigenvalues (descending) and eigenvectors of the covariance, from NumPy: an independent reference."
    values, vectors = np.linalg.eigh(np.cov(X.T, bias=True))
    return values[::-1].clip(0), vectors[:, ::-1]


# ---------------------------------------------------------------- projectors
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(2, 12), fraction=st.floats(0.01, 0.99),
       part=st.sampled_from(["top", "bottom"]), decay=st.floats(0.3, 0.95))
def test_projector_properties(seed, d, fraction, part, decay):
    X = anisotropic_data(seed, 4 * d + 10, d, decay)
    pca = fit_pca(X)
    proj = pca.projector(fraction, part)
    P = proj.matrix()
    assert torch.allclose(P @ P, P, atol=1e-10), "not idempotent"
    assert torch.allclose(P, P.T, atol=1e-12), "not symmetric"
    assert torch.allclose(P + proj.complement().matrix(), torch.eye(d, dtype=F64), atol=1e-10)
    # the fraction, measured independently as the share of the centred data's energy the projection keeps
    Xc = X - X.mean(0)
    kept = float((Xc @ P).pow(2).sum() / Xc.pow(2).sum())
    assert abs(kept - proj.explained) < 1e-9
    assert proj.explained >= fraction - TOL, "less variance than asked for"
    values, _ = numpy_pca(X.numpy())
    ratio = values / values.sum()
    fewer = ratio[:proj.k - 1].sum() if part == "top" else ratio[d - proj.k + 1:].sum()
    assert proj.k >= 1 and fewer < fraction + TOL, "not minimal: one direction fewer is enough"
    chosen = np.arange(proj.k) if part == "top" else np.arange(d - proj.k, d)
    assert abs(ratio[chosen].sum() - proj.explained) < 1e-9


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(2, 10), fraction=st.floats(0.01, 0.99))
def test_top_and_bottom_projectors_sum_to_the_identity(seed, d, fraction):
    pca = fit_pca(anisotropic_data(seed, 5 * d, d))
    top = pca.projector(fraction, "top")
    bottom = pca.projector(1 - top.explained, "bottom")  # the bottom subspace holding what the top one leaves
    assert top.k + bottom.k == d
    assert torch.allclose(top.matrix() + bottom.matrix(), torch.eye(d, dtype=F64), atol=1e-10)
    x = torch.randn(7, d, dtype=F64)
    assert torch.allclose(top.project(x) + bottom.project(x), pca.preprocess(x), atol=1e-10)


def test_images_with_the_papers_preprocessing_against_numpy():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(300, 2, 3, 3, generator=g) * torch.linspace(0.5, 2, 300).view(-1, 1, 1, 1)
    proj = pca_projector(X, 0.8, "top", standardize=True)
    flat = X.flatten(1).double().numpy()
    flat = flat / (flat.std(1, keepdims=True) + 1e-6)  # per-image standardisation, then the train mean removed
    values, vectors = numpy_pca(flat)
    k = int(np.searchsorted(np.cumsum(values) / values.sum(), 0.8 - TOL)) + 1
    assert proj.k == k
    reference = (flat - flat.mean(0)) @ vectors[:, :k] @ vectors[:, :k].T
    out = proj.project(X)
    assert out.shape == X.shape and out.dtype == X.dtype
    assert np.allclose(out.flatten(1).numpy(), reference, atol=1e-5)
    assert np.allclose(proj.project(X.double(), add_mean=True).flatten(1).numpy(), reference + flat.mean(0), atol=1e-10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_projector_on_cuda_matches_cpu():
    X = anisotropic_data(0, 200, 12).float()
    cpu, gpu = pca_projector(X, 0.7), pca_projector(X.cuda(), 0.7)
    assert cpu.k == gpu.k
    assert torch.allclose(gpu.project(X.cuda()).cpu(), cpu.project(X), atol=1e-4)


# ---------------------------------------------------------------- Gaussian-noise DAE
def monte_carlo_dae(X: torch.Tensor, corrupt, repeats: int, seed: int = 0) -> torch.Tensor:
    "Least-squares fit of W in x ~ W x~ over `repeats` corruptions of every sample: an estimate of the optimal W."
    g = torch.Generator().manual_seed(seed)
    clean = X.repeat(repeats, 1)
    noisy = corrupt(clean, g)
    return torch.linalg.lstsq(noisy, clean).solution.T


def relative_error(A: torch.Tensor, B: torch.Tensor) -> float:
    return float((A - B).norm() / B.norm())


@pytest.mark.parametrize("std", [0.05, 0.3, 1.0, 3.0])
def test_gaussian_dae_is_the_formula_and_keeps_pca_directions(std):
    X = anisotropic_data(1, 400, 10)
    X = X - X.mean(0)
    S = X.T @ X / len(X)
    dae = optimal_linear_dae(X, "gaussian", std)
    assert torch.allclose(dae.W, S @ torch.linalg.inv(S + std**2 * torch.eye(10, dtype=F64)), atol=1e-10)
    _, vectors = numpy_pca(X.numpy())
    for k in (1, 3, 6, 10):
        cos = (dae.directions(k).numpy() * vectors[:, :k]).sum(0)
        assert np.allclose(np.abs(cos), 1, atol=1e-8), f"direction {np.argmin(np.abs(cos))} differs from PCA's"
        assert subspace_overlap(dae.encoder(k).T, torch.from_numpy(vectors[:, :k].copy())) == pytest.approx(1, abs=1e-8)


def test_gaussian_dae_matches_a_monte_carlo_least_squares_fit():
    X = anisotropic_data(2, 300, 8)
    X = X - X.mean(0)
    std = 0.5
    W_mc = monte_carlo_dae(X, lambda x, g: x + std * torch.randn(x.shape, generator=g, dtype=F64), repeats=200)
    closed = optimal_linear_dae(X, "gaussian", std).W
    wrong = optimal_linear_dae(X, "gaussian", std**0.5).W  # std instead of variance: must be told apart
    assert relative_error(W_mc, closed) < 0.02
    assert relative_error(W_mc, wrong) > 3 * relative_error(W_mc, closed)


# ---------------------------------------------------------------- masking DAE
def masked(shape, ratio, patch):
    def corrupt(x, g):
        return x * sample_masks(len(x), shape, ratio, patch, generator=g)
    return corrupt


@pytest.mark.parametrize("shape,ratio,patch", [((1, 4, 4), 0.3, 1), ((1, 4, 4), 0.5, 2), ((2, 4, 4), 0.4, 2),
                                               ((1, 5, 5), 0.5, 2), ((12,), 0.25, 3)])
def test_masking_dae_matches_a_monte_carlo_least_squares_fit(shape, ratio, patch):
    d = int(np.prod(shape))
    X = anisotropic_data(3, 200, d, decay=0.85)
    X = (X - X.mean(0)).view(-1, *shape)
    dae = optimal_linear_dae(X, "mask", ratio, patch_size=patch)
    W_mc = monte_carlo_dae(X.flatten(1), masked(shape, ratio, patch), repeats=400)
    err = relative_error(W_mc, dae.W)
    assert err < 0.05, f"closed form off the Monte-Carlo fit by {err:.3f}"
    if patch > 1:  # ignoring the patches (pixel-wise masks) must be visibly wrong
        pixelwise = optimal_linear_dae(X, "mask", ratio, patch_size=1).W
        assert relative_error(W_mc, pixelwise) > 3 * err


def test_masking_dae_is_the_pixelwise_formula_and_stationary():
    X = anisotropic_data(4, 300, 9)
    X = X - X.mean(0)
    S, q = X.T @ X / len(X), 0.65
    dae = optimal_linear_dae(X, "mask", 1 - q, image_shape=(1, 3, 3))
    assert torch.allclose(dae.W, S @ torch.linalg.inv(q * S + (1 - q) * torch.diag(S.diagonal())), atol=1e-10)
    assert torch.allclose(dae.W @ dae.gram, dae.cross, atol=1e-10)  # zero gradient of the expected loss
    assert dae.risk() < dae.risk(dae.W + 1e-3 * torch.randn(9, 9, dtype=F64))
    # the expected loss, estimated on sampled masks
    g = torch.Generator().manual_seed(0)
    clean = X.repeat(400, 1)
    noisy = clean * sample_masks(len(clean), (1, 3, 3), 1 - q, generator=g)
    assert float((clean - noisy @ dae.W.T).pow(2).sum(1).mean()) == pytest.approx(dae.risk(), rel=0.02)


def test_masking_moves_the_leading_subspace_away_from_pca():
    X = anisotropic_data(5, 400, 16, decay=0.8)
    X = X - X.mean(0)
    _, vectors = numpy_pca(X.numpy())
    top4 = torch.from_numpy(vectors[:, :4].copy())
    overlaps = [subspace_overlap(optimal_linear_dae(X, "mask", r, 2, (1, 4, 4)).directions(4), top4) for r in (0.0, 0.3, 0.7)]
    assert overlaps[0] == pytest.approx(1, abs=1e-8)  # no masking: the plain autoencoder, i.e. PCA
    assert overlaps[2] < overlaps[1] < 1 - 1e-4


def test_patch_masks_drop_whole_patches_at_the_right_rate():
    ids = patch_ids((3, 5, 5), 2)
    assert ids.max() == 8 and (ids.view(3, 5, 5)[0] == ids.view(3, 5, 5)[2]).all()
    m = sample_masks(20_000, (3, 5, 5), 0.3, 2, generator=torch.Generator().manual_seed(0))
    assert abs(float(m.mean()) - 0.7) < 0.01
    for j in range(9):
        block = m[:, ids == j]
        assert (block == block[:, :1]).all()


# ---------------------------------------------------------------- alignment and learning order
def test_label_alignment_is_the_r2_of_a_least_squares_probe():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 4, (300,), generator=g)
    Z = torch.randn(300, 6, generator=g, dtype=F64) + torch.nn.functional.one_hot(y, 4).double() @ torch.randn(4, 6, generator=g, dtype=F64)
    Y = torch.nn.functional.one_hot(y, 4).double().numpy()
    for k in (1, 3, 6):
        A = np.c_[Z[:, :k].numpy(), np.ones(300)]
        resid = Y - A @ np.linalg.lstsq(A, Y, rcond=None)[0]
        r2 = 1 - (resid**2).sum() / ((Y - Y.mean(0)) ** 2).sum()
        assert float(label_alignment(Z, y)[k - 1]) == pytest.approx(r2, abs=1e-10)
    assert linear_probe_accuracy(Z, y, Z, y) > 0.5


def test_fitted_variance_of_a_pca_autoencoder_is_one_then_zero():
    X = anisotropic_data(6, 500, 10).float()
    pca = fit_pca(X)
    Xc = pca.preprocess(X).float()
    ae = Autoencoder((10,), 3)
    U = pca.eigenvectors[:, :3].float()
    with torch.no_grad():
        ae.encoder[0].weight.copy_(U.T)
        ae.decoder[0].weight.copy_(U)
    fitted = fitted_variance(ae, Xc, pca.eigenvectors)
    assert torch.allclose(fitted, torch.tensor([1.0] * 3 + [0.0] * 7, dtype=F64), atol=1e-4)
    records = [{"step": 0, "fitted": [0.0, 0.0]}, {"step": 5, "fitted": [0.95, 0.2]}, {"step": 9, "fitted": [1.0, 0.5]}]
    assert steps_to_fit(records, 0.9) == [5, None] and steps_to_fit(records, 0.5) == [5, 9]
