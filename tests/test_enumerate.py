"enumerate_regions(out=...) streams its regions to the shards and returns a handle that holds none of them."
import tracemalloc

import torch

from repl_nb.models import MLP
from repl_nb.splines.enumerate import RegionShards, enumerate_regions, load_regions

code_set = lambda codes: {tuple(c) for c in torch.as_tensor(codes).tolist()}


def traced(fn):
    "Result of fn, and the Python heap (numpy arrays included) it still holds and held at its peak, in bytes."
    tracemalloc.start()
    try:
        result = fn()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, held, peak


def test_streamed_regions_stay_on_disk_and_reload_to_the_in_memory_set(tmp_path, one_torch_thread):
    torch.manual_seed(0)
    model = MLP(2, [120], 1, activation="leaky_relu")  # 4,470 regions
    box = (-2 * torch.ones(2), 2 * torch.ones(2))
    whole, held_whole, peak_whole = traced(lambda: enumerate_regions(model, box, n_tasks=32))
    streamed, held_streamed, peak_streamed = traced(lambda: enumerate_regions(model, box, out=tmp_path, n_tasks=32))
    assert isinstance(streamed, RegionShards) and streamed.n_regions == whole.n_regions
    assert not any(isinstance(v, (torch.Tensor, list)) for v in vars(streamed).values() if v is not streamed.box)
    region_bytes = whole.codes.numel() + whole.interior_points.nbytes + whole.radii.nbytes
    assert held_whole > region_bytes and held_streamed < region_bytes / 4  # nothing of the regions is kept
    assert peak_streamed < peak_whole - region_bytes / 2  # the search held one shard at a time, never the whole list
    shards = list(streamed)
    assert len(shards) > 8 and max(s.n_regions for s in shards) < whole.n_regions / 2
    assert sum(s.n_regions for s in shards) == whole.n_regions
    assert code_set(torch.cat([s.codes for s in shards])) == code_set(whole.codes)
    assert code_set(load_regions(tmp_path).codes) == code_set(whole.codes) == code_set(streamed.codes)
    assert streamed.interior_points.shape == whole.interior_points.shape
