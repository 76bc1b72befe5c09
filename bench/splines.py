"""Benchmarks of the spline algorithms, each against its baseline in the same run.

    .venv/bin/python bench/splines.py [--quick] [--device cpu|cuda] [--out bench/results]

1. partition_2d vs a naive per-region, per-neuron clipping loop (tests/spline_reference.py) on random and trained
   2-64-64-64 and 2-200-200-200 MLPs: same regions, time ratio, regions/s. The naive loop on 2-200-200-200 takes
   minutes, so there both run on the window [-0.5, 0.5]^2 for the ratio, and ours alone on the full domain.
2. enumerate_regions vs sample_regions in the setting of 2401.11188 Fig. 1 (one hidden leaky-ReLU layer, random
   weights, input dimension 4 and 8, box [-2, 2]^d): regions found against time, and the time sampling needs to reach
   50 / 90 / 99 % of the exact count. Width shrunk from 64 (6.8e5 regions in d=4) to what LP enumeration handles in
   minutes on a laptop CPU: 16 in d=4, 12 in d=8. Plot saved to OUT/enumerate_vs_sampling.html (+ .png).
3. local_complexity vs a bare forward pass of the same N * 2P points (goal: at most 1.3x).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from spline_reference import reference_partition  # noqa: E402

from repl_nb.core import get_device  # noqa: E402
from repl_nb.data import load_dataset  # noqa: E402
from repl_nb.models import MLP  # noqa: E402
from repl_nb.splines.complexity import local_complexity, random_frame  # noqa: E402
from repl_nb.splines.enumerate import enumerate_regions, sample_regions  # noqa: E402
from repl_nb.splines.partition2d import partition_2d  # noqa: E402
from repl_nb.train import fit  # noqa: E402
from repl_nb.viz import save_figure  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def trained_mlp(widths, steps):
    spirals = load_dataset("spirals", n_train=1000, n_test=200, n_classes=2)
    torch.manual_seed(0)
    return fit(MLP(2, widths, 2), spirals, steps, lr=3e-3, progress=False, device="cpu").model


def bench_partition(quick, device):
    print("\n## partition_2d vs naive per-region, per-neuron clipping")
    print(f"{'network':<26}{'domain':<16}{'regions':>9}{'ours s':>9}{'naive s':>9}{'ratio':>8}{'regions/s':>12}")
    cases = [("random 2-64-64-64", lambda: (torch.manual_seed(0), MLP(2, [64] * 3, 1))[1], 2.0, True),
             ("trained 2-64-64-64", lambda: trained_mlp([64] * 3, 300 if quick else 3000), 2.0, True),
             ("random 2-200-200-200", lambda: (torch.manual_seed(0), MLP(2, [200] * 3, 1))[1], 0.5, True),
             ("trained 2-200-200-200", lambda: trained_mlp([200] * 3, 300 if quick else 3000), 0.5, not quick)]
    for name, make, half, run_naive in cases:
        model = make().to(device)
        box = ((-half, half), (-half, half))
        part, ours = timed(lambda: partition_2d(model, box))
        naive, ratio = float("nan"), float("nan")
        if run_naive:
            regions, naive = timed(lambda: reference_partition(model.cpu(), [(-half, -half), (half, -half), (half, half), (-half, half)]))
            assert len(regions) == part.n_regions, f"{name}: naive {len(regions)} vs ours {part.n_regions}"
            ratio = naive / ours
        print(f"{name:<26}{f'[-{half},{half}]^2':<16}{part.n_regions:>9}{ours:>9.2f}{naive:>9.2f}{ratio:>8.1f}{part.n_regions / ours:>12.0f}")
        if half < 2:
            full, t = timed(lambda: partition_2d(model.to(device), ((-2, 2), (-2, 2))))
            print(f"{name:<26}{'[-2,2]^2':<16}{full.n_regions:>9}{t:>9.2f}{'':>9}{'':>8}{full.n_regions / t:>12.0f}")


def bench_enumeration(quick, out):
    print("\n## enumerate_regions (exact, LP) vs sample_regions (2401.11188 Fig. 1 setting)")
    fig = go.Figure()
    for d, width in ((4, 16), (8, 12)) if not quick else ((4, 10),):
        torch.manual_seed(0)
        model = MLP(d, [width], 1, activation="leaky_relu")
        box = (-2 * torch.ones(d), 2 * torch.ones(d))
        exact, t_exact = timed(lambda: enumerate_regions(model, box, n_jobs=2))
        n_samples = 2_000_000 if not quick else 200_000
        (sampled, first_seen), t_sample = timed(lambda: sample_regions(model, box, n_samples, seed=0))
        per_sample = t_sample / n_samples
        found = np.arange(1, len(first_seen) + 1)
        line = f"d={d}, width {width}: exact {exact.n_regions} regions in {t_exact:.1f} s; sampling {n_samples:,} points " \
               f"({t_sample:.1f} s) found {sampled.n_regions}"
        reach = []
        for frac in (0.5, 0.9, 0.99):
            need = int(np.ceil(frac * exact.n_regions))
            reach.append(f"{int(frac * 100)}%: " + (f"{first_seen[need - 1].item() * per_sample:.2f} s" if need <= len(first_seen) else "not reached"))
        print(line + "; time to reach " + ", ".join(reach))
        fig.add_trace(go.Scatter(x=(first_seen.numpy() * per_sample).tolist(), y=found.tolist(), mode="lines",
                                 name=f"sampling, d={d}, width {width}"))
        fig.add_trace(go.Scatter(x=[t_exact], y=[exact.n_regions], mode="markers", marker=dict(size=12, symbol="star"),
                                 name=f"exact enumeration, d={d}, width {width}"))
    fig.update_layout(title="Regions found against time: exact enumeration vs sampling", xaxis=dict(type="log", title="seconds"),
                      yaxis_title="regions found", template="plotly_white")
    files = save_figure(fig, out, "enumerate_vs_sampling")
    print("plot: " + ", ".join(map(str, files)))


def bench_local_complexity(quick, device):
    print("\n## local_complexity vs a bare forward pass of the same N * 2P points")
    torch.manual_seed(0)
    model = MLP(64, [256, 256, 256], 10).to(device).eval()
    x = load_dataset("digits").x_train.flatten(1)[:400 if quick else 2000].to(device)
    V = random_frame(64, 25, seed=0).to(device)
    vertices = (x[:, None] + 0.1 * torch.cat([V, -V])).reshape(-1, 64)

    def bare():
        with torch.no_grad():
            for start in range(0, len(vertices), 65_000):
                model(vertices[start:start + 65_000])
        if device.type == "cuda":
            torch.cuda.synchronize()

    def ours():
        local_complexity(model, x, 0.1, directions=V, max_batch=65_000)
        if device.type == "cuda":
            torch.cuda.synchronize()

    bare(), ours()  # warm-up
    t_bare = min(timed(bare)[1] for _ in range(5))
    t_lc = min(timed(ours)[1] for _ in range(5))
    print(f"N={len(x)}, P=25 -> {len(vertices):,} points, MLP 64-256x3-10 on {device}: forward {t_bare * 1e3:.1f} ms, "
          f"local_complexity {t_lc * 1e3:.1f} ms, ratio {t_lc / t_bare:.2f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller cases (a smoke run)")
    p.add_argument("--device", default=None)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = p.parse_args()
    device = get_device(args.device)
    print(f"device: {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_partition(args.quick, device)
    bench_enumeration(args.quick, Path(args.out))
    bench_local_complexity(args.quick, device)


if __name__ == "__main__":
    main()
