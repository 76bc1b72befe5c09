"`repl-nb --help` and `repl-nb list` answer without importing torch (seconds on a laptop, for a help text)."
import subprocess
import sys

import pytest


@pytest.mark.parametrize("args", [["--help"], ["list"], ["reproduce", "--help"]])
def test_cli_answers_without_importing_torch(args):
    code = ("import sys\nfrom repl_nb.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\nprint('ok')")
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.rstrip().endswith("ok"), proc.stderr[-2000:]
