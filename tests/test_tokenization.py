"""Tests of modeling/tokenization.py: input policy, the three families, special tokens written in the text,
save/load, provenance, the registry, loading as remote code.

References used (independent of the code under test):
- hand-computed ids and spans (k-mer ids as base-4 numbers, written out below);
- the examples in the Nucleotide Transformer tokenizer's docstring (non-overlapping k-mers with N);
- the published DNABERT-2 `tokenizer.json` run through `tokenizers` itself (ids on all shared GUE sequences,
  and the 17 ids of the DNABERT-2 README sequence);
- plain `transformers.PreTrainedTokenizerFast` on the same `tokenizer.json` (padding, truncation, pairs,
  masks, offsets, special tokens written in the text), against which the numpy path for single sequences
  must agree option by option;
- short pure-Python re-implementations of overlapping / non-overlapping k-mers in this file.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import pickle
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import AutoTokenizer, PreTrainedTokenizerFast

import modeling  # noqa: F401  (registers DNATokenizerFast with AutoTokenizer)
from dnalm_core.registry import TOKENIZERS
from modeling.tokenization import (
    PUBLISHED_DNABERT2,
    PUBLISHED_DNABERT2_FINGERPRINT,
    DNATokenizerFast,
    char_tokenizer,
    kmer_tokenizer,
    kmer_vocab,
    load_bpe,
    load_tokenizer,
    normalize_batch,
    normalize_sequence,
    tokenizer_family,
    train_bpe,
)

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------------
# fixtures and independent references
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def gue_sequences(shared_data):
    seqs = []
    for path in sorted((shared_data / "gue").glob("*/*.csv")):
        with open(path, newline="") as handle:
            seqs.extend(row["sequence"] for row in csv.DictReader(handle))
    assert len(seqs) > 40_000  # the four shared tasks, all splits
    return seqs


@pytest.fixture(scope="session")
def published(shared_data):
    return load_bpe(shared_data / "dnabert2")


@pytest.fixture(scope="session")
def published_raw(shared_data):
    return Tokenizer.from_file(str(shared_data / "dnabert2" / "tokenizer.json"))


def clean(seq: str) -> str:
    """The policy written independently: strip, upper, IUPAC -> N."""
    return "".join("N" if c in "RYSWKMBDHV" else c for c in seq.strip().upper())


def kmer_id(kmer: str) -> int:
    """10 + the k-mer read as a base-4 number (A0 C1 G2 T3); single bases are 5..9 as in char."""
    if len(kmer) == 1:
        return {"A": 5, "C": 6, "G": 7, "T": 8, "N": 9}[kmer]
    return 10 + int(kmer.translate(str.maketrans("ACGT", "0123")), 4)


def ref_overlapping(seq: str, k: int):
    s = clean(seq)
    if k == 1 or len(s) < k:
        return [(kmer_id(c), i, i + 1) for i, c in enumerate(s)]
    return [(9 if "N" in s[i : i + k] else kmer_id(s[i : i + k]), i, i + k) for i in range(len(s) - k + 1)]


def ref_nonoverlapping(seq: str, k: int):
    """Nucleotide Transformer rule: split at N; full k-mers from each stretch's start, then single bases."""
    s = clean(seq)
    out, pos = [], 0
    for piece in s.split("N"):
        n_full = len(piece) // k
        for j in range(n_full):
            out.append((kmer_id(piece[j * k : (j + 1) * k]), pos + j * k, pos + (j + 1) * k))
        for j in range(n_full * k, len(piece)):
            out.append((kmer_id(piece[j]), pos + j, pos + j + 1))
        pos += len(piece)
        if pos < len(s):
            out.append((9, pos, pos + 1))
            pos += 1
    return out


def random_dna(rng: random.Random, n: int, min_len: int = 1, max_len: int = 40, messy: bool = True) -> list[str]:
    """Random sequences; messy ones have N, IUPAC codes, lowercase and surrounding whitespace."""
    out = []
    for _ in range(n):
        length = rng.randint(min_len, max_len)
        alphabet = "ACGT" * 6 + "N" + ("acgtnRYkmbdhvsw" if messy else "")
        s = "".join(rng.choice(alphabet) for _ in range(length))
        if messy and rng.random() < 0.3:
            s = rng.choice([" ", "\t", "\n ", "  "]) + s + rng.choice(["", " ", "\n"])
        out.append(s)
    return out


FAMILIES = {
    "char": char_tokenizer,
    "kmer3-overlapping": lambda: kmer_tokenizer(3, True),
    "kmer3-nonoverlapping": lambda: kmer_tokenizer(3, False),
    "kmer6-overlapping": lambda: kmer_tokenizer(6, True),
    "kmer6-nonoverlapping": lambda: kmer_tokenizer(6, False),
}


def build_family(name: str, request):
    """A tokenizer by name; only the published BPE needs (and skips without) the shared data."""
    if name == "bpe-published":
        return load_bpe(request.getfixturevalue("shared_data") / "dnabert2")
    return FAMILIES[name]()


@pytest.fixture(scope="module", params=sorted(FAMILIES) + ["bpe-published"])
def any_tokenizer(request):
    return build_family(request.param, request)


# --------------------------------------------------------------------------------------------------
# input policy
# --------------------------------------------------------------------------------------------------


def test_normalize_sequence_policy():
    assert normalize_sequence("acgtn") == "ACGTN"
    assert normalize_sequence(" \t\nAcGt \n") == "ACGT"
    assert normalize_sequence("\u00a0ACGT\u3000") == "ACGT"  # non-ASCII whitespace around is whitespace too
    for code in "RYSWKMBDHV":
        assert normalize_sequence(f"A{code}{code.lower()}C") == "ANNC"


@pytest.mark.parametrize(
    "seq, char, pos",
    [
        ("ACGX", "X", 3),
        ("  ACXG", "X", 4),  # position in the caller's string, not the stripped one
        ("AC GT", " ", 2),
        ("ACG\tT", "\t", 3),
        ("AC1G", "1", 2),
        ("AC-G", "-", 2),
        ("ACßGT", "ß", 2),  # 'ß'.upper() == 'SS' would shift later positions
        ("ACﬁGX", "ﬁ", 2),  # 'ﬁ'.upper() == 'FI'
        ("ſACG", "ſ", 0),  # 'ſ'.upper() == 'S', an IUPAC code: must not silently become N
        ("ACG\u212a", "\u212a", 3),  # Kelvin sign, lower() == 'k'
        (" AC\u00e9", "\u00e9", 3),
    ],
)
def test_invalid_character_is_named_with_position(seq, char, pos):
    with pytest.raises(ValueError) as info:
        normalize_sequence(seq)
    msg = str(info.value)
    assert repr(char) in msg and f"position {pos}" in msg


