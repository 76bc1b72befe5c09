import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Figures as HTML only: a PNG export drives Chromium (seconds per figure); papermill kernels inherit this too.
os.environ.setdefault("REPL_NB_PNG", "0")
BIN = Path(sys.executable).parent


@pytest.fixture
def isolated_settings(tmp_path, monkeypatch):
    "Data and runs folders of a test live in its tmp_path."
    monkeypatch.setenv("REPL_NB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("REPL_NB_RUNS", str(tmp_path / "runs"))
    return tmp_path


def run_tool(*args, cwd=ROOT, check=True, env=None, timeout=900):
    "Run a command of this environment (e.g. 'nbdev-export', 'repl-nb'), returning the completed process."
    exe = str(BIN / args[0]) if (BIN / args[0]).exists() else args[0]
    proc = subprocess.run([exe, *map(str, args[1:])], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def one_torch_thread():
    "Tiny tensors: one torch thread is fastest, and avoids OpenMP spin-waits on a busy shared CPU (restored after)."
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def free_port() -> int:
    "A TCP port free on 127.0.0.1 now."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def listening(args, port: int, log_path: Path, what: str, timeout: float = 90, **popen):
    "Start the server `args` logging to `log_path`; yield its process once it listens on 127.0.0.1:`port`; stop it after."
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, **popen)
        try:
            deadline = time.time() + timeout
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"{what} exited ({proc.returncode}):\n{log_path.read_text()}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline:
                        raise AssertionError(f"{what} not listening after {timeout:.0f} s:\n{log_path.read_text()}")
                    time.sleep(0.3)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
