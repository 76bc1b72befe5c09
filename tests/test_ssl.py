"""repl_nb.ssl: kNN evaluation against a loop reference, exact chunked kNN, GPS positives, the EMA teacher, resume of an
SSL run, and a short run on embedded data that beats a random-init backbone on kNN accuracy."""
import importlib.util
import math

import pytest
import torch
import torch.nn.functional as F

from repl_nb.augment import Augment
from repl_nb.data import load_dataset
from repl_nb.ssl import (EMATeacher, GPSPositives, METHODS, SSLMethod, TwoViewObjective, build_ssl_model, evaluate_backbone,
                         knn_predict, make_backbone, nearest_neighbors, pretrain, with_sample_ids)
from repl_nb.train import Callback, fit

from conftest import ROOT


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def ref_knn(train, labels, test, n_classes, k, t):
    "Weighted kNN one query at a time, with Python sorting."
    preds = []
    for q in test:
        sims = [(F.cosine_similarity(q, x, dim=0).item(), int(y)) for x, y in zip(train, labels)]
        sims.sort(key=lambda s: -s[0])
        votes = [0.0] * n_classes
        for s, y in sims[:k]:
            votes[y] += math.exp(s / t)
        preds.append(max(range(n_classes), key=lambda c: votes[c]))
    return torch.tensor(preds)


@pytest.mark.parametrize("k", [1, 5, 40, 1000])
def test_knn_predict_matches_loop_reference(k):
    g = torch.Generator().manual_seed(k)
    train, test = torch.randn(40, 6, generator=g), torch.randn(15, 6, generator=g)
    labels = torch.randint(0, 4, (40,), generator=g)
    assert torch.equal(knn_predict(train, labels, test, 4, k=k, temperature=0.1),
                       ref_knn(train, labels, test, 4, min(k, 40), 0.1))


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_chunked_nearest_neighbours_are_exact(metric):
    x = torch.randn(257, 5, generator=torch.Generator().manual_seed(1))
    got = nearest_neighbors(x, 4, metric=metric, chunk_size=50)
    if metric == "cosine":
        xn = F.normalize(x, dim=1)
        score = (xn @ xn.T).fill_diagonal_(-2)
    else:
        score = -torch.cdist(x, x).fill_diagonal_(float("inf"))
    assert torch.equal(got, score.topk(4, dim=1).indices)
    queries = torch.randn(9, 5)
    assert torch.equal(nearest_neighbors(x, 3, queries=queries, metric=metric, chunk_size=4),
                       nearest_neighbors(x, 3, queries=queries, metric=metric, chunk_size=1000))


def test_gps_positives_are_neighbours_and_reproducible():
    x = torch.randn(100, 3, generator=torch.Generator().manual_seed(2))
    gps = GPSPositives(x, k=5, metric="euclidean")
    ids = torch.arange(100)
    pos = gps(ids, seed=3)
    assert torch.equal(pos, gps(ids, seed=3)) and not torch.equal(pos, gps(ids, seed=4))
    dist = torch.cdist(x, x).fill_diagonal_(float("inf"))
    fifth = dist.topk(5, largest=False).values[:, -1]
    assert (dist[ids, pos] <= fifth + 1e-6).all() and (pos != ids).all()


def test_gps_objective_builds_the_second_view_from_neighbours(digits):
    gps = GPSPositives(digits.x_train.flatten(1), k=1)
    obj = TwoViewObjective("simclr", Augment(), positives=gps, train_x=digits.x_train)
    ids = torch.arange(10)
    v1, v2 = obj.views(digits.x_train[ids], ids, seed=0)
    assert torch.equal(v1, digits.x_train[ids])
    assert torch.equal(v2, digits.x_train[gps.neighbours[ids, 0]])


class Interrupt(Callback):
    def __init__(self, at):
        self.at = at

    def on_step_end(self, ctx):
        if ctx.step == self.at:
            raise KeyboardInterrupt


def test_interrupted_byol_run_resumes_exactly(tmp_path, digits):
    "Teacher, optimiser and the seeds of the views all come back from the checkpoint: same weights, bit for bit."
    def run(run_dir, init_seed, callbacks=()):
        torch.manual_seed(init_seed)
        model = build_ssl_model("byol", make_backbone("mlp", digits.input_shape, width=16), 8, 16)
        obj = TwoViewObjective("byol", Augment(crop_scale=0.7, noise_std=0.1))
        return fit(model, digits, 20, batch_size=64, objective=obj, callbacks=[EMATeacher(20), *callbacks],
                   checkpoint_steps=[0, 10, 20], run_dir=run_dir, progress=False).model
    whole = run(tmp_path / "a", 0)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", 0, [Interrupt(15)])
    resumed = run(tmp_path / "b", 1)  # a different fresh init: everything must come from the step-10 checkpoint
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_every_method_trains_a_few_steps(digits):
    small = digits.subset(12)
    sim = torch.eye(10) * 0.5 + 0.5
    for method in METHODS:
        torch.manual_seed(0)
        r = pretrain(small, method, make_backbone("mlp", digits.input_shape, width=16), steps=4, batch_size=60,
                     class_similarity=sim if method == "xclr" else None, n_checkpoints=1, probe=False,
                     eval_during=False, hidden_dim=16, proj_dim=8)
        assert math.isfinite(r.fit.metrics[-1]["batch_loss"]), method


