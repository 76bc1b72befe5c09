"""Steps per second of `repl_nb.train.fit` against a bare hand-written torch loop, same model, data and batches.

    .venv/bin/python bench/train_overhead.py [--steps N] [--width W] [--device cpu|cuda]

Both loops do the same work per step (index a batch of an epoch permutation, forward, loss, backward, AdamW step); fit
additionally evaluates and checkpoints at its default 20 log-spaced steps, into a run folder, as it does in real use.
The ratio fit_time / bare_time is the overhead (goal: at most 1.10).
"""
import argparse
import tempfile
import time

import torch
import torch.nn.functional as F

from repl_nb.core import get_device
from repl_nb.data import load_dataset
from repl_nb.models import MLP
from repl_nb.train import StepSampler, fit


def bare_loop(model, data, steps, batch_size, lr, seed, device):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    x_all, y_all = data.x_train.to(device), data.y_train.to(device)
    sampler = StepSampler(len(x_all), batch_size, seed, device)
    for step in range(steps):
        idx = sampler(step)
        loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 keeps a 2-core machine's noise down)")
    p.add_argument("--device", default=None)
    args = p.parse_args()
    device = get_device(args.device)
    torch.set_num_threads(args.threads)
    data = load_dataset("digits")
    make = lambda: MLP(data.input_shape, [args.width] * 3, data.n_classes).to(device)
    bare, ours = [], []
    for r in range(args.repeats):  # interleaved, best of n: both see the same machine state
        torch.manual_seed(r)
        bare.append(timed(lambda: bare_loop(make(), data, args.steps, args.batch_size, 1e-3, r, device)))
        torch.manual_seed(r)
        with tempfile.TemporaryDirectory() as run_dir:
            ours.append(timed(lambda: fit(make(), data, args.steps, batch_size=args.batch_size, seed=r, device=device,
                                          run_dir=run_dir, progress=False)))
    b, o = min(bare), min(ours)
    print(f"device {device} ({args.threads} CPU threads), MLP 64-{args.width}x3-10, batch {args.batch_size}, {args.steps} steps, best of {args.repeats}")
    print(f"bare torch loop: {args.steps / b:8.1f} steps/s ({b:.2f} s)")
    print(f"repl_nb fit    : {args.steps / o:8.1f} steps/s ({o:.2f} s, 20 evaluations + checkpoints included)")
    print(f"overhead ratio fit/bare: {o / b:.3f}")


if __name__ == "__main__":
    main()
