"""Per-class metrics and confusion matrix of repl_nb.classwise against scikit-learn's, on the same predictions.

    .venv/bin/python bench/classwise.py [--n 1000000] [--classes 100] [--repeats 5] [--device cpu|cuda] [--threads 1]

Both sides compute the same three things from integer predictions and labels: the confusion matrix, per-class accuracy
(recall) and per-class false positives. scikit-learn: `confusion_matrix`, `recall_score(average=None)`,
`multilabel_confusion_matrix` (its per-class false positives), on NumPy arrays; ours: `confusion_matrix`,
`per_class_accuracy`, `per_class_false_positives`, on torch tensors (conversions are outside the timings). The results
are checked equal first; the timings are the best of `--repeats` interleaved runs. Prints sklearn_time / ours_time.
"""
import argparse
import time

import numpy as np
import torch
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from sklearn.metrics import multilabel_confusion_matrix, recall_score

from repl_nb.classwise import confusion_matrix, per_class_accuracy, per_class_false_positives
from repl_nb.core import get_device


def ours(p, y, C, device):
    out = confusion_matrix(p, y, C), per_class_accuracy(p, y, C), per_class_false_positives(p, y, C)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out


def sklearn(p, y, C):
    labels = list(range(C))
    return (sk_confusion_matrix(y, p, labels=labels), recall_score(y, p, labels=labels, average=None, zero_division=0),
            multilabel_confusion_matrix(y, p, labels=labels)[:, 0, 1])


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="predictions")
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: a fair match for sklearn's single thread)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = get_device(args.device)
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, args.classes, (args.n,), generator=g)
    p = torch.where(torch.rand(args.n, generator=g) < 0.7, y, torch.randint(0, args.classes, (args.n,), generator=g))
    yn, pn = y.numpy(), p.numpy()
    yt, pt = y.to(device), p.to(device)

    cm, acc, fp = ours(pt, yt, args.classes, device)
    sk_cm, sk_acc, sk_fp = sklearn(pn, yn, args.classes)
    assert np.array_equal(cm.cpu().numpy(), sk_cm), "confusion matrices differ"
    assert np.allclose(acc.cpu().numpy(), sk_acc), "per-class accuracies differ"
    assert np.array_equal(fp.cpu().numpy(), sk_fp), "false positives differ"

    t_ours, t_sk = [], []
    for _ in range(args.repeats):  # interleaved: both see the same machine state
        t_ours.append(best_of(lambda: ours(pt, yt, args.classes, device), 1))
        t_sk.append(best_of(lambda: sklearn(pn, yn, args.classes), 1))
    ours_s, sk_s = min(t_ours), min(t_sk)
    print(f"{args.n:,} predictions, {args.classes} classes, device {device}, {args.threads} torch thread(s); "
          f"confusion + per-class accuracy + per-class false positives")
    print(f"  repl_nb.classwise: {1000 * ours_s:8.2f} ms")
    print(f"  scikit-learn:      {1000 * sk_s:8.2f} ms")
    print(f"  ratio sklearn / ours: {sk_s / ours_s:.1f}x")


if __name__ == "__main__":
    main()
