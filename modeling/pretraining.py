"""Masked-LM pretraining data: FASTA reading, random windows, and DNA-aware masking.

Used by `train.py --stage pretrain`. The masking follows BERT (Devlin et al. 2019): 15% of the real
tokens are selected; of those 80% become [MASK], 10% a random token, 10% stay. Two DNA-specific
choices: the random replacement draws only real (non-special) tokens, since a random [CLS] or [PAD]
in the middle of DNA teaches nothing, and masking is applied exactly once per batch (the official
ConvNova code masks twice by mistake).
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch
from transformers import DataCollatorForLanguageModeling

from .tokenization import normalize_sequence


def read_fasta(path: str | os.PathLike) -> Iterator[tuple[str, str]]:
    """Yield (record name, sequence) from a plain or gzipped FASTA, sequences under the input policy."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FASTA file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    name, chunks = None, []
    with opener(path, "rt") as fh:
        for line_no, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                if name is not None:
                    yield name, _clean(chunks, path, name)
                name, chunks = line[1:].split()[0] if len(line) > 1 else f"record{line_no}", []
            elif name is None:
                raise ValueError(f"{path}:{line_no}: sequence before the first '>' header; is this a FASTA file?")
            else:
                chunks.append(line)
    if name is not None:
        yield name, _clean(chunks, path, name)


def _clean(chunks: list[str], path: Path, name: str) -> str:
    try:
        return normalize_sequence("".join(chunks))
    except ValueError as err:
        raise ValueError(f"{path}, record {name!r}: {err}") from None


def sample_windows(sequences: Iterable[str], length: int, n: int, seed: int, max_n_fraction: float = 1.0) -> list[str]:
    """Draw `n` windows of `length` bp uniformly over all positions of `sequences` (seeded).

    Windows made only of N (assembly gaps) are skipped and redrawn; `max_n_fraction` < 1 skips windows
    with more N than that. Sequences shorter than `length` are used whole when no sequence is long
    enough (e.g. fine-tuning sequences of 70 bp with a 1 kb window).
    """
    seqs = [s for s in sequences if s]
    if not seqs:
        raise ValueError("no sequences to draw pretraining windows from")
    long_enough = [s for s in seqs if len(s) >= length]
    if long_enough:
        seqs = long_enough
    else:
        length = max(len(s) for s in seqs)
    starts_per_seq = np.array([max(len(s) - length, 0) + 1 for s in seqs], dtype=np.float64)
    rng = np.random.default_rng(seed)
    out: list[str] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 50 * n + 1000:
            raise ValueError(
                f"could only draw {len(out)} of {n} windows with at most {max_n_fraction:.0%} N; "
                "the corpus is mostly N (assembly gaps)"
            )
        i = rng.choice(len(seqs), p=starts_per_seq / starts_per_seq.sum())
        start = int(rng.integers(0, starts_per_seq[i]))
        window = seqs[i][start : start + length]
        n_count = window.count("N")
        if n_count == len(window) or n_count > max_n_fraction * len(window):
            continue
        out.append(window)
    return out


def content_hash(sequences: Iterable[str]) -> str:
    """sha256 over the sequences (order matters), for recording exactly what a model was trained on."""
    h = hashlib.sha256()
    for s in sequences:
        h.update(s.encode())
        h.update(b"\n")
    return h.hexdigest()


class DNAMaskingCollator(DataCollatorForLanguageModeling):
    """BERT 80/10/10 masking whose random replacements are drawn from real (non-special) tokens only."""

    def __init__(self, tokenizer, mlm_probability: float = 0.15, **kwargs):
        # seed=None: the collator then draws from torch's global RNG, which the Trainer saves in every
        # checkpoint, so a resumed run masks exactly as an uninterrupted one would.
        super().__init__(tokenizer=tokenizer, mlm=True, mlm_probability=mlm_probability, **kwargs)
        special = set(tokenizer.all_special_ids)
        self.regular_ids = torch.tensor([i for i in range(len(tokenizer)) if i not in special], dtype=torch.long)

    def torch_mask_tokens(self, inputs, special_tokens_mask=None, offset_mapping=None):
        labels = inputs.clone()
        if special_tokens_mask is None:
            special_tokens_mask = torch.tensor(
                [self.tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True) for row in labels.tolist()],
                dtype=torch.bool,
            )
        special_tokens_mask = special_tokens_mask.bool() | (inputs == self.tokenizer.pad_token_id)
        prob = torch.full(labels.shape, self.mlm_probability).masked_fill_(special_tokens_mask, 0.0)
        masked = torch.bernoulli(prob, generator=self.generator).bool()
        labels[~masked] = -100
        to_mask = torch.bernoulli(torch.full(labels.shape, self.mask_replace_prob), generator=self.generator).bool() & masked
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
