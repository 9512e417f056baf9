"""Pretraining material: FASTA reading, seeded window drawing and content hashes (torch-free).

The windows of a pretraining run come from `data_scripts.corpora.draw_windows` (held-out material set
aside first, short sequences packed, leakage screened, a record of what was drawn). `sample_windows`
here is the older uniform draw: it ignores sequences shorter than the window whenever any sequence is
long enough, and draws held-out windows from the same material.

The masked-LM collator that turns windows into training batches is `training/collator.py`.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from dnalm_core.policy import normalize_sequence


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

    Superseded by `data_scripts.corpora.draw_windows` for pretraining (see the module docstring).

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
