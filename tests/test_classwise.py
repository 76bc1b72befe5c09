"""repl_nb.classwise: metrics against slow loop references, scikit-learn and scipy, closed cases; sweep tables through
the run folder (round trip, resume, torn cells); the class-conditional policy on a batch; ensembles and their seeds."""
import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings, strategies as st
from scipy import stats
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from repl_nb.augment import Augment
from repl_nb.classwise import (FIT_SEED_STRIDE, SWEEP_FILE, ClassConditionalAugment, SeededAugment, SweepTable,
                               adjust_p_values, best_k_accuracy, cell_records, class_drops, confusion_matrix,
                               confusion_shares, crop_sweep, ensemble_per_class, ensemble_scores, growing_confusions,
                               load_cell_logits, member_seeds, paired_t_test, per_class_accuracy,
                               per_class_accuracy_stack, per_class_false_positives, run_cells, select_classes,
                               subset_accuracy, train_members, worst_k_accuracy)
from repl_nb.core import read_jsonl
from repl_nb.data import load_dataset
from repl_nb.models import MLP
from repl_nb.train import fit


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models train fastest on one thread


# ---------------------------------------------------------------- slow references

def loop_confusion(p, y, C):
    m = [[0] * C for _ in range(C)]
    for a, b in zip(y, p):
        m[a][b] += 1
    return m


def loop_accuracy(p, y, C):
    out = []
    for c in range(C):
        n = sum(1 for a in y if a == c)
        out.append(sum(1 for a, b in zip(y, p) if a == c and b == c) / n if n else math.nan)
    return out


def loop_false_positives(p, y, C):
    return [sum(1 for a, b in zip(y, p) if b == c and a != c) for c in range(C)]


def same(a, b):
    "Equal lists of floats, NaN equal to NaN."
    return len(a) == len(b) and all((math.isnan(u) and math.isnan(v)) or abs(u - v) < 1e-12 for u, v in zip(a, b))


cases = st.integers(1, 8).flatmap(lambda C: st.tuples(
    st.just(C), st.lists(st.tuples(st.integers(0, C - 1), st.integers(0, C - 1)), max_size=60)))


@pytest.mark.filterwarnings("ignore:A single label was found")
@settings(max_examples=150, deadline=None)
@given(cases)
def test_metrics_match_loops(case):
    C, pairs = case
    y = torch.tensor([a for a, _ in pairs], dtype=torch.long)
    p = torch.tensor([b for _, b in pairs], dtype=torch.long)
    ys, ps = y.tolist(), p.tolist()
    assert confusion_matrix(p, y, C).tolist() == loop_confusion(ps, ys, C)
    assert same(per_class_accuracy(p, y, C).tolist(), loop_accuracy(ps, ys, C))
    assert per_class_false_positives(p, y, C).tolist() == loop_false_positives(ps, ys, C)
    negatives = [len(ys) - ys.count(c) for c in range(C)]
    rates = [f / n if n else math.nan for f, n in zip(loop_false_positives(ps, ys, C), negatives)]
    assert same(per_class_false_positives(p, y, C, rate=True).tolist(), rates)
    scores = F.one_hot(p, C).float() + 0.01 * torch.rand(len(p), C)  # argmax is p
    assert same(per_class_accuracy(scores, y, C).tolist(), loop_accuracy(ps, ys, C))
    if pairs:
        assert confusion_matrix(p, y, C).tolist() == sk_confusion_matrix(ys, ps, labels=list(range(C))).tolist()


def test_closed_cases():
    y = torch.tensor([0, 0, 1, 1, 1, 2])
    perfect = per_class_accuracy(y, y, 4)
    assert perfect[:3].tolist() == [1.0, 1.0, 1.0] and math.isnan(perfect[3])  # class 3 absent: NaN
    assert per_class_false_positives(y, y, 4).tolist() == [0, 0, 0, 0]
    zeros = torch.zeros_like(y)  # everything predicted as class 0
    assert per_class_accuracy(zeros, y, 3).tolist() == [1.0, 0.0, 0.0]
    assert per_class_false_positives(zeros, y, 3).tolist() == [4, 0, 0]
    assert confusion_matrix(zeros, y, 3)[:, 0].tolist() == [2, 3, 1]
    with pytest.raises(ValueError, match="must lie in"):
        per_class_accuracy(torch.tensor([0, 5]), torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="does not match"):
        per_class_accuracy(torch.zeros(3, 2, 2), torch.tensor([0, 1]), 2)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1), st.just(math.nan)), min_size=1, max_size=12), st.integers(1, 12))
