"""repl_nb.losses against slow loop-based references written here, closed forms, symmetries, reductions between losses,
float64 gradcheck, low precision, and a 2-process gloo group (loss and gradients equal the global-batch loss)."""
import math
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from repl_nb import losses as L

N, D = 7, 5


pytestmark = pytest.mark.usefixtures("one_torch_thread")




@pytest.fixture
def views():
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, D, generator=g, dtype=torch.float64), torch.randn(N, D, generator=g, dtype=torch.float64)


# ---------------------------------------------------------------- slow references (one anchor / one pair at a time)

def cos(a, b):
    return float(a @ b) / (math.sqrt(float(a @ a)) * math.sqrt(float(b @ b)))


def ref_info_nce(anchors, candidates, targets, t, excluded=()):
    total, count = 0.0, 0
    for i in range(len(anchors)):
        if targets.ndim == 1:
            row = torch.zeros(len(candidates), dtype=torch.float64)
            if targets[i] >= 0:
                row[targets[i]] = 1.0
        else:
            row = targets[i]
        if row.sum() == 0:
            continue
        ks = [k for k in range(len(candidates)) if (i, k) not in excluded]
        denom = sum(math.exp(cos(anchors[i], candidates[k]) / t) for k in ks)
        total += sum(-float(row[j]) * math.log(math.exp(cos(anchors[i], candidates[j]) / t) / denom)
                     for j in ks if row[j] > 0)
        count += 1
    return total / max(count, 1)


def ref_simclr(z1, z2, t):
    z = torch.cat([z1, z2]); n2 = len(z); n = len(z1)
    total = 0.0
    for i in range(n2):
        pos = (i + n) % n2
        denom = sum(math.exp(cos(z[i], z[k]) / t) for k in range(n2) if k != i)
        total += -math.log(math.exp(cos(z[i], z[pos]) / t) / denom)
    return total / n2


def ref_supcon(z1, z2, labels, t):
    z = torch.cat([z1, z2]); lab = torch.cat([labels, labels]); n2 = len(z)
    total = 0.0
    for i in range(n2):
        denom = sum(math.exp(cos(z[i], z[k]) / t) for k in range(n2) if k != i)
        pos = [p for p in range(n2) if p != i and lab[p] == lab[i]]
        total += sum(-math.log(math.exp(cos(z[i], z[p]) / t) / denom) for p in pos) / len(pos)
    return total / n2


def ref_xclr(z1, z2, sim, t, tt, form="paper"):
    "X-CLR one anchor at a time: the paper's 2N views with k != i, the stacked form keeping the self-pair, or cross-view."
    n = len(z1)
    if form == "cross_view":
        total = 0.0
        for i in range(n):
            w = [math.exp(float(sim[i, j]) / tt) for j in range(n)]
            w = [x / sum(w) for x in w]
            for a, c in ((z1, z2), (z2, z1)):
                denom = sum(math.exp(cos(a[i], c[k]) / t) for k in range(n))
                total += sum(-w[j] * math.log(math.exp(cos(a[i], c[j]) / t) / denom) for j in range(n))
        return total / (2 * n)
    z = torch.cat([z1, z2])
    total = 0.0
    for i in range(2 * n):
        others = [k for k in range(2 * n) if form == "stacked_self" or k != i]
        w = [math.exp(float(sim[i % n, k % n]) / tt) for k in others]
        denom = sum(math.exp(cos(z[i], z[k]) / t) for k in others)
        total += sum(-wk / sum(w) * math.log(math.exp(cos(z[i], z[k]) / t) / denom) for wk, k in zip(w, others))
    return total / (2 * n)


def ref_vicreg(x, y, sim=25.0, std=25.0, cov=1.0):
    n, d = x.shape
    inv = sum(float((x[i, k] - y[i, k]) ** 2) for i in range(n) for k in range(d)) / (n * d)

    def var_cov(z):
        mean = [sum(float(z[i, k]) for i in range(n)) / n for k in range(d)]
        c = [[sum((float(z[i, a]) - mean[a]) * (float(z[i, b]) - mean[b]) for i in range(n)) / (n - 1) for b in range(d)]
             for a in range(d)]
        v = sum(max(0.0, 1 - math.sqrt(c[k][k] + 1e-4)) for k in range(d)) / d
        off = sum(c[a][b] ** 2 for a in range(d) for b in range(d) if a != b) / d
        return v, off

    (vx, cx), (vy, cy) = var_cov(x), var_cov(y)
    return sim * inv + std * (vx + vy) / 2 + cov * (cx + cy)


