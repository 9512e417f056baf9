"""Leakage filter: keep the dev and test sequences of evaluated tasks out of pretraining material.

GUE tasks overlap one another (its core-promoter tasks were cut out of the same promoters as its 300 bp
tasks; its TF-binding tasks share 32-mers across tasks), so a corpus built from GUE train splits, or a
BPE vocabulary trained on it, can hold test sequences of another task. Before pretraining or training
a vocabulary, every corpus sequence is checked against the dev and test sequences of every task the
experiment evaluates.

Rule (k = 32 by default):
- a corpus sequence *leaks* when it shares an exact k-mer with any evaluated sequence, on either strand
  (the corpus k-mer equals an evaluated k-mer or its reverse complement);
- a sequence of at most `cut_longer_than` bp (default 1,000: every GUE row, any read-sized record) that
  leaks is removed whole;
- a longer sequence (a genome record) is not discarded for one hit: every base covered by a matching
  k-mer is cut out and the flanks on either side are kept as separate pieces (never joined again, so
  no new k-mer is formed across a cut);
- k-mers containing N are skipped (they match nothing on either side).
Removed sequences and bp are counted per source (`FilterStats`).

Method: bases are 2-bit encoded (A0 C1 G2 T3); the 2k-bit codes of all k-mers (k <= 32 fits a
uint64) are built by doubling (the code of a 2m-mer from two m-mer codes), for the forward and the
reverse-complement strand at once; the canonical code min(forward, reverse complement) makes one
sorted set of evaluated codes answer both strands. Lookups go through a 2^28-bit hashed presence
bitmap first and `np.searchsorted` on the sorted set for the few candidates. Sequences are joined
with N between them (so no k-mer spans two sequences) and scanned in blocks, so memory stays bounded
for genome-sized input. numpy only; this module never imports torch.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

K = 32
CUT_LONGER_THAN = 1000
BLOCK = 1 << 22  # k-mer start positions scanned per block

_LUT = np.full(256, 255, dtype=np.uint8)
for _i, _b in enumerate("ACGTN"):
    _LUT[ord(_b)] = _i
    _LUT[ord(_b.lower())] = _i
_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_BITMAP_BITS = 28


def encode(seqs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Codes (uint8, A0 C1 G2 T3 N4) of `seqs` joined with one N between them, and each sequence's start."""
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    starts = np.zeros(len(seqs), dtype=np.int64)
    if len(seqs) > 1:
        starts[1:] = np.cumsum(lengths[:-1] + 1)
    raw = np.frombuffer("N".join(seqs).encode("ascii"), dtype=np.uint8)
    codes = _LUT.take(raw)
    if codes.size and codes.max() > 4:
        bad = chr(raw[int(np.argmax(codes > 4))])
        raise ValueError(
            f"leakage filter: character {bad!r} is not A C G T N; apply the input policy first "
            "(dnalm_core.policy.normalize_sequence)"
        )
    return codes, starts


def _compose(fa, ra, a, fb, rb, b, n):
    """(a+b)-mer codes from a-mer and b-mer codes: forward = A[i] B[i+a]; reverse complement = rc(B[i+a]) rc(A[i])."""
    f = (fa[:n] << np.uint64(2 * b)) | fb[a : a + n]
    r = (rb[a : a + n] << np.uint64(2 * a)) | ra[:n]
    return f, r


