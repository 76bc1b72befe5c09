"""The JupyterLab experience in a real browser: JupyterLab serves copies of the widget and region-dynamics notebooks
on a free 127.0.0.1 port, headless Chromium (Python playwright driving the system's /usr/bin/chromium; never
`playwright install`) opens each one and runs all its cells as a user would ("Run All"), then checks that every
explorer drew its figures (plotly traces in the page), that moving its slider redraws them, that no cell failed and
that the browser console holds no error. Screenshots are kept (their paths are printed; `pytest -s` shows them)."""
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import free_port, listening

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
NOTEBOOKS = ["85_widgets.ipynb", "31_dynamics_experiment.ipynb"]

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (apt-get install -y chromium; .ci/run installs it)"),
    pytest.mark.skipif(subprocess.run([sys.executable, "-c", "import jupyterlab"], capture_output=True).returncode != 0,
                       reason="needs JupyterLab (pip install -e '.[lab]')"),
]


@contextmanager
def jupyterlab(root: Path, log_path: Path):
    "JupyterLab over `root` (no token, settings and workspaces kept in `root`) on a free port; yields its URL."
    port = free_port()
    home = root.parent / "jupyter-home"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            f"--ServerApp.root_dir={root}", "--IdentityProvider.token=", "--ServerApp.password=",
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    with listening(args, port, log_path, "jupyter lab", timeout=120, env=env, cwd=root):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab") / "nbs"
    root.mkdir()
    for name in NOTEBOOKS:
        shutil.copy(ROOT / "nbs" / name, root / name)
    with jupyterlab(root, root.parent / "jupyterlab.log") as url:
        yield url, root


def run_all(page, url: str, name: str, timeout_s: float = 600) -> None:
    "Open notebook `name`, wait for its kernel, run all cells, wait until none is running or queued."
    page.goto(f"{url}/lab/tree/{name}?reset", wait_until="domcontentloaded", timeout=120_000)  # ?reset: this tab alone
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    notebook.locator(".jp-Cell").first.wait_for(timeout=120_000)
    page.wait_for_selector("#jp-main-statusbar >> text=/Idle/", timeout=120_000)  # the kernel started
    notebook.locator(".jp-Cell").first.click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    # Run All queues every code cell ('[*]'); each gets its number when done, and an error stops the queue
    page.wait_for_function("() => [...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'))",
                           timeout=60_000)
    page.wait_for_function("() => ![...document.querySelectorAll('.jp-InputPrompt')].some(p => p.textContent.includes('*'))",
                           timeout=timeout_s * 1000, polling=1000)


def figure_state(explorer) -> list[dict]:
    "For each plotly figure of an explorer: its number of drawn traces (paths with data, heat-map images) and title."
    return explorer.locator(".js-plotly-plot").evaluate_all("""plots => plots.map(p => ({
        traces: [...p.querySelectorAll('.trace path')].filter(e => (e.getAttribute('d') || '').length > 10).length
                + p.querySelectorAll('.hm image, .trace.bars path').length,
        svg: p.querySelector('.main-svg') ? p.querySelector('.main-svg').innerHTML.length : 0,
        title: (p.querySelector('.gtitle') || {}).textContent || ''}))""")


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_explorers_draw_and_follow_their_sliders_after_run_all(lab, name, tmp_path):
    from playwright.sync_api import sync_playwright
    url, _ = lab
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            t0 = time.time()
            run_all(page, url, name)
            print(f"{name}: Run All finished in {time.time() - t0:.1f} s")
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").all_inner_texts()
            assert not [e for e in errors if "Traceback" in e or "Error" in e], "\n".join(errors)
            not_run = page.locator(".jp-CodeCell .jp-InputPrompt").filter(has_text="[ ]").count()
            assert not not_run, f"{name}: {not_run} cells did not run"
            explorers = page.locator(".repl-nb-explorer")
            assert explorers.count() >= 1, f"{name} displays no explorer"
            for i in range(explorers.count()):
                explorer = explorers.nth(i)
                explorer.scroll_into_view_if_needed()
                page.wait_for_function("e => e.querySelectorAll('.js-plotly-plot .main-svg').length > 0",
                                       arg=explorer.element_handle(), timeout=60_000)
                before = figure_state(explorer)
                assert before and all(f["traces"] > 0 for f in before), f"{name} explorer {i} drew no trace: {before}"
                # move the first slider to one end (the other if it already sits there), by keyboard as a user would
                handle, readout = explorer.locator(".noUi-handle").first, explorer.locator(".widget-readout").first
                start = readout.inner_text()
                handle.focus()
                handle.press("Home")
                page.wait_for_timeout(200)
                if readout.inner_text() == start:
                    handle.press("End")
                page.wait_for_function("([e, b]) => JSON.stringify([...e.querySelectorAll('.js-plotly-plot .gtitle')]"
                                       ".map(t => t.textContent)) !== JSON.stringify(b)",
                                       arg=[explorer.element_handle(), [f["title"] for f in before]], timeout=30_000)
                page.wait_for_timeout(300)
                after = figure_state(explorer)
                assert all(f["traces"] > 0 for f in after), f"{name} explorer {i} lost its traces on a slider move: {after}"
                assert after != before, f"{name} explorer {i}: the slider move changed nothing"
            shot = tmp_path / f"{name}.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"{name} screenshot: {shot}")
        finally:
            browser.close()
    assert not problems, "\n".join(problems)
