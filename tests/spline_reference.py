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


def _far_side(w, G, g, lo, hi, sign):
    "max (sign=+1) or min (sign=-1) of w . x over {G x <= g} in the box, one scipy LP."
    from scipy.optimize import linprog
    res = linprog(-sign * w, A_ub=G if len(G) else None, b_ub=g if len(G) else None, bounds=list(zip(lo, hi)), method="highs")
    return sign * -res.fun if res.status == 0 else -sign * np.inf


def _chebyshev_radius(G, g, lo, hi):
    "Centre and radius of the largest ball in {G x <= g} in the box, one scipy LP."
    from scipy.optimize import linprog
    d = len(lo)
    A = np.vstack([np.hstack([G, np.linalg.norm(G, axis=1, keepdims=True)]).reshape(-1, d + 1),
                   np.hstack([np.eye(d), np.ones((d, 1))]), np.hstack([-np.eye(d), np.ones((d, 1))])])
    res = linprog(np.r_[np.zeros(d), -1.0], A_ub=A, b_ub=np.concatenate([g, hi, -lo]),
                  bounds=[(None, None)] * d + [(0, None)], method="highs")
    return (res.x[:d], res.x[-1]) if res.status == 0 else (None, -1.0)


def reference_regions(model, lo, hi, tol=1e-9):
    """Codes and centres of the regions of an MLP in the box [lo, hi], one LP per unit and piece for the far side and one
    Chebyshev LP per new piece (scipy), regions and units looped over in Python; slivers (no ball of radius
    tol * |hi - lo|) are not split off. The affine map of each region is carried from the weights, layer by layer."""
    hidden, _ = mlp_layers(model)
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    tol = tol * np.linalg.norm(hi - lo)
    d = len(lo)
    centre, _ = _chebyshev_radius(np.zeros((0, d)), np.zeros(0), lo, hi)
    regions = [(np.zeros((0, d)), np.zeros(0), centre, [], np.eye(d), np.zeros(d))]  # G, g, centre, code, M, m
    for W, b, slope in hidden:
        new_regions = []
        for G, g, x, code, M, m in regions:
            lin, off = W @ M, W @ m + b
            pieces = [(G, g, x, [])]
            for w, c in zip(lin, off):
                nxt = []
                for G_p, g_p, x_p, bits in pieces:
                    value = w @ x_p + c
                    side = 1.0 if value > 0 else -1.0
                    if side * (_far_side(w, G_p, g_p, lo, hi, -side) + c) < -tol * np.linalg.norm(w):
                        children = []
                        for s in (1.0, -1.0):  # s=+1: w.x + c >= 0, as -w.x <= c
                            G_c, g_c = np.vstack([G_p, -s * w]), np.append(g_p, s * c)
                            children.append((G_c, g_c, *_chebyshev_radius(G_c, g_c, lo, hi), bits + [s > 0]))
                        if min(ch[3] for ch in children) > tol:
                            nxt += [(G_c, g_c, x_c, bits_c) for G_c, g_c, x_c, _, bits_c in children]
                            continue
                    nxt.append((G_p, g_p, x_p, bits + [bool(value > 0)]))
                pieces = nxt
            for G_p, g_p, x_p, bits in pieces:
                mask = np.where(bits, 1.0, slope)
                new_regions.append((G_p, g_p, x_p, code + bits, mask[:, None] * lin, mask * off))
        regions = new_regions
    return [(code, x) for _, _, x, code, _, _ in regions]
