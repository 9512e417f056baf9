"""The input policy: the one definition of what a DNA string may hold and how it is cleaned.

Every tokenizer, data script, corpus builder and training run applies it before reading a sequence
(`modeling/tokenization.py` documents the rules). It is torch-free and imports only numpy, so the data
layer (`data_scripts/`) uses it without loading any model code. The tokenizers also let their special
tokens be written inside a sequence (`PreparedBatch(..., specials=...)`); the policy then applies to the
DNA between them. `normalize_sequence` / `normalize_batch` (for data) accept DNA only.

A model folder loaded with `trust_remote_code` carries a copy of this file as `dna_policy.py` beside its
`tokenization.py`, so it imports nothing but the standard library and numpy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

NUCLEOTIDES = "ACGTN"
# IUPAC ambiguity codes: each means "one of several bases", read as N. U is RNA and rejected.
IUPAC_AMBIGUITY = "RYSWKMBDHV"

_TO_N = str.maketrans({c: "N" for c in IUPAC_AMBIGUITY})
_BAD_CHAR = re.compile(r"[^ACGTN]")


def _byte_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables over bytes: code (A C G T N -> 0..4, 255 = not allowed), normalised byte, changed flag."""
    code = np.full(256, 255, dtype=np.uint8)
    norm = np.arange(256, dtype=np.uint8)
    changed = np.zeros(256, dtype=bool)
    for i, base in enumerate(NUCLEOTIDES):
        code[ord(base)] = i
        code[ord(base.lower())] = i
        norm[ord(base.lower())] = ord(base)
        changed[ord(base.lower())] = True
    for c in IUPAC_AMBIGUITY + IUPAC_AMBIGUITY.lower():
        code[ord(c)] = 4
        norm[ord(c)] = ord("N")
        changed[ord(c)] = True
    return code, norm, changed


_CODE_LUT, _NORM_LUT, _CHANGED_LUT = _byte_tables()

# ----------------------------------------------------------------------------------------------------
# Input policy
# ----------------------------------------------------------------------------------------------------


class SequenceError(ValueError):
    """A sequence the policy refuses. `position` is the index of the offending character in the caller's
    string (None for an empty sequence), so a file reader can turn it into a line and column."""

    def __init__(self, message: str, position: int | None = None):
        super().__init__(message)
        self.position = position


def _raise_bad_char(char: str, pos: int) -> None:
    if char in "Uu":
        raise SequenceError(
            f"RNA base {char!r} at position {pos}: these are DNA models; convert U to T first "
            "(e.g. seq.replace('U', 'T').replace('u', 't'))",
            pos,
        )
    shown = repr(char) if char.isascii() else f"{char!r} (U+{ord(char):04X})"
    hint = ""
    if char in "[]":
        hint = (
            " (the tokenizers read their special tokens [CLS] [SEP] [PAD] [MASK] [UNK] inside a sequence "
            "only when spelled exactly so, with no whitespace around them)"
        )
    raise SequenceError(
        f"invalid character {shown} at position {pos} in a DNA sequence; allowed are A C G T N, the IUPAC "
        f"codes {' '.join(IUPAC_AMBIGUITY)} (read as N), lowercase of these, and whitespace around the "
        f"sequence (not inside it): remove or replace the character{hint}",
        pos,
    )


def normalize_sequence(seq: str) -> str:
    """Apply the input policy (module docstring) to one sequence and return the cleaned sequence.

    Raises TypeError for a non-str, ValueError for an empty sequence, U, or any other character
    outside the policy, naming the character and its position in `seq`.
    """
    if not isinstance(seq, str):
        raise TypeError(f"a DNA sequence must be a str, got {type(seq).__name__}")
    stripped = seq.strip()
    if not stripped:
        raise SequenceError(
            "empty DNA sequence: every example needs at least one nucleotide (A, C, G, T or N); "
            "drop empty rows before tokenizing"
        )
    lead = len(seq) - len(seq.lstrip())
    # Check ASCII before upper-casing: some non-ASCII characters upper-case to several characters
    # (shifting every later position) or to a valid letter ('ſ'.upper() == 'S', an IUPAC code).
    if not stripped.isascii():
        i = next(i for i, ch in enumerate(stripped) if not ch.isascii())
        _raise_bad_char(stripped[i], lead + i)
    cleaned = stripped.upper().translate(_TO_N)
    bad = _BAD_CHAR.search(cleaned)
    if bad is not None:
        _raise_bad_char(stripped[bad.start()], lead + bad.start())
    return cleaned


