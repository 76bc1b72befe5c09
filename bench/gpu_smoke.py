"""The training step of every full preset on CIFAR-shaped random data: time per step, images/s, peak memory, and the
time one training of the preset's `steps` would take.

    python bench/gpu_smoke.py                     # on a GPU: bf16 autocast and channels_last, 200 timed steps each
    python bench/gpu_smoke.py --compile           # the same through torch.compile
    python bench/gpu_smoke.py --tiny              # seconds on a CPU: 3 steps at batch 8, width 8 (what the tests run)

Each registered paper whose notebook trains an image model with `repl_nb.train.fit` (supervised) or `repl_nb.ssl`
(two-view SSL) is timed with its full preset's `model`, `width`, `depth` and `batch_size`; papers whose work is not
such a step (language-model features, the ScaLES VAE, scattering) are listed as skipped. The estimate is one training;
a paper that trains several models (seeds, sweeps, ensembles) takes that many times longer - its registry `expected`
entry says how many. Put the measured figures into the registry's `expected.full`.
"""
import argparse
import time

import torch

from repl_nb.core import get_device
from repl_nb.data import Dataset
from repl_nb.registry import load_registry, notebook_parameters
from repl_nb.ssl import make_backbone, pretrain
from repl_nb.train import fit

IMAGE_SHAPE, N_CLASSES = (3, 32, 32), 10


def random_images(n: int) -> Dataset:
    "CIFAR-shaped random images and labels (the speed of a step does not depend on what the pixels show)."
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(n, *IMAGE_SHAPE, generator=g), torch.randint(N_CLASSES, (n,), generator=g)
    return Dataset("random", x, y, x[:64], y[:64], [str(c) for c in range(N_CLASSES)])


def step_kind(notebook_text: str) -> str | None:
    "'ssl', 'supervised' or None (not an image-model training step)."
    if any(other in notebook_text for other in ("repl_nb.lso", "repl_nb.scattering", "repl_nb.splines.llm")):
        return None
    if "repl_nb.ssl" in notebook_text:
        return "ssl"
    trains = ("repl_nb.train import", "repl_nb.classwise import", "repl_nb.dynamics import")
    return "supervised" if any(t in notebook_text for t in trains) else None


def time_steps(kind: str, params: dict, steps: int, device: torch.device, gpu_options: dict) -> float:
    "Seconds per optimiser step, over `steps` steps after a short warm-up."
    model, width, depth = params.get("model", "mlp"), params.get("width", 64), params.get("depth", 2)
    data = random_images(max(4 * params["batch_size"], 64))

    def run(n):
        if kind == "ssl":
            backbone = make_backbone(model, IMAGE_SHAPE, width=width)
            pretrain(data, "simclr", backbone, steps=n, batch_size=params["batch_size"], n_checkpoints=1, probe=False,
                     eval_during=False, device=device, precision=gpu_options["precision"],
                     channels_last=gpu_options["channels_last"])
        else:
            backbone = make_backbone(model, IMAGE_SHAPE, width=width, depth=depth)
            net = torch.nn.Sequential(backbone, torch.nn.Linear(backbone.out_dim, N_CLASSES))
            fit(net, data, n, batch_size=params["batch_size"], n_checkpoints=1, eval_max_samples=64, progress=False,
                device=device, **gpu_options)

    run(2)  # warm-up: kernels, autotuning, compilation
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run(steps)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed steps per paper")
    parser.add_argument("--papers", nargs="*", default=None, help="only these papers (default: every registered one)")
    parser.add_argument("--compile", action="store_true", help="train through torch.compile (supervised steps)")
    parser.add_argument("--tiny", action="store_true", help="3 steps at batch 8 and width 8: a CPU smoke run")
    args = parser.parse_args()
    device = get_device()
    on_gpu = device.type == "cuda"
    gpu_options = {"precision": "bf16" if on_gpu else "fp32", "channels_last": on_gpu, "compile": args.compile}
    print(f"device {device}; {gpu_options}")
    print(f"{'paper':<22} {'step':<10} {'model':<9} {'batch':>5} {'ms/step':>9} {'images/s':>9} {'peak GB':>8} {'one training':>13}")
    for paper in load_registry().values():
        if args.papers and paper.name not in args.papers:
            continue
        kind = step_kind(paper.notebook.read_text())
        params = {**notebook_parameters(paper.notebook), **paper.presets.get("full", {})}
        if kind is None or "batch_size" not in params:
            print(f"{paper.name:<22} skipped: not an image-model training step")
            continue
        if args.tiny:
            params.update(batch_size=8, width=8)
        if on_gpu:
            torch.cuda.reset_peak_memory_stats()
        seconds = time_steps(kind, params, 3 if args.tiny else args.steps, device,
                             {**gpu_options, "compile": args.compile and kind == "supervised"})
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f}" if on_gpu else "n/a"
        images = params["batch_size"] * (2 if kind == "ssl" else 1) / seconds
        print(f"{paper.name:<22} {kind:<10} {params.get('model', 'mlp'):<9} {params['batch_size']:>5} {1000 * seconds:>9.1f} "
              f"{images:>9.0f} {peak:>8} {duration(seconds * params['steps']):>13}")
