"""spline_features against the bare forward pass of the same batches (goal: at most 1.3x).

    .venv/bin/python bench/spline_llm.py [--quick] [--device cpu|cuda] [--model minilm|tiny-llama|NAME] [--dtype float32]

Both sides run the same padded batches of the same token ids under torch.no_grad(); ours adds the hooks on every MLP
activation and the per-layer statistics (spline_features_from_ids, so tokenisation is outside both timings). Each
side is timed `--repeats` times after a warm-up and the median is kept; CPU (process) time is printed beside wall
time, which other load on the machine inflates.
"""
import argparse
import statistics
import time

import torch

from repl_nb.core import get_device
from repl_nb.splines.llm import (check_ids, load_language_model, spline_features_from_ids, stdlib_domain_texts,
                                 tiny_model)
from repl_nb.splines.llm.models import _batches, _pad_right


def timed(fn, repeats):
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer texts and repeats")
    p.add_argument("--device", default=None)
    p.add_argument("--model", default="minilm", help="minilm | tiny-llama | a Hugging Face name or folder")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch threads on a CPU (0: torch's default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = get_device(a.device)
    texts, _, _ = stdlib_domain_texts(20 if a.quick else 64, max_words=64)
    if a.model == "tiny-llama":
        model = tiny_model("llama", layers=4, hidden=256, intermediate=688, heads=8, vocab=32000, context=512)
        model = model.to(device=device, dtype=getattr(torch, a.dtype))
        g = torch.Generator().manual_seed(0)
        ids = [torch.randint(1, 32000, (len(t.split()) + 10,), generator=g) for t in texts]
    else:
        model, tokenizer = load_language_model(a.model, dtype=a.dtype, device=device)
        ids = [torch.tensor(tokenizer(t)["input_ids"]) for t in texts]
    ids = check_ids(model, ids)
    batches = [_pad_right([ids[i] for i in chunk], device) for chunk in _batches(ids, a.batch_size)]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    @torch.no_grad()
    def bare():
        for batch, mask in batches:
            model(input_ids=batch, attention_mask=mask)
        sync()

    def ours():
        spline_features_from_ids(model, ids, batch_size=a.batch_size, progress=False)
        sync()

    repeats = 2 if a.quick else a.repeats
    (w0, c0), (w1, c1) = timed(bare, repeats), timed(ours, repeats)
    n_tokens = sum(len(t) for t in ids)
    print(f"spline_features vs bare forward: {type(model).__name__} ({a.model}, {a.dtype}) on {device}, "
          f"{len(ids)} prompts, {n_tokens} tokens, batch {a.batch_size}, torch threads {torch.get_num_threads()}")
    print(f"{'':>16}{'wall s':>10}{'cpu s':>10}")
    print(f"{'bare forward':>16}{w0:>10.3f}{c0:>10.3f}")
    print(f"{'spline_features':>16}{w1:>10.3f}{c1:>10.3f}")
    print(f"ratio (wall) {w1 / w0:.2f}x, ratio (cpu) {c1 / max(c0, 1e-9):.2f}x (goal <= 1.3x)")


if __name__ == "__main__":
    main()
