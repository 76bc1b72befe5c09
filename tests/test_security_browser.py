"""Hostile run folders in a real browser (headless Chromium, see test_dashboard_browser.py): folder, file and metric
names built to break out of HTML attributes, a figure page whose script reaches for the page around it, and a
symlink out of the runs folder. Neither the dashboard nor report.html may run any of that script with its rights."""
import json
from pathlib import Path

import pytest

from repl_nb.report import write_report
from test_dashboard_browser import CHROMIUM, browser_page, serving

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")

ATTACK = "window.top.__pwned=(window.top.__pwned||[]).concat"  # any script that runs leaves a mark on the top page
FIGURE = f"""<!doctype html><html><body><p>figure</p><script>
document.body.dataset.ran = "yes";  // scripts do run inside the sandboxed figure
try {{ {ATTACK}(['figure']) }} catch (e) {{ document.body.dataset.blocked = "yes" }}
try {{ parent.document.title = "pwned" }} catch (e) {{}}
</script></body></html>"""


def make_hostile_runs(root: Path, outside: Path) -> Path:
    run = root / 'p"><img src=x onerror="' / '<svg onload=alert(3)>'  # a stamp that sorts first: the page opens on it
    run.mkdir(parents=True)
    (run / "params.json").write_text(json.dumps({'<img src=x onerror=alert(4)>': '"><script>alert(5)</script>'}))
    (run / "metrics.json").write_text(json.dumps({'<img src=x onerror=alert(6)>': 1.0, "summary": ["<script>alert(7)</script>"]}))
    (run / "figure.html").write_text(FIGURE)
    (run / 'x" onload="alert(8)" y=".html').write_text("<p>second figure</p>")
    (run / "leak.html").symlink_to(outside)  # a "figure" pointing out of the runs folder
    (run / "findings.md").symlink_to(outside)
    return root


def test_hostile_names_and_figures_run_no_script_in_the_dashboard_or_the_report(tmp_path):
    outside = tmp_path / "secret.html"
    outside.write_text("<p>SECRET-OUTSIDE</p>")
    runs = make_hostile_runs(tmp_path / "runs", outside)
    write_report(runs, registry={})
    problems, dialogs = [], []
    with serving(runs, tmp_path / "server.log") as url, browser_page(problems, 1400) as page:
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url, wait_until="networkidle", timeout=60_000)
        page.wait_for_selector("iframe", timeout=60_000)
        page.wait_for_timeout(1500)  # the figures load and run their scripts
        figure = next(f for f in page.frames if f.url.endswith("/figure.html"))
        assert figure.evaluate("document.body.dataset.ran") == "yes", "the figure's own script runs"
        assert figure.evaluate("document.body.dataset.blocked") == "yes", "...but cannot reach the dashboard"
        assert page.evaluate("window.__pwned") is None and page.title() != "pwned"
        frames = page.locator("iframe")
        assert frames.count() == 2 and all(frames.nth(i).get_attribute("sandbox") == "allow-scripts" for i in range(2))
        assert "SECRET-OUTSIDE" not in page.content()
        # run files are served in an opaque origin even when opened directly, and the symlink is refused
        direct = page.request.get(figure.url)
        assert "sandbox" in direct.headers.get("content-security-policy", "")
        assert page.request.get(figure.url.replace("figure.html", "leak.html")).status in (403, 404)
        # the static report, opened from disk (each file its own origin) and through the dashboard (sandbox CSP)
        for report in ((runs / "report.html").as_uri(), url + "runs/report.html"):
            page.goto(report, wait_until="load")
            page.wait_for_timeout(1500)
            figure = next(f for f in page.frames if f.url.endswith("/figure.html"))
            assert figure.evaluate("document.body.dataset.ran") == "yes", report
            assert figure.evaluate("document.body.dataset.blocked") == "yes", report
            assert page.evaluate("window.__pwned") is None and "SECRET-OUTSIDE" not in page.content(), report
    assert not dialogs, dialogs
    assert not [p for p in problems if "pwned" in p], problems
