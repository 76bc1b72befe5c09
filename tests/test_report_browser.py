"""`repl-nb report` in a real browser: the page written over a runs folder opens from disk in headless Chromium (Python
playwright driving the system's /usr/bin/chromium; never `playwright install`) with no console error, loads nothing
from the network, shows the plotly figures and PNG thumbnails, and folds older runs; a screenshot is kept (its path is
printed; `pytest -s` shows it)."""
import json
from pathlib import Path

import plotly.graph_objects as go
import pytest
from PIL import Image

from repl_nb.reproduce import main
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

        # frames load lazily: the one further down draws once scrolled to
        lower = page.locator("section:has(h2#fair_ensemble) .figs iframe")
        lower.scroll_into_view_if_needed()
        lower.element_handle().content_frame().wait_for_selector(".main-svg", timeout=30_000)
        page.set_viewport_size({"width": 1400, "height": page.evaluate("document.body.scrollHeight")})
        page.wait_for_timeout(500)  # a frame outside the viewport is not painted: show the whole page at once
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    print(f"report screenshot: {shot}")
    assert outside == [], f"the report loaded from the network: {outside}"
    assert problems == [], problems