def ref_barlow(x, y, lambd):
    n, d = x.shape

    def standardize(z):
        out = torch.empty_like(z)
        for k in range(d):
            m = sum(float(z[i, k]) for i in range(n)) / n
            s = math.sqrt(sum((float(z[i, k]) - m) ** 2 for i in range(n)) / n + 1e-5)
            for i in range(n):
                out[i, k] = (z[i, k] - m) / s
        return out

    a, b = standardize(x), standardize(y)
    loss = 0.0
    for p in range(d):
        for q in range(d):
            c = sum(float(a[i, p] * b[i, q]) for i in range(n)) / n
            loss += (1 - c) ** 2 if p == q else lambd * c ** 2
    return loss


def ref_er(z1, z2, kappa):
    n, d = z1.shape
    log_c = L.log_vmf_normalizer(d, kappa)
    a1, a2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    rec = sum(-log_c - kappa * float(a1[i] @ a2[i]) for i in range(n)) / n

    def entropy(a):  # plug-in vMF kernel density estimate over the batch
        return -sum(math.log(sum(math.exp(log_c + kappa * float(a[i] @ a[j])) for j in range(n)) / n) for i in range(n)) / n

    return rec - (entropy(a1) + entropy(a2)) / 2


# ---------------------------------------------------------------- against the references

