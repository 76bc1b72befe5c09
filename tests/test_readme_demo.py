"""The README's paragraph on `make demo` says what the demo's own run showed: the demo (lc_dynamics, small preset, run
with `readme_dir = "nbs/images"`) writes its figure and its verdicts there, and `demo_summary` words the paragraph."""
import json
from pathlib import Path

from repl_nb.core import VERDICTS
from repl_nb.dynamics import demo_summary

ROOT = Path(__file__).resolve().parents[1]
VERDICTS_FILE = ROOT / "nbs" / "images" / "lc_dynamics_verdicts.json"


def test_the_demo_left_its_figure_and_verdicts():
    verdicts = json.loads(VERDICTS_FILE.read_text())
    assert verdicts and all(v in VERDICTS for v in verdicts.values()), verdicts
    assert (ROOT / "nbs" / "images" / "lc_dynamics.png").stat().st_size > 10_000


def test_the_readme_paragraph_is_worded_from_the_demo_verdicts():
    paragraph = demo_summary(json.loads(VERDICTS_FILE.read_text()))
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert " ".join(paragraph.split()) in readme, (
        f"README.md does not carry the demo's paragraph; paste this in place of the old one:\n\n{paragraph}")


def test_the_paragraph_follows_the_verdicts():
    ok = demo_summary({"LC phases (train points)": "appeared", "train LC above test LC during the ascent": "inconclusive"})
    assert "first descends, rises to a peak, then falls again" in ok and "during the ascent: inconclusive" in ok
    not_seen = demo_summary({"LC phases (train points)": "did not appear"})
    assert "rises to a peak" not in not_seen and "did not go through" in not_seen
    unsure = demo_summary({"LC phases (train points)": "inconclusive"})
    assert "rises to a peak, then falls again" not in unsure and "could not tell" in unsure
