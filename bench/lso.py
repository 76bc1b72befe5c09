"""ScaLES for 10^4 latents against a forward pass of the decoder on the same batch (the cost of the score in units of
decoding), and against the per-latent pseudo-inverse + SVD evaluation of the definition (timed on a subset).

    python bench/lso.py                          # the expression-task decoder (d=8, 19 x 15 logits) and d=25
    python bench/lso.py --n 10000 --latent-dims 8 25 56 --device cuda

Decoders: ReLU MLPs (two hidden layers of `--width`) into L x V logits, random weights (the cost does not depend on
training). Times are the median of `--repeats` runs; CPU time is reported too, since wall time on a shared machine is
inflated by other load. The ratios printed are score / forward and per-latent reference / ours.
"""
import argparse
import statistics
import time

import torch
from torch import nn

from repl_nb.core import get_device
from repl_nb.lso import scales_score


def timed(fn, repeats, device):
    "Median wall and CPU seconds of fn() over repeats (after one warm-up call)."
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        w, c = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def reference_one(decoder, z1):
    "The definition for one latent: exact Jacobian, T, pinv and singular values (what a direct implementation does)."
    h = decoder(z1[None])[0]
    A = torch.autograd.functional.jacobian(lambda x: decoder(x[None]).reshape(-1), z1)
    p, C = torch.softmax(h, -1), torch.exp(h).sum(-1)
    L, V = h.shape
    T = torch.zeros(L * V, L * (V + 1), dtype=z1.dtype, device=z1.device)
    rows = torch.arange(L * V, device=z1.device)
    T[rows, rows + rows // V] = (1 / p).flatten()
    T[rows, (rows // V) * (V + 1) + V] = (1 / C).repeat_interleave(V)
    return -0.5 * z1 @ z1 + torch.log(torch.linalg.svdvals(torch.linalg.pinv(A) @ T)).sum()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--latent-dims", type=int, nargs="+", default=[8, 25])
    ap.add_argument("--length", type=int, default=19)
    ap.add_argument("--vocab", type=int, default=15)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-reference", type=int, default=100, help="latents for the per-latent reference (extrapolated to --n)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = get_device(args.device)
    print(f"device {device}, {args.n} latents, logits {args.length} x {args.vocab}, decoder width {args.width}, "
          f"torch threads {args.threads}")
    print(f"{'d':>4} {'forward s':>10} {'ScaLES s':>10} {'+grad s':>10} {'score/fwd':>10} {'grad/fwd':>9} "
          f"{'ref s (est.)':>13} {'ref/ours':>9}   (wall; CPU in brackets)")
    for d in args.latent_dims:
        torch.manual_seed(0)
        decoder = nn.Sequential(nn.Linear(d, args.width), nn.ReLU(), nn.Linear(args.width, args.width), nn.ReLU(),
                                nn.Linear(args.width, args.length * args.vocab), nn.Unflatten(1, (args.length, args.vocab))).to(device)
        z = torch.randn(args.n, d, device=device)

        def forward():
            with torch.no_grad():
                decoder(z)

        def score():
            with torch.no_grad():
                scales_score(decoder, z)

        def score_grad():
            zg = z.clone().requires_grad_()
            scales_score(decoder, zg).sum().backward()

        sub = z[:args.n_reference]

        def reference():
            for z1 in sub:
                reference_one(decoder, z1)

        with torch.no_grad():
            ours = scales_score(decoder, sub[:10], dtype=torch.float64)
        ref = torch.stack([reference_one(decoder.double(), z1.double()) for z1 in sub[:10]]).detach()
        decoder.float()
        assert torch.allclose(ours, ref, rtol=1e-8, atol=1e-8), (ours - ref).abs().max()  # timing the same quantity
        f, s, g = (timed(fn, args.repeats, device) for fn in (forward, score, score_grad))
        r = timed(reference, 1, device)
        r_full = tuple(t * args.n / len(sub) for t in r)
        print(f"{d:>4} {f[0]:>10.4f} {s[0]:>10.3f} {g[0]:>10.3f} {s[0] / f[0]:>10.1f} {g[0] / f[0]:>9.1f} "
              f"{r_full[0]:>13.1f} {r_full[0] / s[0]:>9.1f}")
        print(f"     [{f[1]:>8.4f}] [{s[1]:>8.3f}] [{g[1]:>8.3f}] {s[1] / f[1]:>10.1f} {g[1] / f[1]:>9.1f} "
              f"[{r_full[1]:>11.1f}] {r_full[1] / s[1]:>9.1f}")


if __name__ == "__main__":
    main()
