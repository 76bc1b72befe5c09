"""repl_nb.widgets without a browser: the explorer's figures hold exactly the table's numbers for every strength and
class, and change when the controls move; the figure builders against direct computations."""
import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from repl_nb.classwise import SweepTable, best_strength
from repl_nb.widgets import PerClassExplorer, ensemble_curves, error_destinations, per_class_bars


def random_table(S, R, C, seed):
    g = torch.Generator().manual_seed(seed)
    conf = torch.randint(0, 12, (S, R, C, C), generator=g).double() + 10 * torch.eye(C, dtype=torch.float64)
    return SweepTable([round(0.1 + 0.9 * i / max(1, S - 1), 3) for i in range(S)], list(range(R)),
                      [f"class {c}" for c in range(C)], conf)


def close(a, b):
    return len(a) == len(b) and all(abs(u - v) < 1e-9 for u, v in zip(a, b))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 4), st.integers(1, 3), st.integers(2, 6), st.integers(0, 10**6))
def test_explorer_shows_the_tables_numbers_at_every_strength(S, R, C, seed):
    table = random_table(S, R, C, seed)
    ex = PerClassExplorer(table)
    assert ex.strength == best_strength(table)
    ref = table.accuracy[-1].mean(0)  # the weakest crop is the default reference
    for i, s in enumerate(table.strengths):
        ex.slider.value = s
        acc = table.accuracy[i].mean(0)
        bars, lost = ex.bars.figure.data
        assert close(bars.y, sorted(acc.tolist())), "bars: the seed-mean accuracies, worst first"
        assert [table.class_names.index(n) for n in bars.x] == torch.argsort(acc, stable=True).tolist()
        order = [table.class_names.index(n) for n in bars.x]
        assert close(lost.y, [max(0.0, (ref[c] - acc[c]).item()) for c in order])
        cm = table.confusion[i].sum(0)
        assert close([v for row in ex.heatmap.figure.data[0].z for v in row], (cm / cm.sum(1, keepdim=True)).flatten().tolist())
        for c in sorted({i % C, C - 1}):  # two classes per strength keep the test quick
            ex.picker.value = c
            shares = (table.confusion[i, :, c] / table.confusion[i, :, c].sum(-1, keepdim=True)).mean(0)
            dest = ex.errors.figure.data[0]
            assert table.class_names[c] not in dest.x
            assert close(dest.y, sorted([shares[l].item() for l in range(C) if l != c], reverse=True))


def test_moving_the_slider_changes_the_figures():
    table = random_table(3, 2, 5, 0)
    table.confusion[0, :, 2, 2] -= 9  # class 2 loses most of itself to class 4 at the strong crop
    table.confusion[0, :, 2, 4] += 9
    ex = PerClassExplorer(table)
    ex.slider.value = 1.0
    bars, heat, errors = ex.bars.figure.data[0].y, ex.heatmap.figure.data[0].z, ex.errors.figure.data[0].y
    ex.slider.value = 0.1
    assert ex.bars.figure.data[0].y != bars and ex.heatmap.figure.data[0].z != heat and ex.errors.figure.data[0].y != errors
    assert ex.bars.figure.data[0].x[0] == "class 2" and ex.bars.figure.layout.title.text.startswith("Per-class accuracy at crop scale s=0.1")
    ex.picker.value = 2
    assert ex.errors.figure.data[0].x[0] == "class 4"


def test_builders_and_errors():
    table = random_table(2, 1, 3, 1)
    fig = per_class_bars(table, 0.1, reference=0.1)
    assert all(v == 0 for v in fig.data[1].y), "no loss against itself"
    assert error_destinations(table, 1.0, 0).data[1].name == "s=1"
    curves = ensemble_curves({"size": [1, 2, 3], "mean": [0.5, 0.6, 0.65], "bottom_k": [0.1, 0.2, 0.3], "top_k": [0.9] * 3})
    assert [t.name for t in curves.data] == ["mean", "bottom-k (fixed)", "top-k (fixed)"]
    with pytest.raises(ValueError, match="no finished cell"):
        PerClassExplorer(SweepTable([0.5], [0], ["a", "b"], torch.full((1, 1, 2, 2), math.nan, dtype=torch.float64)))
