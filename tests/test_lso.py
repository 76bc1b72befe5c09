"ScaLES against its definition evaluated term by term, on decoders of several shapes; the molecule loaders on files in the exact formats."
import math

import numpy as np
import pytest
import torch
from torch import nn

from repl_nb.lso import (LatentError, MoleculeFileError, build_vocab, encode_texts, decode_tokens, load_molecules,
                         scales_score, tokenize_smiles)
from repl_nb.splines.affine import NotPiecewiseAffineError


def scales_by_definition(decoder, z1):
    "log N(z) (no constant) + sum_i log sigma_i(pinv(A) T), A the exact Jacobian, T filled entry by entry."
    out = decoder(z1[None])
    h = out.reshape(out.shape[-2] if out.ndim == 3 else 1, out.shape[-1])
    L, V = h.shape
    A = torch.autograd.functional.jacobian(lambda x: decoder(x[None]).reshape(-1), z1)
    p, C = torch.softmax(h, -1), torch.exp(h).sum(-1)
    T = torch.zeros(L * V, L * (V + 1), dtype=z1.dtype)
    for t in range(L):
        for v in range(V):
            T[t * V + v, t * (V + 1) + v] = 1 / p[t, v]
            T[t * V + v, t * (V + 1) + V] = 1 / C[t]
    return -0.5 * z1 @ z1 + torch.log(torch.linalg.svdvals(torch.linalg.pinv(A) @ T)).sum()


@pytest.mark.parametrize("d,L,V,widths,act", [(2, 1, 2, [8], nn.ReLU), (5, 7, 4, [32, 32], nn.ReLU),
                                              (3, 3, 9, [16], lambda: nn.LeakyReLU(0.2)), (6, 2, 3, [], None)])
def test_scales_equals_the_definition(one_torch_thread, d, L, V, widths, act):
    torch.manual_seed(d * 100 + L)
    layers, last = [], d
    for w in widths:
        layers += [nn.Linear(last, w), act()]
        last = w
    decoder = nn.Sequential(*layers, nn.Linear(last, L * V), nn.Unflatten(1, (L, V))).double()
    z = 1.5 * torch.randn(8, d, dtype=torch.float64, requires_grad=True)
    ours = scales_score(decoder, z)
    ref = torch.stack([scales_by_definition(decoder, zi) for zi in z])
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-9)
    # gradients too: autograd through our batched score vs through the definition
    g_ours = torch.autograd.grad(ours.sum(), z)[0]
    g_ref = torch.autograd.grad(ref.sum(), z)[0]
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-7, atol=1e-7)


def test_chunks_and_prior_flag_are_consistent(one_torch_thread):
    torch.manual_seed(0)
    decoder = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 20), nn.Unflatten(1, (4, 5))).double()
    z = torch.randn(50, 3, dtype=torch.float64)
    full = scales_score(decoder, z)
    torch.testing.assert_close(scales_score(decoder, z, chunk_size=7), full)
    torch.testing.assert_close(scales_score(decoder, z, prior=False) - 0.5 * z.pow(2).sum(1), full)


def test_bad_input_names_argument_value_and_fix():
    decoder = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 4))
    with pytest.raises(LatentError, match=r"z must have shape \(N, 3\).*got \(2, 4\)"):
        scales_score(decoder, torch.zeros(2, 4))
    with pytest.raises(LatentError, match=r"1 of 2 rows \(row 1: \[0, nan, 0\]\).*torch.isfinite"):
        scales_score(decoder, torch.tensor([[0.0, 0, 0], [0, float("nan"), 0]]))
    smooth = nn.Sequential(nn.Linear(3, 8), nn.GELU(), nn.Linear(8, 4))
    with pytest.raises(NotPiecewiseAffineError, match=r"layer '1' \(GELU\).*piecewise_affine=False"):
        scales_score(smooth, torch.zeros(2, 3))