def test_worst_and_best_k_match_sorting(values, k):
    if k > len(values):
        with pytest.raises(ValueError):
            worst_k_accuracy(torch.tensor(values), k)
        return
    defined = sorted(v for v in values if not math.isnan(v))
    worst = sum(defined[:k]) / k if len(defined) >= k else math.nan
    best = sum(defined[::-1][:k]) / k if len(defined) >= k else math.nan
    assert same([worst_k_accuracy(torch.tensor(values, dtype=torch.float64), k).item()], [worst])
    assert same([best_k_accuracy(torch.tensor(values, dtype=torch.float64), k).item()], [best])
    if len(defined) >= k:
        order = sorted((v, i) for i, v in enumerate(values) if not math.isnan(v))[:k]
        assert select_classes(torch.tensor(values, dtype=torch.float64), k).tolist() == [i for _, i in order]
        chosen = select_classes(torch.tensor(values, dtype=torch.float64), k)
        assert abs(subset_accuracy(torch.tensor(values, dtype=torch.float64), chosen).item() - worst) < 1e-12


def test_worst_k_of_a_stack_is_row_by_row():
    x = torch.rand(5, 9, dtype=torch.float64)
    x[1, 3] = math.nan
    rows = [worst_k_accuracy(r, 4).item() for r in x]
    assert torch.allclose(worst_k_accuracy(x, 4), torch.tensor(rows, dtype=torch.float64))


# ---------------------------------------------------------------- statistics

def test_paired_t_test_matches_scipy():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 40, generator=g, dtype=torch.float64), torch.randn(6, 40, generator=g, dtype=torch.float64)
    b[:, :10] += 3.0  # a clearly lower than b in the first 10 columns
    t, p = paired_t_test(a, b)
    ref = stats.ttest_rel(a.numpy(), b.numpy(), axis=0, alternative="less")
    assert np.allclose(t.numpy(), ref.statistic) and np.allclose(p.numpy(), ref.pvalue)
    assert (p[:10] < 0.05).all()
    a[0, 0] = math.nan  # a missing seed drops that pair only
    _, p1 = paired_t_test(a[:, :1], b[:, :1])
    assert np.isclose(p1.item(), stats.ttest_rel(a[1:, 0].numpy(), b[1:, 0].numpy(), alternative="less").pvalue)


def test_p_value_adjustments():
    p = torch.tensor([0.01, 0.04, 0.03, 0.2, math.nan], dtype=torch.float64)
    bh = adjust_p_values(p, "bh")
    assert np.allclose(bh[:4].numpy(), stats.false_discovery_control(p[:4].numpy())) and math.isnan(bh[4])
    m = 4  # Holm by its definition: step-down, running maximum of (m - rank) * p
    order = sorted(range(m), key=lambda i: p[i].item())
    holm, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i].item()))
        holm[i] = running
    assert np.allclose(adjust_p_values(p, "holm")[:4].numpy(), holm)


def random_table(S=4, R=3, C=5, seed=0, strengths=None):
    g = torch.Generator().manual_seed(seed)
    conf = torch.randint(0, 30, (S, R, C, C), generator=g).double() + 20 * torch.eye(C, dtype=torch.float64)
    return SweepTable(strengths or [round(0.2 * (i + 1), 2) for i in range(S)], list(range(R)),
                      [f"k{c}" for c in range(C)], conf)


