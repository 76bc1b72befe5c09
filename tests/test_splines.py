"The spline algorithms against independent references (tests/spline_reference.py), closed forms and invariants."
import math
from itertools import combinations

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings, strategies as st

from repl_nb.data import load_dataset
from repl_nb.models import MLP, PreActResNet18, SmallCNN
from repl_nb.splines.affine import as_piecewise_affine
from repl_nb.splines.complexity import local_complexity, random_frame
import repl_nb.splines.enumerate.search as enumerate_search  # where the vertex path is chosen
from repl_nb.splines.enumerate import RegionLimitError, count_regions, enumerate_regions, load_regions, sample_regions
from repl_nb.splines.partition2d import Plane, partition_2d, plane_through, polygon_areas
from spline_reference import reference_local_complexity, reference_partition, reference_regions

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
code_set = lambda codes: {tuple(c) for c in torch.as_tensor(codes).tolist()}


def mlp(seed, d_in, widths, d_out=1, activation="relu"):
    torch.manual_seed(seed)
    return MLP(d_in, widths, d_out, activation=activation)


def hyperplanes_through_points_near_zero(model, spread=0.3, seed=0):
    "Bias each first-layer unit so its hyperplane passes near the origin (many crossings inside a small box)."
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = model[1].weight
        model[1].bias.copy_(-(w * spread * torch.randn(w.shape, generator=g)).sum(1))
    return model


# --- partition_2d -------------------------------------------------------------------------------------------------

@settings(max_examples=12, **SETTINGS)
@given(seed=st.integers(0, 10**6), widths=st.lists(st.integers(1, 12), min_size=1, max_size=3),
       activation=st.sampled_from(["relu", "leaky_relu"]))
def test_partition_matches_sequential_clipping_reference(seed, widths, activation):
    model = mlp(seed, 2, widths, 2, activation)
    domain = torch.tensor([[-2.0, -1.5], [1.5, -2.0], [2.5, 1.0], [0.0, 2.0], [-2.0, 1.0]])  # a convex pentagon
    part = partition_2d(model, domain)
    reference = reference_partition(model, domain.tolist())
    assert code_set(part.codes) == {tuple(c) for _, c in reference}
    assert part.n_regions == len(reference)
    assert part.areas().sum().item() == pytest.approx(polygon_areas(domain[None].double(), torch.tensor([5])).item(), rel=1e-9)


@settings(max_examples=10, **SETTINGS)
@given(seed=st.integers(0, 10**6), widths=st.lists(st.integers(2, 16), min_size=1, max_size=3))
def test_every_region_centroid_has_the_region_code_and_affine_map(seed, widths):
    model = mlp(seed, 2, widths, 3)
    part = partition_2d(model, ((-3, 3), (-2, 2)))
    net = as_piecewise_affine(model)
    c = part.centroids()
    assert torch.equal(net.codes(c), part.codes)
    assert torch.allclose(part.outputs_at(c, torch.arange(part.n_regions)), net(c), atol=1e-9)
    assert (part.areas() > 0).all()
    assert part.areas().sum().item() == pytest.approx(24.0, rel=1e-10)


@settings(max_examples=10, **SETTINGS)
@given(K=st.integers(1, 12), seed=st.integers(0, 10**6))
def test_one_layer_in_general_position_gives_1_plus_K_plus_K_choose_2(K, seed):
    torch.manual_seed(seed)
    model = MLP(2, [K], 1)
    with torch.no_grad():  # well-spread directions, lines through points near the origin
        angle = (torch.arange(K) + 0.5 * torch.rand(K)) * math.pi / K
        model[1].weight.copy_(torch.stack([angle.cos(), angle.sin()], 1))
    hyperplanes_through_points_near_zero(model, 0.2, seed)
    W, b = model[1].weight.double(), model[1].bias.double()
    crossings = [torch.linalg.solve(W[[i, j]], -b[[i, j]]) for i, j in combinations(range(K), 2)]
    half = max([c.abs().max().item() for c in crossings], default=1.0) + 1.0
    assert partition_2d(model, ((-half, half), (-half, half))).n_regions == 1 + K + math.comb(K, 2)


