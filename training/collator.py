"""The masked-LM collator of `train.py --stage pretrain`.

The masking follows BERT (Devlin et al. 2019): 15% of the real tokens are selected; of those 80% become
[MASK], 10% a random token, 10% stay. Two DNA-specific choices: the random replacement draws only real
(non-special) tokens, since a random [CLS] or [PAD] in the middle of DNA teaches nothing, and masking is
applied exactly once per batch (the official ConvNova code masks twice by mistake).

Overlapping k-mers (stride 1, DNABERT-1) are masked as whole spans. Token i covers bases i .. i+k-1, so a
single masked token is read off its neighbours: token i-1 holds bases i-1 .. i+k-2 and token i+1 holds
i+1 .. i+k, which together spell every base of token i. DNABERT (Ji et al. 2021, Bioinformatics 37:2112,
"we masked contiguous k-length spans of certain k-mers") therefore masks, around each selected centre c,
the k consecutive tokens c - (k-1)//2 .. c + k//2 (its code: `MASK_LIST` and `mask_tokens` in
jerryji1993/DNABERT examples/run_pretrain.py, offsets {-2,-1,+1,+2,+3} for k = 6, spans clipped to the
real tokens). Of a span of k tokens s .. s+k-1, base s+k-1 lies in exactly those k tokens, so no unmasked
token shows it. The rule here (`KMER_SPAN_RULE`):
- the span shape is DNABERT's: centre c masks tokens c - (k-1)//2 .. c + k//2, clipped to the real tokens
  (never [CLS], [SEP] or padding); spans that touch or overlap merge into one masked run;
- centres are drawn independently with probability q = 1 - (1 - p)^(1/k) at every position from which a
  span can reach a real token, so each real token is masked with probability exactly p (mlm_probability,
  15%), at the edges of a sequence too (DNABERT draws centres at 0.025 for 6-mers: 1 - 0.975^6 = 14.1%);
- BERT's 80/10/10 is drawn per masked run, not per token (as SpanBERT, Joshi et al. 2020, does per span):
  a run is all [MASK] (80%), all random real tokens (10%) or all kept (10%). Per token, as DNABERT's code
  does it, a kept token inside a span would show the span's hidden base again. The expected shares of the
  masked tokens stay 80/10/10 (a run's choice does not depend on its length).
Every other family (single nucleotide, non-overlapping k-mers, BPE) keeps BERT's per-token masking,
drawing exactly the same random numbers as before, so its masks are bitwise unchanged for a given seed.
"""

from __future__ import annotations

import torch
from transformers import DataCollatorForLanguageModeling

KMER_SPAN_RULE = (
    "overlapping k-mers: centres drawn with q = 1 - (1 - p)^(1/k) at every position whose span can "
    "reach a real token; centre c masks tokens c-(k-1)//2 .. c+k//2 (DNABERT's span, Ji et al. 2021), "
    "clipped to real tokens, so each real token is masked with probability p; 80/10/10 per masked run"
)


def span_offsets(k: int) -> tuple[int, int]:
    """(left, right): centre c masks tokens c - left .. c + right, k tokens in all (DNABERT's MASK_LIST)."""
    return (k - 1) // 2, k // 2


def center_probability(p: float, k: int) -> float:
    """The centre probability that masks each token with probability p: 1 - (1 - q)^k = p."""
    return 1.0 - (1.0 - p) ** (1.0 / k)


def spans_from_centers(centers: torch.Tensor, k: int) -> torch.Tensor:
    """Tokens covered by a span, from a [B, L + k - 1] boolean tensor of centres.

    Column j of `centers` is the centre at token position j - right (right = k//2), so the centres before the
    first and after the last column of the tokens are included: token t is covered by the centres at columns
    t .. t + k - 1, exactly k of them, wherever t lies. Returns [B, L] booleans (clip to real tokens afterwards).
    """
    return centers.unfold(1, k, 1).any(-1)