@pytest.mark.parametrize("seq, pos", [("ACGU", 3), ("acgu", 3), (" UACG", 1)])
def test_rna_is_rejected(seq, pos):
    with pytest.raises(ValueError, match=rf"RNA base .* position {pos}.*convert U to T"):
        normalize_sequence(seq)


@pytest.mark.parametrize("seq", ["", "   ", "\n\t"])
def test_empty_sequence_is_rejected(seq):
    with pytest.raises(ValueError, match="empty DNA sequence"):
        normalize_sequence(seq)


def test_non_str_is_rejected():
    with pytest.raises(TypeError, match="must be a str"):
        normalize_sequence(b"ACGT")
    with pytest.raises(TypeError, match="sequence 1 of the batch is a bytes"):
        normalize_batch(["ACGT", b"ACGT"])


def test_normalize_batch_matches_single_and_names_index():
    rng = random.Random(0)
    seqs = random_dna(rng, 200)
    assert normalize_batch(seqs) == [normalize_sequence(s) for s in seqs] == [clean(s) for s in seqs]
    with pytest.raises(ValueError, match=r"sequence 2 of the batch: invalid character 'Z' at position 1"):
        normalize_batch(["ACGT", "AC", "AZ", "QQ"])
    with pytest.raises(ValueError, match=r"sequence 1 of the batch: empty"):
        normalize_batch(["ACGT", " "])


BAD_INPUTS = [
    ("ACGU", r"RNA base 'U' at position 3"),
    ("ACXG", r"'X' at position 2"),
    ("  AC GT", r"' ' at position 4"),
    ("ACßG", r"'ß' \(U\+00DF\) at position 2"),
    ("", r"empty DNA sequence"),
]


@pytest.mark.parametrize("bad, message", BAD_INPUTS)
def test_policy_applies_on_every_call_path(any_tokenizer, bad, message):
    tok = any_tokenizer
    calls = [
        lambda: tok(bad),
        lambda: tok(bad, return_offsets_mapping=True),
        lambda: tok.encode(bad),
        lambda: tok.tokenize(bad),
        lambda: tok(bad, padding="max_length", truncation=True, max_length=8, return_tensors="np"),
        lambda: tok("ACGT", bad),  # as the second sequence of a pair
    ]
    for call in calls:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(ValueError, match="sequence 1 of the batch: .*" + message):
        tok(["ACGTACGT", bad])
    with pytest.raises(ValueError, match="sequence 1 of the batch: .*" + message):
        tok(["ACGTACGT", bad], return_offsets_mapping=True, padding=True)


def test_lowercase_iupac_and_whitespace_give_the_same_ids(any_tokenizer):
    tok = any_tokenizer
    rng = random.Random(1)
    seqs = random_dna(rng, 300, min_len=50, max_len=300, messy=False)
    upper = tok(seqs)["input_ids"]
    assert tok([s.lower() for s in seqs])["input_ids"] == upper
    soft = ["".join(c.lower() if rng.random() < 0.5 else c for c in s) for s in seqs]
    assert tok(soft)["input_ids"] == upper
    assert tok([" \t" + s + "\n" for s in seqs])["input_ids"] == upper
    assert tok.encode(seqs[0].lower()) == upper[0]
    assert tok("acrygtn")["input_ids"] == tok("ACNNGTN")["input_ids"]


def test_offsets_index_the_callers_string(any_tokenizer):
    """Each non-special token's span, cut from the caller's (messy) string and cleaned, is that token."""
    tok = any_tokenizer
    rng = random.Random(2)
    seqs = random_dna(rng, 150, max_len=60)
    enc = tok(seqs, return_offsets_mapping=True, return_special_tokens_mask=True)
    for seq, ids, offs, special in zip(seqs, enc["input_ids"], enc["offset_mapping"], enc["special_tokens_mask"]):
        lead = len(seq) - len(seq.lstrip())
        assert offs[0] == offs[-1] == (0, 0) and special[0] == special[-1] == 1
        covered = []
        for tid, (a, b), sp in zip(ids[1:-1], offs[1:-1], special[1:-1]):
            assert sp == 0 and lead <= a < b <= len(seq.rstrip())
            piece = clean(seq[a:b])
            token = tok.convert_ids_to_tokens(tid)
            if tid == 9 and tok.dnalm_family == "kmer":
                assert "N" in piece  # a window / base with an N
            elif tid == 0:
                assert piece == "N"  # BPE has no N token: each N is one [UNK]
            else:
                assert piece == token
            covered.append((a, b))
        if not (tok.dnalm_family == "kmer" and tok.dnalm_overlapping):
            # tokens tile the stripped sequence exactly
            assert [a for a, _ in covered] == [lead] + [b for _, b in covered[:-1]]
            assert covered[-1][1] == lead + len(seq.strip())


# --------------------------------------------------------------------------------------------------
# char
# --------------------------------------------------------------------------------------------------


def test_char_vocabulary_and_ids_are_fixed():
    tok = char_tokenizer()
    assert tok.get_vocab() == {
        "[UNK]": 0,
        "[CLS]": 1,
        "[SEP]": 2,
        "[PAD]": 3,
        "[MASK]": 4,
        "A": 5,
        "C": 6,
        "G": 7,
        "T": 8,
        "N": 9,
    }
    assert (tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.pad_token_id, tok.mask_token_id) == (
        0,
        1,
        2,
        3,
        4,
    )
    assert tok.vocab_size == len(tok) == 10 and tok.padding_side == "right"
    tensors = tok(["ACG", "T"], padding=True, return_tensors="pt")
    assert (
        tensors["input_ids"].tolist() == [[1, 5, 6, 7, 2], [1, 8, 2, 3, 3]]
        and str(tensors["input_ids"].dtype) == "torch.int64"
    )
    enc = tok(" acgtn", return_offsets_mapping=True)
    assert enc["input_ids"] == [1, 5, 6, 7, 8, 9, 2]
    assert enc["offset_mapping"] == [(0, 0), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (0, 0)]
    padded = tok(["ACG", "T"], padding=True)
    assert padded["input_ids"] == [[1, 5, 6, 7, 2], [1, 8, 2, 3, 3]]
    assert padded["attention_mask"] == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]


