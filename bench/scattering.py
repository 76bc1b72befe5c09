"""Forward+backward time of repl_nb.scattering.scattering_covariances (second-order families by Parseval: one Gram
matrix per outer octave) against the definition computed directly (a second wavelet transform of every envelope in
time, then time averages of the products), over signal lengths and batch sizes.

    python bench/scattering.py                        # N in 1024, 4096; batch 16 (a minute on a laptop CPU)
    python bench/scattering.py --n 4096 16384 --batch 64 --device cuda

The printed ratio is ours / reference (time): below 1 means the library is faster.
"""
import argparse
import statistics
import time

import torch

from repl_nb.scattering import (envelope_triples, max_octaves, morlet_bank, phase_env_pairs, scattering_covariances,
                                wavelet_transform)


def reference(x, J):
    "The definition: second wavelet transforms in time for every (envelope, outer octave), then time averages."
    bank = morlet_bank(x.shape[-1], J, device=x.device, dtype=x.dtype)
    wx = wavelet_transform(x, bank)
    env = wx.abs()
    sigma = env.pow(2).mean(-1).sqrt()
    w_env = wavelet_transform(env, bank)  # (..., J, J, N)
    a3, j3 = map(list, zip(*phase_env_pairs(J)))
    a4, b4, j4 = map(list, zip(*envelope_triples(J)))
    phase_env = (wx[..., j3, :] * w_env[..., a3, j3, :].conj()).mean(-1) / (sigma[..., a3] * sigma[..., j3])
    envelope = (w_env[..., a4, j4, :] * w_env[..., b4, j4, :].conj()).mean(-1) / (sigma[..., a4] * sigma[..., b4])
    return torch.cat([sigma, env.mean(-1) / sigma, phase_env.real, phase_env.imag, envelope.real, envelope.imag], -1)


def timed(fn, x, repeats):
    "Median seconds of forward + backward of sum(fn(x)^2)."
    times = []
    for _ in range(repeats + 1):  # the first call warms up
        x = x.detach().requires_grad_(True)
        start = time.perf_counter()
        fn(x).pow(2).sum().backward()
        if x.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'N':>6} {'J':>3} {'batch':>6} {'ours (ms)':>10} {'reference (ms)':>15} {'ratio':>6}")
    for n in args.n:
        J = max_octaves(n)
        x = torch.randn(args.batch, n, device=args.device)
        ours = timed(lambda s: scattering_covariances(s, J).vector(), x, args.repeats)
        ref = timed(lambda s: reference(s, J), x, args.repeats)
        print(f"{n:>6} {J:>3} {args.batch:>6} {1e3 * ours:>10.1f} {1e3 * ref:>15.1f} {ours / ref:>6.2f}")


if __name__ == "__main__":
    main()
