"""Did pretraining learn anything? The held-out masked-LM loss beside two count-based baselines.

A pretrained model's held-out loss means little on its own: a BPE model at 6.04 nats per token sounds
trained until one sees that the tokens' unigram distribution alone scores 6.07. So every pretraining run
scores, on ONE fixed masked copy of its held-out windows (same windows, same tokens, same masked positions,
same corrupted inputs), three predictors of each masked token:

- the model (`heldout_loss`);
- `unigram_loss`: the training windows' token frequencies (add-one smoothed), blind to the input;
- `context_model_loss`: a count model that reads what the network reads around the position: the k input
  tokens on each side AND the (possibly [MASK]ed, replaced or kept) token at the position itself, learnt
  from the training windows masked by the same collator. Counts are smoothed by interpolated Witten-Bell
  backoff (Witten and Bell 1991; Chen and Goodman 1998, section 2.4), from radius k down to the centre
  token alone and then to the unigram distribution of masked targets. k is chosen on the training windows
  (a tenth held back from the counts) from `CONTEXT_RADII`, and named in the record.

Because the count model is learnt from masked inputs, it inherits every rule of the masking for free: a
kept token (10% of BERT's masked tokens) is read off the centre, and for overlapping k-mers the spans that
hide a base from the neighbours hide it from the count model too. A network whose held-out loss is not
below `context_model_loss` has learnt no more than counting contexts can: the report calls that *nominal
pretraining*.

Losses are nats per masked token. `bits_per_bp` scales a loss to the input: nats / ln 2 x real tokens per
base pair of the held-out windows (1 for single nucleotides and overlapping k-mers, ~0.2 for BPE).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

CONTEXT_RADII = (0, 1, 2, 3)  # tokens on each side of the masked position
IGNORE = -100  # the label of a position that is not predicted (transformers' convention)


def mask_windows(token_ids: Sequence[Sequence[int]], collator, seed: int, batch_size: int = 256) -> list[tuple]:
    """Mask tokenized windows with `collator` (the run's own masking), drawing from a private generator
    seeded with `seed`, so the global RNG that the Trainer checkpoints is untouched and the masked copy is
    the same on every call. Returns (input_ids, labels) pairs of 1-D int64 arrays, one per window, each cut
    back to its window's own length (padding is never a masked position)."""
    saved = collator.generator
    collator.generator = torch.Generator().manual_seed(seed)
    try:
        out = []
        for start in range(0, len(token_ids), batch_size):
            chunk = [list(ids) for ids in token_ids[start : start + batch_size]]
            batch = collator.torch_call([{"input_ids": ids} for ids in chunk])
            for row, ids in enumerate(chunk):
                n = len(ids)
                out.append((batch["input_ids"][row, :n].numpy().copy(), batch["labels"][row, :n].numpy().copy()))
        return out
    finally:
        collator.generator = saved


def contexts(masked: list[tuple], radius: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """For every masked position: the input tokens from -radius to +radius (`pad` outside the window) as
    rows of an int64 matrix, and the target tokens."""
    rows, targets = [], []
    for inputs, labels in masked:
        where = np.flatnonzero(labels != IGNORE)
        if where.size == 0:
            continue
        padded = np.concatenate([np.full(radius, pad), inputs, np.full(radius, pad)])
        rows.append(np.stack([padded[where + radius + d] for d in range(-radius, radius + 1)], axis=1))
        targets.append(labels[where])
    if not rows:
        return np.zeros((0, 2 * radius + 1), np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows).astype(np.int64), np.concatenate(targets).astype(np.int64)


def _middle(ctx: np.ndarray, radius: int) -> np.ndarray:
    mid = ctx.shape[1] // 2
    return ctx[:, mid - radius : mid + radius + 1]


class ContextCounts:
    """Interpolated Witten-Bell estimates of P(target | the input tokens within radius r of the position):

        P_r(w | c) = (n(c, w) + t(c) P_{r-1}(w | c')) / (n(c) + t(c)),

    n(c, w) the count of target w after context c, n(c) its total, t(c) the number of distinct targets seen
    after c, c' the context cut to radius r - 1; a context never seen keeps P_{r-1}. P_{-1} is the add-one
    unigram distribution of the masked targets. Contexts are compared exactly (rows of token ids, no
    hashing)."""

    def __init__(self, masked: list[tuple], radius: int, vocab_size: int, pad: int):
        self.radius, self.vocab_size, self.pad = radius, vocab_size, pad
        self.ctx, self.targets = contexts(masked, radius, pad)
        counts = np.bincount(self.targets, minlength=vocab_size).astype(float)[:vocab_size]
        self.floor = (counts + 1.0) / (counts.sum() + vocab_size)

    def _level(self, ctx: np.ndarray, targets: np.ndarray, r: int) -> tuple[np.ndarray, ...]:
        """n(c), t(c) and n(c, w) at radius r for each query row."""
        both = np.concatenate([_middle(self.ctx, r), _middle(ctx, r)])
        _, ids = np.unique(both, axis=0, return_inverse=True)
        ids = ids.reshape(-1)
        train_ids, query_ids = ids[: len(self.ctx)], ids[len(self.ctx) :]
        v = self.vocab_size
        total = np.bincount(train_ids, minlength=ids.max(initial=0) + 1).astype(float)
        pairs, pair_n = np.unique(train_ids * v + self.targets, return_counts=True)
        types = np.bincount(pairs // v, minlength=len(total)).astype(float)
        query = query_ids * v + targets
        pos = np.clip(np.searchsorted(pairs, query), 0, max(len(pairs) - 1, 0))
        hit = pairs[pos] == query if len(pairs) else np.zeros(len(query), bool)
        pair = np.where(hit, pair_n[pos] if len(pairs) else 0, 0).astype(float)
        return total[query_ids], types[query_ids], pair

    def target_probability(self, ctx: np.ndarray, targets: np.ndarray, radius: int | None = None) -> np.ndarray:
        """P(target | context) for each query row, from radius `radius` (default: the fitted one) down."""
        radius = self.radius if radius is None else radius
        p = self.floor[targets]
        for r in range(radius + 1):
            total, types, pair = self._level(ctx, targets, r)
            p = np.where(total > 0, (pair + types * p) / np.maximum(total + types, 1.0), p)
        return p


def real_token_array(token_ids: Sequence[Sequence[int]], special_ids: set[int]) -> np.ndarray:
    """All non-special tokens of the windows, as one array."""
    flat = np.concatenate([np.asarray(ids, np.int64) for ids in token_ids]) if len(token_ids) else np.zeros(0, int)
    return flat[~np.isin(flat, list(special_ids))]


def unigram_probability(
    train_ids: Sequence[Sequence[int]], targets: np.ndarray, vocab_size: int, special_ids: set[int]
) -> np.ndarray:
    """P(target) under the training windows' token distribution (real tokens, add-one smoothed over them)."""
    counts = np.bincount(real_token_array(train_ids, special_ids), minlength=vocab_size)[:vocab_size].astype(float)
    real = np.array([i not in special_ids for i in range(vocab_size)], float)
    return ((counts + real) / (counts.sum() + real.sum()))[targets]


def choose_radius(masked_train: list[tuple], vocab_size: int, pad: int, radii=CONTEXT_RADII) -> tuple[int, dict]:
    """k with the lowest loss on the last tenth of the masked training windows, counts from the rest."""
    cut = max(1, len(masked_train) * 9 // 10)
    fit, tune = masked_train[:cut], masked_train[cut:] or masked_train[:1]
    counts = ContextCounts(fit, max(radii), vocab_size, pad)
    ctx, targets = contexts(tune, max(radii), pad)
    losses = {r: float(-np.log(counts.target_probability(ctx, targets, r)).mean()) for r in radii}
    return min(losses, key=lambda r: (losses[r], r)), losses


@torch.no_grad()
def model_loss(model, masked: list[tuple], pad: int, batch_size: int = 32) -> tuple[float, int]:
    """Mean cross-entropy (nats per masked token) of a masked-LM model on the fixed masked windows."""
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    device = next(model.parameters()).device
    try:
        for start in range(0, len(masked), batch_size):
            chunk = masked[start : start + batch_size]
            width = max(len(x) for x, _ in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            labels = torch.full((len(chunk), width), IGNORE, dtype=torch.long)
            for i, (x, y) in enumerate(chunk):
                ids[i, : len(x)], labels[i, : len(y)] = torch.from_numpy(x), torch.from_numpy(y)
            logits = model(input_ids=ids.to(device), attention_mask=(ids != pad).long().to(device)).logits
            picked = labels != IGNORE
            lp = torch.log_softmax(logits.float()[picked.to(device)], dim=-1)
            total += float(-lp.gather(1, labels[picked].to(device)[:, None]).sum())
            n += int(picked.sum())
    finally:
        model.train(was_training)
    return total / max(n, 1), n


def heldout_losses(
    model,
    tokenizer,
    collator,
    train_ids: Sequence[Sequence[int]],
    eval_ids: Sequence[Sequence[int]],
    eval_bp: int,
    seed: int,
) -> dict:
    """The record's `pretraining_eval` entry: held-out loss of the model and of both baselines on one fixed
    masked copy of the held-out windows, the loss gaps, and bits per base pair."""
    pad = tokenizer.pad_token_id
    vocab = len(tokenizer)
    special = set(tokenizer.all_special_ids)
    masked_eval = mask_windows(eval_ids, collator, seed + 1)
    masked_train = mask_windows(train_ids, collator, seed + 2)
    radius, tuning = choose_radius(masked_train, vocab, pad)
    counts = ContextCounts(masked_train, radius, vocab, pad)
    ctx, targets = contexts(masked_eval, radius, pad)
    losses = {
        "heldout_loss": model_loss(model, masked_eval, pad)[0],
        "unigram_loss": float(-np.log(unigram_probability(train_ids, targets, vocab, special)).mean()),
        "context_model_loss": float(-np.log(counts.target_probability(ctx, targets)).mean()),
    }
    tokens_per_bp = len(real_token_array(eval_ids, special)) / max(eval_bp, 1)
    out = dict(losses)
    out.update(
        {
            "masked_tokens": int(len(targets)),
            "windows": len(eval_ids),
            "tokens_per_bp": tokens_per_bp,
            "context_model": {
                "radius": radius,
                "tuning_loss": tuning,
                "smoothing": "interpolated Witten-Bell",
                "reads": "k input tokens each side and the position's own input token",
            },
            "gap_to_unigram": losses["heldout_loss"] - losses["unigram_loss"],
            "gap_to_context_model": losses["heldout_loss"] - losses["context_model_loss"],
            "bits_per_bp": {k: v / math.log(2) * tokens_per_bp for k, v in losses.items()},
            "nominal": bool(losses["heldout_loss"] >= losses["context_model_loss"]),
            "masking_seed": seed + 1,
        }
    )
    return out
