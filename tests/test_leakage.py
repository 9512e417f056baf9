"""The leakage filter (data_scripts/leakage.py) against an independent brute-force reference.

The reference works on Python strings only (no 2-bit codes): the set of every 32-mer of the evaluated
sequences and of their reverse complements, and plain substring tests.
"""

import csv
import random

import numpy as np
import pytest

from data_scripts.fasta import read_fasta
from data_scripts.leakage import EvalKmers, KmerSet, encode, filter_sequences, kmer_codes, reverse_complement

K = 32
_RC = str.maketrans("ACGT", "TGCA")


def _rc(s):
    return s.translate(_RC)[::-1]


def _rows(shared_data, task, split):
    with open(shared_data / "gue" / task / f"{split}.csv", newline="") as fh:
        return [r["sequence"] for r in csv.DictReader(fh)]


def _brute_set(seqs, both=True):
    out = set()
    for s in seqs:
        for i in range(len(s) - K + 1):
            kmer = s[i : i + K]
            if "N" in kmer:
                continue
            out.add(kmer)
            if both:
                out.add(_rc(kmer))
    return out


def _brute_hits(seq, kmers):
    return [i for i in range(len(seq) - K + 1) if seq[i : i + K] in kmers]


def test_kmer_codes_by_hand():
    rng = random.Random(1)
    for k in (1, 2, 3, 7, 16, 31, 32):
        s = "".join(rng.choice("ACGTN" if rng.random() < 0.05 else "ACGT") for _ in range(300))
        f, r, valid = kmer_codes(encode([s])[0], k)
        assert len(f) == len(s) - k + 1
        for i in range(len(s) - k + 1):
            w = s[i : i + k]
            assert valid[i] == ("N" not in w)
            if valid[i]:
                assert int(f[i]) == int(w.translate(str.maketrans("ACGT", "0123")), 4)
                assert int(r[i]) == int(_rc(w).translate(str.maketrans("ACGT", "0123")), 4)
    assert reverse_complement("AACGTN") == "NACGTT"
    with pytest.raises(ValueError, match="not A C G T N"):
        encode(["ACGU"])
    with pytest.raises(ValueError, match="k must be"):
        kmer_codes(encode(["ACGT"])[0], 33)


def test_filter_rule_on_a_made_up_case():
    rng = random.Random(2)
    rand = lambda n: "".join(rng.choice("ACGT") for _ in range(n))  # noqa: E731
    probe = rand(50)
    ek = EvalKmers({"t:test": [probe]})
    genome = rand(3000) + _rc(probe) + rand(2000)  # the reverse strand of an evaluated sequence, inside a genome
    short_hit = rand(40) + probe[5:37] + rand(40)  # one shared 32-mer: a 112 bp row goes whole
    short_31 = rand(40) + probe[5:36] + rand(40)  # 31 bp shared: kept
    with_n = probe[:20] + "N" + probe[21:]  # the N breaks every k-mer that holds it
    kept, st = filter_sequences([genome, short_hit, short_31, with_n], ek)
    assert kept[0] == [(0, 3000), (3050, 5050)]  # exactly the 50 bp covered by matching 32-mers cut out
    assert kept[1] == [] and kept[2] == [(0, len(short_31))] and kept[3] == [(0, 50)]
    assert (st.removed_sequences, st.cut_sequences, st.cut_bp) == (1, 1, 50)
    assert st.removed_bp == 50 + len(short_hit)
    # forward-only sets do not see the reverse strand
    fwd = EvalKmers({"t:test": [probe]}, both_strands=False)
    assert filter_sequences([genome], fwd)[0][0] == [(0, len(genome))]
    assert KmerSet(np.zeros(0, np.uint64)).any_hit([genome]).tolist() == [False]


def test_filter_matches_brute_force_on_real_subsets(shared_data):
    rng = random.Random(0)
    evaluated = {
        "tf_2:test": _rows(shared_data, "tf_2", "test"),
        "prom_core_tata:test": _rows(shared_data, "prom_core_tata", "test"),
        "mouse_2:dev": _rows(shared_data, "mouse_2", "dev"),
    }
    corpus = (
        rng.sample(_rows(shared_data, "tf_0", "train"), 3000)
        + rng.sample(_rows(shared_data, "prom_300_tata", "train"), 1500)
        + rng.sample(_rows(shared_data, "mouse_2", "train"), 800)
    )
    genome = [s for _, s in read_fasta(shared_data / "genomes" / "human_GRCh38_fragments_biopython.fa")]
    corpus += genome
    ek = EvalKmers(evaluated)
    brute = _brute_set([s for v in evaluated.values() for s in v])
    assert len(ek) * 2 >= len(brute) >= len(ek)  # canonical codes: one per pair of strands

    idx, pos = ek.hits(corpus)
    got = {}
    for i, p in zip(idx.tolist(), pos.tolist()):
        got.setdefault(i, []).append(p)
    want = {i: h for i, s in enumerate(corpus) if (h := _brute_hits(s, brute))}
    assert got == want
    assert sum(1 for i in want if i < 3000) > 50  # the subsets do overlap: the test has teeth

    kept, st = filter_sequences(corpus, ek)
    for i, s in enumerate(corpus):
        if i not in want:
            assert kept[i] == [(0, len(s))]
        elif len(s) <= 1000:
            assert kept[i] == []
        else:  # genome records: the kept pieces are exactly the bases no matching 32-mer covers
            covered = bytearray(len(s))
            for p in want[i]:
                covered[p : p + K] = b"\x01" * K
            runs, a = [], None
            for j, c in enumerate(covered + b"\x01"):
                if not c and a is None:
                    a = j
                elif c and a is not None:
                    runs.append((a, j))
                    a = None
            assert kept[i] == runs
            assert all(not _brute_hits(s[a:b], brute) for a, b in runs)
    assert st.removed_sequences == sum(1 for i in want if len(corpus[i]) <= 1000)


@pytest.mark.slow
def test_measured_gue_overlaps(shared_data):
    """The two overlap facts quoted for GUE, recomputed (not hard-coded from elsewhere)."""
    core_test = _rows(shared_data, "prom_core_tata", "test")
    p300_train = _rows(shared_data, "prom_300_tata", "train")
    joined = "\n".join(p300_train)
    inside = [s for s in core_test if s in joined]
    assert (len(inside), len(core_test)) == (492, 613)
    # evaluating prom_core_tata removes every prom_300_tata train row that contains one of them
    kept, _ = filter_sequences(p300_train, EvalKmers({"core:test": core_test}))
    containing = {i for i, row in enumerate(p300_train) if any(s in row for s in inside)}
    assert containing and all(kept[i] == [] for i in containing)

    tf0_train = _rows(shared_data, "tf_0", "train")
    tf2_test = _rows(shared_data, "tf_2", "test")
    fwd_set, both_set = _brute_set(tf2_test, both=False), _brute_set(tf2_test)
    brute_fwd = sum(1 for s in tf0_train if any(s[i : i + K] in fwd_set for i in range(len(s) - K + 1)))
    brute_both = sum(1 for s in tf0_train if any(s[i : i + K] in both_set for i in range(len(s) - K + 1)))
    fast_fwd = int(EvalKmers({"tf_2:test": tf2_test}, both_strands=False).any_hit(tf0_train).sum())
    fast_both = int(EvalKmers({"tf_2:test": tf2_test}).any_hit(tf0_train).sum())
    # 789 is the forward-strand count; with the reverse strand 1,005 tf_0 train rows share a 32-mer
    assert brute_fwd == fast_fwd == 789
    assert brute_both == fast_both == 1005
