"""The runner's own cost, and what `--jobs 2` buys: wall times of `repl-nb reproduce` in the same run.

    .venv/bin/python bench/executors.py [--papers quickstart lc_dynamics] [--scale tiny]

1. Overhead per paper: a notebook that only writes metrics.json, run through plan_jobs + run_job (planning,
   run-folder claim, papermill and kernel start, index.html). Goal: under 5 s.
2. The papers one after the other (each timed), then all of them with `--jobs 2` in a fresh runs folder; the ratio
   parallel / longest single run is printed (goal: about 1 on two cores). On a shared, loaded machine both grow.
"""
import argparse
import tempfile
import time
from pathlib import Path

import nbformat

from repl_nb.cli import main
from repl_nb.registry import load_registry, plan_jobs
from repl_nb.runner import run_job


def trivial_papers(folder: Path) -> Path:
    "A papers folder whose one notebook does nothing but write metrics.json."
    folder.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("out_dir = ''", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("from pathlib import Path\n(Path(out_dir) / 'metrics.json').write_text('{}')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, folder / "noop.ipynb")
    (folder / "registry.toml").write_text('[noop]\ntitle = "t"\nreproduces = "r"\npresets = {}\nexpected = {}\n')
    return folder


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", nargs="+", default=["quickstart", "lc_dynamics"])
    parser.add_argument("--scale", default="tiny")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        registry = load_registry(trivial_papers(tmp / "papers"))
        runs = [timed(lambda i=i: run_job(plan_jobs(["noop"], {}, "tiny", registry)[0][0], tmp / f"noop{i}",
                                          progress=False, say=lambda s: None)) for i in range(3)]
        print(f"runner overhead per paper (trivial notebook, 3 runs): {', '.join(f'{t:.2f} s' for t in runs)}")
        quiet = ["--scale", args.scale, "--quiet"]
        single = {p: timed(lambda p=p: main(["reproduce", p, *quiet, "--out", str(tmp / "one")])) for p in args.papers}
        for paper, seconds in single.items():
            print(f"{paper} alone: {seconds:.1f} s")
        parallel = timed(lambda: main(["reproduce", *args.papers, *quiet, "--jobs", "2", "--out", str(tmp / "two")]))
        longest = max(single.values())
        print(f"--jobs 2: {parallel:.1f} s for {len(args.papers)} papers; one after the other {sum(single.values()):.1f} s; "
              f"ratio to the longest single run {parallel / longest:.2f}")
