"""SSL training throughput (images/s) and peak memory of repl_nb.ssl against a bare hand-written loop of the same model
and loss, in the same run: SimCLR, BYOL and VICReg on a ResNet-18 over CIFAR-shaped random tensors.

    python bench/ssl_throughput.py                       # the GPU benchmark: ResNet-18, batch 256, 3x32x32
    python bench/ssl_throughput.py --tiny                # a seconds-long CPU smoke run (what the tests run)
    python bench/ssl_throughput.py --methods simclr --steps 50 --batch-size 512

"ours" is `repl_nb.train.fit` with `repl_nb.ssl.TwoViewObjective` (and `EMATeacher` for BYOL) on the model of
`build_ssl_model`; "bare" is a plain torch loop over the same model, the same augmentation and the same loss function
(`repl_nb.losses`), written out by hand. On CUDA both run the forward and the loss under bf16 autocast with the model
and the views in channels_last memory format. Each pair runs interleaved (best of `--repeats`), after one warm-up run
each. The printed ratio is ours / bare in images/s (goal: >= 0.95). Peak memory is CUDA's max allocated bytes; on a
CPU it is not measured (n/a).
"""
import argparse
import time

import torch

from repl_nb import losses as L
from repl_nb.augment import Augment
from repl_nb.core import get_device
from repl_nb.data import Dataset
from repl_nb.ssl import EMATeacher, TwoViewObjective, build_ssl_model, ema_momentum, make_backbone
from repl_nb.train import fit

HAND_WRITTEN_LOSSES = {  # the loss of each method on (z1, z2, p1, p2, t1, t2), spelled out
    "simclr": lambda z1, z2, p1, p2, t1, t2: L.simclr_loss(z1, z2, 0.5),
    "byol": lambda z1, z2, p1, p2, t1, t2: L.byol_loss(p1, t2) + L.byol_loss(p2, t1),
    "vicreg": lambda z1, z2, p1, p2, t1, t2: L.vicreg_loss(z1, z2),
}


def random_images(n: int, size: int, device: torch.device) -> Dataset:
    "CIFAR-shaped random tensors in [0, 1] with 10 random labels."
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(n, 3, size, size, generator=g), torch.randint(0, 10, (n,), generator=g)
    return Dataset("random", x, y, x[:0], y[:0], [str(c) for c in range(10)]).to(device)


def new_model(method, args, device):
    torch.manual_seed(0)
    backbone = make_backbone("resnet18", (3, args.image_size, args.image_size), width=args.width)
    model = build_ssl_model(method, backbone, args.proj_dim, args.hidden_dim).to(device)
    return model.to(memory_format=torch.channels_last) if device.type == "cuda" else model


def bare_loop(method, model, data, augment, args, device):
    "The hand-written loop: sample, two views, forward + loss (autocast on CUDA), backward, AdamW, EMA for BYOL."
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = HAND_WRITTEN_LOSSES[method]
    g = torch.Generator(device=device).manual_seed(0)
    for step in range(args.steps):
        x = data.x_train[torch.randint(0, len(data.x_train), (args.batch_size,), device=device, generator=g)]
        views = torch.cat([augment(x, seed=2 * step), augment(x, seed=2 * step + 1)])
        if device.type == "cuda":
            views = views.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            z = model.projector(model.backbone(views))
            p = model.predictor(z) if model.predictor is not None else z
            t = model.teacher_project(views) if model.teacher is not None else z
            loss = loss_fn(*z.chunk(2), *p.chunk(2), *t.chunk(2))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if model.teacher is not None:
            model.update_teacher(ema_momentum(step + 1, args.steps))


def ours(method, model, data, augment, args, device):
    "repl_nb: fit + TwoViewObjective (+ EMATeacher), no evaluation or checkpoint before the last step."
    objective = TwoViewObjective(method, augment, precision="bf16" if device.type == "cuda" else "fp32",
                                 channels_last=device.type == "cuda")
    fit(model, data, args.steps, batch_size=args.batch_size, lr=1e-3, weight_decay=1e-4, objective=objective,
        checkpoint_steps=[], callbacks=[EMATeacher(args.steps)] if model.teacher is not None else [], device=device,
        progress=False)


def measure(run, method, data, augment, args, device) -> tuple[float, float | None]:
    "(seconds, peak bytes) of one run on a fresh model."
    model = new_model(method, args, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    run(method, model, data, augment, args, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return seconds, torch.cuda.max_memory_allocated() if device.type == "cuda" else None


def benchmark(args) -> list[dict]:
    "One row per method: images/s and peak memory of ours and of the bare loop, and their ratio."
    device = get_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True
    data = random_images(args.n_images, args.image_size, device)
    augment = Augment(crop_scale=0.2, flip=True, color_jitter=0.4, crop_ratio=(0.75, 4 / 3))
    images = 2 * args.batch_size * args.steps  # two views per sample
    rows = []
    for method in args.methods:
        for run in (bare_loop, ours):  # warm-up: cudnn autotuning, allocator, kernels
            measure(run, method, data, augment, args, device)
        times, peaks = {"bare": [], "ours": []}, {"bare": 0, "ours": 0}
        for _ in range(args.repeats):  # interleaved: both see the same machine state
            for name, run in (("bare", bare_loop), ("ours", ours)):
                seconds, peak = measure(run, method, data, augment, args, device)
                times[name].append(seconds)
                peaks[name] = max(peaks[name], peak or 0)
        speed = {k: images / min(v) for k, v in times.items()}
        rows.append({"method": method, "bare_images_s": speed["bare"], "ours_images_s": speed["ours"],
                     "ratio": speed["ours"] / speed["bare"],
                     "bare_peak_mib": peaks["bare"] / 2**20 if device.type == "cuda" else None,
                     "ours_peak_mib": peaks["ours"] / 2**20 if device.type == "cuda" else None})
    return rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--methods", nargs="+", choices=tuple(HAND_WRITTEN_LOSSES), default=list(HAND_WRITTEN_LOSSES))
    p.add_argument("--steps", type=int, default=30, help="timed steps per run")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--width", type=int, default=64, help="ResNet-18 base width (64: the standard network)")
    p.add_argument("--proj-dim", type=int, default=128)
    p.add_argument("--hidden-dim", type=int, default=2048)
    p.add_argument("--n-images", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default=None)
    p.add_argument("--tiny", action="store_true", help="a seconds-long CPU smoke run (tests)")
    args = p.parse_args(argv)
    if args.tiny:
        args.steps, args.batch_size, args.image_size, args.width = 2, 8, 16, 4
        args.hidden_dim, args.proj_dim, args.n_images, args.repeats = 32, 16, 64, 1
    return args


def main(argv=None):
    args = parse_args(argv)
    rows = benchmark(args)
    device = get_device(args.device)
    amp = "bf16 autocast + channels_last" if device.type == "cuda" else f"fp32, {args.threads} CPU thread(s)"
    print(f"device {device} ({amp}); ResNet-18 width {args.width}, batch {args.batch_size} x 2 views of "
          f"3x{args.image_size}x{args.image_size}, {args.steps} steps, best of {args.repeats}")
    mib = lambda v: "n/a" if v is None else f"{v:.0f} MiB"
    for r in rows:
        print(f"{r['method']:>7}: bare {r['bare_images_s']:9.1f} img/s ({mib(r['bare_peak_mib'])})  "
              f"ours {r['ours_images_s']:9.1f} img/s ({mib(r['ours_peak_mib'])})  ratio ours/bare {r['ratio']:.3f}")
    return rows


if __name__ == "__main__":
    main()