def masked_runs(masked: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Label the maximal runs of consecutive masked tokens of each row: (run id per token, -1 where not
    masked; number of runs). Runs never continue from one row into the next."""
    starts = masked.clone()
    starts[:, 1:] &= ~masked[:, :-1]
    ids = torch.cumsum(starts.flatten().long(), 0).view_as(masked) - 1
    return torch.where(masked, ids, torch.full_like(ids, -1)), int(starts.sum())


class DNAMaskingCollator(DataCollatorForLanguageModeling):
    """BERT 80/10/10 masking whose random replacements are drawn from real (non-special) tokens only;
    whole k-token spans (DNABERT) for overlapping k-mer tokenizers."""

    def __init__(self, tokenizer, mlm_probability: float = 0.15, **kwargs):
        # seed=None: the collator then draws from torch's global RNG, which the Trainer saves in every
        # checkpoint, so a resumed run masks exactly as an uninterrupted one would.
        super().__init__(tokenizer=tokenizer, mlm=True, mlm_probability=mlm_probability, **kwargs)
        special = set(tokenizer.all_special_ids)
        self.regular_ids = torch.tensor([i for i in range(len(tokenizer)) if i not in special], dtype=torch.long)
        self.span_k = None  # k when tokens are overlapping k-mers (masked as spans), else None
        from modeling.tokenization import tokenizer_family

        try:
            family = tokenizer_family(tokenizer)
        except (ValueError, AttributeError, TypeError):  # a tokenizer not built here: per-token masking
            family = {}
        if family.get("family") == "kmer" and family.get("overlapping") and int(family.get("k") or 1) > 1:
            self.span_k = int(family["k"])

    def _real_tokens(self, inputs, special_tokens_mask):
        if special_tokens_mask is None:
            special_tokens_mask = torch.tensor(
                [
                    self.tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True)
                    for row in inputs.tolist()
                ],
                dtype=torch.bool,
            )
        return special_tokens_mask.bool() | (inputs == self.tokenizer.pad_token_id)

    def describe(self) -> dict:
        """What the run record says about the masking."""
        rule = (
            KMER_SPAN_RULE
            if self.span_k is not None
            else ("single tokens: each real token with probability p; 80% [MASK], 10% a random real token, 10% kept")
        )
        return {"mlm_probability": self.mlm_probability, "span_tokens": self.span_k or 1, "rule": rule}

    def torch_mask_tokens(self, inputs, special_tokens_mask=None, offset_mapping=None):
        special_tokens_mask = self._real_tokens(inputs, special_tokens_mask)
        if self.span_k is not None:
            return self._mask_kmer_spans(inputs, special_tokens_mask)
        labels = inputs.clone()
        prob = torch.full(labels.shape, self.mlm_probability).masked_fill_(special_tokens_mask, 0.0)
        masked = torch.bernoulli(prob, generator=self.generator).bool()
        labels[~masked] = -100
        to_mask = (
            torch.bernoulli(torch.full(labels.shape, self.mask_replace_prob), generator=self.generator).bool() & masked
        )
        inputs[to_mask] = self.tokenizer.mask_token_id
        rest = 1.0 - self.mask_replace_prob
        if rest > 0 and self.random_replace_prob > 0:
            p_random = self.random_replace_prob / rest
            to_random = (
                torch.bernoulli(torch.full(labels.shape, p_random), generator=self.generator).bool() & masked & ~to_mask
            )
            picks = torch.randint(len(self.regular_ids), labels.shape, generator=self.generator)
            inputs[to_random] = self.regular_ids[picks][to_random]
        return inputs, labels

    def select_kmer_spans(self, special_tokens_mask: torch.Tensor) -> torch.Tensor:
        """Which tokens are masked (before 80/10/10): whole spans around centres drawn at rate q."""
        k = self.span_k
        batch, length = special_tokens_mask.shape
        q = center_probability(self.mlm_probability, k)
        centers = torch.bernoulli(torch.full((batch, length + k - 1), q), generator=self.generator).bool()
        return spans_from_centers(centers, k) & ~special_tokens_mask

    def _mask_kmer_spans(self, inputs, special_tokens_mask):
        labels = inputs.clone()
        masked = self.select_kmer_spans(special_tokens_mask)
        labels[~masked] = -100
        run_id, n_runs = masked_runs(masked)
        if n_runs == 0:
            return inputs, labels
        u = torch.rand(n_runs, generator=self.generator)
        choice = torch.full(masked.shape, 2, dtype=torch.long)  # 0: [MASK], 1: random, 2: keep
        p_mask, p_random = self.mask_replace_prob, self.random_replace_prob
        per_run = torch.where(u < p_mask, 0, torch.where(u < p_mask + p_random, 1, 2))
        choice[masked] = per_run[run_id[masked]]
        inputs[masked & (choice == 0)] = self.tokenizer.mask_token_id
        to_random = masked & (choice == 1)
        if to_random.any():
            picks = torch.randint(len(self.regular_ids), labels.shape, generator=self.generator)
            inputs[to_random] = self.regular_ids[picks][to_random]
        return inputs, labels
