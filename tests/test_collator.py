"""The masked-LM collator: whole-span masking of overlapping k-mers (DNABERT), BERT's rates, and every other
tokenizer family masked exactly as before."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling.tokenization import char_tokenizer, kmer_tokenizer, load_bpe
from training.collator import DNAMaskingCollator, center_probability, masked_runs, span_offsets, spans_from_centers

SHARED = Path(os.environ.get("DNALM_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def _seqs(n, length, seed=0):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)]


def _batch(collator, tok, seqs, seed):
    torch.manual_seed(seed)
    enc = [tok(s) for s in seqs]
    return collator([{"input_ids": e["input_ids"]} for e in enc])


def _old_mask(collator, inputs, special_tokens_mask=None):
    """The collator's per-token masking before span masking existed (commit e830f6b), verbatim in effect: the
    reference the unchanged families must reproduce bit for bit."""
    labels = inputs.clone()
    if special_tokens_mask is None:
        special_tokens_mask = torch.tensor(
            [collator.tokenizer.get_special_tokens_mask(r, already_has_special_tokens=True) for r in labels.tolist()],
            dtype=torch.bool,
        )
    special_tokens_mask = special_tokens_mask.bool() | (inputs == collator.tokenizer.pad_token_id)
    prob = torch.full(labels.shape, collator.mlm_probability).masked_fill_(special_tokens_mask, 0.0)
    masked = torch.bernoulli(prob, generator=collator.generator).bool()
    labels[~masked] = -100
    to_mask = (
        torch.bernoulli(torch.full(labels.shape, collator.mask_replace_prob), generator=collator.generator).bool()
        & masked
    )
    inputs[to_mask] = collator.tokenizer.mask_token_id
    rest = 1.0 - collator.mask_replace_prob
    if rest > 0 and collator.random_replace_prob > 0:
        to_random = (
            torch.bernoulli(
                torch.full(labels.shape, collator.random_replace_prob / rest), generator=collator.generator
            ).bool()
            & masked
            & ~to_mask
        )
        picks = torch.randint(len(collator.regular_ids), labels.shape, generator=collator.generator)
        inputs[to_random] = collator.regular_ids[picks][to_random]
    return inputs, labels


# ------------------------------------------------------------------------------------ the span rule by hand


def test_span_shape_is_dnabert_mask_list():
    # DNABERT's MASK_LIST (examples/run_pretrain.py): 3: [-1, 1]; 4: [-1, 1, 2]; 5: [-2, -1, 1, 2]; 6: [-2, -1, 1, 2, 3]
    dnabert = {3: [-1, 1], 4: [-1, 1, 2], 5: [-2, -1, 1, 2], 6: [-2, -1, 1, 2, 3]}
    for k, offsets in dnabert.items():
        left, right = span_offsets(k)
        assert sorted(offsets + [0]) == list(range(-left, right + 1)) and left + right + 1 == k


def test_center_probability_gives_p_per_token():
    q = center_probability(0.15, 6)
    assert (1 - q) ** 6 == pytest.approx(0.85)  # a token is masked unless none of its 6 centres is drawn
    assert q == pytest.approx(0.026723, abs=1e-6)  # vs DNABERT's 0.025, which masks 1 - 0.975^6 = 14.1%
    assert center_probability(0.15, 1) == pytest.approx(0.15)


def test_spans_from_hand_placed_centres():
    k, length = 6, 12
    left, right = span_offsets(k)
    centers = torch.zeros(1, length + k - 1, dtype=torch.bool)
    centers[0, 5 + right] = True  # a centre at token 5 masks tokens 3 .. 8
    assert torch.nonzero(spans_from_centers(centers, k)[0]).flatten().tolist() == [3, 4, 5, 6, 7, 8]
    centers[:] = False
    centers[0, 0] = True  # the leftmost centre (token -right = -3) masks tokens -5 .. 0: token 0 only
    assert torch.nonzero(spans_from_centers(centers, k)[0]).flatten().tolist() == [0]
    centers[:] = False
    centers[0, 2] = True  # token -1 masks tokens -3 .. 2
    assert torch.nonzero(spans_from_centers(centers, k)[0]).flatten().tolist() == [0, 1, 2]
    centers[:] = False
    centers[0, length + k - 2] = True  # the rightmost centre (token length - 1 + left = 13) masks 11 .. 16: token 11
    assert torch.nonzero(spans_from_centers(centers, k)[0]).flatten().tolist() == [11]
    # every token has exactly k centres that cover it
    cover = torch.zeros(length, dtype=torch.long)
    for j in range(length + k - 1):
        c = torch.zeros(1, length + k - 1, dtype=torch.bool)
        c[0, j] = True
        cover += spans_from_centers(c, k)[0].long()
    assert cover.tolist() == [k] * length


def test_spans_clip_to_real_tokens_and_runs_merge():
    tok = kmer_tokenizer(6, overlapping=True)
    col = DNAMaskingCollator(tok)
    ids = torch.tensor([tok("ACGTACGTACGTAC")["input_ids"] + [tok.pad_token_id] * 3])  # [CLS] 9 k-mers [SEP] 3 x [PAD]
    special = col._real_tokens(ids, None)
    assert special[0].tolist() == [True] + [False] * 9 + [True] * 4
    length, k = ids.shape[1], 6
    centers = torch.zeros(1, length + k - 1, dtype=torch.bool)
    centers[0, 1 + 3] = True  # centre at the first k-mer (position 1): tokens -1 .. 4 -> 1 .. 4 ([CLS] never)
    centers[0, 8 + 3] = True  # centre at position 8: tokens 6 .. 11 -> 6 .. 9 ([SEP], [PAD] never)
    masked = spans_from_centers(centers, k) & ~special
    assert torch.nonzero(masked[0]).flatten().tolist() == [1, 2, 3, 4, 6, 7, 8, 9]
    run_id, n = masked_runs(masked)
    assert n == 2 and run_id[0].tolist() == [-1, 0, 0, 0, 0, -1, 1, 1, 1, 1, -1, -1, -1, -1]
    centers[0, 5 + 3] = True  # a third centre bridges the gap: one run 1 .. 9
    run_id, n = masked_runs(spans_from_centers(centers, k) & ~special)
    assert n == 1 and run_id[0, 1:10].tolist() == [0] * 9
    # runs never continue across rows
    two = torch.tensor([[False, True, True], [True, True, False]])
    assert masked_runs(two)[1] == 2


# ------------------------------------------------------------------------------------ statistics, many batches


@pytest.mark.slow
def test_kmer_spans_hide_a_base_and_keep_bert_rates():
    tok = kmer_tokenizer(6, overlapping=True)
    col = DNAMaskingCollator(tok)
    assert col.span_k == 6
    lengths = [200] * 48 + [150] * 16  # some rows padded
    seqs = [s for i, n in enumerate(lengths) for s in _seqs(1, n, seed=i)]
    n_real = n_masked = n_mask_tok = n_random_tok = n_keep_tok = 0
    first = last = n_rows = 0
    for b in range(40):
        rng = np.random.default_rng(b)
        batch_seqs = [seqs[i] for i in rng.permutation(len(seqs))]
        enc = [tok(s)["input_ids"] for s in batch_seqs]
        torch.manual_seed(b)
        out = col([{"input_ids": e} for e in enc])
        ids, labels = out["input_ids"], out["labels"]
        orig = torch.full_like(ids, tok.pad_token_id)
        for i, e in enumerate(enc):
            orig[i, : len(e)] = torch.tensor(e)
        special = col._real_tokens(orig, None)
        masked = labels != -100
        # special tokens and padding: never masked, never changed
        assert not masked[special].any() and torch.equal(ids[special], orig[special])
        assert torch.equal(labels[masked], orig[masked]) and torch.equal(ids[~masked], orig[~masked])
        run_id, n_runs = masked_runs(masked)
        for r in range(n_runs):
            row, cols = torch.nonzero(run_id == r, as_tuple=True)
            i, a, z = int(row[0]), int(cols.min()), int(cols.max())
            real = torch.nonzero(~special[i]).flatten()
            # a run is k tokens or more unless it is clipped at the first or last real token
            assert z - a + 1 >= 6 or a == int(real[0]) or z == int(real[-1])
            # 80/10/10 per run: all [MASK], or no [MASK] at all (random or kept)
            got = ids[i, a : z + 1]
            is_mask = got == tok.mask_token_id
            assert bool(is_mask.all()) or not bool(is_mask.any())
            # the hidden base: some base of the run's k-mers lies in no token left readable (outside the
            # run, or a kept run's own tokens). Token at position p covers bases p-1 .. p-1+5.
            if is_mask.all():
                run_bases = set(range(a - 1, z - 1 + 6))
                readable = [p for p in real.tolist() if ids[i, p] == orig[i, p]]  # unmasked or kept
                visible = {b for p in readable for b in range(p - 1, p - 1 + 6)}
                assert run_bases - visible, (i, a, z)
                n_mask_tok += z - a + 1
            elif torch.equal(got, orig[i, a : z + 1]):
                n_keep_tok += z - a + 1
            else:
                n_random_tok += z - a + 1
        n_real += int((~special).sum())
        n_masked += int(masked.sum())
        for i in range(ids.shape[0]):
            real = torch.nonzero(~special[i]).flatten()
            first += int(masked[i, real[0]])
            last += int(masked[i, real[-1]])
            n_rows += 1
    assert n_masked / n_real == pytest.approx(0.15, abs=0.005)
    # edges are masked at the same rate as the middle (centres beyond the edges are drawn too)
    assert first / n_rows == pytest.approx(0.15, abs=0.03) and last / n_rows == pytest.approx(0.15, abs=0.03)
    assert n_mask_tok / n_masked == pytest.approx(0.8, abs=0.03)
    assert n_random_tok / n_masked == pytest.approx(0.1, abs=0.03)
    assert n_keep_tok / n_masked == pytest.approx(0.1, abs=0.03)


# ------------------------------------------------------------------------------------ other families: unchanged


def _families():
    fams = {"char": char_tokenizer(), "kmer6 non-overlapping": kmer_tokenizer(6, overlapping=False)}
    if (SHARED / "dnabert2" / "tokenizer.json").is_file():
        fams["bpe (published)"] = load_bpe(SHARED / "dnabert2")
    return fams


@pytest.mark.parametrize("name", list(_families()))
def test_other_families_mask_bitwise_as_before(name):
    tok = _families()[name]
    col = DNAMaskingCollator(tok)
    assert col.span_k is None
    seqs = _seqs(24, 120, seed=1) + _seqs(8, 60, seed=2)
    enc = [{"input_ids": tok(s)["input_ids"]} for s in seqs]
    for seed in range(3):
        torch.manual_seed(seed)
        new = col(enc)
        torch.manual_seed(seed)
        padded = col.tokenizer.pad(enc, return_tensors="pt")["input_ids"]
        ref_inputs, ref_labels = _old_mask(col, padded.clone())
        assert torch.equal(new["input_ids"], ref_inputs) and torch.equal(new["labels"], ref_labels)
    # a seeded collator (its own generator) too
    a, b = DNAMaskingCollator(tok, seed=7), DNAMaskingCollator(tok, seed=7)
    out = a(enc)
    b.create_rng("pt")
    padded = b.tokenizer.pad(enc, return_tensors="pt")["input_ids"]
    ref_inputs, ref_labels = _old_mask(b, padded.clone())
    assert torch.equal(out["input_ids"], ref_inputs) and torch.equal(out["labels"], ref_labels)


def test_kmer_masks_are_reproducible_for_a_seed():
    tok = kmer_tokenizer(6, overlapping=True)
    enc = [{"input_ids": tok(s)["input_ids"]} for s in _seqs(8, 100)]
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        outs.append(DNAMaskingCollator(tok)(enc))
    assert torch.equal(outs[0]["input_ids"], outs[1]["input_ids"]) and torch.equal(outs[0]["labels"], outs[1]["labels"])
    # k-mers shorter than the span rule needs (k = 1 is a character) fall back to per-token masking
    assert DNAMaskingCollator(kmer_tokenizer(1, overlapping=True)).span_k is None
