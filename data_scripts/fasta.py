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
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from dnalm_core.policy import normalize_sequence

from .common import SourceFileError, locate_error


def text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(line number, line without its line end) of a plain or gzipped (`.gz`) UTF-8 text file.

    The one way the data layer opens FASTA files: a `.gz` that is not gzip, a truncated or damaged gzip
    stream, bytes that are not UTF-8 and a leading byte-order mark each raise a SourceFileError that
    names the file, the line and the fix (instead of gzip's or the decoder's bare errors).
    """
    path = Path(path)
    opener = open
    if path.name.endswith(".gz"):
        with open(path, "rb") as fh:
            magic = fh.read(2)
        if magic != b"\x1f\x8b":
            raise SourceFileError(
                f"{path} is named .gz but is not gzip-compressed (it starts with {magic!r}); "
                "compress it with gzip, or drop .gz from its name"
            )
        opener = gzip.open
    line_no = 0
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if line_no == 1 and line.startswith("\ufeff"):
                    raise SourceFileError(
                        f"{path}, line 1: the file starts with a UTF-8 byte-order mark (BOM), which FASTA does not "
                        "allow; save it without one (e.g. `sed -i '1s/^\\xEF\\xBB\\xBF//' FILE`)"
                    )
                yield line_no, line.rstrip("\r\n")
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise SourceFileError(
            f"{path}: the gzip data is cut short or damaged after line {line_no} "
            f"({type(err).__name__}: {err}); the file is truncated or corrupt: copy or download "
            "it again and compare its size or checksum"
        ) from None
    except UnicodeDecodeError as err:
        raise SourceFileError(
            f"{path}, after line {line_no}: bytes that are not UTF-8 text ({err.reason}); a "
            "FASTA file is plain ASCII text: check that this is the intended file"
        ) from None


def read_fasta(path: str | os.PathLike) -> Iterator[tuple[str, str]]:
    """Yield (record name, sequence) from a plain or gzipped FASTA, sequences under the input policy.

    Errors name the file and line (and column, for a character the policy refuses); a file without any
    record is an error too, not an empty contribution to a corpus.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FASTA file not found: {path}")
    name, header_line, chunks, starts = None, 0, [], []
    for line_no, raw in text_lines(path):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(">"):
            if name is not None:
                yield name, _clean(path, name, header_line, chunks, starts)
            name = line[1:].split()[0] if len(line) > 1 else f"record{line_no}"
            header_line, chunks, starts = line_no, [], []
        elif name is None:
            raise SourceFileError(
                f"{path}, line {line_no}: sequence before the first '>' header; a FASTA file "
                "starts with a `>name` line: check that this is a FASTA file"
            )
        else:
            chunks.append(line)
            starts.append((line_no, len(raw) - len(raw.lstrip())))
    if name is None:
        raise SourceFileError(
            f"{path} holds no FASTA record (it is empty or blank); remove it from the list of "
            "files, or replace it with the intended FASTA"
        )
    yield name, _clean(path, name, header_line, chunks, starts)


def _clean(path: Path, name: str, header_line: int, chunks: list[str], starts: list[tuple[int, int]]) -> str:
    try:
        return normalize_sequence("".join(chunks))
    except ValueError as err:
        where = f"{path}, line {header_line} (record {name!r})"
        pos = getattr(err, "position", None)
        if pos is not None:  # the line and column of the character within the record's sequence lines
            i = 0
            while pos >= len(chunks[i]):
                pos -= len(chunks[i])
                i += 1
            line_no, lead = starts[i]
            where = f"{path}, line {line_no}, column {lead + pos + 1} (record {name!r})"
        raise locate_error(where, err) from None


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