def test_char_round_trip():
    tok = char_tokenizer()
    rng = random.Random(3)
    for seq in random_dna(rng, 100):
        assert tok.decode(tok.encode(seq), skip_special_tokens=True) == clean(seq)
    assert tok.decode(tok.encode("acg")) == "[CLS]ACG[SEP]"


# --------------------------------------------------------------------------------------------------
# k-mers
# --------------------------------------------------------------------------------------------------


def test_kmer_vocabulary():
    assert kmer_vocab(1) == char_tokenizer().get_vocab()
    v2 = kmer_vocab(2)
    assert len(v2) == 10 + 16 and v2["AA"] == 10 and v2["AC"] == 11 and v2["CA"] == 14 and v2["TT"] == 25
    for k in (3, 6, 8):
        v = kmer_vocab(k)
        assert len(v) == 10 + 4**k
        assert [v[t] for t in ("A", "C", "G", "T", "N")] == [5, 6, 7, 8, 9]
        assert v["A" * k] == 10 and v["T" * k] == 10 + 4**k - 1
        assert v["ACGTACGT"[:k]] == kmer_id("ACGTACGT"[:k])
    assert len(kmer_tokenizer(8, True)) == 65546


def test_overlapping_hand_examples():
    tok = kmer_tokenizer(3, True)
    # ACG = 0*16 + 1*4 + 2 = 6 -> id 16; CGT = 16 + 8 + 3 = 27 -> 37; GTA = 32 + 12 + 0 = 44 -> 54
    enc = tok("ACGTA", return_offsets_mapping=True)
    assert enc["input_ids"] == [1, 16, 37, 54, 2]
    assert enc["offset_mapping"] == [(0, 0), (0, 3), (1, 4), (2, 5), (0, 0)]
    assert tok.tokenize("ACGTA") == ["ACG", "CGT", "GTA"]
    # every window touching the N becomes N; the count stays L - k + 1
    enc = tok("ACGNTTA", return_offsets_mapping=True)
    assert tok.convert_ids_to_tokens(enc["input_ids"]) == ["[CLS]", "ACG", "N", "N", "N", "TTA", "[SEP]"]
    assert enc["offset_mapping"][1:-1] == [(0, 3), (1, 4), (2, 5), (3, 6), (4, 7)]
    # shorter than k: one single-nucleotide token per base, never empty
    enc = tok("Ac", return_offsets_mapping=True)
    assert enc["input_ids"] == [1, 5, 6, 2] and enc["offset_mapping"] == [(0, 0), (0, 1), (1, 2), (0, 0)]
    assert kmer_tokenizer(6, True)("N")["input_ids"] == [1, 9, 2]
    # length exactly k: one token; 6-mers of 10 bp: 5 tokens
    assert tok("TTT")["input_ids"] == [1, 10 + 63, 2]
    assert len(kmer_tokenizer(6, True)("ACGTACGTAC")["input_ids"]) == 2 + 5


def test_nonoverlapping_hand_examples():
    tok = kmer_tokenizer(3, False)
    # 8 bp, k = 3: two 3-mers then the 2 remaining bases singly. TAC = 48 + 0 + 1 = 49 -> 59
    enc = tok("ACGTACGT", return_offsets_mapping=True)
    assert enc["input_ids"] == [1, 16, 59, 7, 8, 2]
    assert enc["offset_mapping"][1:-1] == [(0, 3), (3, 6), (6, 7), (7, 8)]
    # the examples of the Nucleotide Transformer tokenizer's docstring (k = 5)
    nt = kmer_tokenizer(5, False)
    assert nt.tokenize("ATCGAATGGCGATGCAC") == ["ATCGA", "ATGGC", "GATGC", "A", "C"]
    assert nt.tokenize("ATCGAATNGGCGATGCAC") == ["ATCGA", "A", "T", "N", "GGCGA", "TGCAC"]
    # nothing is dropped or [UNK]: remainders and Ns are single tokens
    assert tok.tokenize("NNACGTAN") == ["N", "N", "ACG", "T", "A", "N"]
    assert tok.tokenize("AC") == ["A", "C"]


@pytest.mark.parametrize("k", range(1, 9))
def test_kmers_against_python_reference(k):
    rng = random.Random(10 + k)
    seqs = random_dna(rng, 120, max_len=3 * k + 12)
    for overlapping, ref in ((True, ref_overlapping), (False, ref_nonoverlapping)):
        tok = kmer_tokenizer(k, overlapping)
        enc = tok(seqs, return_offsets_mapping=True)
        for seq, ids, offs in zip(seqs, enc["input_ids"], enc["offset_mapping"]):
            lead = len(seq) - len(seq.lstrip())
            expected = ref(seq, k)
            assert ids[1:-1] == [t for t, _, _ in expected], (seq, k, overlapping)
            assert offs[1:-1] == [(a + lead, b + lead) for _, a, b in expected]
            if overlapping and len(clean(seq)) >= k:
                assert len(ids) - 2 == len(clean(seq)) - k + 1
        if not overlapping:  # round trip
            for seq in seqs:
                assert tok.decode(tok.encode(seq), skip_special_tokens=True) == clean(seq)


# --------------------------------------------------------------------------------------------------
# fast path == plain transformers on the same tokenizer.json, option by option
# --------------------------------------------------------------------------------------------------

