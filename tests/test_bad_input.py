"""Bad input to the public functions, generated with hypothesis: each invalid argument must raise a ValueError or
TypeError (subclass) whose message names the argument - never a NaN or a silently wrong number, never a bare torch
error from deep inside. One property per kind of mistake, over the functions that take such an argument."""
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repl_nb import classwise, losses, recon
from repl_nb.data import Dataset, load_dataset
from repl_nb.models import MLP
from repl_nb.splines import complexity, enumerate as enum, partition2d
from repl_nb.train import fit

pytestmark = pytest.mark.usefixtures("one_torch_thread")
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# values that are not a positive number: zero, negatives, NaN, infinities, and things that are not numbers at all
not_positive = st.one_of(st.floats(max_value=0.0, allow_nan=False), st.sampled_from([math.nan, math.inf, -math.inf]),
                         st.sampled_from(["0.5", None, True, [0.5]]))
not_non_negative = st.one_of(st.floats(max_value=-1e-12, allow_nan=False, allow_infinity=False),
                             st.sampled_from([math.nan, math.inf, -math.inf, "1", None]))
not_count = st.one_of(st.integers(max_value=0), st.sampled_from([1.5, math.nan, "3", None, True]))


def refused(call, *names: str) -> str:
    "The message of the ValueError / TypeError that `call()` raises; it must name one of `names`."
    try:
        result = call()
    except (ValueError, TypeError) as e:
        message = str(e)
        assert any(n in message for n in names), f"{type(e).__name__}: {message!r} does not name {names}"
        return message
    raise AssertionError(f"accepted, returned {result!r}; expected an error naming {names}")


