"""A slider move in `RegionMigrationExplorer` on a 10^4-region partition: what the kernel does (build the figure, encode
it for the front end) and what the browser does (plotly.js draws it), ours against the previous drawing (plain JSON
lists with None gaps, a separate edge trace, hover markers up to 20,000 regions).

    .venv/bin/python bench/partition_redraw.py [--width 64]

The browser part drives the system Chromium (/usr/bin/chromium) with Python playwright and is skipped without it.
Goal: a redraw (kernel + browser) under 0.5 s.
"""
import argparse
import json
import time
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
import torch

from repl_nb.dynamics import StoredPartition, partition_record
from repl_nb.models import MLP
from repl_nb.splines.partition2d import partition_2d
from repl_nb.viz import REGION_PALETTE, partition_figure

CHROMIUM = Path("/usr/bin/chromium")


def baseline_figure(partition) -> go.Figure:
    "The previous drawing: Python lists with None gaps, fills and edges as separate traces, hover markers."
    def polyline(polygons, close=True):
        xs, ys = [], []
        for p in polygons:
            pts = torch.cat([p, p[:1]]) if close else p
            xs += pts[:, 0].tolist() + [None]
            ys += pts[:, 1].tolist() + [None]
        return xs, ys
    polygons = partition.polygons
    bucket = (torch.randperm(len(polygons), generator=torch.Generator().manual_seed(0)) % len(REGION_PALETTE)).tolist()
    fig = go.Figure()
    for b, colour in enumerate(REGION_PALETTE):
        xs, ys = polyline([p for p, k in zip(polygons, bucket) if k == b])
        fig.add_trace(go.Scatter(x=xs, y=ys, fill="toself", fillcolor=colour, mode="none", hoverinfo="skip"))
    xs, ys = polyline(polygons)
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(width=0.6), hoverinfo="skip"))
    xs, ys = polyline(list(partition.decision_boundary()), close=False)
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="crimson", width=2.5)))
    fig.update_layout(template="plotly_white", xaxis=dict(scaleanchor="y"))
    return fig


def kernel_side(make) -> tuple[float, float, dict]:
    "Wall and CPU seconds to build the figure and encode it as the MIME bundle a `FigurePane` sends, and the bundle."
    start, cpu = time.perf_counter(), time.process_time()
    fig = make()
    bundle = pio.renderers["plotly_mimetype"].to_mimebundle(fig.to_dict())["application/vnd.plotly.v1+json"]
    return time.perf_counter() - start, time.process_time() - cpu, bundle


def browser_side(bundles: dict[str, dict], repeats: int = 3) -> dict[str, float]:
    "Median seconds plotly.js takes to draw each bundle into a fresh div (Plotly.newPlot) in headless Chromium."
    from playwright.sync_api import sync_playwright
    plotly_js = Path(go.__file__).parent.parent / "package_data" / "plotly.min.js"
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.set_content("<div id='plot' style='width:800px;height:600px'></div>")
        page.add_script_tag(path=str(plotly_js))
        for name, bundle in bundles.items():
            times = page.evaluate("""async ([fig, n]) => { const t = [];
                for (let i = 0; i < n; i++) { const d = document.getElementById('plot'); Plotly.purge(d);
                  const s = performance.now(); await Plotly.newPlot(d, fig.data, fig.layout); t.push(performance.now() - s); }
                return t; }""", [bundle, repeats])
            out[name] = sorted(times)[len(times) // 2] / 1000
        browser.close()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=64, help="hidden width of the 2-W-W-W-10 MLP (64: ~1.4e4 regions)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    live = partition_2d(MLP(2, [args.width] * 3, 10), ((-3, 3), (-3, 3)))
    stored = StoredPartition(partition_record(live))  # what the explorer reads back from a run folder
    print(f"{stored.n_regions} regions")
    kernel_side(lambda: partition_figure(stored))  # first use imports plotly's renderers: not part of a slider move
    results = {}
    for name, make in (("ours", lambda: partition_figure(stored, points=torch.zeros(3, 2))), ("baseline", lambda: baseline_figure(stored))):
        seconds, cpu, bundle = kernel_side(make)
        results[name] = (seconds, bundle, len(json.dumps(bundle)))
        print(f"{name:9s} kernel: build + encode {seconds:.3f} s wall, {cpu:.3f} s CPU, message {results[name][2] / 1e6:.2f} MB")
    if CHROMIUM.exists():
        drawn = browser_side({name: r[1] for name, r in results.items()})
        for name, seconds in drawn.items():
            print(f"{name:9s} browser: plotly.js draw {seconds:.3f} s; kernel + browser {results[name][0] + seconds:.3f} s")
        total = {name: results[name][0] + drawn[name] for name in drawn}
        print(f"ratio baseline / ours (kernel + browser): {total['baseline'] / total['ours']:.2f}")
    print(f"ratio baseline / ours (message size): {results['baseline'][2] / results['ours'][2]:.2f}")


if __name__ == "__main__":
    main()