OPTION_SETS = [
    {},
    {"add_special_tokens": False},
    {"padding": True},
    {"padding": True, "pad_to_multiple_of": 8},
    {"padding": "max_length", "max_length": 20},
    {"padding": "max_length", "max_length": 20, "truncation": True},
    {"truncation": True, "max_length": 7},
    {"truncation": "only_first", "max_length": 9},
    {"truncation": True, "max_length": 2},
    {"truncation": "only_first", "max_length": 2, "return_special_tokens_mask": True},
    {"truncation": True, "max_length": 10, "padding": True, "return_tensors": "np"},
    {"padding": True, "padding_side": "left", "return_special_tokens_mask": True},
    {"return_token_type_ids": True, "return_special_tokens_mask": True, "return_length": True},
    {"return_offsets_mapping": True},
    {"return_offsets_mapping": True, "padding": True, "truncation": True, "max_length": 12},
    {"return_offsets_mapping": True, "padding": True, "return_tensors": "np", "padding_side": "left"},
]
PAIR_OPTION_SETS = [
    {"return_token_type_ids": True},
    {"return_token_type_ids": True, "add_special_tokens": False},
    {"truncation": True, "max_length": 11, "return_token_type_ids": True, "return_offsets_mapping": True},
    {"truncation": "only_first", "max_length": 30, "padding": True},
    {"truncation": "only_second", "max_length": 30, "return_special_tokens_mask": True},
    {"truncation": "longest_first", "max_length": 9, "padding": "max_length", "return_tensors": "np"},
    {"truncation": True, "max_length": 12, "return_token_type_ids": True},  # odd budget (9) to share
    {"truncation": True, "max_length": 3, "return_special_tokens_mask": True},  # budget 0
]


def as_plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list):
        return [as_plain(v) for v in value]
    if isinstance(value, tuple):
        return list(value)
    return value


def assert_same_encoding(ours, ref, context):
    assert set(ours.keys()) == set(ref.keys()), context
    for key in ref:
        assert as_plain(ours[key]) == as_plain(ref[key]), (context, key)


def compare_with_reference(tok, ref, first, second=None, options=(), sides=("right", "left")):
    for opts in options:
        for side in sides:
            tok.truncation_side = ref.truncation_side = side
            context = (opts, side)
            try:
                expected = ref(first, second, **opts) if second is not None else ref(first, **opts)
            except Exception:
                with pytest.raises(ValueError):  # `tokenizers` refuses: we must refuse too
                    tok(first, second, **opts) if second is not None else tok(first, **opts)
                continue
            got = tok(first, second, **opts) if second is not None else tok(first, **opts)
            assert_same_encoding(got, expected, context)
    tok.truncation_side = ref.truncation_side = "right"


@pytest.mark.parametrize(
    "build",
    [
        char_tokenizer,
        lambda: kmer_tokenizer(1, False),
        lambda: kmer_tokenizer(3, False),
        lambda: kmer_tokenizer(6, False),
        "bpe-published",
    ],
    ids=["char", "kmer1", "kmer3-nonoverlapping", "kmer6-nonoverlapping", "bpe-published"],
)
def test_fast_path_matches_plain_transformers(build, request):
    tok = build_family(build, request) if isinstance(build, str) else build()
    # Plain transformers on our saved tokenizer.json: its normalizer carries the policy's mapping.
    ref = PreTrainedTokenizerFast(
        tokenizer_object=tok.backend_tokenizer, pad_token="[PAD]", model_input_names=["input_ids", "attention_mask"]
    )
    rng = random.Random(4)
    seqs = random_dna(rng, 25, max_len=30)
    compare_with_reference(tok, ref, seqs, options=OPTION_SETS)
    compare_with_reference(tok, ref, seqs[0], options=OPTION_SETS, sides=("right",))  # one unbatched str
    compare_with_reference(tok, ref, seqs[:12], seqs[12:24], options=PAIR_OPTION_SETS)
    compare_with_reference(tok, ref, seqs[1], seqs[2], options=PAIR_OPTION_SETS[:3], sides=("right",))
    # only_first / only_second that succeed: one long and one short sequence per pair
    longs, shorts = random_dna(rng, 10, 30, 50), random_dna(rng, 10, 1, 8)
    compare_with_reference(
        tok,
        ref,
        longs,
        shorts,
        options=[{"truncation": "only_first", "max_length": 30, "return_token_type_ids": True, "padding": True}],
    )
    compare_with_reference(
        tok,
        ref,
        shorts,
        longs,
        options=[{"truncation": "only_second", "max_length": 30, "return_offsets_mapping": True}],
    )


