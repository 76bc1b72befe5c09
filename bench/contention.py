"""Training under CPU contention: the same small run (the demo's model: an MLP 64-64x3-10 on 1,000 digits, batch 200,
AdamW) with torch's thread defaults and with `repl_nb.core.cpu_thread_env` (one thread per available core, OpenMP
workers that sleep while they wait), each alone and beside a busy process (a hog spinning on one core).

    .venv/bin/python bench/contention.py [--steps N]

Each configuration runs in a fresh process (OpenMP reads its environment once, at start). Printed: wall and CPU
seconds, and the slowdown under contention (hog / alone) of each setting. Goal: the slowdown of our setting stays
near the share of the machine the hog takes (2x on 2 cores), not tens of times.
"""
import argparse
import os
import subprocess
import sys
import time

WORKLOAD = """
import sys, time, torch
import torch.nn.functional as F
from repl_nb.data import load_dataset
from repl_nb.models import MLP
data = load_dataset("digits").subset(100, seed=0)
torch.manual_seed(0)
model = MLP(data.input_shape, [64] * 3, data.n_classes)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
g = torch.Generator().manual_seed(0)
wall, cpu = time.perf_counter(), time.process_time()
for step in range(int(sys.argv[1])):
    idx = torch.randint(0, len(data.x_train), (200,), generator=g)
    loss = F.mse_loss(model(data.x_train[idx]), F.one_hot(data.y_train[idx], data.n_classes).float())
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
print(time.perf_counter() - wall, time.process_time() - cpu, torch.get_num_threads())
"""


def run(steps: int, env: dict) -> tuple[float, float, int]:
    out = subprocess.run([sys.executable, "-c", WORKLOAD, str(steps)], env=env, capture_output=True, text=True, check=True)
    wall, cpu, threads = out.stdout.split()
    return float(wall), float(cpu), int(threads)


def main():
    from repl_nb.core import available_cpus, cpu_thread_env
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")}
    settings = {"torch default": base, "cpu_thread_env": cpu_thread_env(base)}
    print(f"{available_cpus()} available cores; machine load average {os.getloadavg()[0]:.1f} (others' jobs inflate wall times)")
    results = {}
    for hog in (False, True):
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if hog else None
        try:
            time.sleep(0.5 if hog else 0)
            for name, env in settings.items():
                wall, cpu, threads = run(args.steps, env)
                results[name, hog] = wall
                print(f"{name:15s} {'beside a hog' if hog else 'alone':13s} threads {threads}  wall {wall:7.2f} s  cpu {cpu:7.2f} s")
        finally:
            if spinner:
                spinner.kill()
    for name in settings:
        print(f"{name:15s} slowdown beside a hog: {results[name, True] / results[name, False]:.2f}x")
    print(f"ratio of wall times beside a hog (torch default / cpu_thread_env): "
          f"{results['torch default', True] / results['cpu_thread_env', True]:.2f}")


if __name__ == "__main__":
    main()
