"""Exact region enumeration at scale: ours against the previous implementation, against sampling, and across workers.

    OMP_NUM_THREADS=1 .venv/bin/python bench/enumerate.py [--quick] [--out bench/results]

1. Regions/s on one core (CPU time) for input dimension d in {2, 4, 8, 16}, one hidden leaky-ReLU layer of growing
   width in the box [-2, 2]^d (2401.11188's setting), up to --max-regions regions; the previous implementation (one
   scipy HiGHS LP per unit and piece plus one Chebyshev LP per new piece: tests/spline_reference.reference_regions,
   the same algorithm as repl_nb before this benchmark's commit) on the smallest network of each d, in the same run,
   with the same regions found. Ratio printed both at equal count and against our largest count.
2. Uniform sampling's discovery curve: the fraction of the exact regions found against the number of samples, and the
   volumes of the regions (count_regions) that sampling has not met (2401.11188 Fig. 1).
3. A local Dask cluster with 1 and 2 workers on the same counting job (the ratio printed). The machine has 2 cores
   shared with other users, so the ratio is a lower bound of what 2 free cores give.
4. The projected time of 10^8 regions on N workers from the measured per-region CPU cost, assuming the linear scaling
   in regions that 2403.00860 reports and the parallel efficiency measured in 3.

Figures: OUT/enumerate_speed.html|png, OUT/enumerate_discovery.html|png; numbers: OUT/enumerate.json.
"""
import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from spline_reference import reference_regions  # noqa: E402

from repl_nb.models import MLP  # noqa: E402
from repl_nb.splines.enumerate import VOLUME_EDGES, RegionLimitError, count_regions, enumerate_regions, sample_regions  # noqa: E402
from repl_nb.viz import save_figure  # noqa: E402


def cpu_timed(fn):
    "Result, CPU seconds of this process, wall seconds (inflated by the other users of the machine)."
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - cpu, time.perf_counter() - wall


def one_layer(d, width, seed=0):
    torch.manual_seed(seed)
    return MLP(d, [width], 1, activation="leaky_relu")


def box(d):
    return -2 * torch.ones(d), 2 * torch.ones(d)


def bench_speed(widths, max_regions, baseline_width, fig):
    print("\n## regions/s on one core (CPU time): ours vs the previous implementation (one LP per unit and piece)")
    print(f"{'d':>3}{'width':>7}{'regions':>10}{'ours s':>9}{'ours /s':>10}{'prev s':>9}{'prev /s':>9}{'ratio':>7}")
    rows = []
    for d, ws in widths.items():
        xs, ys = [], []
        model = one_layer(d, baseline_width[d])
        ours, t_ours, _ = cpu_timed(lambda: enumerate_regions(model, box(d), max_regions=10**8))
        ref, t_ref, _ = cpu_timed(lambda: reference_regions(model, *box(d)))
        assert {tuple(c) for c in ours.codes.tolist()} == {tuple(c) for c, _ in ref}, f"d={d}: different regions"
        prev_rate = len(ref) / t_ref
        print(f"{d:>3}{baseline_width[d]:>7}{ours.n_regions:>10}{t_ours:>9.2f}{ours.n_regions / t_ours:>10.0f}{t_ref:>9.2f}"
              f"{prev_rate:>9.0f}{t_ref / t_ours:>7.1f}")
        rows.append(dict(d=d, width=baseline_width[d], regions=ours.n_regions, ours_cpu_s=t_ours, previous_cpu_s=t_ref))
        for width in ws:
            model = one_layer(d, width)
            try:
                ours, t_ours, wall = cpu_timed(lambda: enumerate_regions(model, box(d), max_regions=4 * max_regions))
            except RegionLimitError:
                print(f"{d:>3}{width:>7}  more than {4 * max_regions:,} regions: skipped")
                break
            rate = ours.n_regions / t_ours
            print(f"{d:>3}{width:>7}{ours.n_regions:>10}{t_ours:>9.2f}{rate:>10.0f}{'':>9}{'':>9}{rate / prev_rate:>7.1f}")
            rows.append(dict(d=d, width=width, regions=ours.n_regions, ours_cpu_s=t_ours, ours_wall_s=wall, previous_rate=prev_rate))
            xs.append(ours.n_regions), ys.append(rate)
            if ours.n_regions >= max_regions:
                break
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"ours, d={d}"))
        fig.add_trace(go.Scatter(x=[rows[-len(xs) - 1]["regions"]], y=[prev_rate], mode="markers",
                                 marker=dict(symbol="x", size=11), name=f"previous, d={d}"))
    return rows


