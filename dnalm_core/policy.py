"""The input policy: the one definition of what a DNA string may hold and how it is cleaned.

Every tokenizer, data script, corpus builder and training run applies it before reading a sequence
(`modeling/tokenization.py` documents the rules). It is torch-free and imports only numpy, so the data
layer (`data_scripts/`) uses it without loading any model code.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

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


def _raise_bad_char(char: str, pos: int) -> None:
    if char in "Uu":
        raise ValueError(
            f"RNA base {char!r} at position {pos}: these are DNA models; convert U to T first "
            "(e.g. seq.replace('U', 'T').replace('u', 't'))"
        )
    shown = repr(char) if char.isascii() else f"{char!r} (U+{ord(char):04X})"
    raise ValueError(
        f"invalid character {shown} at position {pos} in a DNA sequence; allowed are A C G T N, the IUPAC "
        f"codes {' '.join(IUPAC_AMBIGUITY)} (read as N), lowercase of these, and whitespace around the "
        "sequence (not inside it): remove or replace the character"
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
        raise ValueError(
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


def _raise_for_sequence(seqs: Sequence[Any], index: int, batched: bool) -> None:
    """Re-run the one-sequence policy on `seqs[index]` (known bad) to raise its precise error."""
    try:
        normalize_sequence(seqs[index])
    except (TypeError, ValueError) as err:
        if not batched:
            raise
        raise type(err)(f"sequence {index} of the batch: {err}") from None
    raise AssertionError(f"internal error: batch check flagged sequence {index} but the policy accepts it")


def is_batch(x: Any) -> bool:
    return not isinstance(x, (str, bytes)) and hasattr(x, "__iter__") and hasattr(x, "__len__")


class PreparedBatch:
    """A validated batch: stripped strings, their lengths, and the joined bytes (uint8)."""

    __slots__ = ("originals", "stripped", "lengths", "raw", "_codes")

    def __init__(self, seqs: Sequence[Any], batched: bool = True):
        if not all(isinstance(s, str) for s in seqs):
            for i, s in enumerate(seqs):
                if not isinstance(s, str):
                    where = f"sequence {i} of the batch" if batched else "the input"
                    raise TypeError(
                        f"{where} is a {type(s).__name__}, not a str: pass DNA sequences as strings "
                        "(one str, or a list of str)"
                    )
        self.originals = seqs
        self.stripped = [s.strip() for s in seqs]
        self.lengths = np.fromiter(map(len, self.stripped), dtype=np.int64, count=len(self.stripped))
        if len(self.lengths) and self.lengths.min() == 0:
            _raise_for_sequence(seqs, int(np.argmin(self.lengths)), batched)
        joined = "".join(self.stripped)
        try:
            raw = joined.encode("ascii")
        except UnicodeEncodeError as err:
            _raise_for_sequence(seqs, self._index_of(err.start), batched)
        self.raw = np.frombuffer(raw, dtype=np.uint8)
        codes = _CODE_LUT.take(self.raw)
        if codes.size and codes.max() > 4:
            _raise_for_sequence(seqs, self._index_of(int(np.argmax(codes > 4))), batched)
        self._codes = codes

    def _index_of(self, flat_pos: int) -> int:
        return int(np.searchsorted(np.cumsum(self.lengths), flat_pos, side="right"))

    @property
    def codes(self) -> np.ndarray:
        """Per base 0..4 for A C G T N, all sequences joined."""
        return self._codes

    def leads(self) -> np.ndarray:
        """Characters of leading whitespace per sequence (offsets index the caller's string)."""
        return np.fromiter(
            (len(s) - len(s.lstrip()) for s in self.originals), dtype=np.int64, count=len(self.originals)
        )

    def normalized(self) -> list[str]:
        """The sequences after the policy (upper case, IUPAC -> N)."""
        if not _CHANGED_LUT.take(self.raw).any():
            return self.stripped  # the common case: already clean upper-case
        text = _NORM_LUT.take(self.raw).tobytes().decode("ascii")
        ends = np.cumsum(self.lengths).tolist()
        return [text[a:b] for a, b in zip([0] + ends[:-1], ends)]


def normalize_batch(seqs: Sequence[str]) -> list[str]:
    """`normalize_sequence` over a batch (vectorised); errors name the sequence's index in the batch."""
    if isinstance(seqs, str):
        raise TypeError("normalize_batch takes a list of sequences; use normalize_sequence for one str")
    return PreparedBatch(list(seqs)).normalized()