def test_zinc_smiles_file_in_the_exact_format(tmp_path):
    # the first lines of 250k_rndm_zinc_drugs_clean.smi: one SMILES a line, no header
    path = tmp_path / "250k_rndm_zinc_drugs_clean.smi"
    path.write_text("CC(C)(C)c1ccc2occ(CC(=O)Nc3ccccc3F)c2c1\n"
                    "C[C@@H]1CC(Nc2cncc(-c3nncn3C)c2)C[C@@H](C)C1\n"
                    "N#Cc1ccc(-c2ccc(O[C@@H](C(=O)N3CCCC3)c3ccccc3)cc2)cc1\n"
                    "CCOC(=O)[C@@H]1CCCN(C(=O)c2nc(-c3ccc(C)cc3)n3c2CCCCC3)C1\n"
                    "\n")
    texts, tokens = load_molecules(path)
    assert len(texts) == 4 and texts[0].startswith("CC(C)(C)c1")
    assert "[C@@H]" in tokens[1] and "".join(tokens[2]) == texts[2]
    vocab = build_vocab(tokens)
    assert vocab[-1] == " "
    encoded = encode_texts(texts, vocab, length=60, tokenize=tokenize_smiles)
    assert decode_tokens(encoded, vocab) == texts
    assert load_molecules(path, limit=2)[0] == texts[:2]


def test_selfies_file_and_bad_lines(tmp_path):
    path = tmp_path / "zinc.self"
    path.write_text("[C][C][Branch1][C][C][Branch1][C][C][C]\n[N][#C][C][=C][C][=C][Ring1][=Branch1]\n")
    texts, tokens = load_molecules(path)
    assert tokens[0][:3] == ["[C]", "[C]", "[Branch1]"] and len(texts) == 2
    bad = tmp_path / "bad.smi"
    bad.write_text("CCO\nCC^O\n")
    with pytest.raises(MoleculeFileError, match=r"bad.smi, line 2: 'CC\^O' is not a SMILES"):
        load_molecules(bad)
    with pytest.raises(MoleculeFileError, match="250k_rndm_zinc_drugs_clean.smi"):
        load_molecules(tmp_path / "missing.smi")


def test_rdkit_objectives_when_installed():
    pytest.importorskip("rdkit")
    from repl_nb.lso import molecule_objective
    values, valid = molecule_objective(["CCO", "c1ccccc1", "C1CC", ""], "logp")
    assert valid.tolist() == [True, True, False, False]
    assert np.isnan(values[2]) and values[1] > values[0]


def test_confident_decoder_against_high_precision_arithmetic(one_torch_thread):
    "Tiny probabilities make K graded (condition number ~1e15): ours must still match the definition in 60-digit arithmetic."
    mpmath = pytest.importorskip("mpmath")
    torch.manual_seed(3)
    d, L, V = 3, 4, 6
    decoder = nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Linear(16, L * V), nn.Unflatten(1, (L, V))).double()
    with torch.no_grad():
        decoder[2].weight.mul_(25.0)  # logit gaps of tens: p down to 1e-20
    z = torch.randn(3, d, dtype=torch.float64)
    ours = scales_score(decoder, z)
    mpmath.mp.dps = 60
    for zi, si in zip(z, ours):
        h = decoder(zi[None])[0]
        A = torch.autograd.functional.jacobian(lambda x: decoder(x[None]).reshape(-1), zi)
        Am = mpmath.matrix(A.tolist())
        pinv = (Am.T * Am) ** -1 * Am.T
        T = mpmath.matrix(L * V, L * (V + 1))
        for t in range(L):
            exps = [mpmath.e ** mpmath.mpf(x) for x in h[t].tolist()]
            C = sum(exps)
            for v in range(V):
                T[t * V + v, t * (V + 1) + v] = C / exps[v]
                T[t * V + v, t * (V + 1) + V] = 1 / C
        G = pinv * T
        exact = -0.5 * float(zi @ zi) + float(mpmath.log(mpmath.det(G * G.T)) / 2)
        assert abs(si.item() - exact) < 1e-8 * max(1.0, abs(exact)), (si.item(), exact)