def test_overlapping_assembly_matches_plain_transformers():
    """Overlapping k-mers have no exact pipeline: feed the reference k-mers, space-joined, to a WordLevel."""
    k = 4
    tok = kmer_tokenizer(k, True)
    backend = Tokenizer(models.WordLevel(kmer_vocab(k), unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    ref = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="[PAD]", model_input_names=["input_ids", "attention_mask"]
    )
    inv = {v: t for t, v in kmer_vocab(k).items()}
    rng = random.Random(5)
    seqs = random_dna(rng, 24, max_len=25)
    as_words = [" ".join(inv[t] for t, _, _ in ref_overlapping(s, k)) for s in seqs]

    def no_offsets(options):
        return [o for o in options if not o.get("return_offsets_mapping")]

    for opts in no_offsets(OPTION_SETS):
        for side in ("right", "left"):
            tok.truncation_side = ref.truncation_side = side
            try:
                expected = ref(as_words, **opts)
            except Exception:
                with pytest.raises(ValueError):
                    tok(seqs, **opts)
                continue
            assert_same_encoding(tok(seqs, **opts), expected, (opts, side))
    tok.truncation_side = ref.truncation_side = "right"
    for opts in no_offsets(PAIR_OPTION_SETS):
        try:
            expected = ref(as_words[:12], as_words[12:], **opts)
        except Exception:
            with pytest.raises(ValueError):
                tok(seqs[:12], seqs[12:], **opts)
            continue
        assert_same_encoding(tok(seqs[:12], seqs[12:], **opts), expected, opts)


def test_unsupported_options_fail_clearly():
    with pytest.raises(ValueError, match="is_split_into_words"):
        char_tokenizer()(["ACG", "T"], is_split_into_words=True)
    with pytest.raises(ValueError, match="overlapping k-mer"):
        kmer_tokenizer(6, True)("ACGTACGTACGT", truncation=True, max_length=4, return_overflowing_tokens=True)
    with pytest.raises(ValueError, match="empty batch"):
        char_tokenizer()([])


def test_overflowing_tokens_use_the_exact_pipeline():
    tok = kmer_tokenizer(2, False)
    enc = tok("acgtacgtac", truncation=True, max_length=4, stride=1, return_overflowing_tokens=True)
    rows = [tok.convert_ids_to_tokens(r) for r in enc["input_ids"]]
    assert rows[0] == ["[CLS]", "AC", "GT", "[SEP]"] and rows[1] == ["[CLS]", "GT", "AC", "[SEP]"]
    with pytest.raises(ValueError, match="'X' at position 1"):
        tok("AX", truncation=True, max_length=4, return_overflowing_tokens=True)


# --------------------------------------------------------------------------------------------------
# BPE
# --------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_published_bpe_ids_equal_tokenizers_on_all_gue_sequences(published, published_raw, gue_sequences):
    expected = [e.ids for e in published_raw.encode_batch(gue_sequences)]
    assert published(gue_sequences)["input_ids"] == expected


def test_published_bpe_golden_and_n(published, published_raw):
    # DNABERT-2 README sequence: 17 ids ([1, 17, 768] hidden states in the authors' issue #27)
    seq = "ACGTAGCATCGGATCTATCTATCGACACTTGGTTATCGATCTACGAGCATCTCGTTAGC"
    assert published(seq)["input_ids"] == [1, 5, 194, 32, 757, 1239, 2092, 294, 24, 359, 88, 93, 32, 75, 77, 19, 2]
    assert published(seq.lower())["input_ids"] == published(seq)["input_ids"]
    # N and IUPAC codes: one [UNK] each, exactly as the published file does with N
    for s in ("ACGTNNNNACGT", "NACGTTGCAN", "GGGNNAAANTTT"):
        assert published(s)["input_ids"] == published_raw.encode(s).ids
        assert published(s.lower().replace("n", "r"))["input_ids"] == published_raw.encode(s).ids
    assert published("ACGTNNNNACGT")["input_ids"].count(0) == 4
    assert published.decode(published(seq)["input_ids"], skip_special_tokens=True) == seq
    assert published.get_vocab() == published_raw.get_vocab()


def test_published_bpe_provenance(published, shared_data):
    fam = tokenizer_family(published)
    assert fam == {
        "family": "bpe",
        "vocab_size": 4096,
        "corpus": PUBLISHED_DNABERT2,
        "fingerprint": PUBLISHED_DNABERT2_FINGERPRINT,
    }
    # the same file loaded by plain transformers (no dnalm fields) is recognised too
    plain = PreTrainedTokenizerFast(tokenizer_file=str(shared_data / "dnabert2" / "tokenizer.json"))
    assert tokenizer_family(plain) == fam


def test_train_bpe_hand_example():
    # only "AAAA...": the single merge is A+A, so vocab = specials, A C G T, AA (id 9)
    tok = train_bpe(["AAAAAA"] * 5, vocab_size=10)
    assert tok.get_vocab() == {
        "[UNK]": 0,
        "[CLS]": 1,
        "[SEP]": 2,
        "[PAD]": 3,
        "[MASK]": 4,
        "A": 5,
        "C": 6,
        "G": 7,
        "T": 8,
        "AA": 9,
    }
    assert tok.tokenize("AAAAAC") == ["AA", "AA", "A", "C"]
    assert tok("aanaa")["input_ids"] == [1, 9, 0, 9, 2]  # N -> [UNK], as in the published vocabulary


TRAIN_SCRIPT = """
import hashlib, json, sys
from transformers import AutoTokenizer, PreTrainedTokenizerFast
# before `import modeling`: the folder's own code is only run when asked for ...
try:
    print("ASKS", "loaded", type(AutoTokenizer.from_pretrained({char_dir!r})).__name__)
except ValueError as err:
    print("ASKS", "trust_remote_code=True" in str(err))
# ... and the plain library class reads its tokenizer.json, whose normalizer folds case and IUPAC codes
plain = PreTrainedTokenizerFast.from_pretrained({char_dir!r})
print("PLAIN", plain("  acgtr")["input_ids"])
sys.path.insert(0, {root!r})
from modeling.tokenization import train_bpe
seqs = json.load(open({corpus!r}))
tok = train_bpe(seqs, vocab_size=300, corpus_name="gue-sample")
print("TRAINED", hashlib.sha256(tok.backend_tokenizer.to_str().encode()).hexdigest())
"""


@pytest.mark.slow
def test_train_bpe(gue_sequences, tmp_path):
    corpus = gue_sequences[:400] + ["NNNN" + gue_sequences[401][:50] + "NN" + gue_sequences[402][:30].lower()]
    tok = train_bpe(corpus, vocab_size=300, corpus_name="gue-sample")
    vocab = tok.get_vocab()
    assert len(vocab) == 300
    assert [vocab[t] for t in ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "A", "C", "G", "T")] == list(range(9))
    assert not any("N" in t for t in vocab if not t.startswith("["))
    # the class's fast path agrees with the trained `tokenizers` pipeline
    sample = gue_sequences[1000:1300]
    assert tok(sample)["input_ids"] == [e.ids for e in tok.backend_tokenizer.encode_batch(sample)]
    assert tokenizer_family(tok)["corpus"] == "gue-sample" and tokenizer_family(tok)["vocab_size"] == 300
    # deterministic: again in this process, and in a fresh process (other hash seeds); the same script
    # checks that a saved char folder, loaded by plain transformers without `import modeling`, still
    # folds case and IUPAC codes through the tokenizer.json normalizer.
    again = train_bpe(corpus, vocab_size=300, corpus_name="gue-sample")
    assert again.backend_tokenizer.to_str() == tok.backend_tokenizer.to_str()
    (tmp_path / "corpus.json").write_text(json.dumps(corpus))
    char_tokenizer().save_pretrained(tmp_path / "char")
    script = TRAIN_SCRIPT.format(root=str(ROOT), corpus=str(tmp_path / "corpus.json"), char_dir=str(tmp_path / "char"))
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONHASHSEED": "123"},
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if line.startswith(("TRAINED", "PLAIN")))
    assert lines["TRAINED"] == hashlib.sha256(tok.backend_tokenizer.to_str().encode()).hexdigest()
    assert lines["PLAIN"] == "[1, 5, 6, 7, 8, 9, 2]"
    assert "ASKS True" in out.stdout  # (after transformers' own "[y/N]" prompt, on the same line)
    # save, reload through load_bpe and AutoTokenizer: same ids, provenance kept
    tok.save_pretrained(tmp_path / "bpe")
    config = json.loads((tmp_path / "bpe" / "tokenizer_config.json").read_text())
    assert config["dnalm_family"] == "bpe" and config["dnalm_corpus"] == "gue-sample"
    for reloaded in (
        load_bpe(tmp_path / "bpe"),
        AutoTokenizer.from_pretrained(tmp_path / "bpe"),
        TOKENIZERS.get("bpe").build(path=tmp_path / "bpe"),
    ):
        assert isinstance(reloaded, DNATokenizerFast)
        assert reloaded(sample)["input_ids"] == tok(sample)["input_ids"]
        assert tokenizer_family(reloaded) == tokenizer_family(tok)
    assert tokenizer_family(tok)["fingerprint"] != PUBLISHED_DNABERT2_FINGERPRINT


