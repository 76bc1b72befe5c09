"Every library notebook runs top to bottom (its test cells included) under nbdev-test."
import pytest

from conftest import ROOT, run_tool

LIBRARY_NOTEBOOKS = sorted(p.name for p in (ROOT / "nbs").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", LIBRARY_NOTEBOOKS)
def test_notebook_runs(notebook, isolated_settings):
    run_tool("nbdev-test", ROOT / "nbs" / notebook)  # cells marked `#| notest` (long runs) are skipped
