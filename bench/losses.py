"""Forward+backward time of each repl_nb.losses objective against a straightforward reference implementation (the
formulas as usually written: explicit masks and exp/log, official VICReg / Barlow Twins code), over a grid of batch
sizes N and embedding widths D; then SSL training throughput (images/s) of `repl_nb.ssl` at small scale.

    python bench/losses.py                      # N in 256, 1024; D in 128, 512 (a few minutes on a laptop CPU)
    python bench/losses.py --full               # N in 256..4096, D in 128..2048
    python bench/losses.py --n 512 2048 --d 256 --losses simclr supcon --device cuda

The printed ratio is ours / reference (time): below 1 means the library is faster.
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F

from repl_nb import losses as L


# ---------------------------------------------------------------- straightforward references

def ref_simclr(z1, z2, t=0.5):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = len(z1)
    sim = z @ z.T / t
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    labels = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, labels)


def ref_supcon(z1, z2, labels, t=0.1):  # the SupContrast repository's formulation
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    lab = torch.cat([labels, labels]).view(-1, 1)
    mask = torch.eq(lab, lab.T).float()
    logits = z @ z.T / t
    logits = logits - logits.max(1, keepdim=True).values.detach()
    logits_mask = 1 - torch.eye(len(z), device=z.device)
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    return -((mask * log_prob).sum(1) / mask.sum(1)).mean()


def ref_xclr(z1, z2, sim, t=0.1, tt=0.1):  # the paper's equation: 2N views, self-pair excluded, explicit masks
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    self_pair = torch.eye(len(z), dtype=torch.bool, device=z.device)
    targets = torch.softmax(sim.repeat(2, 2).masked_fill(self_pair, float("-inf")) / tt, 1)
    log_p = torch.log_softmax((z @ z.T / t).masked_fill(self_pair, float("-inf")), 1).masked_fill(self_pair, 0.0)
    return -(targets * log_p).sum(1).mean()


def ref_vicreg(x, y):  # the official VICReg forward (single process)
    repr_loss = F.mse_loss(x, y)
    x, y = x - x.mean(0), y - y.mean(0)
    std_x, std_y = torch.sqrt(x.var(0) + 1e-4), torch.sqrt(y.var(0) + 1e-4)
    std_loss = F.relu(1 - std_x).mean() / 2 + F.relu(1 - std_y).mean() / 2
    cov_x, cov_y = x.T @ x / (len(x) - 1), y.T @ y / (len(y) - 1)
    off = lambda m: m.flatten()[:-1].view(m.shape[0] - 1, m.shape[0] + 1)[:, 1:].flatten()
    cov_loss = off(cov_x).pow(2).sum() / x.shape[1] + off(cov_y).pow(2).sum() / y.shape[1]
    return 25 * repr_loss + 25 * std_loss + cov_loss


def ref_barlow(z1, z2, lambd=5e-3):  # the official Barlow Twins forward (BatchNorm1d without affine)
    bn = lambda z: F.batch_norm(z, None, None, training=True, eps=1e-5)
    c = bn(z1).T @ bn(z2) / len(z1)
    on = (torch.diagonal(c) - 1).pow(2).sum()
    off = c.flatten()[:-1].view(c.shape[0] - 1, c.shape[0] + 1)[:, 1:].flatten().pow(2).sum()
    return on + lambd * off


def ref_byol(p, z):
    return (2 - 2 * (F.normalize(p, dim=1) * F.normalize(z.detach(), dim=1)).sum(1)).mean()


def ref_er(z1, z2, kappa=10.0):  # the ER paper's sphere estimators (constants dropped: they cancel in the loss)
    a, b = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    rec = -kappa * (a * b).sum(1).mean()
    ent = lambda x: (-torch.logsumexp(kappa * x @ x.T, 1) + math.log(len(x))).mean()
    return rec - (ent(a) + ent(b)) / 2


def ref_info_vicreg(z1, z2, eps=1e-3):
    def entropy(z):
        cov = torch.cov(z.T) + eps * torch.eye(z.shape[1], device=z.device)
        return 0.5 * torch.logdet(cov) + z.shape[1] / 2 * math.log(2 * math.pi * math.e)
    return F.mse_loss(z1, z2) - (entropy(z1) + entropy(z2)) / 2 / z1.shape[1]


CASES = {
    "simclr": (lambda z1, z2, lab, sim: L.simclr_loss(z1, z2, 0.5), lambda z1, z2, lab, sim: ref_simclr(z1, z2, 0.5)),
    "supcon": (lambda z1, z2, lab, sim: L.supcon_loss(z1, z2, lab, 0.1), lambda z1, z2, lab, sim: ref_supcon(z1, z2, lab, 0.1)),
    "xclr": (lambda z1, z2, lab, sim: L.xclr_loss(z1, z2, sim), lambda z1, z2, lab, sim: ref_xclr(z1, z2, sim)),
    "vicreg": (lambda z1, z2, lab, sim: L.vicreg_loss(z1, z2), lambda z1, z2, lab, sim: ref_vicreg(z1, z2)),
    "barlow": (lambda z1, z2, lab, sim: L.barlow_twins_loss(z1, z2), lambda z1, z2, lab, sim: ref_barlow(z1, z2)),
    "byol": (lambda z1, z2, lab, sim: L.byol_loss(z1, z2), lambda z1, z2, lab, sim: ref_byol(z1, z2)),
    "er": (lambda z1, z2, lab, sim: L.er_loss(z1, z2), lambda z1, z2, lab, sim: ref_er(z1, z2)),
    "info_vicreg": (lambda z1, z2, lab, sim: L.info_vicreg_loss(z1, z2), lambda z1, z2, lab, sim: ref_info_vicreg(z1, z2)),
}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _fwd_bwd_seconds(fn, inputs, device):
    z1, z2 = inputs[0].detach().requires_grad_(), inputs[1].detach().requires_grad_()
    sync(device)
    start = time.perf_counter()
    fn(z1, z2, *inputs[2:]).backward()
    sync(device)
    return time.perf_counter() - start


def time_pair(ours, ref, inputs, device, repeats):
    "Median forward + backward seconds of both, measured alternately (after one warm-up call of each)."
    _fwd_bwd_seconds(ours, inputs, device), _fwd_bwd_seconds(ref, inputs, device)
    times = [(_fwd_bwd_seconds(ours, inputs, device), _fwd_bwd_seconds(ref, inputs, device)) for _ in range(repeats)]
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def bench_losses(ns, ds, names, device, repeats):
    print(f"{'loss':<12}{'N':>6}{'D':>6}{'ours ms':>10}{'ref ms':>10}{'ours/ref':>10}{'|diff|':>10}")
    ratios = {}
    for name in names:
        ours, ref = CASES[name]
        for n in ns:
            for d in ds:
                if name == "info_vicreg" and d > 1024 and device.type == "cpu":
                    continue  # a D x D Cholesky / logdet of 2048^2 per call: minutes of CPU for little information
                g = torch.Generator().manual_seed(0)
                z1, z2 = torch.randn(n, d, generator=g).to(device), torch.randn(n, d, generator=g).to(device)
                labels = torch.randint(0, 100, (n,), generator=g).to(device)
                sim = torch.randn(n, n, generator=g).to(device)
                inputs = (z1, z2, labels, sim)
                diff = abs(ours(*inputs).item() - ref(*inputs).item())
                t_ours, t_ref = time_pair(ours, ref, inputs, device, repeats)
                ratios.setdefault(name, []).append(t_ours / t_ref)
                print(f"{name:<12}{n:>6}{d:>6}{1e3 * t_ours:>10.2f}{1e3 * t_ref:>10.2f}{t_ours / t_ref:>10.2f}{diff:>10.1e}",
                      flush=True)
    print("\ngeometric-mean time ratio ours/ref per loss: "
          + ", ".join(f"{k} {math.exp(statistics.mean(map(math.log, v))):.2f}" for k, v in ratios.items()))


def bench_ssl_throughput(device, steps, methods):
    "Images per second of SSL training steps (two views each) through fit, small CNN on the digits."
    from repl_nb.augment import Augment
    from repl_nb.data import load_dataset
    from repl_nb.ssl import make_backbone, pretrain
    data = load_dataset("digits")
    aug = Augment(crop_scale=0.6, crop_ratio=(0.8, 1.25), noise_std=0.1)
    print(f"\nSSL training throughput on {device} (digits 1x8x8, SmallCNN width 16, batch 256, {steps} steps, "
          "images = samples; each is augmented twice):")
    for method in methods:
        torch.manual_seed(0)
        pretrain(data, method, make_backbone("cnn", data.input_shape, width=16), steps=2, augment=aug, n_checkpoints=1,
                 eval_during=False, probe=False, device=device)  # warm-up (kornia pipelines, allocator)
        torch.manual_seed(0)
        run = pretrain(data, method, make_backbone("cnn", data.input_shape, width=16), steps=steps, augment=aug,
                       n_checkpoints=1, eval_during=False, probe=False, device=device)
        print(f"  {method:<8} {256 * steps / run.seconds:>8.0f} images/s  ({run.seconds:.2f} s incl. one final kNN eval)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="N in 256..4096, D in 128..2048")
    parser.add_argument("--n", type=int, nargs="+", help="batch sizes (overrides the grid)")
    parser.add_argument("--d", type=int, nargs="+", help="embedding widths (overrides the grid)")
    parser.add_argument("--losses", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--ssl-steps", type=int, default=30, help="steps of the throughput run (0: skip)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    ns = args.n or ([256, 1024, 4096] if args.full else [256, 1024])
    ds = args.d or ([128, 512, 2048] if args.full else [128, 512])
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} CPU threads")
    bench_losses(ns, ds, args.losses, device, args.repeats)
    if args.ssl_steps:
        bench_ssl_throughput(device, args.ssl_steps, ["simclr", "byol", "vicreg"])


if __name__ == "__main__":
    main()