def test_growing_confusions_match_linregress():
    table = random_table(S=5, R=4, C=4, seed=3)
    table.confusion[:, :, 0, 1] += 80 * (1 - torch.tensor(table.strengths, dtype=torch.float64)).view(-1, 1)
    shares = confusion_shares(table)
    rows = {(r["k"], r["l"]): r for r in growing_confusions(table, alpha=1.0, correction=None)}
    x = np.repeat(1 - np.array(table.strengths), len(table.seeds))
    for k in range(4):
        for l in range(4):
            if k == l:
                continue
            ref = stats.linregress(x, shares[:, :, k, l].reshape(-1).numpy(), alternative="greater")
            if (k, l) in rows:
                assert np.isclose(rows[(k, l)]["slope"], ref.slope) and np.isclose(rows[(k, l)]["p"], ref.pvalue)
            else:  # left out: not growing (slope <= 0) or no growth from weakest to strongest
                growth = shares[0, :, k, l].mean() - shares[-1, :, k, l].mean()
                assert ref.slope <= 0 or growth <= 0
    assert (0, 1) in {(r["k"], r["l"]) for r in growing_confusions(table)}


def test_class_drops_against_a_known_drop():
    table = random_table(S=3, R=4, C=4, seed=1)
    table.confusion[0, :, 2, 2] -= 15  # class 2 loses 15 samples to class 3 at the strongest crop, every seed
    table.confusion[0, :, 2, 3] += 15
    rows = class_drops(table, at=table.strengths[0], reference="weakest", correction=None)
    acc = table.accuracy
    assert np.isclose(rows[2]["drop"], (acc[-1, :, 2] - acc[0, :, 2]).mean().item())
    _, p = paired_t_test(acc[0], acc[-1])
    assert np.allclose([r["p"] for r in rows], p.numpy())


# ---------------------------------------------------------------- sweep tables through the run folder

@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 6), st.integers(0, 10**6))
def test_sweep_table_round_trips_through_the_run_folder(tmp_path, S, R, C, seed):
    table = random_table(S, R, C, seed)
    table.confusion[0, :, 0, :] = 0  # class 0 absent from the test set of the first strength: accuracy NaN
    folder = tmp_path / f"run-{S}-{R}-{C}-{seed}"
    folder.mkdir()
    table.save(folder)
    back = SweepTable.load(folder)
    assert torch.equal(back.confusion, table.confusion)
    assert (back.strengths, back.seeds, back.class_names) == (table.strengths, table.seeds, table.class_names)
    frame = pd.read_json(folder / SWEEP_FILE, lines=True)  # the tidy table, as pandas reads it
    assert {"s", "seed", "class", "accuracy", "false_positives"} <= set(frame.columns) and len(frame) == S * R * C
    acc, fp = table.accuracy, table.false_positives
    for r in read_jsonl(folder / SWEEP_FILE)[:20]:
        i, j, c = table.index(r["s"]), table.seeds.index(r["seed"]), r["class"]
        assert r["false_positives"] == fp[i, j, c]
        assert (r["accuracy"] is None and math.isnan(acc[i, j, c])) or r["accuracy"] == acc[i, j, c].item()


def fake_train(calls, fail_at=None):
    def train_cell(s, seed):
        calls.append((s, seed))
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt
        g = torch.Generator().manual_seed(int(1000 * s) + seed)
        return torch.randn(40, 3, generator=g)
    return train_cell


def test_run_cells_resumes_and_skips_finished_cells(tmp_path):
    labels = torch.arange(40) % 3
    cells = [(s, seed) for s in (0.25, 1.0) for seed in (0, 1, 2)]
    whole_calls = []
    whole = run_cells(tmp_path / "whole", cells, fake_train(whole_calls), labels, ["a", "b", "c"], progress=False)
    calls = []
    with pytest.raises(KeyboardInterrupt):
        run_cells(tmp_path / "cut", cells, fake_train(calls, fail_at=4), labels, ["a", "b", "c"], progress=False)
    assert SweepTable.load(tmp_path / "cut").done.sum() == 3
    more = []
    resumed = run_cells(tmp_path / "cut", cells, fake_train(more), labels, ["a", "b", "c"], progress=False)
    assert more == cells[3:], "finished cells must be skipped"
    assert torch.equal(resumed.confusion, whole.confusion)
    assert torch.equal(load_cell_logits(tmp_path / "cut", 1.0, 2), fake_train([])(1.0, 2))
    nothing = []
    run_cells(tmp_path / "cut", cells, fake_train(nothing), labels, ["a", "b", "c"], progress=False)
    assert nothing == []


