"""`repl-nb report` in a real browser: the page written over a runs folder opens from disk in headless Chromium (Python
playwright driving the system's /usr/bin/chromium; never `playwright install`) with no console error, loads nothing
from the network, shows the plotly figures and PNG thumbnails, and folds older runs; a screenshot is kept (its path is
printed; `pytest -s` shows it)."""
import json
from pathlib import Path

import plotly.graph_objects as go
import pytest
from PIL import Image

from repl_nb.cli import main
from repl_nb.viz import save_figure

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium; "
                                                             ".ci/run installs it)")


def make_run(root: Path, paper: str, stamp: str, params: dict, metrics: dict, figures: int = 0, png: bool = False) -> Path:
    run = root / paper / stamp
    run.mkdir(parents=True)
    (run / "params.json").write_text(json.dumps({"paper": paper, "scale": "small", **params, "out_dir": str(run)}))
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "run.json").write_text(json.dumps({"seconds": 93.0, "device": "cpu", "attempts": [{"seconds": 93.0}]}))
    for i in range(figures):
        fig = go.Figure(go.Scatter(x=[0, 1, 2, 3], y=[0.1, 0.5 + i / 10, 0.8, 0.9], name=f"run {stamp}"))
        fig.update_layout(title=f"figure {i} of {paper}", template="plotly_white")
        save_figure(fig, run, f"figure_{i}", png=False)
    if png:
        Image.new("RGB", (90, 56), (30, 120, 200)).save(run / "figure_0.png")
    return run


def test_report_renders_offline_without_console_errors(tmp_path):
    from playwright.sync_api import sync_playwright
    runs = tmp_path / "runs"
    make_run(runs, "quickstart", "20250101-000000", {"steps": 100}, {"test_acc": 0.9})
    make_run(runs, "quickstart", "20250102-000000", {"steps": 1500}, {"test_acc": 0.97, "train_acc": 1.0}, figures=2, png=True)
    make_run(runs, "fair_ensemble", "20250103-000000", {"n_members": 10},
             {"bottom_gain_points": 1.69, "top_gain_points": 2.23, "bottom_gains_more": False}, figures=1)
    assert main(["report", str(runs)]) == 0
    page_file = runs / "report.html"

    problems, outside = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.route("**/*", lambda route: (outside.append(route.request.url), route.abort()) if not
                   route.request.url.startswith("file:") else route.continue_())
        page.goto(page_file.as_uri())
        page.wait_for_load_state("load")

        assert page.locator("h2#fair_ensemble").inner_text().startswith("FAIR-Ensemble")
        assert page.locator("a[href='https://arxiv.org/abs/2303.00586']").count() == 1
        claim = page.locator("section:has(h2#fair_ensemble) tr:has(th:text-is('bottom_gain_points')) td.claim")
        assert "+7.13" in claim.inner_text()
        # the latest quickstart run shows its two figures side by side, drawn by plotly inside their frames
        latest = page.locator("section:has(h2#quickstart) > .run")
        frames = latest.locator(".figs iframe")
        frames.nth(1).wait_for(timeout=30_000)  # placeholders near the screen become frames
        assert frames.count() == 2
        boxes = [frames.nth(i).bounding_box() for i in range(2)]
        assert abs(boxes[0]["y"] - boxes[1]["y"]) < 1 and boxes[1]["x"] > boxes[0]["x"] + boxes[0]["width"] - 1
        for i in range(2):
            frame = frames.nth(i).element_handle().content_frame()
            frame.wait_for_selector(".main-svg", timeout=30_000)
            assert f"figure {i} of quickstart" in frame.locator(".gtitle").text_content()
        thumb = latest.locator(".thumbs img")
        assert thumb.evaluate("img => img.complete && img.naturalWidth") == 90
        # the older run is folded away until its summary is clicked
        older = page.locator("section:has(h2#quickstart) details.older")
        assert not older.locator(".run").first.is_visible()
        older.locator("summary").first.click()
        older.locator("details summary").first.click()
        assert older.locator(".run").first.is_visible() and "20250101-000000" in older.inner_text()

        # frames are made when near the screen: the one further down draws once scrolled to
        page.locator("section:has(h2#fair_ensemble) .figs > *").scroll_into_view_if_needed()  # placeholder or frame
        lower = page.locator("section:has(h2#fair_ensemble) .figs iframe")
        lower.wait_for(timeout=30_000)
        lower.element_handle().content_frame().wait_for_selector(".main-svg", timeout=30_000)
        page.set_viewport_size({"width": 1400, "height": page.evaluate("document.body.scrollHeight")})
        page.wait_for_timeout(500)  # a frame outside the viewport is not painted: show the whole page at once
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    print(f"report screenshot: {shot}")
    assert outside == [], f"the report loaded from the network: {outside}"
    assert problems == [], problems


def test_report_of_500_runs_loads_figures_lazily(tmp_path):
    "500 runs (50 papers x 10 runs, two figures each, one shared plotly.js): the page opens with only the frames near the"
    " screen, scrolling makes and draws the next ones, and the browser console stays clean."
    import shutil
    import time
    from playwright.sync_api import sync_playwright
    from repl_nb.viz import share_plotly_js
    runs = tmp_path / "runs"
    share_plotly_js(runs)
    template = make_run(runs, "paper_00", "20250101-000000", {"steps": 1}, {"test_acc": 0.5}, figures=2)
    for p in range(50):
        for r in range(10):
            if (p, r) != (0, 0):
                shutil.copytree(template, runs / f"paper_{p:02d}" / f"20250101-{r:06d}")
    assert main(["report", str(runs)]) == 0
    page_file = runs / "report.html"
    assert page_file.read_text().count("class='lazy-fig'") == 1000
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        start = time.perf_counter()
        page.goto(page_file.as_uri(), wait_until="load", timeout=120_000)
        print(f"report of 500 runs: loaded in {time.perf_counter() - start:.2f} s (wall, on a shared machine)")
        made = page.locator(".figs iframe").count()
        assert made <= 12, f"{made} frames made at load: figures far below the screen should wait"
        for paper in ("paper_00", "paper_49"):  # scrolled to, a run's figures are made and drawn
            page.locator(f"section:has(h2#{paper}) > .run .figs > *").first.scroll_into_view_if_needed()
            frame = page.locator(f"section:has(h2#{paper}) > .run .figs iframe").first
            frame.wait_for(timeout=60_000)
            frame.element_handle().content_frame().wait_for_selector(".main-svg", timeout=60_000)
        assert page.locator(".figs iframe").count() < 40  # only what was scrolled past was made
        browser.close()
    assert problems == [], problems