def bench_discovery(d, width, n_samples, fig, volumes=True):
    print(f"\n## sampling's discovery curve, d={d}, width {width} (2401.11188 Fig. 1)")
    model = one_layer(d, width)
    exact, t_exact, _ = cpu_timed(lambda: enumerate_regions(model, box(d), max_regions=10**8))
    (sampled, first_seen), t_sample, _ = cpu_timed(lambda: sample_regions(model, box(d), n_samples, seed=0))
    found = np.arange(1, len(first_seen) + 1) / exact.n_regions
    share_found = sampled.n_regions / exact.n_regions
    print(f"exact: {exact.n_regions} regions in {t_exact:.1f} s CPU; {n_samples:,} samples ({t_sample:.1f} s CPU) found "
          f"{sampled.n_regions} ({100 * share_found:.1f} %)")
    for target in (0.5, 0.9, 0.99):
        need = int(np.ceil(target * exact.n_regions))
        print(f"  {int(target * 100)} % found after " + (f"{first_seen[need - 1].item():,} samples" if need <= len(first_seen) else "- not reached"))
    fig.add_trace(go.Scatter(x=first_seen.numpy(), y=found, mode="lines", name=f"sampling, d={d}, width {width}"))
    result = dict(d=d, width=width, exact=exact.n_regions, sampled=sampled.n_regions, n_samples=n_samples,
                  exact_cpu_s=t_exact, sample_cpu_s=t_sample)
    if volumes:  # a region of volume share v escapes n samples with probability (1 - v)^n
        counts, t_count, _ = cpu_timed(lambda: count_regions(model, box(d)))
        centres = 10 ** ((VOLUME_EDGES[1:] + VOLUME_EDGES[:-1]) / 2)
        expected_missed = counts.volume_counts.numpy() * (1 - centres) ** n_samples
        print(f"  count_regions with volumes: {t_count:.1f} s CPU, volumes sum to {counts.total_volume:.6g} of {4.0 ** d:g}; "
              f"regions under 1/{n_samples:,} of the box: {int(counts.volume_counts[centres < 1 / n_samples].sum())}; "
              f"unseen: {exact.n_regions - sampled.n_regions}, expected from the volumes: {expected_missed.sum():.0f}")
        result.update(volume_counts=counts.volume_counts.tolist(), total_volume=counts.total_volume)
    return result


def bench_dask(d, width):
    print(f"\n## local Dask cluster, count_regions d={d}, width {width}: 1 vs 2 workers (2 cores shared with other users)")
    model = one_layer(d, width)
    times = {}
    for n in (1, 2):
        counts, _, wall = cpu_timed(lambda: count_regions(model, box(d), volumes=False, n_jobs=n, backend="dask", n_tasks=64))
        times[n] = wall
        print(f"  {n} worker(s): {counts.n_regions} regions in {wall:.1f} s wall ({counts.n_regions / wall:.0f} regions/s)")
    print(f"  speed-up 2 vs 1 workers: {times[1] / times[2]:.2f}x (cluster start-up included)")
    return dict(d=d, width=width, regions=counts.n_regions, wall_1=times[1], wall_2=times[2])


def projection(rows, efficiency):
    print("\n## projected time for 10^8 regions (per-region CPU cost at our largest count of each d; linear in regions)")
    print(f"{'d':>3}{'s/region':>11}" + "".join(f"{f'{n} workers':>15}" for n in (1, 16, 128, 1024)))
    out = {}
    for d in sorted({r["d"] for r in rows}):
        largest = max((r for r in rows if r["d"] == d), key=lambda r: r["regions"])
        per_region = largest["ours_cpu_s"] / largest["regions"]
        cells = []
        for n in (1, 16, 128, 1024):
            hours = 1e8 * per_region / (n * (efficiency if n > 1 else 1.0)) / 3600
            cells.append(f"{hours:>13.1f} h")
        print(f"{d:>3}{per_region:>11.2e}" + "".join(f"{c:>15}" for c in cells))
        out[d] = per_region
    print(f"(parallel efficiency {efficiency:.2f} from the Dask run; a real cluster has its own)")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small counts (a smoke run, about a minute)")
    p.add_argument("--max-regions", type=int, default=None, help="largest count per d (default 1e5; --quick 3e3)")
    p.add_argument("--dims", default="2,4,8,16", help="input dimensions of the speed table")
    p.add_argument("--speed-only", action="store_true", help="only the regions/s table")
    p.add_argument("--paper", action="store_true", help="also the discovery curve at 2401.11188's width (64 units, d=4)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = p.parse_args()
    torch.set_num_threads(1)
    quick = args.quick
    max_regions = args.max_regions or (3_000 if quick else 100_000)
    # widths giving about 1e2 .. 1e6 regions in [-2, 2]^d for these seeds
    widths = {2: [40, 120, 400, 800], 4: [12, 24, 48, 64], 8: [12, 16, 20, 26], 16: [12, 15, 17, 20]}
    baseline_width = {2: 16, 4: 8, 8: 8, 16: 8} if quick else {2: 40, 4: 12, 8: 10, 16: 10}
    widths = {d: widths[d] for d in map(int, args.dims.split(","))}
    speed = go.Figure()
    rows = bench_speed(widths, max_regions, baseline_width, speed)
    if args.speed_only:
        return
    speed.update_layout(title="Exact enumeration, one core: regions/s against the number of regions",
                        xaxis=dict(type="log", title="regions"), yaxis=dict(type="log", title="regions / s (CPU time)"),
                        template="plotly_white")
    discovery = go.Figure()
    disc = [bench_discovery(4, 12 if quick else 24, 20_000 if quick else 1_000_000, discovery),
            bench_discovery(8, 10 if quick else 14, 20_000 if quick else 1_000_000, discovery, volumes=False)]  # qhull: slow in 8-D
    if args.paper:
        disc.append(bench_discovery(4, 64, 10_000_000, discovery, volumes=False))
    discovery.update_layout(title="Uniform sampling: fraction of the regions found against samples",
                            xaxis=dict(type="log", title="samples"), yaxis=dict(title="fraction of the exact regions found"),
                            template="plotly_white")
    dask = bench_dask(4, 16 if quick else 32)
    efficiency = dask["wall_1"] / dask["wall_2"] / 2
    per_region = projection(rows, efficiency)
    out = Path(args.out)
    files = save_figure(speed, out, "enumerate_speed") + save_figure(discovery, out, "enumerate_discovery")
    (out / "enumerate.json").write_text(json.dumps(dict(speed=rows, discovery=disc, dask=dask, per_region_cpu_s=per_region,
                                                        quick=quick), indent=1))
    print("figures: " + ", ".join(map(str, files)) + f"; numbers: {out / 'enumerate.json'}")


if __name__ == "__main__":
    main()
