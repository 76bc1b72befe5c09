"""The fake papers that the runner is tested on, written once: by tests/test_reproduce.py, tests/test_executors.py and
the examples of the registry, runs, report, runner and cli notebooks (which put tests/ on sys.path).

`count` "trains" by writing one checkpoint file per step into `out_dir/train/`, resumes from the files it finds there,
and can be told to fail or to be interrupted (a Ctrl-C reaching the kernel, once) at a step; its kernel starts in about
a second because it imports no torch. `fitcount` trains with `repl_nb.train.fit(run_dir=out_dir/"train")` like the real
paper notebooks."""
from pathlib import Path

import nbformat

COUNT_PARAMS = "steps = 5\nfail_at = -1\ninterrupt_at = -1\nsleep = 0.0"
COUNT = '''\
from pathlib import Path
import json, time
run = Path(out_dir)
(run / "train").mkdir(exist_ok=True)
resumed_from = len(list((run / "train").glob("step-*")))
print(f"starting at step {resumed_from}")
for step in range(resumed_from, steps):
    if step == interrupt_at and not (run / "interrupted-once").exists():
        (run / "interrupted-once").touch()
        raise KeyboardInterrupt  # as a Ctrl-C reaching the kernel
    if step == fail_at:
        raise RuntimeError(f"failing at step {step} as asked")
    time.sleep(sleep)
    (run / "train" / f"step-{step}").touch()
'''
COUNT_END = '''\
(run / "curve.html").write_text("<p>figure</p>")
(run / "metrics.json").write_text(json.dumps({"steps": steps, "resumed_from": resumed_from, "acc": 0.5}))
'''
COUNT_CLAIMS = 'claims = { acc = "0.9 in the paper", "resumed_*" = "a pattern" }'
FITCOUNT = '''\
from pathlib import Path
from repl_nb.core import CheckpointStore, write_json
from repl_nb.data import load_dataset
from repl_nb.models import MLP
from repl_nb.train import Callback, fit

run = Path(out_dir)
resumed_from = CheckpointStore(run / "train" / "checkpoints").latest() or 0


class InterruptOnce(Callback):
    "A Ctrl-C reaching the kernel at step `interrupt_at` of the first attempt."
    def on_step_end(self, ctx):
        if ctx.step == interrupt_at and not (run / "interrupted-once").exists():
            (run / "interrupted-once").touch()
            raise KeyboardInterrupt


data = load_dataset("moons", n_train=200, n_test=100)
result = fit(MLP(data.input_shape, [16], data.n_classes), data, steps, batch_size=50, checkpoint_steps=range(0, steps + 1, 10),
             run_dir=run / "train", callbacks=[InterruptOnce()], progress=False)
write_json(run / "metrics.json", {"resumed_from": resumed_from, "final_step": result.final["step"],
                                  "test_acc": result.final["test_acc"]})
'''


def write_paper(folder: Path, # the papers folder (made if missing); its registry.toml gets the paper's table appended
                name: str, # the paper's name: its notebook is `folder/<name>.ipynb`
                code: list[str], # the notebook's cells after its parameters cell
                params: str, # the parameters cell, without `out_dir` (added)
                claims: str = "", # a TOML `claims = {...}` line, or ""
               ) -> Path:
    "Add the fake paper `name` (notebook and registry table, tiny preset `steps = 3`) to `folder`; return `folder`."
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(params + "\nout_dir = ''", metadata={"tags": ["parameters"]}),
                *(nbformat.v4.new_code_cell(c) for c in code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, folder / f"{name}.ipynb")
    with open(folder / "registry.toml", "a") as f:
        f.write(f'[{name}]\ntitle = "Fake paper {name}"\narxiv = "1234.5678{len(name) % 10}"\nreproduces = "counting"\n'
                f'presets.tiny = {{ steps = 3 }}\nexpected = {{ tiny = "2 s" }}\n{claims}\n')
    return folder


def count_papers(folder: Path, # the papers folder to write
                 names: tuple[str, ...] = ("count",), # one `count` paper per name
                ) -> Path:
    "A papers folder holding the fake paper `count` under each of `names`; return it."
    for name in names:
        write_paper(folder, name, [COUNT, COUNT_END], COUNT_PARAMS, COUNT_CLAIMS)
    return folder
