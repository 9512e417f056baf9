"""Sequence and per-nucleotide embeddings from any of the project's models.

    >>> from modeling.embeddings import embed
    >>> vectors = embed(model, tokenizer, ["ACGTAGCATCGG", "TTGACA"], pooling="mean")   # [2, hidden]
    >>> per_base = embed(model, tokenizer, ["ACGTAGCATCGG"], pooling="nucleotide")     # [[12, hidden]]

`model` is a backbone (`AutoModel`) or a task model (its `base_model` is used, so a fine-tuned classifier
gives the embeddings of its fine-tuned encoder). It must return the per-token `last_hidden_state`
(`[batch, tokens, hidden]`, one vector per input token). `tokenizer` is the model's tokenizer; it must be
a fast tokenizer when per-nucleotide embeddings are asked for (they use its offsets).

Poolings:
- "mean": the average of the token vectors over the real (non-padding) tokens. With the default
  `exclude_special_tokens=False` this includes [CLS] and [SEP], which is what DNABERT-2's README does
  (`torch.mean(hidden_states[0], dim=0)` on an unpadded sequence, MAGICS-LAB/DNABERT_2 README) and
  what its authors recommend over [CLS] (MAGICS-LAB/DNABERT_2#115); `exclude_special_tokens=True`
  averages the sequence's own tokens only.
- "cls": the vector of the first token, which must be the tokenizer's [CLS].
- "nucleotide": for each base of the (normalised) sequence, the vector of the token whose character span
  covers it (from `return_offsets_mapping`), so a sequence of L bases gives an [L, hidden] array whatever
  the tokenizer. With overlapping k-mers several tokens cover a base; it gets their mean.

Sequences pass through the project's input policy first (`modeling.tokenization.normalize_sequence`:
upper case, IUPAC codes to N, surrounding whitespace stripped), so per-nucleotide arrays have one row per
base of the stripped sequence. Padding never changes a sequence's embedding: the model gets the attention
mask, and models whose forward takes no attention mask are only ever given batches of equal token length.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np
import torch

from dnalm_core.policy import normalize_sequence

__all__ = ["POOLINGS", "embed", "spread_to_nucleotides"]

POOLINGS = ("mean", "cls", "nucleotide")


def spread_to_nucleotides(token_vectors: torch.Tensor, offsets: torch.Tensor, length: int) -> torch.Tensor:
    """Give every base the mean vector of the tokens whose [start, end) span covers it.

    token_vectors: [tokens, hidden]; offsets: [tokens, 2] character spans (special and padding tokens
    have empty spans and are skipped); length: number of bases. Returns [length, hidden]. Raises if a
    base is covered by no token (e.g. the tokens were truncated).
    """
    offsets = offsets.to(device=token_vectors.device, dtype=torch.long)
    starts, ends = offsets[:, 0], offsets[:, 1]
    spans = (ends - starts).clamp(min=0)
    used = spans > 0
    vectors, starts, spans = token_vectors[used], starts[used], spans[used]
    # One (base, token) pair per covered base of each token, built without a Python loop over tokens.
    token_of_pair = torch.repeat_interleave(torch.arange(len(spans), device=spans.device), spans)
    first_pair = torch.cumsum(spans, 0) - spans
    base_of_pair = (
        starts[token_of_pair] + torch.arange(len(token_of_pair), device=spans.device) - first_pair[token_of_pair]
    )
    if len(base_of_pair) and int(base_of_pair.max()) >= length:
        raise ValueError(f"a token span ends at {int(base_of_pair.max()) + 1}, beyond the sequence's {length} bases")
    total = torch.zeros(length, token_vectors.shape[1], dtype=token_vectors.dtype, device=token_vectors.device)
    total.index_add_(0, base_of_pair, vectors[token_of_pair])
    count = torch.bincount(base_of_pair, minlength=length)
    if bool((count == 0).any()):
        missing = int(torch.nonzero(count == 0)[0])
        raise ValueError(
            f"base {missing} of a {length}-base sequence is covered by no token (was the sequence truncated "
            "by max_length?); per-nucleotide embeddings need every base tokenized"
        )
    return total / count.unsqueeze(1).to(total.dtype)


def _backbone(model):
    # `base_model` is the encoder of a task model and the model itself for a backbone.
    return getattr(model, "base_model", model)


def _accepts(module, name: str) -> bool:
    params = inspect.signature(module.forward).parameters
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _batches(order: list[int], lengths: list[int], batch_size: int, equal_lengths: bool):
    """Consecutive groups of `order` (sorted by length), at most batch_size, of one length if asked."""
    batch: list[int] = []
    for i in order:
        if batch and (len(batch) == batch_size or (equal_lengths and lengths[i] != lengths[batch[0]])):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def embed(
    model,
    tokenizer,
    sequences: Sequence[str],
    pooling: str = "mean",
    *,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    max_length: int | None = None,
    exclude_special_tokens: bool = False,
) -> np.ndarray | list[np.ndarray]:
    """Embed DNA sequences with `model`; see the module docstring for the poolings.

    Args:
        model: a backbone or task model returning `last_hidden_state` per token.
        tokenizer: its tokenizer (a fast tokenizer for pooling="nucleotide").
        sequences: DNA strings (a list; a single string is refused to avoid embedding its characters).
        pooling: "mean", "cls" or "nucleotide".
        batch_size: sequences per forward pass (sequences are sorted by length to limit padding).
        device: where to run; the model is moved there. Default: the model's device.
        max_length: truncate token sequences to this length (default: no truncation).
        exclude_special_tokens: for "mean", average only the sequence's own tokens (not [CLS]/[SEP]).

    Returns:
        "mean" / "cls": float32 array [len(sequences), hidden]; "nucleotide": a list with one float32
        array [bases, hidden] per sequence. Order follows `sequences`.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
    if isinstance(sequences, str):
        raise TypeError("sequences must be a list of DNA strings; for one sequence pass [sequence]")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if tokenizer.pad_token_id is None:
        raise ValueError("the tokenizer has no pad token; embed() pads batches with it")
    nucleotide = pooling == "nucleotide"
    if nucleotide and not getattr(tokenizer, "is_fast", False):
        raise ValueError("per-nucleotide embeddings need a fast tokenizer (they use return_offsets_mapping)")

    seqs = [normalize_sequence(s) for s in sequences]
    if not seqs:
        return [] if nucleotide else np.zeros((0, _hidden_size(model)), dtype=np.float32)
    encoded = tokenizer(
        seqs,
        truncation=max_length is not None,
        max_length=max_length,
        return_special_tokens_mask=True,
        return_offsets_mapping=nucleotide,
        return_attention_mask=False,
    )
    ids = encoded["input_ids"]
    lengths = [len(x) for x in ids]
    if pooling == "cls":
        cls_id = tokenizer.cls_token_id
        if cls_id is None or any(x[0] != cls_id for x in ids):
            raise ValueError("pooling='cls' needs a tokenizer that puts [CLS] first; use pooling='mean' instead")

    backbone = _backbone(model)
    if device is not None:
        backbone.to(device)
    device = next(backbone.parameters()).device
    takes_mask = _accepts(backbone, "attention_mask")
    order = sorted(range(len(seqs)), key=lambda i: lengths[i])
    results: list = [None] * len(seqs)

    was_training = backbone.training
    backbone.eval()  # dropout off: an embedding must not be random
    try:
        with torch.inference_mode():
            for batch in _batches(order, lengths, batch_size, equal_lengths=not takes_mask):
                width = max(lengths[i] for i in batch)
                input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
                real = torch.zeros((len(batch), width), dtype=torch.bool)
                for row, i in enumerate(batch):
                    input_ids[row, : lengths[i]] = torch.tensor(ids[i])
                    real[row, : lengths[i]] = True
                inputs = {"input_ids": input_ids.to(device)}
                if takes_mask:
                    inputs["attention_mask"] = real.long().to(device)
                output = backbone(**inputs)
                hidden = output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]
                if hidden.dim() != 3 or tuple(hidden.shape[:2]) != tuple(input_ids.shape):
                    raise ValueError(
                        f"the model returned hidden states of shape {tuple(hidden.shape)} "
                        f"for input {tuple(input_ids.shape)}; "
                        "embed() needs one vector per input token"
                    )
                hidden = hidden.float().cpu()
                for row, i in enumerate(batch):
                    vectors = hidden[row, : lengths[i]]
                    if pooling == "cls":
                        results[i] = vectors[0].numpy()
                    elif pooling == "mean":
                        keep = torch.ones(lengths[i], dtype=torch.bool)
                        if exclude_special_tokens:
                            keep &= ~torch.tensor(encoded["special_tokens_mask"][i], dtype=torch.bool)
                        if not bool(keep.any()):
                            raise ValueError(f"sequence {i} has no non-special token left (max_length={max_length})")
                        results[i] = vectors[keep].mean(0).numpy()
                    else:
                        offsets = torch.tensor(encoded["offset_mapping"][i], dtype=torch.long)
                        special = torch.tensor(encoded["special_tokens_mask"][i], dtype=torch.bool)
                        offsets[special] = 0  # some tokenizers give specials a non-empty span; never a base
                        results[i] = spread_to_nucleotides(vectors, offsets, len(seqs[i])).numpy()
    finally:
        backbone.train(was_training)
    return results if nucleotide else np.stack(results)


def _hidden_size(model) -> int:
    config = getattr(model, "config", None)
    return int(getattr(config, "hidden_size", 0) or 0)
