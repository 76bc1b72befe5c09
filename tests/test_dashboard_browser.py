"""The dashboard in a real browser: serve a runs folder on 127.0.0.1, open it in headless Chromium (Python playwright
driving the system's /usr/bin/chromium; never `playwright install`), check the per-class view renders and reacts, with
no console errors, and keep a screenshot (printed path; `pytest -s` shows it)."""
import re
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from conftest import free_port, listening

from repl_nb.classwise import SweepTable
from repl_nb.core import write_json

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium; "
                                                             ".ci/run installs it)")


def make_runs(root: Path) -> Path:
    "Two runs: a quickstart-like one, and a class-level one whose sweep makes class 'cat' lose accuracy to 'dog'."
    g = torch.Generator().manual_seed(0)
    names = ["cat", "dog", "car", "ship", "frog", "bird"]
    conf = torch.randint(0, 6, (3, 2, 6, 6), generator=g).double() + 40 * torch.eye(6, dtype=torch.float64)
    conf[0, :, 0, 0] -= 25
    conf[0, :, 0, 1] += 25
    sweep_run = root / "class_level_da" / "20250102-000000"
    (sweep_run / "sweep").mkdir(parents=True)
    SweepTable([0.1, 0.5, 1.0], [0, 1], names, conf).save(sweep_run / "sweep")
    write_json(sweep_run / "metrics.json", {"best_s": 0.5, "significant_drops": ["cat"]})
    write_json(sweep_run / "params.json", {"seeds": [0, 1]})
    other = root / "quickstart" / "20250101-000000"
    write_json(other / "metrics.json", {"test_acc": 0.97})
    return root


@contextmanager
def serving(runs: Path, log_path: Path):
    "The dashboard over `runs` in a subprocess on a free 127.0.0.1 port; yields its URL, stops it afterwards."
    port = free_port()
    code = "import sys; from repl_nb.cli import main; sys.exit(main(sys.argv[1:]))"
    with listening([sys.executable, "-c", code, "dashboard", str(runs), "--address", f"127.0.0.1:{port}"], port, log_path,
                   "dashboard"):
        yield f"http://127.0.0.1:{port}/"


@contextmanager
def browser_page(problems: list, height: int):
    "A headless-Chromium page whose console errors, page errors and failed requests are appended to `problems`."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": height})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            yield page
        finally:
            browser.close()


@pytest.fixture
def server(tmp_path):
    with serving(make_runs(tmp_path / "runs"), tmp_path / "server.log") as url:
        yield url


def test_per_class_view_renders_and_reacts_without_console_errors(server, tmp_path):
    problems, shot = [], tmp_path / "dashboard.png"
    with browser_page(problems, 1700) as page:
        page.goto(server, wait_until="networkidle", timeout=60_000)
        # the newest run is picked first: the class-level one, with its per-class view
        page.wait_for_selector(".per-class-view .js-plotly-plot", timeout=60_000)
        view = page.locator(".per-class-view")
        assert view.locator(".js-plotly-plot").count() >= 4  # bars, heat map, error destinations, strength curve
        assert page.get_by_text("Per-class view: sweep/sweep.jsonl").count() == 1
        # a round trip through the server: pick a class, and its error-destination plot follows
        view.locator("select").select_option(label="dog")
        page.wait_for_selector("text=Where the errors of class dog go", timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(shot), full_page=True)
    print(f"dashboard screenshot: {shot}")
    assert not problems, "\n".join(problems)
    assert shot.stat().st_size > 10_000


def make_dynamics_runs(root: Path) -> Path:
    "A tiny region-dynamics run (newest, so the dashboard opens on it) and a run folder with a corrupt params.json."
    from repl_nb.data import load_dataset
    from repl_nb.dynamics import RegionDynamics
    from repl_nb.models import MLP
    from repl_nb.train import fit
    digits = load_dataset("digits").subset(10)
    torch.manual_seed(0)
    cb = RegionDynamics({"train": digits.x_train[:30], "test": digits.x_test[:30]}, radii=(0.1,), n_directions=4,
                        adv_data=(digits.x_test[:30], digits.y_test[:30]), adv_eps=(0.05,), clamp=(0, 1),
                        plane_points=digits.x_train[:3], partition_steps=[0, 10, 60])
    run = root / "lc_dynamics" / "20250105-000000"
    fit(MLP(64, [12, 12], 10), digits, 60, checkpoint_steps=[0, 10, 60], loss="mse", run_dir=run / "train",
        callbacks=[cb], progress=False)
    write_json(run / "metrics.json", {"test_acc": 0.5})
    broken = root / "lc_dynamics" / "20250104-000000"
    broken.mkdir(parents=True)
    (broken / "params.json").write_text('{"steps": 10,')  # torn
    return root


def test_region_dynamics_view_scrubs_checkpoints_and_reports_broken_runs(tmp_path):
    from playwright.sync_api import expect
    problems, shot = [], tmp_path / "dynamics.png"
    with serving(make_dynamics_runs(tmp_path / "runs"), tmp_path / "server.log") as url, browser_page(problems, 1600) as page:
        page.goto(url, wait_until="networkidle", timeout=60_000)
        page.wait_for_selector(".region-dynamics-view .partition-figure .js-plotly-plot", timeout=60_000)
        title = page.locator(".partition-figure .gtitle")  # an SVG text node: text_content, not inner_text
        expect(title).to_have_text(re.compile(r"^step 60:"))
        handle = page.locator(".region-dynamics-view .noUi-handle").first
        handle.focus()
        handle.press("ArrowLeft")  # one checkpoint back: step 10, drawn by a round trip through the server
        expect(title).to_have_text(re.compile(r"^step 10:"), timeout=30_000)
        page.screenshot(path=str(shot), full_page=True)
        # the run with a torn params.json: a message, not a traceback
        page.locator("select").first.select_option(label="lc_dynamics / 20250104-000000")
        page.wait_for_selector("text=params.json is unreadable", timeout=30_000)
        assert page.get_by_text("Traceback").count() == 0
    print(f"region dynamics screenshot: {shot}")
    assert not problems, "\n".join(problems)