def test_train_bpe_cuts_long_stretches(gue_sequences):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from modeling.tokenization import BPE_PIECE_BP, _training_pieces

    # by hand: cut at N, then consecutive pieces of at most BPE_PIECE_BP
    pieces = list(_training_pieces(["A" * (2 * BPE_PIECE_BP + 5000) + "NN" + "c" * 5]))
    assert [len(p) for p in pieces] == [BPE_PIECE_BP, BPE_PIECE_BP, 5000, 5] and pieces[-1] == "CCCCC"
    # a chromosome-like sequence (3 pieces' worth, one N) trains like a plain `tokenizers` BPE fed the cut pieces
    long_seq = "".join(gue_sequences[:600])[: 2 * BPE_PIECE_BP + 7000]
    long_seq = long_seq[:30_000] + "N" + long_seq[30_000:]
    tok = train_bpe([long_seq], vocab_size=200)
    cut = [
        long_seq[:30_000][:BPE_PIECE_BP],
        long_seq[:30_000][BPE_PIECE_BP:],
        long_seq[30_001:][:BPE_PIECE_BP],
        long_seq[30_001:][BPE_PIECE_BP:],
    ]
    ref = Tokenizer(models.BPE(unk_token="[UNK]"))
    ref.pre_tokenizer = pre_tokenizers.Whitespace()
    ref.train_from_iterator(
        cut,
        trainer=trainers.BpeTrainer(
            vocab_size=200,
            special_tokens=["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"],
            initial_alphabet=list("ACGT"),
            show_progress=False,
        ),
    )
    assert tok.backend_tokenizer.get_vocab() == ref.get_vocab()
    merges = [json.loads(t.to_str())["model"]["merges"] for t in (tok.backend_tokenizer, ref)]
    assert merges[0] == merges[1] and len(merges[0]) == 200 - 9
    sample = gue_sequences[1000:1100]
    assert [e.ids for e in tok.backend_tokenizer.encode_batch(sample, add_special_tokens=False)] == [
        e.ids for e in ref.encode_batch(sample, add_special_tokens=False)
    ]


def test_train_bpe_bad_input():
    with pytest.raises(ValueError, match="vocab_size must be an int >= 10"):
        train_bpe(["ACGT"], vocab_size=5)
    with pytest.raises(ValueError, match="training sequence 1: invalid character 'X' at position 2"):
        train_bpe(["ACGT", "ACXT"], vocab_size=20)
    with pytest.raises(TypeError, match="not one str"):
        train_bpe("ACGT", vocab_size=20)
    with pytest.raises(ValueError, match="no sequence"):
        train_bpe(["NNNN"], vocab_size=20)


def test_load_bpe_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer.json"):
        load_bpe(tmp_path / "missing")
    kmer_tokenizer(2, False).save_pretrained(tmp_path / "kmer")
    with pytest.raises(ValueError, match="not a BPE"):
        load_bpe(tmp_path / "kmer")


# --------------------------------------------------------------------------------------------------
# special tokens written in the text
# --------------------------------------------------------------------------------------------------

SPECIALS = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
SPECIAL_ID = {tok: i for i, tok in enumerate(SPECIALS)}


def with_specials(rng: random.Random, n: int) -> list[str]:
    """Messy DNA with special tokens written in it (never whitespace inside, sometimes around the whole)."""
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 4)):
            parts.append("".join(rng.choice("ACGT" * 4 + "acgtNnRy") for _ in range(rng.randint(0, 12))))
            parts.append(rng.choice(SPECIALS))
        if rng.random() < 0.5:
            parts.append("".join(rng.choice("ACGT") for _ in range(rng.randint(1, 9))))
        text = "".join(parts)
        out.append(rng.choice(["", " ", "\t "]) + text + rng.choice(["", "\n"]) if rng.random() < 0.3 else text)
    return out


def ref_with_specials(text: str, k: int):
    """Overlapping k-mers of each DNA stretch on its own, special tokens in between: (id, start, end)."""
    lead = len(text) - len(text.lstrip())
    body = text.strip()
    pieces = re.split(r"(\[UNK\]|\[CLS\]|\[SEP\]|\[PAD\]|\[MASK\])", body)
    out, pos = [], lead
    for piece in pieces:
        if piece in SPECIAL_ID:
            out.append((SPECIAL_ID[piece], pos, pos + len(piece)))
        elif piece:
            out += [(t, a + pos, b + pos) for t, a, b in ref_overlapping(piece, k)]
        pos += len(piece)
    return out


@pytest.mark.parametrize("name", ["char", "kmer3-nonoverlapping", "kmer6-nonoverlapping", "bpe-published"])
def test_special_tokens_in_text_match_the_pipeline(name, request):
    """Exact families: what the `tokenizers` pipeline does with added tokens in the text (split there,
    encode each side on its own), offsets and special-token masks included."""
    tok = build_family(name, request)
    ref = PreTrainedTokenizerFast(
        tokenizer_object=tok.backend_tokenizer, pad_token="[PAD]", model_input_names=["input_ids", "attention_mask"]
    )
    seqs = with_specials(random.Random(20), 60)
    opts = {"return_offsets_mapping": True, "return_special_tokens_mask": True}
    assert_same_encoding(tok(seqs, **opts), ref(seqs, **opts), name)
    padded = {"padding": True, "return_tensors": "np"}
    assert_same_encoding(tok(seqs, **padded), ref(seqs, **padded), name)
    bare = {"add_special_tokens": False, **opts}
    assert_same_encoding(tok(seqs[0], **bare), ref(seqs[0], **bare), name)
    assert_same_encoding(
        tok(seqs[:30], seqs[30:], truncation=True, max_length=20, **opts),
        ref(seqs[:30], seqs[30:], truncation=True, max_length=20, **opts),
        name,
    )