def test_plane_through_a_high_dimensional_input_matches_the_reduced_2d_network():
    model = mlp(3, 7, [10, 10], 2)
    plane, domain = plane_through(*torch.randn(3, 7, generator=torch.Generator().manual_seed(1)))
    part = partition_2d(model, domain, plane=plane)
    # the same function of the plane coordinates, as a 2-input MLP: first layer W B^T, bias W o + b
    reduced = MLP(2, [10, 10], 2)
    reduced.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("1.")}, strict=False)
    with torch.no_grad():
        reduced[1].weight.copy_((model[1].weight.double() @ plane.basis.T).float())
        reduced[1].bias.copy_((model[1].weight.double() @ plane.origin + model[1].bias.double()).float())
    reference = reference_partition(reduced, domain.tolist())
    assert part.n_regions == len(reference)
    assert torch.equal(as_piecewise_affine(model).codes(plane.to_input(part.centroids())), part.codes)


@pytest.mark.parametrize("make", [lambda: SmallCNN(1, 4, width=3), lambda: PreActResNet18(1, 3, width=2, batch_norm=False)],
                         ids=["cnn", "resnet"])
def test_conv_and_residual_partitions_agree_with_the_forward_pass(make):
    torch.manual_seed(0)
    model = make().eval()
    digits = load_dataset("digits").x_train[:3]
    plane, domain = plane_through(*digits)
    part = partition_2d(model, domain, plane=plane, input_shape=(1, 8, 8))
    net = part.network
    c = part.centroids()
    assert torch.equal(net.codes(plane.to_input(c)), part.codes)
    x = plane.to_input(c).reshape(-1, 1, 8, 8)
    with torch.no_grad():
        expected = model.double()(x)
    assert torch.allclose(part.outputs_at(c, torch.arange(part.n_regions)), expected, atol=1e-8)
    assert part.areas().sum().item() == pytest.approx(polygon_areas(domain[None], torch.tensor([4])).item(), rel=1e-9)


def test_binary_decision_boundary_is_the_zero_level_set():
    model = mlp(5, 2, [16, 16], 1)
    part = partition_2d(model, ((-2, 2), (-2, 2)))
    seg = part.decision_boundary()
    assert len(seg) > 0
    net = part.network
    for t in (0.0, 0.37, 1.0):
        assert net(seg[:, 0] + t * (seg[:, 1] - seg[:, 0])).abs().max() < 1e-9


def test_unsupported_layers_and_inputs_are_named():
    with pytest.raises(TypeError, match="GELU"):
        partition_2d(mlp(0, 2, [4], 1, "gelu"), ((-1, 1), (-1, 1)))
    with pytest.raises(ValueError, match="pass a plane"):
        partition_2d(mlp(0, 3, [4]), ((-1, 1), (-1, 1)))
    with pytest.raises(ValueError, match="convex"):
        partition_2d(mlp(0, 2, [4]), [[0, 0], [2, 0], [1, 0.2], [2, 2], [0, 2]])
    with pytest.raises(ValueError, match="parallel"):
        Plane(torch.zeros(3), torch.tensor([[1.0, 0, 0], [2.0, 0, 0]]))


# --- enumerate_regions --------------------------------------------------------------------------------------------

@settings(max_examples=8, **SETTINGS)
@given(d=st.integers(1, 4), K=st.integers(1, 7), seed=st.integers(0, 10**6))
def test_zaslavsky_count_for_one_hidden_layer(d, K, seed):
    model = hyperplanes_through_points_near_zero(mlp(seed, d, [K], 1, "leaky_relu"), 0.2, seed)
    W, b = model[1].weight.double(), model[1].bias.double()
    vertices = [torch.linalg.solve(W[list(c)], -b[list(c)]) for c in combinations(range(K), d)] if K >= d else []
    half = max([v.abs().max().item() for v in vertices], default=1.0) + 1.0
    box = (-half * torch.ones(d), half * torch.ones(d))
    regions = enumerate_regions(model, box)
    assert regions.n_regions == sum(math.comb(K, i) for i in range(d + 1))
    assert len(code_set(regions.codes)) == regions.n_regions
    assert torch.equal(as_piecewise_affine(model).codes(regions.interior_points), regions.codes)
    assert ((regions.interior_points > box[0]) & (regions.interior_points < box[1])).all()


def test_dense_sampling_finds_nothing_the_enumeration_missed():
    model = mlp(11, 3, [6, 5], 1, "leaky_relu")
    box = (-torch.ones(3), torch.ones(3))
    exact = enumerate_regions(model, box, n_jobs=2)
    sampled, first_seen = sample_regions(model, box, 200_000, seed=3)
    assert code_set(sampled.codes) <= code_set(exact.codes)
    assert sampled.n_regions >= 0.9 * exact.n_regions  # most regions are not tiny
    assert torch.equal(first_seen, first_seen.sort().values) and first_seen[0] == 1