def _raise_for_sequence(seq: str, index: int, batched: bool) -> None:
    """Re-run the one-sequence policy on `seq` (known bad; batch item `index`) to raise its precise error."""
    try:
        normalize_sequence(seq)
    except (TypeError, ValueError) as err:
        if not batched:
            raise
        located = type(err)(f"sequence {index} of the batch: {err}")
        if isinstance(err, SequenceError):
            located.position = err.position
        raise located from None
    raise AssertionError(f"internal error: batch check flagged sequence {index} but the policy accepts it")


def is_batch(x: Any) -> bool:
    return not isinstance(x, (str, bytes)) and hasattr(x, "__iter__") and hasattr(x, "__len__")


def _excl_cumsum(x: np.ndarray) -> np.ndarray:
    out = np.zeros(len(x), dtype=np.int64)
    np.cumsum(x[:-1], out=out[1:])
    return out


class PreparedBatch:
    """A validated batch, ready for the encoders.

    Every sequence is stripped and checked against the policy. `specials` (a tokenizer's special tokens,
    e.g. "[MASK]") may be written inside a sequence: they are set aside, the policy applies to the DNA
    between them, and error positions still count in the caller's string. The DNA is kept as *runs*, the
    stretches between special tokens; a sequence without special tokens is one run.

    - `codes`: 0..4 (A C G T N) per base of all runs, joined;
    - `run_lengths`, `run_seq`, `run_starts`: bases per run, its sequence, its start in the stripped sequence;
    - `found`: the special tokens in the text, in order, as (sequence, start in the stripped sequence, token).
    """

    __slots__ = (
        "originals",
        "stripped",
        "lengths",
        "raw",
        "found",
        "codes",
        "run_lengths",
        "run_seq",
        "run_starts",
        "_pattern",
        "_batched",
    )

    def __init__(self, seqs: Sequence[Any], batched: bool = True, specials: Sequence[str] = ()):
        if not all(isinstance(s, str) for s in seqs):
            for i, s in enumerate(seqs):
                if not isinstance(s, str):
                    where = f"sequence {i} of the batch" if batched else "the input"
                    raise TypeError(
                        f"{where} is a {type(s).__name__}, not a str: pass DNA sequences as strings "
                        "(one str, or a list of str)"
                    )
        self.originals = seqs
        self._batched = batched
        self._pattern = None
        self.found: list[tuple[int, int, str]] = []
        self.stripped = [s.strip() for s in seqs]
        self.lengths = np.fromiter(map(len, self.stripped), dtype=np.int64, count=len(self.stripped))
        if len(self.lengths) and self.lengths.min() == 0:
            self._raise(int(np.argmin(self.lengths)))
        joined = "".join(self.stripped)
        if specials and any(token[0] in joined for token in specials):  # a cheap test first: usually absent
            self._pattern = re.compile("|".join(re.escape(t) for t in sorted(specials, key=len, reverse=True)))
            self.found = [
                (i, m.start(), m.group()) for i, s in enumerate(self.stripped) for m in self._pattern.finditer(s)
            ]
            if self.found:
                joined = "".join(map(self._hide, self.stripped))
        try:
            raw = joined.encode("ascii")
        except UnicodeEncodeError as err:
            self._raise(self._index_of(err.start))
        self.raw = np.frombuffer(raw, dtype=np.uint8)
        codes = _CODE_LUT.take(self.raw)
        if codes.size and codes.max() > 4:
            self._raise(self._index_of(int(np.argmax(codes > 4))))
        if self.found:
            self._split_runs(codes)
        else:
            self.codes, self.run_lengths = codes, self.lengths
            self.run_seq = np.arange(len(self.lengths))
            self.run_starts = np.zeros(len(self.lengths), dtype=np.int64)

    def _hide(self, seq: str) -> str:
        """`seq` with each special token replaced by as many A's: the DNA checks then skip them, positions kept."""
        return self._pattern.sub(lambda m: "A" * len(m.group()), seq) if self._pattern is not None else seq

    def _raise(self, index: int) -> None:
        _raise_for_sequence(self._hide(self.originals[index]), index, self._batched)

    def _index_of(self, flat_pos: int) -> int:
        return int(np.searchsorted(np.cumsum(self.lengths), flat_pos, side="right"))

    def _special_mask(self) -> np.ndarray:
        """Over the joined stripped text: True where a special token is written."""
        mask = np.zeros(len(self.raw), dtype=bool)
        seq_starts = _excl_cumsum(self.lengths)
        for seq, start, token in self.found:
            mask[seq_starts[seq] + start : seq_starts[seq] + start + len(token)] = True
        return mask

    def _split_runs(self, codes: np.ndarray) -> None:
        # runs: maximal stretches of DNA inside one sequence (the same idea as cutting at N)
        special = self._special_mask()
        seq_starts = _excl_cumsum(self.lengths)
        first = np.zeros(len(special), dtype=bool)
        first[seq_starts] = True
        last = np.zeros(len(special), dtype=bool)
        last[seq_starts + self.lengths - 1] = True
        after_special = np.concatenate([[True], special[:-1]])
        before_special = np.concatenate([special[1:], [True]])
        begins = np.flatnonzero(~special & (first | after_special))
        ends = np.flatnonzero(~special & (last | before_special)) + 1
        self.codes = codes[~special]
        self.run_lengths = ends - begins
        self.run_seq = np.searchsorted(np.cumsum(self.lengths), begins, side="right")
        self.run_starts = begins - seq_starts[self.run_seq]

    def leads(self) -> np.ndarray:
        """Characters of leading whitespace per sequence (offsets index the caller's string)."""
        return np.fromiter(
            (len(s) - len(s.lstrip()) for s in self.originals), dtype=np.int64, count=len(self.originals)
        )

    def _normalized_text(self) -> str | None:
        """All stripped sequences joined after the policy, special tokens as written; None if already clean."""
        if not self.found and not _CHANGED_LUT.take(self.raw).any():
            return None
        text = bytearray(_NORM_LUT.take(self.raw).tobytes())
        seq_starts = _excl_cumsum(self.lengths)
        for seq, start, token in self.found:  # the checks read them as A's: write them back
            at = seq_starts[seq] + start
            text[at : at + len(token)] = token.encode("ascii")
        return text.decode("ascii")

    def normalized(self) -> list[str]:
        """The stripped sequences after the policy (upper case, IUPAC -> N); special tokens stay as written."""
        text = self._normalized_text()
        if text is None:
            return self.stripped  # the common case: already clean upper-case
        ends = np.cumsum(self.lengths).tolist()
        return [text[a:b] for a, b in zip([0] + ends[:-1], ends)]

    def run_strings(self) -> list[str]:
        """The DNA runs after the policy (what a BPE model reads)."""
        if not self.found:
            return self.normalized()
        text = self._normalized_text()
        begins = (_excl_cumsum(self.lengths)[self.run_seq] + self.run_starts).tolist()
        return [text[a : a + n] for a, n in zip(begins, self.run_lengths.tolist())]

    def positional_text(self) -> list[str]:
        """Each sequence after the policy at the caller's positions: the whitespace around it becomes spaces,
        so a `tokenizers` pipeline that strips reports offsets into the caller's string."""
        return [
            " " * lead + clean + " " * (len(orig) - lead - len(clean))
            for orig, clean, lead in zip(self.originals, self.normalized(), self.leads().tolist())
        ]


def normalize_batch(seqs: Sequence[str]) -> list[str]:
    """`normalize_sequence` over a batch (vectorised); errors name the sequence's index in the batch."""
    if isinstance(seqs, str):
        raise TypeError("normalize_batch takes a list of sequences; use normalize_sequence for one str")
    return PreparedBatch(list(seqs)).normalized()
