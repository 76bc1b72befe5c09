"""Slow, independent references for the spline algorithms (tests and bench/splines.py use them).

They read an MLP's weights directly and loop over regions and units in plain Python/NumPy: no code shared with
repl_nb.splines."""
import numpy as np
import torch


def mlp_layers(model):
    "(W, b, negative slope) of each hidden layer and (W, b) of the output layer of a repl_nb MLP."
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    acts = [m for m in model if isinstance(m, (torch.nn.ReLU, torch.nn.LeakyReLU))]
    slope = lambda a: a.negative_slope if isinstance(a, torch.nn.LeakyReLU) else 0.0
    hidden = [(l.weight.detach().double().numpy(), l.bias.detach().double().numpy(), slope(a)) for l, a in zip(linears, acts)]
    return hidden, (linears[-1].weight.detach().double().numpy(), linears[-1].bias.detach().double().numpy())


def clip(poly, a, c, tol):
    "Sutherland-Hodgman: the part of convex polygon `poly` (list of (x, y)) where a . p + c >= 0."
    out = []
    n = len(poly)
    for i in range(n):
        p, q = poly[i], poly[(i + 1) % n]
        sp, sq = a[0] * p[0] + a[1] * p[1] + c, a[0] * q[0] + a[1] * q[1] + c
        sp = 0.0 if abs(sp) <= tol else sp
        sq = 0.0 if abs(sq) <= tol else sq
        if sp >= 0:
            out.append(p)
        if (sp > 0 and sq < 0) or (sp < 0 and sq > 0):
            t = sp / (sp - sq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def area(poly):
    return 0.5 * sum(p[0] * q[1] - q[0] * p[1] for p, q in zip(poly, poly[1:] + poly[:1]))


def reference_partition(model, domain, tol=1e-10):
    """Regions of a 2-D-input MLP on a convex polygon `domain`: a list of (polygon, code), by sequential clipping,
    one region and one neuron at a time. Each region carries the affine map (M, m) of the current layer's input."""
    hidden, _ = mlp_layers(model)
    dom = [tuple(map(float, p)) for p in domain]
    diam = max(np.hypot(p[0] - q[0], p[1] - q[1]) for p in dom for q in dom)
    regions = [(dom, [], np.eye(2), np.zeros(2))]  # polygon, code bits, layer input = M @ uv + m
    for W, b, slope in hidden:
        new_regions = []
        for poly, code, M, m in regions:
            lin, off = W @ M, W @ m + b  # pre-activations of this layer in this region: lin @ uv + off
            pieces = [(poly, [])]
            for k in range(len(b)):
                eps = tol * diam * np.hypot(*lin[k])
                nxt = []
                for piece, bits in pieces:
                    upper, lower = clip(piece, lin[k], off[k], eps), clip(piece, -lin[k], -off[k], eps)
                    up_ok, low_ok = len(upper) >= 3 and area(upper) > 0, len(lower) >= 3 and area(lower) > 0
                    if up_ok and low_ok and len(upper) + len(lower) > len(piece) + 1:  # strictly split
                        nxt += [(upper, bits + [True]), (lower, bits + [False])]
                    else:
                        cx, cy = np.mean(piece, 0)
                        nxt.append((piece, bits + [bool(lin[k] @ (cx, cy) + off[k] > 0)]))
                pieces = nxt
            for piece, bits in pieces:
                mask = np.where(bits, 1.0, slope)
                new_regions.append((piece, code + bits, mask[:, None] * lin, mask * off))
        regions = new_regions
    return [(poly, code) for poly, code, _, _ in regions]


def reference_local_complexity(model, x, radius, directions):
    "Per-point loop: for each point and each hidden layer, units whose pre-activation sign varies over x +- r v_p."
    hidden, _ = mlp_layers(model)
    counts = []
    for point in x.double().numpy():
        vertices = np.concatenate([point + radius * directions.double().numpy(), point - radius * directions.double().numpy()])
        h, row = vertices, []
        for W, b, slope in hidden:
            pre = h @ W.T + b
            positive = pre > 0
            row.append(int(np.sum(positive.any(0) & ~positive.all(0))))
            h = np.where(positive, pre, slope * pre)
        counts.append(row)
    return torch.tensor(counts)