def views(n: int = 6, d: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


# ---------------------------------------------------------------- losses

TEMPERATURE_LOSSES = {
    "simclr_loss": lambda t: losses.simclr_loss(*views(), temperature=t),
    "supcon_loss": lambda t: losses.supcon_loss(*views(), torch.tensor([0, 1, 0, 1, 2, 2]), temperature=t),
    "xclr_loss": lambda t: losses.xclr_loss(*views(), torch.eye(6), temperature=t),
    "few_negatives_loss": lambda t: losses.few_negatives_loss(*views(), temperature=t),
    "info_nce": lambda t: losses.info_nce(*views(), torch.arange(6), temperature=t),
    "pal_simclr_loss": lambda t: losses.pal_simclr_loss(torch.cat(views()), losses.view_graph(6), temperature=t),
    "SimCLRLoss": lambda t: losses.SimCLRLoss(t)(*views()),
}


@pytest.mark.parametrize("name", TEMPERATURE_LOSSES)
@FAST
@given(t=not_positive)
def test_a_temperature_must_be_a_positive_number(name, t):
    refused(lambda: TEMPERATURE_LOSSES[name](t), "temperature")


POSITIVE_PARAMETERS = {
    "kappa": lambda v: losses.er_loss(*views(), kappa=v),
    "eps": lambda v: losses.info_vicreg_loss(*views(), eps=v),
    "eps ": lambda v: losses.logdet_entropy(views()[0], eps=v),
}


@pytest.mark.parametrize("name", POSITIVE_PARAMETERS)
@FAST
@given(v=not_positive)
def test_scale_parameters_must_be_positive(name, v):
    refused(lambda: POSITIVE_PARAMETERS[name](v), name.strip())


WEIGHTS = {
    "sim_coeff": lambda v: losses.vicreg_loss(*views(), sim_coeff=v),
    "cov_coeff": lambda v: losses.vicreg_loss(*views(), cov_coeff=v),
    "lambd": lambda v: losses.barlow_twins_loss(*views(), lambd=v),
    "entropy_coeff": lambda v: losses.info_vicreg_loss(*views(), entropy_coeff=v),
    "target_temperature": lambda v: losses.xclr_loss(*views(), torch.eye(6), target_temperature=v),
}


@pytest.mark.parametrize("name", WEIGHTS)
@FAST
@given(v=not_non_negative)
def test_loss_weights_must_be_finite_and_non_negative(name, v):
    refused(lambda: WEIGHTS[name](v), name)


@FAST
@given(k=not_count)
def test_few_negatives_needs_at_least_one_negative(k):
    refused(lambda: losses.few_negatives_loss(*views(), n_negatives=k), "n_negatives")


TWO_VIEW_LOSSES = {
    "simclr_loss": lambda a, b: losses.simclr_loss(a, b),
    "supcon_loss": lambda a, b: losses.supcon_loss(a, b, torch.zeros(len(a), dtype=torch.long)),
    "xclr_loss": lambda a, b: losses.xclr_loss(a, b, torch.eye(len(a))),
    "vicreg_loss": lambda a, b: losses.vicreg_loss(a, b),
    "barlow_twins_loss": lambda a, b: losses.barlow_twins_loss(a, b),
    "byol_loss": lambda a, b: losses.byol_loss(a, b),
    "info_vicreg_loss": lambda a, b: losses.info_vicreg_loss(a, b),
    "er_loss": lambda a, b: losses.er_loss(a, b),
    "few_negatives_loss": lambda a, b: losses.few_negatives_loss(a, b),
}


@pytest.mark.parametrize("name", TWO_VIEW_LOSSES)
@FAST
@given(n=st.integers(2, 6), d=st.integers(1, 5), dn=st.integers(-1, 2), dd=st.integers(-1, 2))
def test_two_views_of_different_shapes_are_refused(name, n, d, dn, dd):
    if (dn, dd) == (0, 0) or d + dd < 1:
        return
    z1, z2 = torch.randn(n, d), torch.randn(n + dn, d + dd)
    refused(lambda: TWO_VIEW_LOSSES[name](z1, z2), "z2", "z_target")


@pytest.mark.parametrize("name", ["vicreg_loss", "barlow_twins_loss", "info_vicreg_loss"])
def test_batch_statistics_need_two_samples(name):
    message = refused(lambda: TWO_VIEW_LOSSES[name](*views(1)), "z1")
    assert "at least 2" in message


@FAST
@given(n_labels=st.integers(0, 12))
def test_supcon_counts_labels_per_sample_not_per_view(n_labels):
    if n_labels == 6:
        return
    message = refused(lambda: losses.supcon_loss(*views(), torch.zeros(n_labels, dtype=torch.long)), "labels")
    assert "must have 6" in message


@FAST
@given(target=st.integers(6, 100))
def test_out_of_range_index_targets_are_named(target):
    targets = torch.arange(6)
    targets[0] = target
    refused(lambda: losses.info_nce(*views(), targets), "targets")


# ---------------------------------------------------------------- splines

def mlp2d(seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP(2, [8, 8], 2).double()


BAD_DOMAINS = st.sampled_from([((math.nan, 1.0), (0.0, 1.0)), ((0.0, math.inf), (0.0, 1.0)), ((0, 1), (-math.inf, 1)),
                               "square", [[0.0, 1.0]], ((0.0, 1.0), (0.0, 1.0), (0.0, 1.0), (1.0,))])


@FAST
@given(domain=BAD_DOMAINS)
def test_partition_2d_refuses_a_domain_that_is_not_a_finite_polygon(domain):
    refused(lambda: partition2d.partition_2d(mlp2d(), domain), "domain")


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_partition_2d_refuses_a_model_with_non_finite_weights(bad):
    model = mlp2d()
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = bad
    refused(lambda: partition2d.partition_2d(model, ((0, 1), (0, 1))), "parameter")


def test_partition_2d_refuses_a_model_without_parameters():
    refused(lambda: partition2d.partition_2d(torch.nn.Sequential(torch.nn.ReLU()), ((0, 1), (0, 1))), "model")


@FAST
@given(radius=not_positive)
def test_local_complexity_needs_a_positive_radius(radius):
    refused(lambda: complexity.local_complexity(mlp2d(), torch.zeros(3, 2, dtype=torch.float64), radius), "radius")


@FAST
@given(n=st.one_of(st.integers(max_value=0), st.integers(3, 50), st.sampled_from([1.5, None])))
def test_local_complexity_needs_a_valid_number_of_directions(n):
    refused(lambda: complexity.local_complexity(mlp2d(), torch.zeros(3, 2, dtype=torch.float64), 0.1, n_directions=n),
            "n_directions")


@FAST
@given(n=not_count)
def test_sample_regions_needs_samples(n):
    refused(lambda: enum.sample_regions(mlp2d(), (torch.zeros(2), torch.ones(2)), n), "n_samples")


@FAST
@given(bad=st.sampled_from([math.nan, math.inf, -math.inf]))
def test_region_boxes_must_be_finite(bad):
    refused(lambda: enum.enumerate_regions(mlp2d(), (torch.tensor([0.0, bad]), torch.ones(2))), "box")


# ---------------------------------------------------------------- fit and data

@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", n_train=40, n_test=20)


FIT_ARGUMENTS = {"batch_size": not_count, "check_every": not_count, "n_checkpoints": not_count, "lr": not_positive,
                 "steps": st.one_of(st.integers(max_value=-1), st.sampled_from([1.5, "10", None])),
                 "weight_decay": not_non_negative, "eval_max_samples": not_count}


@pytest.mark.parametrize("name", FIT_ARGUMENTS)
@FAST
@given(data=st.data())
def test_fit_names_each_bad_argument(moons, name, data):
    value = data.draw(FIT_ARGUMENTS[name])
    kwargs = {"steps": 2, name: value}
    refused(lambda: fit(MLP(2, [4], 2), moons, progress=False, **kwargs), name)


@FAST
@given(n_nan=st.integers(1, 5), n_inf=st.integers(0, 3), split=st.sampled_from(["x_train", "x_test"]))
def test_non_finite_data_is_diagnosed_as_data_not_divergence(moons, n_nan, n_inf, split):
    x = getattr(moons, split).clone()
    x.view(-1)[:n_nan] = math.nan
    x.view(-1)[n_nan:n_nan + n_inf] = math.inf
    bad = Dataset(moons.name, **{**{k: getattr(moons, k) for k in ("x_train", "y_train", "x_test", "y_test")}, split: x},
                  class_names=moons.class_names)
    message = refused(lambda: fit(MLP(2, [4], 2), bad, 2, progress=False), split)
    assert f"{n_nan} NaN value" in message and "diverged" not in message


def test_out_of_range_labels_are_named(moons):
    bad = Dataset(moons.name, moons.x_train, moons.y_train + 5, moons.x_test, moons.y_test, moons.class_names)
    refused(lambda: fit(MLP(2, [4], 2), bad, 2, progress=False), "y_train")


@FAST
@given(n=not_count, noise=not_non_negative)
def test_toy_data_sets_name_bad_sizes_and_noise(n, noise):
    refused(lambda: load_dataset("moons", n_train=n), "n_train")
    refused(lambda: load_dataset("spirals", noise=noise), "noise")


# ---------------------------------------------------------------- recon and classwise

@FAST
@given(n_nan=st.integers(1, 10))
def test_pca_refuses_non_finite_samples(n_nan):
    x = torch.randn(20, 5)
    x.view(-1)[:n_nan] = math.nan
    assert f"{n_nan} NaN" in refused(lambda: recon.fit_pca(x), "X")


@FAST
@given(level=st.one_of(st.floats(min_value=1.0), st.floats(max_value=-1e-9), st.sampled_from([math.nan, "0.5"])))
def test_masking_level_is_a_probability(level):
    refused(lambda: recon.optimal_linear_dae(torch.rand(10, 1, 4, 4), noise="mask", level=level), "level")


@FAST
@given(p=not_count)
def test_patch_size_is_a_positive_count(p):
    refused(lambda: recon.patch_ids((1, 4, 4), p), "patch_size")


@FAST
@given(n_classes=not_count)
def test_per_class_accuracy_needs_a_class_count(n_classes):
    refused(lambda: classwise.per_class_accuracy(torch.tensor([0, 1]), torch.tensor([0, 1]), n_classes), "n_classes")


@FAST
@given(label=st.one_of(st.integers(-2**63, -1), st.integers(3, 1000)))  # labels a torch int64 tensor can hold
def test_out_of_range_class_labels_are_named(label):
    refused(lambda: classwise.per_class_accuracy(torch.tensor([0, 1]), torch.tensor([0, label]), 3), "labels")


@FAST
@given(k=st.one_of(not_count, st.integers(4, 100)))
def test_worst_k_needs_k_among_the_classes(k):
    refused(lambda: classwise.worst_k_accuracy(torch.tensor([0.5, 0.7, 0.9]), k), "k")