@pytest.mark.parametrize("k", [1, 3, 6])
def test_special_tokens_in_text_overlapping(k):
    tok = kmer_tokenizer(k, True)
    seqs = with_specials(random.Random(21 + k), 80)
    for pairs in (False, True):
        if pairs:
            enc = tok(seqs[:40], seqs[40:], return_offsets_mapping=True)
        else:
            enc = tok(seqs, return_offsets_mapping=True)
        for i, (ids, offs) in enumerate(zip(enc["input_ids"], enc["offset_mapping"])):
            expected = ref_with_specials(seqs[i], k)
            if pairs:
                second = ref_with_specials(seqs[40 + i], k)
                expected = [(1, 0, 0)] + expected + [(2, 0, 0)] + second + [(2, 0, 0)]
            else:
                expected = [(1, 0, 0)] + expected + [(2, 0, 0)]
            assert ids == [t for t, _, _ in expected], (seqs[i], k)
            assert offs == [(a, b) for _, a, b in expected]


def test_special_token_meaning_per_family(published):
    text = "ACGTA[MASK]CCGTT"
    assert char_tokenizer().tokenize(text) == ["A", "C", "G", "T", "A", "[MASK]", "C", "C", "G", "T", "T"]
    # a boundary: each side is cut (non-overlapping) or windowed (overlapping) on its own
    assert kmer_tokenizer(3, False).tokenize(text) == ["ACG", "T", "A", "[MASK]", "CCG", "T", "T"]
    assert kmer_tokenizer(3, True).tokenize(text) == ["ACG", "CGT", "GTA", "[MASK]", "CCG", "CGT", "GTT"]
    assert kmer_tokenizer(3, True).tokenize("AC[MASK]GTTA") == ["A", "C", "[MASK]", "GTT", "TTA"]
    # BPE: each side alone, so no merge crosses the mask
    assert published.tokenize("ACGTAC[MASK]TTGCA") == (
        published.tokenize("ACGTAC") + ["[MASK]"] + published.tokenize("TTGCA")
    )
    # the template still adds [CLS] ... [SEP] around written ones, as BERT does
    char = char_tokenizer()
    assert char("[CLS]AC[SEP]")["input_ids"] == [1, 1, 5, 6, 2, 2]
    assert char("[CLS]AC[SEP]", add_special_tokens=False)["input_ids"] == [1, 5, 6, 2]
    assert char("[MASK]")["input_ids"] == [1, 4, 2] and char(["[MASK][MASK]"])["input_ids"] == [[1, 4, 4, 2]]


def test_special_tokens_in_text_keep_the_policy(any_tokenizer):
    tok = any_tokenizer
    cases = [
        ("AC[MASK]GX", r"'X' at position 9"),
        ("  AC[MASK]GU", r"RNA base 'U' at position 11"),
        ("AC [MASK]G", r"' ' at position 2"),  # no whitespace next to a special token inside
        ("AC[MASK] G", r"' ' at position 8"),
        ("AC[mask]G", r"'\[' at position 2 .*spelled exactly"),  # not a special token: lower case
        ("AC[MASK", r"'\[' at position 2"),
        ("ACG]", r"'\]' at position 3"),
    ]
    for bad, message in cases:
        with pytest.raises(ValueError, match=message):
            tok(bad)
        with pytest.raises(ValueError, match="sequence 1 of the batch: .*" + message):
            tok(["AC[MASK]GT", bad], return_offsets_mapping=True)
        with pytest.raises(ValueError, match=message):
            tok("ACGT", bad)
    # a special token never spans two sequences of a batch
    with pytest.raises(ValueError, match=r"sequence 0 of the batch: invalid character '\[' at position 2"):
        tok(["AC[MA", "SK]GT"])
    # split_special_tokens=True reads the brackets as text, which the policy refuses
    with pytest.raises(ValueError, match=r"'\[' at position 2"):
        tok("AC[MASK]GT", split_special_tokens=True)
    # lowercase and IUPAC codes around a special token fold as anywhere else
    assert tok("acgr[MASK]tn")["input_ids"] == tok("ACGN[MASK]TN")["input_ids"]


def test_decoding_gives_dna_without_spaces(published):
    for tok in (char_tokenizer(), kmer_tokenizer(3, False), kmer_tokenizer(6, False), published):
        ids = tok("ACGTAC[MASK]TTGCA")["input_ids"]
        assert tok.decode(ids) == "[CLS]ACGTAC[MASK]TTGCA[SEP]"
        assert tok.decode(ids, skip_special_tokens=True) == "ACGTACTTGCA"
    # overlapping windows are no DNA to concatenate: they decode as space-separated k-mers
    tok = kmer_tokenizer(3, True)
    assert tok.decode(tok("ACGTA[MASK]CC")["input_ids"]) == "[CLS] ACG CGT GTA [MASK] C C [SEP]"


# --------------------------------------------------------------------------------------------------
# save / load, registry, provenance
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FAMILIES) + ["bpe-published"])
def test_save_and_load_with_autotokenizer(name, tmp_path, request):
    tok = build_family(name, request)
    tok.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "DNATokenizerFast"
    assert config["dnalm_family"] == tok.dnalm_family
    # the folder carries this tokenizer's code for trust_remote_code=True (tests/test_remote_code.py)
    assert config["auto_map"] == {"AutoTokenizer": [None, "tokenization_dna.DNATokenizerFast"]}
    assert (tmp_path / "tokenization_dna.py").is_file() and (tmp_path / "dna_policy.py").is_file()
    loaded = AutoTokenizer.from_pretrained(tmp_path)  # no trust_remote_code
    assert type(loaded) is DNATokenizerFast
    assert tokenizer_family(loaded) == tokenizer_family(tok)
    sample = random_dna(random.Random(6), 60, max_len=200) + ["acgtn", " ACGTRYACG\n", "A"]
    for opts in ({}, {"return_offsets_mapping": True, "padding": True, "truncation": True, "max_length": 30}):
        assert_same_encoding(loaded(sample, **opts), tok(sample, **opts), opts)
    assert loaded.pad_token_id == 3 and loaded.padding_side == "right"
    with pytest.raises(ValueError, match="'X' at position 2"):
        loaded("ACX")
    assert pickle.loads(pickle.dumps(loaded))(sample)["input_ids"] == tok(sample)["input_ids"]
    via_helper = load_tokenizer(tmp_path)  # what train.py calls on a model folder
    assert type(via_helper) is DNATokenizerFast and tokenizer_family(via_helper) == tokenizer_family(tok)
    assert via_helper(sample)["input_ids"] == tok(sample)["input_ids"]