def test_a_torn_cell_is_trained_again(tmp_path):
    labels = torch.arange(40) % 3
    rows = cell_records(0.5, 7, torch.randn(40, 3), labels, ["a", "b", "c"])
    (tmp_path / SWEEP_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows[:2]) + '{"s": 0.5, "se')
    calls = []
    table = run_cells(tmp_path, [(0.5, 7)], fake_train(calls), labels, ["a", "b", "c"], progress=False)
    assert calls == [(0.5, 7)] and table.done.all()
    assert len(read_jsonl(tmp_path / SWEEP_FILE)) == 3, "the torn cell's rows must be replaced, not duplicated"


def test_a_folder_holding_another_sweep_is_refused(tmp_path):
    labels = torch.arange(40) % 3
    run_cells(tmp_path, [(0.5, 0)], fake_train([]), labels, ["a", "b", "c"], config={"steps": 10}, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        run_cells(tmp_path, [(0.5, 1)], fake_train([]), labels, ["a", "b", "c"], config={"steps": 20}, progress=False)


@pytest.fixture(scope="module")
def digits16():
    d = load_dataset("digits")
    up = lambda x: F.interpolate(x, size=16, mode="bilinear", align_corners=False)
    return dataclasses.replace(d, x_train=up(d.x_train), x_test=up(d.x_test)).subset(20)


def test_crop_sweep_writes_a_table_its_logits_reproduce(tmp_path, digits16):
    make = lambda: MLP(digits16.input_shape, [32], 10)
    table = crop_sweep(digits16, make, [0.3, 1.0], [0], tmp_path, steps=20, fit_kwargs=dict(batch_size=50), progress=False)
    assert table.done.all() and table.strengths == [0.3, 1.0]
    for s in table.strengths:
        logits = load_cell_logits(tmp_path, s, 0)
        assert torch.equal(confusion_matrix(logits, digits16.y_test, 10).double(), table.confusion[table.index(s), 0])
    assert {"sweep.jsonl", "sweep_config.json", "logits"} <= {p.name for p in tmp_path.iterdir()}


# ---------------------------------------------------------------- class-conditional augmentation

def test_policy_gives_each_sample_the_strength_of_its_class(digits16):
    x, y = digits16.x_train[:120], digits16.y_train[:120]
    scales = [1.0, 0.1, 1.0, None, 0.1, 1.0, 0.1, 1.0, 0.1, 1.0]
    # with the aspect ratio pinned, crop scale 1.0 is the identity: samples of those classes must come back unchanged
    policy = ClassConditionalAugment(scales, crop_ratio=(1.0, 1.0))
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    for order in (torch.arange(len(y)), perm):  # whatever the order of the batch
        out = policy(x[order], y[order], seed=3)
        for i, c in enumerate(y[order].tolist()):
            if scales[c] is None:
                assert torch.equal(out[i], x[order][i])
            elif scales[c] == 1.0:
                assert torch.allclose(out[i], x[order][i], atol=1e-5)
            else:
                assert not torch.allclose(out[i], x[order][i], atol=1e-3), f"class {c} (scale 0.1) left uncropped"
    strong = torch.tensor([scales[c] == 0.1 for c in y.tolist()])
    group = policy.values.index(0.1)
    assert torch.equal(policy(x, y, seed=3)[strong], Augment(crop_scale=0.1, crop_ratio=(1.0, 1.0))(x[strong], seed=3 * 1_000_003 + group))


def test_policy_strength_changes_how_much_samples_move(digits16):
    x, y = digits16.x_train[:200], digits16.y_train[:200]
    policy = ClassConditionalAugment.weaken(10, [0, 1, 2, 3, 4], strong=0.08, weak=0.9)
    assert policy.class_scales == [0.9] * 5 + [0.08] * 5
    change = (policy(x, y, seed=1) - x).abs().flatten(1).mean(1)
    weak, strong = change[y < 5].mean(), change[y >= 5].mean()
    assert strong > 1.5 * weak, (weak, strong)


def test_policy_objective_trains_reproducibly(digits16):
    policy = ClassConditionalAugment.weaken(10, [3], strong=0.2, weak=1.0)

    def train():
        torch.manual_seed(0)
        return fit(MLP(digits16.input_shape, [16], 10), digits16, 12, objective=policy.objective(seed=5), batch_size=40,
                   progress=False, checkpoint_steps=[]).model

    a, b = train(), train()
    assert policy.calls == 12
    assert all(torch.equal(u, v) for u, v in zip(a.state_dict().values(), b.state_dict().values()))


# ---------------------------------------------------------------- ensembles

def test_ensemble_scores_and_per_class_match_loops():
    g = torch.Generator().manual_seed(1)
    logits, labels = torch.randn(5, 70, 4, generator=g), torch.randint(0, 4, (70,), generator=g)
    for how, f in (("probs", lambda z: z.softmax(-1)), ("logits", lambda z: z)):
        scores = ensemble_scores(logits, how)
        pc = ensemble_per_class(logits, labels, 4, how)
        for k in range(1, 6):
            assert torch.allclose(scores[k - 1], f(logits[:k]).mean(0), atol=1e-6)
            assert same(pc[k - 1].tolist(), loop_accuracy(f(logits[:k]).mean(0).argmax(-1).tolist(), labels.tolist(), 4))
    preds = torch.randint(0, 4, (3, 70), generator=g)
    stack = per_class_accuracy_stack(preds, labels, 4)
    for i in range(3):
        assert same(stack[i].tolist(), per_class_accuracy(preds[i], labels, 4).tolist())


def test_member_seeds_toggle_each_source():
    assert member_seeds(2, 0) == {"init": 2, "order": 2, "augment": 2}
    assert member_seeds(2, 0, vary=["order"]) == {"init": 0, "order": 2, "augment": 0}
    assert member_seeds(2, 0, vary=[]) == {"init": 0, "order": 0, "augment": 0}


class Recorder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.seeds, self.batches = [], []

    def forward(self, x, seed=None):
        self.seeds.append(seed)
        self.batches.append(x.clone())
        return x


def test_batch_order_can_vary_while_augmentation_stays(digits16):
    "Members 0 and 1 varying only the batch order: same augmentation seeds, different batches."
    runs = []
    for i in (0, 1):
        seeds = member_seeds(i, vary=["order"])
        rec = Recorder()
        fit(MLP(digits16.input_shape, [8], 10), digits16, 4, augment=SeededAugment(rec, seeds["order"], seeds["augment"]),
            seed=seeds["order"], batch_size=40, progress=False, checkpoint_steps=[])
        runs.append(rec)
    assert runs[0].seeds == runs[1].seeds == [0 * FIT_SEED_STRIDE + t for t in range(4)]
    assert not torch.equal(runs[0].batches[0], runs[1].batches[0])
    with pytest.raises(RuntimeError, match="seeding changed"):
        SeededAugment(Recorder(), fit_seed=3, augment_seed=0)(torch.zeros(1), seed=5)


def test_members_differ_exactly_in_the_randomness_asked_for(tmp_path, digits16):
    make = lambda: MLP(digits16.input_shape, [16], 10)
    kw = dict(steps=15, fit_kwargs=dict(batch_size=40), augment=Augment(crop_scale=0.5), progress=False)
    none = train_members(digits16, make, range(2), run_dir=tmp_path / "none", vary=[], **kw)
    assert torch.equal(none[0], none[1])  # nothing varies: identical members (deterministic CPU)
    for source in ("init", "order", "augment"):
        one = train_members(digits16, make, range(2), run_dir=tmp_path / source, vary=[source], **kw)
        assert torch.equal(one[0], none[0]), "member 0 uses seed 0 for every source"
        assert not torch.allclose(one[0], one[1]), f"varying {source} must change member 1"
    again = train_members(digits16, make, range(2), run_dir=tmp_path / "none", vary=[], **kw)
    assert torch.equal(again, none)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_metrics_on_cuda_match_cpu():
    g = torch.Generator().manual_seed(0)
    y, p = torch.randint(0, 50, (10_000,), generator=g), torch.randint(0, 50, (10_000,), generator=g)
    assert torch.equal(confusion_matrix(p.cuda(), y.cuda(), 50).cpu(), confusion_matrix(p, y, 50))
    assert same(per_class_accuracy(p.cuda(), y.cuda(), 50).cpu().tolist(), per_class_accuracy(p, y, 50).tolist())
    assert torch.equal(per_class_false_positives(p.cuda(), y.cuda(), 50).cpu(), per_class_false_positives(p, y, 50))
