"The wheel carries every package of repl_nb (sub-packages included) and imports from a clean location."
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT, run_tool


@pytest.mark.slow
def test_wheel_contains_and_imports_every_package(tmp_path):
    run_tool(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", tmp_path / "dist", ROOT)
    wheel = next((tmp_path / "dist").glob("repl_nb-*.whl"))
    packages = sorted(".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "repl_nb").rglob("__init__.py"))
    names = zipfile.ZipFile(wheel).namelist()
    for pkg in packages:
        assert f"{pkg.replace('.', '/')}/__init__.py" in names, f"{pkg} missing from {wheel.name}"
    target = tmp_path / "site"
    run_tool(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target, wheel)
    code = "import importlib, repl_nb; " + "; ".join(f"importlib.import_module('{p}')" for p in packages) + \
        "; import repl_nb.core, repl_nb.cli; print(repl_nb.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert str(target) in out.stdout, f"imported from {out.stdout!r}, not from the wheel"