def kmer_codes(codes: np.ndarray, k: int = K) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(forward, reverse-complement, valid) for every k-mer start of `codes` (len(codes) - k + 1 each).

    valid is False for k-mers holding an N (their codes are meaningless).
    """
    if not 1 <= k <= 32:
        raise ValueError(f"k must be 1..32 (a k-mer code fills at most 64 bits), got {k}")
    n = len(codes) - k + 1
    if n <= 0:
        e = np.zeros(0, dtype=np.uint64)
        return e, e, np.zeros(0, dtype=bool)
    base = (codes & 3).astype(np.uint64)
    pf, pr, plen = base, np.uint64(3) - base, 1  # 1-mers; complement of 0..3 is 3 - code
    rf = rr = None
    rlen, kk = 0, k
    while True:
        if kk & 1:
            if rf is None:
                rf, rr = pf, pr
            else:
                rf, rr = _compose(rf, rr, rlen, pf, pr, plen, len(codes) - rlen - plen + 1)
            rlen += plen
        kk >>= 1
        if not kk:
            break
        pf, pr = _compose(pf, pr, plen, pf, pr, plen, len(codes) - 2 * plen + 1)
        plen *= 2
    nc = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum(codes > 3, out=nc[1:])
    valid = (nc[k:] - nc[:-k]) == 0
    return rf[:n], rr[:n], valid


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    # sort-based (numpy 2's np.unique hashes, which is many times slower on 64-bit codes)
    x = np.sort(x)
    return x[np.r_[True, x[1:] != x[:-1]]] if x.size else x


class KmerSet:
    """A set of k-mer codes (canonical: both strands; or forward only) with fast vectorised membership."""

    def __init__(self, codes: np.ndarray, k: int = K, both_strands: bool = True):
        self.k, self.both_strands = k, both_strands
        self.codes = _sorted_unique(np.asarray(codes, dtype=np.uint64))
        self._bitmap = np.zeros(1 << (_BITMAP_BITS - 3), dtype=np.uint8)
        h = _sorted_unique(self._hash(self.codes))  # bit positions
        if h.size:
            byte = h >> np.uint64(3)
            bit = np.left_shift(np.uint8(1), (h & np.uint64(7)).astype(np.uint8))
            first = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
            self._bitmap[byte[first]] = np.bitwise_or.reduceat(bit, first)

    @staticmethod
    def _hash(x: np.ndarray) -> np.ndarray:
        return (x * _HASH_MUL) >> np.uint64(64 - _BITMAP_BITS)

    def __len__(self) -> int:
        return len(self.codes)

    def query_codes(self, fwd: np.ndarray, rc: np.ndarray) -> np.ndarray:
        return np.minimum(fwd, rc) if self.both_strands else fwd

    def contains(self, x: np.ndarray) -> np.ndarray:
        """Boolean mask: which codes of `x` are in the set."""
        out = np.zeros(len(x), dtype=bool)
        if not len(self.codes) or not len(x):
            return out
        h = self._hash(x)
        maybe = np.flatnonzero((self._bitmap[h >> np.uint64(3)] >> (h & np.uint64(7)).astype(np.uint8)) & 1)
        if maybe.size:
            cand = x[maybe]
            pos = np.searchsorted(self.codes, cand)
            pos[pos == len(self.codes)] = 0
            out[maybe] = self.codes[pos] == cand
        return out

    def hits(self, seqs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(sequence index, start) of every k-mer of `seqs` that is in the set, sorted."""
        return _scan(seqs, self)

    def any_hit(self, seqs: Sequence[str]) -> np.ndarray:
        """Per sequence: does it share a k-mer with the set."""
        idx, _ = self.hits(seqs)
        out = np.zeros(len(seqs), dtype=bool)
        out[idx] = True
        return out


class EvalKmers(KmerSet):
    """The k-mers of the evaluated dev and test sequences, with where they came from."""

    def __init__(self, sources: Mapping[str, Sequence[str]], k: int = K, both_strands: bool = True):
        t0 = time.perf_counter()
        parts, self.sources = [], {}
        for name, seqs in sources.items():
            seqs = list(seqs)
            self.sources[name] = {"sequences": len(seqs), "bp": int(sum(map(len, seqs)))}
            for block in _blocks(seqs):
                codes, _ = encode(block)
                f, r, valid = kmer_codes(codes, k)
                parts.append((np.minimum(f, r) if both_strands else f)[valid])
        super().__init__(np.concatenate(parts) if parts else np.zeros(0, np.uint64), k, both_strands)
        self.seconds = time.perf_counter() - t0

    def describe(self) -> dict:
        return {
            "k": self.k,
            "both_strands": self.both_strands,
            "distinct_kmers": len(self),
            "evaluated": self.sources,
            "kmer_set_seconds": round(self.seconds, 3),
        }


