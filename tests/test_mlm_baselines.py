"""The pretraining baselines (training/mlm_baselines.py) against hand computations."""

import math

import numpy as np
import pytest
import torch

from modeling.tokenization import char_tokenizer
from training.collator import DNAMaskingCollator
from training.mlm_baselines import (
    IGNORE,
    ContextCounts,
    choose_radius,
    contexts,
    heldout_losses,
    mask_windows,
    model_loss,
    unigram_probability,
)

PAD = 3


def pairs(rows):
    """(input_ids, labels) pairs from (inputs, labels) lists."""
    return [(np.array(x), np.array(y)) for x, y in rows]


def test_contexts_pad_outside_the_window():
    masked = pairs([([5, 4, 7], [IGNORE, 6, IGNORE]), ([4, 8], [5, IGNORE])])
    ctx, targets = contexts(masked, 1, PAD)
    assert ctx.tolist() == [[5, 4, 7], [PAD, 4, 8]]
    assert targets.tolist() == [6, 5]


def test_witten_bell_by_hand():
    # radius 0: the context is the position's own input token. Training: after [MASK] (4) the targets
    # were 5, 5, 6; after the kept token 7 the target was 7.
    train = pairs([([4, 4, 4, 7], [5, 5, 6, 7])])
    counts = ContextCounts(train, 0, vocab_size=10, pad=PAD)
    floor = {w: (c + 1) / (4 + 10) for w, c in {5: 2, 6: 1, 7: 1, 8: 0}.items()}
    ctx = np.array([[4], [4], [7], [9]])
    targets = np.array([5, 8, 7, 6])
    got = counts.target_probability(ctx, targets)
    # context 4: n = 3, t = 2 -> (n(c,w) + 2 * floor) / 5
    assert got[0] == pytest.approx((2 + 2 * floor[5]) / 5)
    assert got[1] == pytest.approx((0 + 2 * floor[8]) / 5)
    # context 7: n = 1, t = 1
    assert got[2] == pytest.approx((1 + 1 * floor[7]) / 2)
    # an unseen context keeps the floor
    assert got[3] == pytest.approx(floor[6])


def test_witten_bell_backs_off_through_radii():
    # radius 1 context (5, 4, 6) seen once with target 7; the radius-0 context (4) seen twice (targets 7, 8)
    train = pairs([([5, 4, 6], [IGNORE, 7, IGNORE]), ([9, 4, 9], [IGNORE, 8, IGNORE])])
    counts = ContextCounts(train, 1, vocab_size=10, pad=PAD)
    floor7 = (1 + 1) / (2 + 10)
    p0 = (1 + 2 * floor7) / (2 + 2)
    p1 = (1 + 1 * p0) / (1 + 1)
    got = counts.target_probability(np.array([[5, 4, 6]]), np.array([7]))
    assert got[0] == pytest.approx(p1)
    # radius 0 only: stops at p0
    assert counts.target_probability(np.array([[5, 4, 6]]), np.array([7]), radius=0)[0] == pytest.approx(p0)


def test_unigram_by_hand():
    special = {0, 1, 2, 3, 4}
    train = [[1, 5, 5, 6, 2, 3], [1, 7, 2]]
    # real tokens 5 (x2), 6, 7; add-one over the 5 real ids 5..9: (c + 1) / (4 + 5)
    got = unigram_probability(train, np.array([5, 6, 9]), vocab_size=10, special_ids=special)
    assert got.tolist() == pytest.approx([3 / 9, 2 / 9, 1 / 9])


def test_model_loss_of_a_uniform_model_is_log_vocab():
    class Uniform(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, attention_mask=None):
            return type("Out", (), {"logits": torch.zeros(*input_ids.shape, 10) + self.w})()

    masked = pairs([([4, 5, 6], [7, IGNORE, 8]), ([4], [9])])
    loss, n = model_loss(Uniform(), masked, PAD)
    assert n == 3
    assert loss == pytest.approx(math.log(10))


def test_masking_is_fixed_and_leaves_the_global_rng_alone():
    tok = char_tokenizer()
    coll = DNAMaskingCollator(tok)
    ids = [tok("ACGTACGTTTGACCA" * 4)["input_ids"] for _ in range(5)]
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a = mask_windows(ids, coll, seed=3)
    after = torch.rand(1)
    b = mask_windows(ids, coll, seed=3)
    assert before == after
    assert all((x1 == x2).all() and (y1 == y2).all() for (x1, y1), (x2, y2) in zip(a, b, strict=True))
    assert all(len(x) == len(i) for (x, _), i in zip(a, ids, strict=True))
    assert sum(int((y != IGNORE).sum()) for _, y in a) > 0


def test_context_model_learns_a_periodic_sequence_and_unigram_does_not():
    # In ACGT repeated, a masked base is fixed by its neighbours: radius >= 1 predicts it almost surely,
    # the unigram distribution gives ln 4. A model that knows nothing (uniform over 10 ids) sits at ln 10.
    tok = char_tokenizer()
    coll = DNAMaskingCollator(tok)
    train = [tok("ACGT" * 32)["input_ids"] for _ in range(200)]
    evals = [tok("ACGT" * 32)["input_ids"] for _ in range(20)]
    radius, tuning = choose_radius(mask_windows(train, coll, seed=1), len(tok), tok.pad_token_id)
    assert radius >= 1 and tuning[radius] < 0.1 < tuning[0]

    class Uniform(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, attention_mask=None):
            return type("Out", (), {"logits": torch.zeros(*input_ids.shape, len(tok)) + self.w})()

    out = heldout_losses(Uniform(), tok, coll, train, evals, eval_bp=128 * 20, seed=0)
    assert out["unigram_loss"] == pytest.approx(math.log(4), abs=0.01)
    assert out["context_model_loss"] < 0.1
    assert out["heldout_loss"] == pytest.approx(math.log(len(tok)))
    assert out["nominal"] is True
    assert out["tokens_per_bp"] == pytest.approx(1.0)
    assert out["bits_per_bp"]["unigram_loss"] == pytest.approx(out["unigram_loss"] / math.log(2))