def test_short_simclr_run_beats_random_init_on_knn(digits):
    torch.manual_seed(1)
    backbone = make_backbone("cnn", digits.input_shape, width=16)
    random_init = evaluate_backbone(backbone, digits, probe=False)["knn_acc"]
    run = pretrain(digits, "simclr", backbone, steps=60, augment=Augment(crop_scale=0.6, crop_ratio=(0.8, 1.25), noise_std=0.1),
                   lr=3e-3, batch_size=256, n_checkpoints=1, eval_during=False, probe=True, hidden_dim=128, proj_dim=64,
                   seed=1)
    assert run.final["knn_acc"] > random_init + 0.08, (random_init, run.final)
    assert run.final["probe_acc"] > 0.9


def test_the_registry_decides_heads_teacher_and_the_ddp_choices():
    for name, spec in METHODS.items():
        model = build_ssl_model(name, make_backbone("mlp", (4,), width=8), proj_dim=6, hidden_dim=10)
        assert (model.teacher is not None) == (model.predictor is not None) == spec.teacher, name
        width = model.projector(torch.zeros(3, 8)).shape[1]
        assert width == (10 if spec.head == "expander" else 6), name
    loader = importlib.util.spec_from_file_location("ssl_ddp", ROOT / "scripts" / "ssl_ddp.py")
    ssl_ddp = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(ssl_ddp)
    assert set(ssl_ddp.DDP_METHODS) == set(METHODS) - {"xclr", "pal"}


def test_a_new_registry_entry_trains_without_other_changes(digits, monkeypatch):
    "Adding a method is adding one entry: pretrain, the objective and the model builder pick it up."
    calls = []

    def cosine_alignment(batch, weight=1.0):
        calls.append(weight)
        return -weight * torch.nn.functional.cosine_similarity(batch.z1, batch.z2).mean()

    monkeypatch.setitem(METHODS, "align_only", SSLMethod(cosine_alignment, {"weight": 2.0}))
    r = pretrain(digits.subset(6), "align_only", make_backbone("mlp", digits.input_shape, width=8), steps=2, batch_size=30,
                 n_checkpoints=1, probe=False, eval_during=False, hidden_dim=8, proj_dim=4)
    assert calls == [2.0, 2.0] and math.isfinite(r.fit.metrics[-1]["batch_loss"])
    with pytest.raises(ValueError, match="choose one of"):
        TwoViewObjective("align", Augment())


def test_ssl_throughput_bench_runs_tiny_on_cpu():
    "bench/ssl_throughput.py --tiny: both loops train every method and report a finite ratio (no timed assertion)."
    loader = importlib.util.spec_from_file_location("ssl_throughput", ROOT / "bench" / "ssl_throughput.py")
    bench = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(bench)
    rows = bench.benchmark(bench.parse_args(["--tiny", "--device", "cpu", "--methods", "simclr", "byol"]))
    assert [r["method"] for r in rows] == ["simclr", "byol"]
    assert all(r["ours_images_s"] > 0 and r["bare_images_s"] > 0 and math.isfinite(r["ratio"]) for r in rows)
    assert all(r["ours_peak_mib"] is None for r in rows)  # peak memory is CUDA's; not measured on a CPU


def test_oracle_labels_reach_the_loss_and_not_the_evaluation(digits):
    "pretrain(oracle_labels=...): the loss sees the revealed labels (-1 unknown) by sample index; evaluation the true ones."
    small = digits.subset(6)
    oracle = torch.full_like(small.y_train, -1)
    oracle[::3] = small.y_train[::3]
    seen = []
    spec = METHODS["pal"]
    record = lambda batch, **kw: seen.append(batch.labels.clone()) or spec.loss(batch, **kw)
    METHODS["pal_recorded"] = SSLMethod(record, spec.defaults, needs=spec.needs, distributed=False)
    try:
        r = pretrain(small, "pal_recorded", make_backbone("mlp", digits.input_shape, width=8), steps=2, batch_size=20,
                     oracle_labels=oracle, n_checkpoints=1, eval_during=False, hidden_dim=8, proj_dim=4)
    finally:
        del METHODS["pal_recorded"]
    assert len(seen) == 2 and all(((s == -1) | (s >= 0)).all() for s in seen)
    assert any((s == -1).any() for s in seen) and any((s >= 0).any() for s in seen)
    assert set(torch.cat(seen).tolist()) <= set(oracle.tolist())
    assert 0.0 <= r.final["knn_acc"] <= 1.0  # evaluated with the true labels (no -1 reaches kNN)