def _blocks(seqs: Sequence[str], bp: int = BLOCK) -> Iterable[list[str]]:
    """Consecutive groups of `seqs` of about `bp` bases (a longer sequence is a group by itself)."""
    group, size = [], 0
    for s in seqs:
        if group and size + len(s) > bp:
            yield group
            group, size = [], 0
        group.append(s)
        size += len(s) + 1
    if group:
        yield group


def _scan(seqs: Sequence[str], kset: KmerSet) -> tuple[np.ndarray, np.ndarray]:
    k = kset.k
    out_i, out_p = [], []
    first = 0
    for group in _blocks(seqs):
        codes, starts = encode(group)
        for a in range(0, max(len(codes) - k + 1, 0), BLOCK):
            f, r, valid = kmer_codes(codes[a : a + BLOCK + k - 1], k)
            hit = np.flatnonzero(kset.contains(kset.query_codes(f, r)) & valid)
            if hit.size:
                pos = hit + a
                idx = np.searchsorted(starts, pos, side="right") - 1
                out_i.append(idx + first)
                out_p.append(pos - starts[idx])
        first += len(group)
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(out_i), np.concatenate(out_p)


@dataclass
class FilterStats:
    """What the filter removed from one source (sequences and bp)."""

    sequences: int = 0
    bp: int = 0
    removed_sequences: int = 0  # short sequences removed whole
    removed_bp: int = 0  # all bp removed: whole sequences plus bases cut out of long ones
    cut_sequences: int = 0  # long sequences cut around hits
    cut_bp: int = 0  # bases cut out of long sequences
    hit_kmers: int = 0  # corpus k-mer positions that match
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k != "extra"}
        d["seconds"] = round(self.seconds, 3)
        return {**d, **self.extra}


def filter_sequences(
    seqs: Sequence[str], kset: KmerSet | None, cut_longer_than: int = CUT_LONGER_THAN
) -> tuple[list[list[tuple[int, int]]], FilterStats]:
    """Apply the rule (module docstring) to `seqs`: per sequence, the (start, end) intervals kept.

    An untouched sequence keeps [(0, len)], a removed one [], a cut one its flanks around the hits.
    """
    t0 = time.perf_counter()
    lengths = [len(s) for s in seqs]
    stats = FilterStats(sequences=len(seqs), bp=int(sum(lengths)))
    kept = [[(0, n)] for n in lengths]
    if kset is None or not len(kset):
        stats.seconds = time.perf_counter() - t0
        return kept, stats
    idx, pos = kset.hits(seqs)
    stats.hit_kmers = int(len(idx))
    if len(idx):
        bounds = np.flatnonzero(np.diff(idx)) + 1
        for grp_i, grp_p in zip(np.split(idx, bounds), np.split(pos, bounds)):
            i = int(grp_i[0])
            n = lengths[i]
            if n <= cut_longer_than:
                kept[i] = []
                stats.removed_sequences += 1
                stats.removed_bp += n
                continue
            # union of the hit intervals [p, p + k): starts are sorted
            p = np.sort(grp_p)
            ends = p + kset.k
            new = np.ones(len(p), dtype=bool)
            new[1:] = p[1:] > np.maximum.accumulate(ends)[:-1]
            run_start = p[new]
            run_end = np.maximum.reduceat(ends, np.flatnonzero(new))
            cut = int((run_end - run_start).sum())
            edges = [0, *np.column_stack([run_start, run_end]).ravel().tolist(), n]
            kept[i] = [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b > a]
            stats.cut_sequences += 1
            stats.cut_bp += cut
            stats.removed_bp += cut
    stats.seconds = time.perf_counter() - t0
    return kept, stats


def reverse_complement(seq: str) -> str:
    return seq.translate(_RC)[::-1]


_RC = str.maketrans("ACGTNacgtn", "TGCANtgcan")
