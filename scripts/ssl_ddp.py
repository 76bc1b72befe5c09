#!/usr/bin/env python
"""Data-parallel SSL pre-training: torch.distributed + DistributedDataParallel on repl_nb.ssl's backbones and heads.

The SSL paper notebooks (ssl_cookbook, democratizing_ssl, gps_ssl, xclr) train on one device: `repl-nb reproduce
NAME --scale full` uses one GPU. This script trains one method of their `full` presets on every GPU of one or several
machines, under torchrun:

    torchrun --standalone --nproc_per_node=8 scripts/ssl_ddp.py --method simclr --dataset cifar10 --arch resnet18 \\
        --width 64 --steps 19500 --batch-size 512 --lr 0.002 --crop-scale 0.08 --flip --color-jitter 0.5 \\
        --noise-std 0 --out runs/ssl_ddp/simclr

Every rank draws the same global batch (a function of the step) and the same two augmented views of it, and keeps its
own slice. The losses of `repl_nb.losses` gather the other ranks' embeddings with gradients flowing back, and DDP
averages the gradients, so a step on N processes is the single-process step on the whole batch (BatchNorm statistics
aside: `--sync-bn`, the default on GPUs, makes them global too). Without torchrun the script trains in one process.
Rank 0 writes `checkpoints/` (a restarted job resumes from the latest), `metrics.jsonl`, and at the end `params.json`
and `metrics.json` (kNN and linear-probe accuracy of the backbone), a run folder `repl-nb report` shows.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from repl_nb.augment import Augment
from repl_nb.core import CheckpointStore, append_jsonl, get_device, read_jsonl, seed_everything, write_json, write_jsonl
from repl_nb.data import load_dataset, resize_images
from repl_nb.ssl import METHODS, SSLModel, build_ssl_model, ema_momentum, evaluate_backbone, make_backbone, method_loss
from repl_nb.train import StepSampler

# every registered method whose loss gathers across ranks and needs no side information beyond the labels
DDP_METHODS = tuple(name for name, spec in METHODS.items() if spec.distributed and "class_similarity" not in spec.needs)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", choices=DDP_METHODS, default="simclr")
    p.add_argument("--dataset", default="digits", help="a repl_nb.data name: digits, cifar10, cifar100, ...")
    p.add_argument("--data-root", default=None, help="data folder (default: the data_root setting)")
    p.add_argument("--image-size", type=int, default=0, help="resize images first (0: keep)")
    p.add_argument("--arch", choices=("mlp", "cnn", "resnet18"), default="cnn")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--last-width", type=int, default=0, help="width of the backbone's last block (0: default)")
    p.add_argument("--proj-dim", type=int, default=128)
    p.add_argument("--hidden-dim", type=int, default=512)
    p.add_argument("--no-batch-norm", action="store_true", help="no BatchNorm in the backbone and heads")
    p.add_argument("--sync-bn", choices=("auto", "on", "off"), default="auto",
                   help="SyncBatchNorm across ranks (auto: on with CUDA; not available on CPU)")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=256, help="global batch size, split across the ranks")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--crop-scale", type=float, default=0.6, help="random-resized-crop lower bound (0: no crop)")
    p.add_argument("--flip", action="store_true")
    p.add_argument("--color-jitter", type=float, default=0.0)
    p.add_argument("--noise-std", type=float, default=0.1)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--knn-k", type=int, default=200)
    p.add_argument("--no-probe", action="store_true", help="kNN only at the end (no linear probe)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cpu-threads", type=int, default=0, help="torch threads per process on a CPU (0: torch's default)")
    p.add_argument("--out", type=Path, required=True, help="run folder (created; a restart resumes from it)")
    return p.parse_args(argv)


def setup() -> tuple[int, int, torch.device]:
    "Join the process group torchrun describes (nccl on GPUs, gloo on CPUs); (rank, world size, this rank's device)."
    if "RANK" not in os.environ:
        return 0, 1, get_device()
    local = int(os.environ.get("LOCAL_RANK", 0))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        dist.init_process_group("nccl", device_id=torch.device("cuda", local))
        return dist.get_rank(), dist.get_world_size(), torch.device("cuda", local)
    dist.init_process_group("gloo")
    return dist.get_rank(), dist.get_world_size(), torch.device("cpu")


def build_model(args, input_shape) -> SSLModel:
    "The notebooks' model for the method (`build_ssl_model`), with or without BatchNorm."
    seed_everything(args.seed)  # every rank (and every restart) builds the same initial weights
    bn = not args.no_batch_norm
    backbone = make_backbone(args.arch, input_shape, width=args.width, last_width=args.last_width or None, batch_norm=bn)
    return build_ssl_model(args.method, backbone, args.proj_dim, args.hidden_dim, batch_norm=bn)


class TwoViews(nn.Module):
    "What DDP wraps: views -> (projections, predictions) through the student; the EMA teacher stays outside."

    def __init__(self, model: SSLModel):
        super().__init__()
        self.model = model

    def forward(self, views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.model.projector(self.model.backbone(views))
        return z, (self.model.predictor(z) if self.model.predictor is not None else z)


def ssl_loss(method: str, model: SSLModel, views: torch.Tensor, z: torch.Tensor, p: torch.Tensor,
             labels: torch.Tensor, seed: int) -> torch.Tensor:
    "The method's loss (the registry's `method_loss`) on this rank's slice; the losses gather the other ranks' rows."
    return method_loss(method, model, views, z, predictions=p if model.predictor is not None else None,
                       labels=labels, seed=seed)


def main(argv=None) -> int:
    args = parse_args(argv)
    rank, world, device = setup()
    if args.cpu_threads and device.type == "cpu":
        torch.set_num_threads(args.cpu_threads)
    data = load_dataset(args.dataset, root=args.data_root)
    if args.image_size:
        data = resize_images(data, args.image_size)
    data = data.to(device)
    model = build_model(args, data.input_shape).to(device)
    sync_bn = args.sync_bn == "on" or (args.sync_bn == "auto" and device.type == "cuda")
    if world > 1 and sync_bn and not args.no_batch_norm:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=args.lr, weight_decay=args.weight_decay)
    store, metrics_path = CheckpointStore(args.out / "checkpoints"), args.out / "metrics.jsonl"
    start, elapsed = 0, 0.0
    if store.latest() is not None:  # every rank reads the same checkpoint (a shared file system)
        state = store.load()
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start, elapsed = state["step"], state["elapsed"]
        if rank == 0:
            write_jsonl(metrics_path, [r for r in read_jsonl(metrics_path) if r["step"] <= start])
            print(f"resuming from step {start}", flush=True)
    net = TwoViews(model)
    if world > 1:
        net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    augment = Augment(crop_scale=args.crop_scale or None, flip=args.flip, color_jitter=args.color_jitter,
                      noise_std=args.noise_std, crop_ratio=(0.8, 1.25))
    sampler = StepSampler(len(data.x_train), args.batch_size, args.seed, device)
    mine = torch.tensor_split(torch.arange(sampler.batch_size, device=device), world)[rank]

    if rank == 0:
        args.out.mkdir(parents=True, exist_ok=True)
        print(f"{args.method} on {args.dataset}: {world} process(es), global batch {sampler.batch_size}, device {device}",
              flush=True)

    tick = time.perf_counter()
    for step in range(start, args.steps):
        x_seed = args.seed * 1_000_003 + step
        idx = sampler(step)
        x = data.x_train[idx]  # the global batch; augmented whole so every rank sees the same views
        v1, v2 = augment(x, seed=x_seed), augment(x, seed=x_seed + 1)
        views = torch.cat([v1[mine], v2[mine]])
        z, p = net(views)
        loss = ssl_loss(args.method, model, views, z, p, data.y_train[idx][mine], x_seed)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if model.teacher is not None:
            model.update_teacher(ema_momentum(step + 1, args.steps))
        done = step + 1
        if done % args.log_every == 0 or done == args.steps:
            value = loss.detach().clone()
            if world > 1:
                dist.all_reduce(value)
                value /= world  # the ranks' losses average to the global batch's loss
            now = time.perf_counter()
            elapsed, tick = elapsed + now - tick, now
            if rank == 0:
                append_jsonl(metrics_path, {"step": done, "loss": value.item(), "time": round(elapsed, 3)})
                print(f"step {done}/{args.steps}  loss {value.item():.4f}  {elapsed:.0f} s", flush=True)
        if rank == 0 and (done % args.checkpoint_every == 0 or done == args.steps):
            store.save(done, {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": done,
                              "elapsed": elapsed})

    if rank == 0:
        final = evaluate_backbone(model.backbone, data, args.knn_k, probe=not args.no_probe)
        write_json(args.out / "params.json", {"paper": "ssl_ddp", "world_size": world, "device": str(device),
                                              **{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}})
        write_json(args.out / "metrics.json", {"method": args.method, "steps": args.steps, "world_size": world,
                                               "seconds": round(elapsed, 1), **final})
        print(f"final: {final}; run folder {args.out}", flush=True)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