def test_enumeration_in_2d_matches_the_exact_partition():
    model = mlp(4, 2, [8, 8], 1)
    part = partition_2d(model, ((-2, 2), (-2, 2)))
    regions = enumerate_regions(model, (-2 * torch.ones(2), 2 * torch.ones(2)))
    assert code_set(regions.codes) == code_set(part.codes)


def test_enumeration_guards(tmp_path):
    model = mlp(0, 2, [8, 8], 1)
    with pytest.raises(RuntimeError, match="max_regions=5"):
        enumerate_regions(model, (-torch.ones(2), torch.ones(2)), max_regions=5)
    with pytest.raises(RegionLimitError, match=r"enumerated so far.*pass out=DIR"):
        enumerate_regions(model, (-torch.ones(2), torch.ones(2)), max_regions=5)
    with pytest.raises(ValueError, match="input dimension 2"):
        enumerate_regions(model, (-torch.ones(3), torch.ones(3)))
    with pytest.raises(ValueError, match="infinite value"):
        enumerate_regions(model, (-torch.ones(2), torch.tensor([1.0, math.inf])))
    with pytest.raises(TypeError, match="GELU"):
        enumerate_regions(mlp(0, 2, [4], 1, "gelu"), (-torch.ones(2), torch.ones(2)))
    with pytest.raises(ValueError, match="backend='spark'"):
        enumerate_regions(model, (-torch.ones(2), torch.ones(2)), n_jobs=2, backend="spark")
    with pytest.raises(ValueError, match="volumes=False"):
        count_regions(mlp(0, 9, [4], 1), (-torch.ones(9), torch.ones(9)))
    enumerate_regions(model, (-torch.ones(2), torch.ones(2)), out=tmp_path, n_tasks=4)
    with pytest.raises(ValueError, match="another enumeration"):
        enumerate_regions(model, (-torch.ones(2), 2 * torch.ones(2)), out=tmp_path, n_tasks=4)


@settings(max_examples=6, **SETTINGS)
@given(seed=st.integers(0, 10**6), d=st.integers(2, 5), widths=st.lists(st.integers(2, 7), min_size=1, max_size=3),
       activation=st.sampled_from(["relu", "leaky_relu"]))
@example(seed=0, d=4, widths=[7, 2, 2], activation="relu")  # pieces waiting to enter different layers at once
@example(seed=218, d=2, widths=[5], activation="relu")  # a certified ball touching the box's face
def test_enumeration_matches_the_one_lp_per_unit_reference(seed, d, widths, activation):
    model = mlp(seed, d, widths, 1, activation)
    reference = {tuple(code) for code, _ in reference_regions(model, -torch.ones(d), torch.ones(d))}
    for vertex_dim_max in (5, 0):  # pieces with their vertices (no LP), and the chunks of higher dimensions
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(enumerate_search, "VERTEX_DIM_MAX", vertex_dim_max)
            regions = enumerate_regions(model, (-torch.ones(d), torch.ones(d)))
        assert code_set(regions.codes) == reference
        assert torch.equal(as_piecewise_affine(model).codes(regions.interior_points), regions.codes)
        # the certified balls lie in the box, up to the float64 rounding of the LP solution (a ball touching a face)
        ball_lo, ball_hi = regions.interior_points - regions.radii[:, None], regions.interior_points + regions.radii[:, None]
        assert ((ball_lo >= -1 - 1e-12) & (ball_hi <= 1 + 1e-12)).all()


def test_counts_and_volumes_without_listing():
    model = mlp(7, 3, [6, 5, 4], 1, "leaky_relu")
    box = (-torch.ones(3), torch.ones(3))
    counts = count_regions(model, box)
    assert counts.per_layer.tolist() == [enumerate_regions(torch.nn.Sequential(*list(model)[:3]), box).n_regions,
                                         enumerate_regions(torch.nn.Sequential(*list(model)[:5]), box).n_regions,
                                         enumerate_regions(model, box).n_regions]
    assert counts.total_volume == pytest.approx(8.0, rel=1e-9)  # the regions tile the box
    assert counts.volume_counts.sum() == counts.n_regions
    assert count_regions(model, box, volumes=False, n_jobs=2, n_tasks=6).per_layer.tolist() == counts.per_layer.tolist()