def test_info_nce_hard_and_soft_targets(views):
    a, c = views[0], torch.cat([views[1], views[0][:2]])
    hard = torch.tensor([0, 3, 8, 2, 1, -1, 4])
    assert L.info_nce(a, c, hard, 0.3).item() == pytest.approx(ref_info_nce(a, c, hard, 0.3), rel=1e-9)
    soft = torch.rand(N, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    soft[2] = 0  # an anchor without positive
    soft = soft / soft.sum(1, keepdim=True).clamp_min(1e-12)
    assert L.info_nce(a, c, soft, 0.3).item() == pytest.approx(ref_info_nce(a, c, soft, 0.3), rel=1e-9)
    exclude = torch.zeros(N, 9, dtype=torch.bool); exclude[0, 1] = exclude[4, 6] = True
    expected = ref_info_nce(a, c, hard, 0.3, excluded={(0, 1), (4, 6)})
    assert L.info_nce(a, c, hard, 0.3, exclude=exclude).item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("t", [0.07, 0.5, 2.0])
def test_simclr_matches_reference(views, t):
    assert L.simclr_loss(*views, t).item() == pytest.approx(ref_simclr(*views, t), rel=1e-9)


def test_supcon_matches_reference(views):
    labels = torch.tensor([0, 1, 0, 2, 1, 1, 0])
    assert L.supcon_loss(*views, labels, 0.2).item() == pytest.approx(ref_supcon(*views, labels, 0.2), rel=1e-9)


@pytest.mark.parametrize("form", L.XCLR_FORMS)
def test_xclr_matches_reference(views, form):
    sim = torch.randn(N, N, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    got = L.xclr_loss(*views, sim, 0.2, 0.7, form=form).item()
    assert got == pytest.approx(ref_xclr(*views, sim, 0.2, 0.7, form), rel=1e-9)


def test_xclr_default_is_the_papers_form(views):
    sim = torch.randn(N, N, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    assert L.xclr_loss(*views, sim, 0.2, 0.7).item() == pytest.approx(ref_xclr(*views, sim, 0.2, 0.7, "paper"), rel=1e-9)
    with pytest.raises(ValueError, match="form must be one of"):
        L.xclr_loss(*views, sim, form="stacked")


def test_vicreg_and_barlow_match_references(views):
    x, y = 0.4 * views[0], 0.4 * views[1]
    assert L.vicreg_loss(x, y).item() == pytest.approx(ref_vicreg(x, y), rel=1e-9)
    assert L.vicreg_loss(x, y, 3.0, 2.0, 0.5).item() == pytest.approx(ref_vicreg(x, y, 3.0, 2.0, 0.5), rel=1e-9)
    terms = L.vicreg_terms(x, y, 3.0, 2.0, 0.5)
    assert terms["loss"].item() == pytest.approx((3 * terms["invariance"] + 2 * terms["variance"] + 0.5 * terms["covariance"]).item())
    assert L.barlow_twins_loss(*views, 0.01).item() == pytest.approx(ref_barlow(*views, 0.01), rel=1e-9)


def test_byol(views):
    p, z = views
    expected = sum(2 - 2 * cos(p[i], z[i]) for i in range(N)) / N
    assert L.byol_loss(p, z).item() == pytest.approx(expected, rel=1e-9)
    assert L.byol_terms(p, z)["cosine"].item() == pytest.approx(1 - expected / 2, rel=1e-9)


def test_er_matches_reference(views):
    for kappa in (2.0, 10.0):
        assert L.er_loss(*views, kappa).item() == pytest.approx(ref_er(*views, kappa), rel=1e-9)


def test_logdet_entropy_is_the_gaussian_entropy_of_the_regularised_covariance(views):
    z = torch.cat(views)
    cov = torch.cov(z.T) + 0.1 * torch.eye(D, dtype=torch.float64)
    expected = 0.5 * torch.logdet(2 * math.pi * math.e * cov)
    assert L.logdet_entropy(z, eps=0.1).item() == pytest.approx(expected.item(), rel=1e-9)
    t = L.info_vicreg_terms(*views, sim_coeff=2.0, entropy_coeff=3.0, eps=0.1)
    assert t["loss"].item() == pytest.approx(2 * F.mse_loss(*views).item() - 3 * t["entropy"].item() / D, rel=1e-9)


def test_pal_losses(views):
    z = torch.cat(views)
    labels = torch.tensor([0, 1, 0, 2, 1, 1, 0]).repeat(2)
    g = L.label_graph(labels)
    pairs = [(i, j) for i in range(2 * N) for j in range(2 * N) if i != j and g[i, j] > 0]
    expected = sum(-math.log(math.exp(cos(z[i], z[j]) / 0.3) / sum(math.exp(cos(z[i], z[k]) / 0.3)
                                                                       for k in range(2 * N) if k != i))
                   for i, j in pairs) / len(pairs)
    assert L.pal_simclr_loss(z, g, 0.3).item() == pytest.approx(expected, rel=1e-9)
    spectral = sum((float(z[i] @ z[j]) - float(g[i, j])) ** 2 for i in range(2 * N) for j in range(2 * N) if i != j)
    assert L.pal_spectral_loss(z, g).item() == pytest.approx(spectral / (2 * N) ** 2, rel=1e-9)
    inv = sum(float(((z[i] - z[j]) ** 2).sum()) for i, j in pairs) / (len(pairs) * D)
    assert L.pal_vicreg_terms(z, g)["invariance"].item() == pytest.approx(inv, rel=1e-9)
    vg = L.view_graph(N)
    assert L.pal_simclr_loss(z, vg, 0.5).item() == pytest.approx(L.simclr_loss(*views, 0.5).item(), rel=1e-12)
    assert L.pal_vicreg_terms(z, vg)["invariance"].item() == pytest.approx(F.mse_loss(*views).item(), rel=1e-12)


# ---------------------------------------------------------------- closed forms, symmetries, reductions

@pytest.mark.parametrize("n", [2, 5, 64])
def test_collinear_views_give_log_2n_minus_1(n):
    direction = torch.randn(1, 9).double()
    z1, z2 = direction * torch.rand(n, 1).add(0.5), direction * torch.rand(n, 1).add(0.5)
    for t in (0.01, 0.5, 3.0):
        assert L.simclr_loss(z1, z2, t).item() == pytest.approx(math.log(2 * n - 1), rel=1e-9)


def test_symmetries(views):
    z1, z2 = views
    sim = torch.randn(N, N, dtype=torch.float64)
    for f in (lambda a, b: L.simclr_loss(a, b, 0.3), lambda a, b: L.supcon_loss(a, b, torch.arange(N) % 3, 0.3),
              lambda a, b: L.xclr_loss(a, b, sim, 0.3, 0.5), L.vicreg_loss, L.barlow_twins_loss, L.er_loss,
              L.info_vicreg_loss):
        assert f(z1, z2).item() == pytest.approx(f(z2, z1).item(), rel=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 9))
def test_cosine_losses_ignore_row_scale_and_sample_order(seed, n):
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(n, 4, generator=g, dtype=torch.float64), torch.randn(n, 4, generator=g, dtype=torch.float64)
    scale = torch.rand(n, 1, generator=g, dtype=torch.float64) + 0.1
    perm = torch.randperm(n, generator=g)
    sim = torch.randn(n, n, generator=g, dtype=torch.float64)
    base = L.simclr_loss(z1, z2, 0.2).item()
    assert L.simclr_loss(z1 * scale, z2, 0.2).item() == pytest.approx(base, rel=1e-9)
    assert L.simclr_loss(z1[perm], z2[perm], 0.2).item() == pytest.approx(base, rel=1e-9)
    x = L.xclr_loss(z1, z2, sim, 0.2, 0.3).item()
    assert L.xclr_loss(z1[perm], z2[perm], sim[perm][:, perm], 0.2, 0.3).item() == pytest.approx(x, rel=1e-9)


def test_supcon_without_labels_is_simclr(views):
    assert L.supcon_loss(*views, None, 0.3).item() == pytest.approx(L.simclr_loss(*views, 0.3).item(), rel=1e-12)
    assert L.supcon_loss(*views, torch.arange(N), 0.3).item() == pytest.approx(L.simclr_loss(*views, 0.3).item(), rel=1e-12)


def test_xclr_reductions(views):
    z1, z2 = views
    labels = torch.tensor([0, 1, 0, 2, 1, 1, 0])
    same = L.label_graph(labels).double()
    # the paper's form: s = I gives SimCLR, s = "same label" gives SupCon (the limits of a vanishing target temperature)
    for tt, rel in ((0.0, 1e-12), (1e-4, 1e-9)):
        assert L.xclr_loss(z1, z2, torch.eye(N), 0.2, tt).item() == pytest.approx(L.simclr_loss(z1, z2, 0.2).item(), rel=rel)
        assert L.xclr_loss(z1, z2, same, 0.2, tt).item() == pytest.approx(L.supcon_loss(z1, z2, labels, 0.2).item(), rel=rel)
    # the cross-view form: s = I gives symmetric (CLIP-style) InfoNCE
    symmetric_info_nce = (L.info_nce(z1, z2, torch.arange(N), 0.2) + L.info_nce(z2, z1, torch.arange(N), 0.2)) / 2
    assert L.xclr_loss(z1, z2, torch.eye(N), 0.2, 0.0, form="cross_view").item() == pytest.approx(symmetric_info_nce.item(), rel=1e-12)
    supcon_like = same / same.sum(1, keepdim=True)  # uniform over the same-label samples of the other view
    expected = (L.info_nce(z1, z2, supcon_like, 0.2) + L.info_nce(z2, z1, supcon_like, 0.2)) / 2
    assert L.xclr_loss(z1, z2, same, 0.2, 1e-4, form="cross_view").item() == pytest.approx(expected.item(), rel=1e-9)
    # keeping the self-pair puts target mass on the anchor itself: a different (larger) value than the paper's
    assert L.xclr_loss(z1, z2, same, 0.2, 0.5, form="stacked_self").item() != pytest.approx(L.xclr_loss(z1, z2, same, 0.2, 0.5).item())


def test_anchors_without_positives_give_no_nan(views):
    a, c = (v.clone().requires_grad_() for v in views)
    targets = torch.zeros(N, N, dtype=torch.float64); targets[0, 3] = 1.0
    loss = L.info_nce(a, c, targets, 0.1, exclude=torch.eye(N, dtype=torch.bool))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(a.grad).all() and torch.isfinite(c.grad).all()
    empty = L.info_nce(a, c, torch.full((N,), -1), 0.1)
    assert empty.item() == 0.0
    empty.backward()


XCLR_SIM = torch.tensor([[1.0, .5, 0, 0], [.5, 1, 0, 0], [0, 0, 1, .2], [0, 0, .2, 1]], dtype=torch.float64)
BYOL_TARGET = torch.randn(4, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
LOSSES = {
    "simclr": lambda a, b: L.simclr_loss(a, b, 0.2),
    "supcon": lambda a, b: L.supcon_loss(a, b, torch.tensor([0, 1, 0, 1]), 0.2),
    "xclr": lambda a, b: L.xclr_loss(a, b, XCLR_SIM.to(a.dtype), 0.2, 0.3),
    "xclr_stacked_self": lambda a, b: L.xclr_loss(a, b, XCLR_SIM.to(a.dtype), 0.2, 0.3, form="stacked_self"),
    "xclr_cross_view": lambda a, b: L.xclr_loss(a, b, XCLR_SIM.to(a.dtype), 0.2, 0.3, form="cross_view"),
    "vicreg": L.vicreg_loss,
    "barlow": lambda a, b: L.barlow_twins_loss(a, b, 0.1),
    "byol": lambda a, b: L.byol_loss(a, BYOL_TARGET.to(a.dtype)) + L.byol_loss(b, BYOL_TARGET.to(b.dtype)),  # target: no gradient
    "info_vicreg": lambda a, b: L.info_vicreg_loss(a, b, eps=0.1),
    "er": lambda a, b: L.er_loss(a, b, 3.0),
    "pal_simclr": lambda a, b: L.pal_simclr_loss(torch.cat([a, b]), L.view_graph(4).double(), 0.3),
    "pal_spectral": lambda a, b: L.pal_spectral_loss(torch.cat([a, b]), L.view_graph(4).double()),
    "pal_vicreg": lambda a, b: L.pal_vicreg_loss(torch.cat([a, b]), L.label_graph(torch.tensor([0, 1, 0, 1]).repeat(2)).double()),
    "few_negatives": lambda a, b: L.few_negatives_loss(a, b, 2, 0.3, torch.Generator().manual_seed(0)),
}


@pytest.mark.parametrize("name", LOSSES)
def test_float64_gradcheck(name):
    g = torch.Generator().manual_seed(3)
    a = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LOSSES[name], (a, b))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", LOSSES)
def test_low_precision_is_finite_and_close(name, dtype):
    g = torch.Generator().manual_seed(4)
    a, b = (10 * torch.randn(4, 3, generator=g)).to(dtype), (10 * torch.randn(4, 3, generator=g)).to(dtype)
    low = LOSSES[name](a.requires_grad_(), b.requires_grad_())
    low.backward()
    full = LOSSES[name](a.detach().double(), b.detach().double())
    assert torch.isfinite(low) and torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
    assert low.item() == pytest.approx(full.item(), rel=1e-3, abs=1e-3)


def test_tiny_temperature_does_not_overflow():
    z1, z2 = torch.randn(64, 32).bfloat16(), torch.randn(64, 32).bfloat16()
    for t in (1e-3, 1e-2):
        assert torch.isfinite(L.simclr_loss(z1, z2, t)) and torch.isfinite(L.supcon_loss(z1, z2, torch.arange(64) % 4, t))
        assert torch.isfinite(L.xclr_loss(z1, z2, torch.randn(64, 64), t, t))


# ---------------------------------------------------------------- two processes (gloo)

DIST_LOSSES = ("simclr", "supcon", "xclr", "xclr_stacked_self", "xclr_cross_view", "vicreg", "barlow", "byol", "info_vicreg", "er", "pal_simclr", "pal_spectral")
SIZES = (5, 3)  # uneven local batches: the reduction must still give the global-batch loss


def _dist_losses(x1, x2, weight, labels, sim):
    "Every collective-aware loss on the embeddings x @ weight of this rank's rows."
    z1, z2 = x1 @ weight, x2 @ weight
    rank, size = L.world()
    n = len(z1)
    counts = [SIZES[r] for r in range(size)] if size > 1 else [n]
    start, total = sum(counts[:rank]), sum(counts)
    own = torch.cat([torch.arange(start, start + n), torch.arange(start, start + n) + total])
    graph = L.view_graph(total).double()[own]  # this rank's rows of the global two-view graph
    return {
        "simclr": L.simclr_loss(z1, z2, 0.3),
        "supcon": L.supcon_loss(z1, z2, labels, 0.3),
        "xclr": L.xclr_loss(z1, z2, sim, 0.3, 0.5),
        "xclr_stacked_self": L.xclr_loss(z1, z2, sim, 0.3, 0.5, form="stacked_self"),
        "xclr_cross_view": L.xclr_loss(z1, z2, sim, 0.3, 0.5, form="cross_view"),
        "vicreg": L.vicreg_loss(z1, z2),
        "barlow": L.barlow_twins_loss(z1, z2, 0.05),
        "byol": L.byol_loss(z1, z2),
        "info_vicreg": L.info_vicreg_loss(z1, z2, eps=0.1),
        "er": L.er_loss(z1, z2, 4.0),
        # stacked views on a rank are [z1_local; z2_local]: their rows of the global graph, in the global column order
        "pal_simclr": L.pal_simclr_loss(torch.cat([z1, z2]), _reorder_columns(graph, counts), 0.3),
        "pal_spectral": L.pal_spectral_loss(torch.cat([z1, z2]), _reorder_columns(graph, counts)),
    }


def _reorder_columns(graph_rows, counts):
    "Columns of the global [z1; z2] graph reordered to the gathered order [r0: z1, z2; r1: z1, z2; ...]."
    total = sum(counts)
    order, start = [], 0
    for c in counts:
        order += list(range(start, start + c)) + list(range(total + start, total + start + c))
        start += c
    return graph_rows[:, order]


def _global_data():
    g = torch.Generator().manual_seed(7)
    n = sum(SIZES)
    return (torch.randn(n, 6, generator=g, dtype=torch.float64), torch.randn(n, 6, generator=g, dtype=torch.float64),
            torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g),
            torch.randn(n, n, generator=g, dtype=torch.float64))


def _worker(rank, size, init_file, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=size)
    try:
        x1, x2, weight, labels, sim = _global_data()
        start = sum(SIZES[:rank])
        rows = slice(start, start + SIZES[rank])
        results = {}
        for name in DIST_LOSSES:
            w = weight.clone().requires_grad_()
            a, b = x1[rows].clone().requires_grad_(), x2[rows].clone().requires_grad_()
            loss = _dist_losses(a, b, w, labels[rows], sim)[name]
            loss.backward()
            grad_w = w.grad.clone()
            dist.all_reduce(grad_w)  # what DDP does: average the parameter gradients over ranks
            mean_loss = loss.detach().clone()
            dist.all_reduce(mean_loss)
            results[name] = {"loss": mean_loss / size, "grad_w": grad_w / size, "grad_x1": a.grad, "grad_x2": b.grad}
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _single_process_reference():
    x1, x2, weight, labels, sim = _global_data()
    out = {}
    for name in DIST_LOSSES:
        w, a, b = weight.clone().requires_grad_(), x1.clone().requires_grad_(), x2.clone().requires_grad_()
        graph_free = _dist_losses(a, b, w, labels, sim)[name]
        graph_free.backward()
        out[name] = {"loss": graph_free.detach(), "grad_w": w.grad, "grad_x1": a.grad, "grad_x2": b.grad}
    return out


def test_two_process_gloo_matches_the_global_batch(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    reference = _single_process_reference()
    for name in DIST_LOSSES:
        ref = reference[name]
        for r in range(2):
            got = ranks[r][name]
            torch.testing.assert_close(got["loss"], ref["loss"], msg=f"{name}: loss (rank {r})")
            torch.testing.assert_close(got["grad_w"], ref["grad_w"], msg=f"{name}: parameter gradient (rank {r})")
            # each rank's input gradient is world_size x the global one (DDP's averaging divides it back)
            rows = slice(sum(SIZES[:r]), sum(SIZES[:r + 1]))
            for key in ("grad_x1", "grad_x2"):
                if ref[key] is None:  # BYOL's target branch gets no gradient, on any number of ranks
                    assert got[key] is None, f"{name}: {key} (rank {r})"
                else:
                    torch.testing.assert_close(got[key] / 2, ref[key][rows], msg=f"{name}: {key} (rank {r})")