def test_load_tokenizer_published_and_errors(shared_data, tmp_path):
    tok = load_tokenizer(shared_data / "dnabert2")
    assert tokenizer_family(tok)["fingerprint"] == PUBLISHED_DNABERT2_FINGERPRINT
    assert tok("acgtn")["input_ids"] == load_bpe(shared_data / "dnabert2")("ACGTN")["input_ids"]
    with pytest.raises(FileNotFoundError, match="no tokenizer folder"):
        load_tokenizer(tmp_path / "missing")
    # a Hub id while offline (the tests set HF_HUB_OFFLINE=1): one clear error, no retries
    with pytest.raises(FileNotFoundError, match="could not be fetched from the Hub"):
        load_tokenizer("someone/not-a-local-folder")


def test_kmer_provenance_and_family():
    tok = kmer_tokenizer(6, True)
    assert tokenizer_family(tok) == {"family": "kmer", "k": 6, "overlapping": True}
    assert tokenizer_family(kmer_tokenizer(4, False)) == {"family": "kmer", "k": 4, "overlapping": False}
    assert tokenizer_family(char_tokenizer()) == {"family": "char"}
    assert tok.init_kwargs["dnalm_k"] == 6 and tok.init_kwargs["dnalm_overlapping"] is True
    with pytest.raises(ValueError, match="cannot tell the family"):
        tokenizer_family(PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"x": 0}, unk_token="x"))))


def test_registry(shared_data, tmp_path):
    assert {"char", "kmer", "bpe"} <= set(TOKENIZERS.names())
    assert TOKENIZERS.get("char").build()("ACGT")["input_ids"] == [1, 5, 6, 7, 8, 2]
    assert tokenizer_family(TOKENIZERS.get("kmer").build(k=6, overlapping=False))["overlapping"] is False
    kmer6 = TOKENIZERS.get("kmer").build(k=6, overlapping=True)
    assert tokenizer_family(kmer6) == {"family": "kmer", "k": 6, "overlapping": True}
    with pytest.raises(ValueError, match="needs path="):
        TOKENIZERS.get("bpe").build()
    published = TOKENIZERS.get("bpe").build(path=shared_data / "dnabert2")
    assert tokenizer_family(published)["fingerprint"] == PUBLISHED_DNABERT2_FINGERPRINT
    trained = TOKENIZERS.get("bpe").build(sequences=["ACGTACGTTTGACA"] * 20, vocab_size=14, corpus_name="toy")
    assert tokenizer_family(trained)["corpus"] == "toy" and len(trained) == 14
    with pytest.raises(ValueError, match="needs path="):
        TOKENIZERS.get("bpe").build(path=shared_data / "dnabert2", sequences=["ACGT"], vocab_size=12)
    with pytest.raises(ValueError, match="vocab_size="):
        TOKENIZERS.get("bpe").build(sequences=["ACGT"])
    char_tokenizer().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="char tokenizer, not a BPE"):
        TOKENIZERS.get("bpe").build(path=tmp_path)


def test_tokenization_module_imports_only_the_policy_from_the_suite():
    """So that a model folder can carry tokenization.py (+ dna_policy.py) as remote code."""
    import ast

    tree = ast.parse((ROOT / "modeling" / "tokenization.py").read_text())
    suite = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.level == 0
        and node.module.split(".")[0] in {"dnalm_core", "modeling", "training", "data_scripts", "assess"}
    ]
    assert suite == ["dnalm_core.policy"]


REMOTE_SCRIPT = """
import sys
sys.modules["dnalm_core"] = None  # as in a model folder used elsewhere: the suite is not importable
from transformers.dynamic_module_utils import get_class_from_dynamic_module
cls = get_class_from_dynamic_module("tokenization.DNATokenizerFast", {folder!r})
module = sys.modules[cls.__module__]
print("POLICY", module.PreparedBatch.__module__.rsplit(".", 1)[-1])
print("IDS", module.kmer_tokenizer(3, True)(" acgtA[MASK]CCGTT")["input_ids"])
"""


def test_tokenization_loads_as_remote_code(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "tokenization.py").write_text((ROOT / "modeling" / "tokenization.py").read_text())
    (folder / "dna_policy.py").write_text((ROOT / "dnalm_core" / "policy.py").read_text())
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "-c", REMOTE_SCRIPT.format(folder=str(folder))],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if line.startswith(("POLICY", "IDS")))
    assert lines["POLICY"] == "dna_policy"
    assert lines["IDS"] == str(kmer_tokenizer(3, True)(" acgtA[MASK]CCGTT")["input_ids"])


@pytest.mark.parametrize(
    "k, overlapping", [(0, True), (9, False), (True, True), ("6", True), (2.0, False), (3, None), (3, "yes")]
)
def test_kmer_bad_arguments(k, overlapping):
    with pytest.raises(ValueError, match="k must be an int from 1 to 8|overlapping must be True"):
        kmer_tokenizer(k, overlapping)


def test_wrong_vocabulary_is_refused(tmp_path):
    kmer_tokenizer(3, True).save_pretrained(tmp_path)
    config_path = tmp_path / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["dnalm_k"] = 4  # the folder's vocabulary is a 3-mer one
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not hold the 4-mer"):
        AutoTokenizer.from_pretrained(tmp_path)


# --------------------------------------------------------------------------------------------------
# benchmark script (smoke: it runs and reports positive rates for every family)
# --------------------------------------------------------------------------------------------------


def test_benchmark_runs(shared_data, capsys, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "dnalm_benchmark_tokenization", ROOT / "benchmarks" / "tokenization.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    small = ["--data", str(shared_data), "--mbp", "0.02", "--repeats", "1", "--batch-size", "50"]
    rows = bench.main(small + ["--save", str(tmp_path / "before.json")])
    assert [r["family"] for r in rows] == list(bench.FAMILIES)
    assert all(r["mbp"] >= 0.02 and r["mbp_per_s"] > 0 for r in rows)
    assert "Mbp/s" in capsys.readouterr().out
    again = bench.main(small + ["--padded", "--families", "char", "--baseline", str(tmp_path / "before.json")])
    assert again[0]["x_baseline"] > 0 and "x baseline" in capsys.readouterr().out