def test_chunks_split_into_tasks_and_tile_the_box():
    model = mlp(2, 6, [7, 5], 1, "leaky_relu")  # d=6: above VERTEX_DIM_MAX, the chunks' path
    box = (-torch.ones(6), torch.ones(6))
    whole = enumerate_regions(model, box)
    split = enumerate_regions(model, box, n_jobs=2, n_tasks=9)
    assert code_set(split.codes) == code_set(whole.codes) and split.n_regions == whole.n_regions
    counts = count_regions(model, box, n_tasks=5, n_jobs=2)
    assert counts.per_layer[-1] == whole.n_regions and counts.total_volume == pytest.approx(64.0, rel=1e-9)


def test_an_interrupted_enumeration_resumes_from_its_shards(tmp_path):
    model = mlp(3, 3, [8, 6], 1, "leaky_relu")
    box = (-torch.ones(3), torch.ones(3))
    whole = enumerate_regions(model, box)
    with pytest.raises(RegionLimitError, match="call again with the same out="):
        enumerate_regions(model, box, out=tmp_path, n_tasks=12, max_regions=whole.n_regions // 3)
    saved = sorted(p.name for p in tmp_path.glob("shard-*.safetensors"))
    assert 1 < len(saved) < 13
    resumed = enumerate_regions(model, box, out=tmp_path, n_tasks=12, max_regions=10**6)
    assert resumed.n_regions == whole.n_regions and code_set(resumed.codes) == code_set(whole.codes)
    assert code_set(load_regions(tmp_path).codes) == code_set(whole.codes)
    assert torch.equal(as_piecewise_affine(model).codes(resumed.interior_points), resumed.codes)


def test_dask_backend_gives_the_same_regions():
    pytest.importorskip("distributed")
    model = mlp(5, 4, [7, 5], 1, "leaky_relu")
    box = (-torch.ones(4), torch.ones(4))
    local = enumerate_regions(model, box)
    on_dask = enumerate_regions(model, box, n_jobs=2, backend="dask", n_tasks=8)
    assert code_set(on_dask.codes) == code_set(local.codes) and on_dask.n_regions == local.n_regions


# --- local_complexity ---------------------------------------------------------------------------------------------

@settings(max_examples=10, **SETTINGS)
@given(seed=st.integers(0, 10**6), widths=st.lists(st.integers(1, 24), min_size=1, max_size=3),
       P=st.integers(1, 6), radius=st.floats(0.01, 2.0), activation=st.sampled_from(["relu", "leaky_relu"]))
def test_local_complexity_equals_a_per_point_loop(seed, widths, P, radius, activation):
    model = mlp(seed, 6, widths, 2, activation)
    x = torch.randn(20, 6, generator=torch.Generator().manual_seed(seed))
    V = random_frame(6, P, seed)
    expected = reference_local_complexity(model, x, radius, V)
    assert torch.equal(local_complexity(model, x, radius, directions=V), expected)


@settings(max_examples=10, **SETTINGS)
@given(seed=st.integers(0, 10**6), radius=st.floats(0.01, 3.0))
def test_first_layer_local_complexity_has_a_closed_form(seed, radius):
    model = mlp(seed, 5, [40, 7], 1)
    x = torch.randn(30, 5, generator=torch.Generator().manual_seed(seed + 1))
    V = random_frame(5, 3, seed)
    W, b = model[1].weight, model[1].bias
    closed = ((x @ W.T + b).abs() < radius * (V @ W.T).abs().max(0).values).sum(1)
    assert torch.equal(local_complexity(model, x, radius, directions=V)[:, 0], closed)


def test_zero_bias_linear_network_at_the_origin_counts_every_unit():
    torch.manual_seed(0)
    model = MLP(10, [20, 30, 40], 3, activation="leaky_relu", negative_slope=1.0)
    with torch.no_grad():
        for m in model:
            if isinstance(m, torch.nn.Linear):
                m.bias.zero_()
    assert local_complexity(model, torch.zeros(4, 10), 0.5, n_directions=5).tolist() == [[20, 30, 40]] * 4


def test_local_complexity_of_images_and_bad_inputs():
    model = SmallCNN(1, 10, width=4)
    x = load_dataset("digits").x_train[:5]
    lc = local_complexity(model, x, 0.1, n_directions=8)
    assert lc.shape == (5, 3) and (lc >= 0).all()
    with pytest.raises(ValueError, match="non-finite"):
        local_complexity(model, torch.full_like(x, float("nan")), 0.1, n_directions=8)
    with pytest.raises(ValueError, match="directions have dimension 3"):
        local_complexity(model, x, 0.1, directions=torch.eye(3))
