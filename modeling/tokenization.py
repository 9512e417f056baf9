"""DNA tokenizers: single nucleotide, k-mer, and BPE (published DNABERT-2 or trained on a corpus).

Public API (other modules, `train.py` and external checks use these names):

- `char_tokenizer()`                       one token per base.
- `kmer_tokenizer(k, overlapping)`          k = 1..8; stride 1 (DNABERT-1) or stride k (Nucleotide Transformer).
- `load_bpe(path)`                          a DNABERT-2-style BPE from a folder holding `tokenizer.json`
                                            (the published `zhihan1996/DNABERT-2-117M` layout, or one saved here).
- `train_bpe(sequences, vocab_size)`        a new DNABERT-2-style BPE trained on an iterable of DNA strings.
- `load_tokenizer(path)`                    any of these from a saved folder (e.g. a model folder), or the
                                            published DNABERT-2 folder.
- `tokenizer_family(tokenizer)`             {"family": ..., ...} describing a tokenizer, for mismatch checks.
- `normalize_sequence(seq)` / `normalize_batch(seqs)`   the input policy below, for data scripts.
- `DNATokenizerFast`                        the class all four families return (a `PreTrainedTokenizerFast`).

Every family: special tokens [UNK] [CLS] [SEP] [PAD] [MASK] at ids 0-4, template `[CLS] seq [SEP]`
(pairs: `[CLS] a [SEP] b [SEP]`, b with token type 1), right padding with [PAD] = 3, and
`return_offsets_mapping=True` gives each token's base-pair span [start, end) in the caller's string.

Input policy (one place, applied to every call path: `tok(seq)`, `tok(list)`, `tok.encode`, `tok.tokenize`,
with or without offsets, pairs included)
-----------------------------------------------------------------------------------------------------
1. Surrounding whitespace (anything `str.strip()` removes) is stripped. Offsets still index the caller's
   original string: the first base of `"  acgt"` has span (2, 3).
2. Lowercase (soft-masked) bases read as uppercase: `acgt` gives the same ids as `ACGT`.
3. The IUPAC ambiguity codes R Y S W K M B D H V (either case) become N.
4. U / u is rejected: these are DNA models (ValueError that says to convert U to T).
5. Any other character -- inner whitespace, digits, '-', '*', non-ASCII letters -- raises a ValueError that
   names the character and its position in the caller's string (and, in a batch, the sequence's index).
6. An empty (or all-whitespace) sequence raises a ValueError.
Checks happen before any case folding, so a non-ASCII character whose `.upper()` has another length
(e.g. 'ß' -> 'SS', or 'ſ' -> 'S', which would otherwise turn into N) is still reported, at its own position.

Families and the letter N
-------------------------
- char: [UNK] [CLS] [SEP] [PAD] [MASK] A C G T N = ids 0..9 (fixed: the one-hot models rely on these ids).
- kmer: the 5 specials, then A C G T N (ids 5-9, as in char), then all 4^k k-mers over ACGT in
  lexicographic order (id 10 + base-4 number of the k-mer, A=0 C=1 G=2 T=3). For k = 1 the k-mer block
  would repeat A C G T, so the vocabulary is the char vocabulary (10 tokens).
  * overlapping (stride 1): a sequence of L >= k bases gives exactly L-k+1 tokens, token i spanning
    [i, i+k). A window that contains an N becomes the single token N (id 9), so the count and spans stay
    those of the windows. A sequence shorter than k gives one single-nucleotide token per base (never an
    empty encoding). Not expressible as a `tokenizers` pipeline: the class encodes it itself (numpy),
    and the saved `tokenizer.json` alone (loaded without `import modeling`) maps a whole sequence to one
    [UNK], an obviously wrong answer instead of a subtly wrong one.
  * non-overlapping (stride k), as the Nucleotide Transformer tokenizer does it: the sequence is cut at
    every N (each N is its own token); each stretch of A/C/G/T is read as full k-mers from its own start,
    and its last (< k) bases become single-nucleotide tokens. Nothing is dropped or mapped to [UNK].
    Example, k = 5: ATCGAATNGGCGATGCAC -> ATCGA A T N GGCGA TGCAC. This is the regex `[ACGT]{k}|.`, so it
    is also an exact `tokenizers` pipeline and the saved folder works in plain `transformers`.
- bpe: the published DNABERT-2 vocabulary has no N (nor does one trained by `train_bpe`, which learns from
  the A/C/G/T stretches between Ns), so each N becomes one [UNK] (id 0), exactly as the published
  `tokenizer.json` does. Ids equal the published `tokenizers.Tokenizer` on clean uppercase input.

How the policy reaches every path: all families return `DNATokenizerFast`, which validates and
normalises in Python before encoding (and encodes char / k-mer with vectorised numpy, BPE through the
Rust BPE model directly, skipping the slower generic pipeline). The saved `tokenizer.json` also carries
the policy as a `tokenizers` normalizer (strip, lowercase -> uppercase, IUPAC -> N), so a folder loaded by
plain `transformers` without `import modeling` still folds case and IUPAC codes -- it just cannot raise
on bad characters. `import modeling` registers `DNATokenizerFast` with `AutoTokenizer`, so
`AutoTokenizer.from_pretrained(folder)` returns it without `trust_remote_code`. Pretokenized input
(`is_split_into_words=True`) is rejected: DNA has no words.

Provenance saved in `tokenizer_config.json`: `dnalm_family`, `dnalm_k`, `dnalm_overlapping`,
`dnalm_corpus` (see `tokenizer_family`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedConfig, PreTrainedTokenizerFast
from transformers.tokenization_utils_base import BatchEncoding, PaddingStrategy, TruncationStrategy

from dnalm_core.policy import IUPAC_AMBIGUITY, NUCLEOTIDES, PreparedBatch, is_batch, normalize_batch, normalize_sequence  # noqa: F401
from dnalm_core.registry import TOKENIZERS, TokenizerEntry

# ----------------------------------------------------------------------------------------------------
# Vocabulary constants
# ----------------------------------------------------------------------------------------------------

SPECIAL_TOKENS = ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]")
UNK_ID, CLS_ID, SEP_ID, PAD_ID, MASK_ID = range(5)
# A=5 C=6 G=7 T=8 N=9: fixed, the one-hot models (ConvNova, U-Net) index their inputs with these ids.
CHAR_VOCAB: dict[str, int] = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + tuple(NUCLEOTIDES))}
BASE_ID = 5  # id of A; code c in 0..4 (A C G T N) has id BASE_ID + c
N_ID = 9
KMER_MIN, KMER_MAX = 1, 8
PUBLISHED_DNABERT2 = "zhihan1996/DNABERT-2-117M"
# `tokenizer_family(...)["fingerprint"]` of the published DNABERT-2 BPE (vocab + merges), so a copy of it
# is recognised whatever folder it was loaded from. tests/test_tokenization.py checks it on the real file.
PUBLISHED_DNABERT2_FINGERPRINT = "836a33fd677e6c4e"

# ----------------------------------------------------------------------------------------------------
# Vectorised encoders. Each returns (ids, counts, starts, ends): token ids of all sequences joined, tokens
# per sequence, and (when asked) each token's span relative to its stripped sequence.
# ----------------------------------------------------------------------------------------------------


def _excl_cumsum(x: np.ndarray) -> np.ndarray:
    out = np.zeros(len(x), dtype=np.int64)
    np.cumsum(x[:-1], out=out[1:])
    return out


def _positions_in_sequence(lengths: np.ndarray) -> np.ndarray:
    total = int(lengths.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(_excl_cumsum(lengths), lengths)


def _kmer_base(k: int) -> int:
    # k = 1: the k-mers are the single nucleotides themselves (ids 5-8); otherwise the k-mer block at 10.
    return BASE_ID if k == 1 else len(CHAR_VOCAB)


def _encode_char(codes: np.ndarray, lengths: np.ndarray, offsets: bool):
    ids = codes.astype(np.int64) + BASE_ID
    if not offsets:
        return ids, lengths, None, None
    starts = _positions_in_sequence(lengths)
    return ids, lengths, starts, starts + 1


def _window_values(codes: np.ndarray, k: int) -> np.ndarray:
    """Base-4 number (A0 C1 G2 T3) of the k bases starting at each position of the joined codes.

    Only meaningful for windows of A/C/G/T inside one sequence; callers discard the others (windows that
    hold an N, whose code 4 spills into the next digit, or that run past a sequence end).
    """
    n = len(codes)
    padded = np.concatenate([codes.astype(np.int32), np.zeros(k - 1, dtype=np.int32)])
    val = padded[:n].copy()
    for j in range(1, k):
        val *= 4
        val += padded[j : j + n]
    return val


def _encode_kmer_overlapping(codes: np.ndarray, lengths: np.ndarray, k: int, offsets: bool):
    n = len(codes)
    if k == 1:
        return _encode_char(codes, lengths, offsets)
    is_n = codes == 4
    has_n = bool(is_n.any())
    ids = _window_values(codes, k).astype(np.int64)
    ids += _kmer_base(k)
    if has_n:
        cum = np.concatenate([[0], np.cumsum(is_n, dtype=np.int64), np.zeros(k - 1, dtype=np.int64)])
        cum[n + 1 :] = cum[n]
        n_in_window = cum[k : k + n] - cum[:n]
        ids[n_in_window > 0] = N_ID
    ends_of_seqs = np.cumsum(lengths)
    long_seq = lengths >= k
    keep = np.ones(n, dtype=bool)
    if long_seq.any():
        # the last k-1 positions of each long sequence start no window
        tail = (ends_of_seqs[long_seq][:, None] - np.arange(1, k)[None, :]).ravel()
        keep[tail] = False
    short_seq = ~long_seq
    if short_seq.any():
        # sequences shorter than k: one single-nucleotide token per base
        pos = np.repeat(ends_of_seqs[short_seq] - lengths[short_seq], lengths[short_seq])
        pos = pos + _positions_in_sequence(lengths[short_seq])
        ids[pos] = codes[pos].astype(np.int64) + BASE_ID
    counts = np.where(long_seq, lengths - k + 1, lengths)
    ids = ids[keep]
    if not offsets:
        return ids, counts, None, None
    starts = _positions_in_sequence(lengths)[keep]
    width = np.repeat(np.where(long_seq, k, 1), counts)
    return ids, counts, starts, starts + width


def _encode_kmer_nonoverlapping(codes: np.ndarray, lengths: np.ndarray, k: int, offsets: bool):
    if k == 1:
        return _encode_char(codes, lengths, offsets)
    seq_starts = _excl_cumsum(lengths)
    is_n = codes == 4
    has_n = bool(is_n.any())
    if has_n:
        # runs: maximal stretches of A/C/G/T inside one sequence; every N is a token of its own
        n = len(codes)
        first = np.zeros(n, dtype=bool)
        first[seq_starts] = True
        last = np.zeros(n, dtype=bool)
        last[seq_starts + lengths - 1] = True
        prev_n = np.concatenate([[True], is_n[:-1]])
        next_n = np.concatenate([is_n[1:], [True]])
        run_starts = np.flatnonzero(~is_n & (first | prev_n))
        run_lengths = np.flatnonzero(~is_n & (last | next_n)) + 1 - run_starts
    else:
        run_starts, run_lengths = seq_starts, lengths
    n_full = run_lengths // k
    per_run = n_full + run_lengths % k
    run_of = np.repeat(np.arange(len(run_starts)), per_run)
    t = np.arange(len(run_of), dtype=np.int64) - np.repeat(_excl_cumsum(per_run), per_run)
    q = n_full[run_of]
    is_kmer = t < q
    # token t of a run starts at t*k while it is a full k-mer, then at q*k + (t - q) for the tail bases
    start = run_starts[run_of] + np.where(is_kmer, t * k, q * (k - 1) + t)
    val = _window_values(codes, k)[start]
    ids = np.where(is_kmer, val.astype(np.int64) + _kmer_base(k), codes[start].astype(np.int64) + BASE_ID)
    width = np.where(is_kmer, k, 1)
    if has_n:
        n_pos = np.flatnonzero(is_n)
        start = np.concatenate([start, n_pos])
        ids = np.concatenate([ids, np.full(len(n_pos), N_ID, dtype=np.int64)])
        width = np.concatenate([width, np.ones(len(n_pos), dtype=np.int64)])
        order = np.argsort(start, kind="stable")
        start, ids, width = start[order], ids[order], width[order]
    seq_of = np.searchsorted(np.cumsum(lengths), start, side="right")
    counts = np.bincount(seq_of, minlength=len(lengths)).astype(np.int64)
    if not offsets:
        return ids, counts, None, None
    rel = start - seq_starts[seq_of]
    return ids, counts, rel, rel + width


def _encode_bpe(backend: Tokenizer, strings: list[str], offsets: bool):
    # The BPE model alone gives the pipeline's ids on policy-clean input: the pipeline's Whitespace
    # pre-tokenizer never splits A/C/G/T/N text, the template only adds [CLS]/[SEP] (done by the
    # assembler), and clean DNA cannot contain an added-token string like "[CLS]". Skipping the generic
    # pipeline (Encoding objects per sequence) is about twice as fast.
    tokenize = backend.model.tokenize
    per_seq = [tokenize(s) for s in strings]
    counts = np.fromiter(map(len, per_seq), dtype=np.int64, count=len(per_seq))
    total = int(counts.sum())
    ids = np.fromiter((t.id for toks in per_seq for t in toks), dtype=np.int64, count=total)
    if not offsets:
        return ids, counts, None, None
    spans = np.fromiter(
        (x for toks in per_seq for t in toks for x in t.offsets), dtype=np.int64, count=2 * total
    ).reshape(-1, 2)
    return ids, counts, spans[:, 0].copy(), spans[:, 1].copy()


# ----------------------------------------------------------------------------------------------------
# `tokenizers` pipelines (saved as tokenizer.json; exact for char, non-overlapping k-mer and BPE)
# ----------------------------------------------------------------------------------------------------


def _policy_normalizer() -> normalizers.Normalizer:
    # The policy's mapping part (no errors possible inside `tokenizers`): strip, IUPAC -> N, lowercase -> upper.
    iupac = "".join(IUPAC_AMBIGUITY + IUPAC_AMBIGUITY.lower() + "n")
    return normalizers.Sequence(
        [normalizers.Strip(), normalizers.Replace(Regex(f"[{iupac}]"), "N")]
        + [normalizers.Replace(b.lower(), b) for b in "ACGT"]
    )


def _template() -> processors.TemplateProcessing:
    return processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)],
    )


def kmer_vocab(k: int) -> dict[str, int]:
    """The k-mer vocabulary: specials, A C G T N (5-9), then the 4^k k-mers in lexicographic order."""
    _check_k(k)
    vocab = dict(CHAR_VOCAB)
    if k > 1:
        for kmer in itertools.product("ACGT", repeat=k):
            vocab["".join(kmer)] = len(vocab)
    return vocab


def _wordlevel_backend(vocab: dict[str, int], pre_tokenizer, decoder) -> Tokenizer:
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.normalizer = _policy_normalizer()
    backend.pre_tokenizer = pre_tokenizer
    backend.post_processor = _template()
    if decoder is not None:
        backend.decoder = decoder
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    return backend


def _char_backend() -> Tokenizer:
    return _wordlevel_backend(CHAR_VOCAB, pre_tokenizers.Split(Regex("."), "isolated"), decoders.Fuse())


def _kmer_backend(k: int, overlapping: bool) -> Tokenizer:
    if overlapping and k > 1:
        # Stride-1 windows cannot be a `tokenizers` pipeline; DNATokenizerFast encodes them itself. Alone,
        # this backend maps a whole sequence to [UNK] (the sequence is one "word" outside the vocabulary).
        # Decoding joins the k-mers with spaces (DNABERT-1 style).
        return _wordlevel_backend(kmer_vocab(k), pre_tokenizers.WhitespaceSplit(), None)
    # Nucleotide Transformer rule: full k-mers of A/C/G/T from the start of each N-free stretch, the rest singly.
    pattern = Regex(f"[ACGT]{{{k}}}|.") if k > 1 else Regex(".")
    return _wordlevel_backend(kmer_vocab(k), pre_tokenizers.Split(pattern, "isolated"), decoders.Fuse())


def _configure_bpe_backend(backend: Tokenizer) -> None:
    """Give a DNABERT-2-style BPE our policy normalizer, template and a decoder that concatenates."""
    backend.normalizer = _policy_normalizer()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()  # as published; never splits clean DNA
    backend.post_processor = _template()
    backend.decoder = decoders.Fuse()
    backend.no_truncation()
    backend.no_padding()


def _check_k(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not KMER_MIN <= k <= KMER_MAX:
        raise ValueError(f"k must be an int from {KMER_MIN} to {KMER_MAX} (4^k k-mers in the vocabulary), got {k!r}")


def _bpe_fingerprint(backend: Tokenizer) -> str:
    """sha256 (16 hex) of a BPE's vocabulary (by id) and merges: equal fingerprints = same tokenization."""
    model = json.loads(backend.to_str())["model"]
    vocab = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    blob = json.dumps([[tok for tok, _ in vocab], merges], separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------------------------------
# The tokenizer class
# ----------------------------------------------------------------------------------------------------

_FAMILIES = ("char", "kmer", "bpe")


class DNATokenizerFast(PreTrainedTokenizerFast):
    """A `PreTrainedTokenizerFast` for DNA that applies the input policy on every path.

    Built by `char_tokenizer`, `kmer_tokenizer`, `load_bpe` and `train_bpe`; reloaded by
    `AutoTokenizer.from_pretrained(folder)` after `import modeling`. The family and its parameters live in
    `dnalm_family`, `dnalm_k`, `dnalm_overlapping`, `dnalm_corpus` (saved in tokenizer_config.json).

    Encoding runs in `_encode_plus` (the one method `__call__`, `encode` and `tokenize` reach in
    transformers 5): validate + normalise in Python, encode (numpy for char / k-mer, the Rust BPE model for
    bpe), then add [CLS]/[SEP], truncate, pad and build masks/offsets with numpy. The results match what
    `PreTrainedTokenizerFast` gives with the same `tokenizer.json` (tests compare them). Two things stay on
    the generic `tokenizers` path: `return_overflowing_tokens` / `stride` (not available for overlapping
    k-mers), and `BatchEncoding.encodings` (`word_ids()`, `char_to_token()`), which the fast path does not
    build.
    """

    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "right"
    truncation_side = "right"

    def __init__(
        self,
        *args,
        dnalm_family: str | None = None,
        dnalm_k: int | None = None,
        dnalm_overlapping: bool | None = None,
        dnalm_corpus: str | None = None,
        **kwargs,
    ):
        for name, token in zip(("unk_token", "cls_token", "sep_token", "pad_token", "mask_token"), SPECIAL_TOKENS):
            kwargs.setdefault(name, token)
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        # token_type_ids only matter for pairs; ConvNova / U-Net forwards do not take them.
        kwargs.setdefault("model_input_names", ["input_ids", "attention_mask"])
        super().__init__(
            *args,
            dnalm_family=dnalm_family,
            dnalm_k=dnalm_k,
            dnalm_overlapping=dnalm_overlapping,
            dnalm_corpus=dnalm_corpus,
            **kwargs,
        )
        backend = self._tokenizer
        if dnalm_family is None:
            # e.g. DNATokenizerFast.from_pretrained(<published DNABERT-2 folder>)
            if type(backend.model).__name__ != "BPE":
                raise ValueError(
                    "this tokenizer.json is not a dnalm-assess tokenizer (no dnalm_family in tokenizer_config.json "
                    "and not a BPE): build one with char_tokenizer(), kmer_tokenizer(k, overlapping), load_bpe(path) "
                    "or train_bpe(sequences, vocab_size)"
                )
            dnalm_family = "bpe"
            self.init_kwargs["dnalm_family"] = "bpe"
        if dnalm_family not in _FAMILIES:
            raise ValueError(f"unknown dnalm_family {dnalm_family!r}; valid: {', '.join(_FAMILIES)}")
        self.dnalm_family = dnalm_family
        self.dnalm_k = None
        self.dnalm_overlapping = None
        self.dnalm_corpus = dnalm_corpus
        vocab = backend.get_vocab(with_added_tokens=True)
        for i, tok in enumerate(SPECIAL_TOKENS):
            if vocab.get(tok) != i:
                raise ValueError(f"{tok} must have id {i} in a DNA tokenizer's vocabulary, found {vocab.get(tok)}")
        if dnalm_family == "char":
            expected = CHAR_VOCAB
        elif dnalm_family == "kmer":
            _check_k(dnalm_k)
            if not isinstance(dnalm_overlapping, bool):
                raise ValueError(f"a k-mer tokenizer needs dnalm_overlapping True or False, got {dnalm_overlapping!r}")
            self.dnalm_k = int(dnalm_k)
            self.dnalm_overlapping = dnalm_overlapping
            expected = kmer_vocab(self.dnalm_k)
        else:
            if type(backend.model).__name__ != "BPE":
                raise ValueError(f"dnalm_family 'bpe' needs a BPE model in tokenizer.json, found {type(backend.model).__name__}")
            missing = [b for b in "ACGT" if b not in vocab]
            if missing:
                raise ValueError(f"this BPE vocabulary lacks the bases {missing}: it is not a DNA BPE")
            _configure_bpe_backend(backend)
            expected = None
        if expected is not None and vocab != expected:
            raise ValueError(
                f"tokenizer.json does not hold the {self._describe()} vocabulary this class expects "
                f"({len(vocab)} tokens, expected {len(expected)}); rebuild it with the functions in modeling.tokenization"
            )

    @classmethod
    def convert_to_native_format(cls, trust_remote_code=False, **kwargs):
        # transformers 5 treats a subclass with its own __init__ as a model tokenizer that rebuilds its
        # backend from the bare vocabulary (dropping our normalizer, pre-tokenizer and decoder, and adding
        # <s>/</s>). Our __init__ only checks; the backend is the saved tokenizer.json, loaded whole.
        file = kwargs.get("tokenizer_file")
        if file is not None and os.path.isfile(file):
            return dict(kwargs)
        return super().convert_to_native_format(trust_remote_code=trust_remote_code, **kwargs)

    def _describe(self) -> str:
        if self.dnalm_family == "kmer":
            return f"{self.dnalm_k}-mer ({'overlapping' if self.dnalm_overlapping else 'non-overlapping'})"
        return self.dnalm_family

    @property
    def _backend_is_exact(self) -> bool:
        """Whether tokenizer.json alone tokenizes like this class (false only for overlapping k > 1)."""
        return not (self.dnalm_family == "kmer" and self.dnalm_overlapping and self.dnalm_k > 1)

    # -- encoding ------------------------------------------------------------------------------------

    def _encode_flat(self, prepared: PreparedBatch, offsets: bool):
        if self.dnalm_family == "char":
            return _encode_char(prepared.codes, prepared.lengths, offsets)
        if self.dnalm_family == "kmer":
            fn = _encode_kmer_overlapping if self.dnalm_overlapping else _encode_kmer_nonoverlapping
            return fn(prepared.codes, prepared.lengths, self.dnalm_k, offsets)
        return _encode_bpe(self._tokenizer, prepared.normalized(), offsets)

    def _encode_plus(
        self,
        text,
        text_pair=None,
        add_special_tokens: bool = True,
        padding_strategy: PaddingStrategy = PaddingStrategy.DO_NOT_PAD,
        truncation_strategy: TruncationStrategy = TruncationStrategy.DO_NOT_TRUNCATE,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        padding_side: str | None = None,
        return_tensors=None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
        verbose: bool = True,
        split_special_tokens: bool | None = None,
        **kwargs,
    ) -> BatchEncoding:
        if is_split_into_words:
            raise ValueError(
                "is_split_into_words=True is not supported by DNA tokenizers: DNA has no words; pass whole "
                "sequences (a str or a list of str)"
            )
        if text is None:
            raise ValueError("no DNA sequence given (text is None)")
        # a batch is any iterable of strings: list, tuple, a `datasets` Column, a numpy array, a pandas Series
        batched = is_batch(text)
        texts = list(text) if batched else [text]
        if batched and not texts:
            raise ValueError("empty batch: pass at least one DNA sequence")
        pairs = None
        if text_pair is not None:
            if batched != is_batch(text_pair):
                raise TypeError("text and text_pair must both be a str or both be lists of the same length")
            pairs = list(text_pair) if batched else [text_pair]
            if len(pairs) != len(texts):
                raise ValueError(f"batch length of text ({len(texts)}) and text_pair ({len(pairs)}) differ")

        first = PreparedBatch(texts, batched)
        second = PreparedBatch(pairs, batched) if pairs is not None else None

        if return_overflowing_tokens or stride:
            if not self._backend_is_exact:
                raise ValueError(
                    "return_overflowing_tokens / stride are not available for overlapping k-mer tokenizers; "
                    "split long sequences into windows before tokenizing"
                )
            # Rare path: the exact `tokenizers` pipeline (its normalizer applies the policy's mapping;
            # the inputs were validated above, so nothing invalid reaches it).
            return super()._encode_plus(
                text, text_pair=text_pair, add_special_tokens=add_special_tokens, padding_strategy=padding_strategy,
                truncation_strategy=truncation_strategy, max_length=max_length, stride=stride,
                pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side, return_tensors=return_tensors,
                return_token_type_ids=return_token_type_ids, return_attention_mask=return_attention_mask,
                return_overflowing_tokens=return_overflowing_tokens, return_special_tokens_mask=return_special_tokens_mask,
                return_offsets_mapping=return_offsets_mapping, return_length=return_length, verbose=verbose,
                split_special_tokens=split_special_tokens,
            )

        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self.model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self.model_input_names
        truncate = truncation_strategy != TruncationStrategy.DO_NOT_TRUNCATE and max_length is not None

        a = self._encode_flat(first, return_offsets_mapping)
        lead_a = first.leads() if return_offsets_mapping else None
        if second is None:
            flat, lengths = _assemble_single(
                a, lead_a, add_special_tokens, truncation_strategy if truncate else None, max_length,
                self.truncation_side, return_special_tokens_mask,
            )
        else:
            b = self._encode_flat(second, return_offsets_mapping)
            lead_b = second.leads() if return_offsets_mapping else None
            flat, lengths = _assemble_pairs(
                a, b, lead_a, lead_b, add_special_tokens, truncation_strategy if truncate else None, max_length,
                self.truncation_side, return_offsets_mapping,
            )
        if not truncate and verbose and lengths.size and int(lengths.max()) > self.model_max_length:
            self._eventual_warn_about_too_long_sequence(range(int(lengths.max())), max_length, verbose)

        if padding_strategy == PaddingStrategy.LONGEST:
            target = int(lengths.max())
        elif padding_strategy == PaddingStrategy.MAX_LENGTH:
            if max_length is None:
                raise ValueError("padding='max_length' needs max_length")
            target = int(max_length)
        else:
            target = None
        if target is not None and pad_to_multiple_of and target % pad_to_multiple_of:
            target = (target // pad_to_multiple_of + 1) * pad_to_multiple_of
        side = padding_side if padding_side is not None else self.padding_side
        if side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {side!r}")

        # key -> (flat values, or None for "all ones" / "all zeros" (built as cheap Python lists), pad value)
        wanted = {"input_ids": (flat["input_ids"], self.pad_token_id)}
        if return_token_type_ids:
            wanted["token_type_ids"] = (flat.get("token_type_ids"), self.pad_token_type_id)
        if return_attention_mask:
            wanted["attention_mask"] = (None, 0)
        if return_special_tokens_mask:
            wanted["special_tokens_mask"] = (flat["special_tokens_mask"], 1)
        if return_offsets_mapping:
            wanted["offset_mapping"] = (flat["offset_mapping"], 0)
        data = _emit(wanted, lengths, target, side, as_arrays=return_tensors is not None)
        if return_length:
            data["length"] = [len(row) for row in data["input_ids"]]
        encoded = BatchEncoding(data, tensor_type=return_tensors, n_sequences=2 if pairs is not None else 1)
        if not batched and return_tensors is None:
            # as transformers does: unwrap the rows; `length` stays a one-element list
            encoded = BatchEncoding(
                {key: value[0] if value and isinstance(value[0], list) else value for key, value in encoded.items()}
            )
        return encoded

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs) -> list[str]:
        ids = self._encode_plus(text, text_pair=pair, add_special_tokens=add_special_tokens, **kwargs)["input_ids"]
        return self.convert_ids_to_tokens(ids)


# ----------------------------------------------------------------------------------------------------
# Assembly: special tokens, truncation, padding (all sequences at once, mirroring `tokenizers`' rules)
# ----------------------------------------------------------------------------------------------------


def _assemble_single(encoded, leads, add_special: bool, strategy, max_length, side, special_mask: bool):
    """Flat arrays of the final sequences ([CLS] content [SEP], joined) and their lengths."""
    ids, counts, starts, ends = encoded
    n_special = 2 if add_special else 0
    if strategy is not None:
        if strategy == TruncationStrategy.ONLY_SECOND:
            raise ValueError("truncation='only_second' needs sequence pairs (text_pair); use truncation=True")
        budget = max_length - n_special
        if budget < 0:
            raise ValueError(f"max_length={max_length} leaves no room for the {n_special} special tokens [CLS] and [SEP]")
        # longest_first and only_first are the same for one sequence (`tokenizers` never refuses here:
        # a budget of 0 keeps [CLS] [SEP] only, and with a budget > 0 at least one token remains)
        keep = np.minimum(counts, budget)
        if np.any(keep < counts):
            pos = _positions_in_sequence(counts)
            if side == "left":
                selected = pos >= np.repeat(counts - keep, counts)
            else:
                selected = pos < np.repeat(keep, counts)
            ids = ids[selected]
            if starts is not None:
                starts, ends = starts[selected], ends[selected]
            counts = keep
    lengths = counts + n_special
    flat = {}
    offsets = None
    if starts is not None:
        shift = np.repeat(leads, counts)
        offsets = np.stack([starts + shift, ends + shift], axis=1)
    if add_special:
        # np.insert keeps the given order at equal indices: [SEP] of one sequence, then [CLS] of the next
        seq_ends = np.cumsum(counts)
        where = np.stack([seq_ends - counts, seq_ends], axis=1).ravel()
        flat["input_ids"] = np.insert(ids, where, np.tile([CLS_ID, SEP_ID], len(counts)))
        if special_mask:
            flat["special_tokens_mask"] = np.insert(np.zeros(len(ids), dtype=np.int64), where, 1)
        if offsets is not None:
            offsets = np.insert(offsets, where, 0, axis=0)
    else:
        flat["input_ids"] = ids
        if special_mask:
            flat["special_tokens_mask"] = np.zeros(len(ids), dtype=np.int64)
    if offsets is not None:
        flat["offset_mapping"] = offsets
    return flat, lengths


def _truncate_pair(n1: int, n2: int, budget: int, strategy) -> tuple[int, int]:
    """Token counts kept of a pair, by the rules of `tokenizers` (utils/truncation.rs)."""
    if budget == 0:
        return 0, 0
    if n1 + n2 <= budget:
        return n1, n2
    if strategy == TruncationStrategy.LONGEST_FIRST:
        short, long_, swap = (n2, n1, True) if n1 > n2 else (n1, n2, False)
        long_ = short if short > budget else max(short, budget - short)
        if short + long_ > budget:
            short = budget // 2
            long_ = short + budget % 2
        return (long_, short) if swap else (short, long_)
    to_remove = n1 + n2 - budget
    target = n1 if strategy == TruncationStrategy.ONLY_FIRST else n2
    if target <= to_remove:
        raise ValueError(
            f"truncation={strategy.value!r}: that sequence ({target} tokens) is too short to remove "
            f"{to_remove} tokens and fit max_length; use truncation='longest_first'"
        )
    return (n1 - to_remove, n2) if strategy == TruncationStrategy.ONLY_FIRST else (n1, n2 - to_remove)


def _assemble_pairs(enc_a, enc_b, lead_a, lead_b, add_special, strategy, max_length, side, offsets):
    """Flat arrays of `[CLS] a [SEP] b [SEP]` per example (Python loop: pairs are the rare case)."""
    ids_a, counts_a, st_a, en_a = enc_a
    ids_b, counts_b, st_b, en_b = enc_b
    base_a, base_b = _excl_cumsum(counts_a), _excl_cumsum(counts_b)
    n_special = 3 if add_special else 0
    parts: dict[str, list] = {"input_ids": [], "token_type_ids": [], "special_tokens_mask": [], "offset_mapping": []}
    lengths = []

    def cut(base, n, keep):
        return slice(base + n - keep, base + n) if side == "left" else slice(base, base + keep)

    for i in range(len(counts_a)):
        n1, n2 = int(counts_a[i]), int(counts_b[i])
        k1, k2 = n1, n2
        if strategy is not None:
            budget = max_length - n_special
            if budget < 0:
                raise ValueError(f"max_length={max_length} leaves no room for the {n_special} special tokens of a pair")
            k1, k2 = _truncate_pair(n1, n2, budget, strategy)
        sa, sb = cut(int(base_a[i]), n1, k1), cut(int(base_b[i]), n2, k2)
        one = np.ones(1, dtype=np.int64)
        if add_special:
            ids = [one * CLS_ID, ids_a[sa], one * SEP_ID, ids_b[sb], one * SEP_ID]
            types = [np.zeros(k1 + 2, dtype=np.int64), np.ones(k2 + 1, dtype=np.int64)]
            special = [one, np.zeros(k1, dtype=np.int64), one, np.zeros(k2, dtype=np.int64), one]
        else:
            ids = [ids_a[sa], ids_b[sb]]
            types = [np.zeros(k1, dtype=np.int64), np.ones(k2, dtype=np.int64)]
            special = [np.zeros(k1 + k2, dtype=np.int64)]
        parts["input_ids"] += ids
        parts["token_type_ids"] += types
        parts["special_tokens_mask"] += special
        if offsets:
            span_a = np.stack([st_a[sa], en_a[sa]], axis=1) + lead_a[i]
            span_b = np.stack([st_b[sb], en_b[sb]], axis=1) + lead_b[i]
            z = np.zeros((1, 2), dtype=np.int64)
            parts["offset_mapping"] += [z, span_a, z, span_b, z] if add_special else [span_a, span_b]
        lengths.append(k1 + k2 + n_special)
    flat = {key: np.concatenate(val) for key, val in parts.items() if val}
    return flat, np.asarray(lengths, dtype=np.int64)


_INT_OBJECTS = np.array(range(1 << 17), dtype=object)  # the Python ints 0 .. 131071, made once


def _to_lists(values: np.ndarray):
    """`values.tolist()`, faster for large ids: Python caches only the ints up to 256, so `tolist()`
    allocates one int object per large id; picking from a table of ready-made ints avoids that."""
    if values.size and values.dtype != object and 256 < values.max() < len(_INT_OBJECTS) and values.min() >= 0:
        return _INT_OBJECTS.take(values).tolist()
    return values.tolist()


def _emit(wanted: dict, lengths: np.ndarray, target: int | None, side: str, as_arrays: bool) -> dict:
    """Split flat per-token arrays into rows, padding to `target` (None: no padding) on `side`.

    `wanted[key] = (values, pad)`; values None means all ones (attention_mask) or all zeros (token types).
    """
    out = {}
    if target is not None and int(lengths.max()) <= target:
        # Rectangular: a boolean mask in row-major order receives the joined values in order.
        columns = np.arange(target)
        if side == "left":
            filled = columns[None, :] >= (target - lengths)[:, None]
        else:
            filled = columns[None, :] < lengths[:, None]
        for key, (values, pad) in wanted.items():
            if values is None:
                grid = filled.astype(np.int64) if key == "attention_mask" else np.zeros(filled.shape, dtype=np.int64)
                if key != "attention_mask" and pad:
                    grid[~filled] = pad
            else:
                grid = np.full(filled.shape + values.shape[1:], pad, dtype=np.int64)
                grid[filled] = values
            if as_arrays:
                out[key] = grid
            elif key == "offset_mapping":
                out[key] = [[tuple(p) for p in row] for row in grid.tolist()]
            else:
                out[key] = _to_lists(grid)
        return out
    # Ragged rows (no padding, or padding='max_length' with rows longer than max_length left as they are,
    # as `tokenizers` does). Tensors need equal rows: BatchEncoding then raises its own clear error.
    sizes = lengths.tolist()
    ends = np.cumsum(lengths).tolist()
    bounds = list(zip([0] + ends[:-1], ends))
    same = len(set(sizes)) == 1  # e.g. one GUE task: every row in one go, no slicing
    for key, (values, pad) in wanted.items():
        if values is None:
            fill = 1 if key == "attention_mask" else 0
            rows = [[fill] * n for n in sizes]
        elif same and key != "offset_mapping":
            rows = _to_lists(values.reshape(len(sizes), sizes[0]))
        else:
            if key == "offset_mapping":
                items = list(zip(_to_lists(values[:, 0]), _to_lists(values[:, 1])))
                pad = (0, 0)
            else:
                items = _to_lists(values)
            rows = [items[a:b] for a, b in bounds]
        if target is not None:  # [pad] * (negative) is []: longer rows stay as they are
            if side == "left":
                rows = [[pad] * (target - len(r)) + r for r in rows]
            else:
                rows = [r + [pad] * (target - len(r)) for r in rows]
        out[key] = rows
    return out


# ----------------------------------------------------------------------------------------------------
# Builders
# ----------------------------------------------------------------------------------------------------


def char_tokenizer() -> DNATokenizerFast:
    """Single-nucleotide tokenizer: [UNK] [CLS] [SEP] [PAD] [MASK] A C G T N = ids 0..9."""
    return DNATokenizerFast(tokenizer_object=_char_backend(), dnalm_family="char")


def kmer_tokenizer(k: int, overlapping: bool) -> DNATokenizerFast:
    """k-mer tokenizer, k from 1 to 8.

    overlapping=True: stride 1 (DNABERT-1), L-k+1 tokens, a window with an N is the token N, a sequence
    shorter than k gives single-nucleotide tokens. overlapping=False: stride k (Nucleotide Transformer):
    cut at each N, full k-mers from the start of each stretch, the remaining < k bases as single tokens.
    """
    _check_k(k)
    if not isinstance(overlapping, bool):
        raise ValueError(f"overlapping must be True (stride 1) or False (stride k), got {overlapping!r}")
    return DNATokenizerFast(
        tokenizer_object=_kmer_backend(int(k), overlapping),
        dnalm_family="kmer",
        dnalm_k=int(k),
        dnalm_overlapping=overlapping,
    )


def load_bpe(path: str | os.PathLike, corpus_name: str | None = None) -> DNATokenizerFast:
    """Load a DNABERT-2-style BPE from a folder with `tokenizer.json` (or the path of that file).

    Works on the published `zhihan1996/DNABERT-2-117M` layout (e.g. `../shared/data/dnabert2`) and on a
    folder saved from `train_bpe(...)` / `load_bpe(...)`. Ids are those of
    `tokenizers.Tokenizer.from_file(<folder>/tokenizer.json)` on clean upper-case input; the input policy is
    added on top. `corpus_name` overrides the recorded corpus (provenance in `tokenizer_family`).
    """
    path = Path(path)
    file = path / "tokenizer.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(
            f"no tokenizer.json at {path}: pass a folder laid out like the Hub repo {PUBLISHED_DNABERT2} "
            f"(offline copy: ../shared/data/dnabert2; online: huggingface_hub.snapshot_download('{PUBLISHED_DNABERT2}'))"
        )
    raw = Tokenizer.from_file(str(file))
    if type(raw.model).__name__ != "BPE":
        raise ValueError(f"{file} holds a {type(raw.model).__name__} model, not a BPE")
    probe = raw.encode("ACGT").ids
    if not probe or probe[0] != CLS_ID or probe[-1] != SEP_ID:
        raise ValueError(f"{file} does not wrap sequences as [CLS] ... [SEP] (ids 1, 2): not a DNABERT-2-style BPE")
    config_file = file.parent / "tokenizer_config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    if corpus_name is None:
        corpus_name = config.get("dnalm_corpus")
    if corpus_name is None and _bpe_fingerprint(raw) == PUBLISHED_DNABERT2_FINGERPRINT:
        corpus_name = PUBLISHED_DNABERT2
    extra = {key: config[key] for key in ("model_max_length",) if key in config}
    return DNATokenizerFast(tokenizer_object=raw, dnalm_family="bpe", dnalm_corpus=corpus_name, **extra)


def load_tokenizer(path: str | os.PathLike, corpus_name: str | None = None) -> DNATokenizerFast:
    """Load any tokenizer of this module from a folder: one saved by `save_pretrained` (a model folder
    written by train.py, any family), or a folder laid out like the published DNABERT-2 repo (-> `load_bpe`).

    A Hub repo id (e.g. "zhihan1996/DNABERT-2-117M") is fetched with `huggingface_hub` first (tokenizer
    files only); offline, download the folder elsewhere and pass its path.
    """
    folder = Path(path)
    if not folder.exists():
        text = str(path)
        if text.count("/") == 1 and not text.startswith((".", "/", "~")):
            from huggingface_hub import snapshot_download

            try:
                folder = Path(snapshot_download(text, allow_patterns=["tokenizer.json", "tokenizer_config.json"]))
            except Exception as err:  # offline, unknown repo, no access: one message that says what to do
                raise FileNotFoundError(
                    f"{text!r} is not a local folder and could not be fetched from the Hub ({type(err).__name__}: "
                    f"{err}); download it where there is network (huggingface_hub.snapshot_download({text!r})) "
                    "and pass the folder's path"
                ) from None
        else:
            raise FileNotFoundError(f"no tokenizer folder at {path}: pass a folder holding tokenizer.json")
    if folder.is_file():
        return load_bpe(folder, corpus_name=corpus_name)
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    if config.get("dnalm_family") is not None:
        tok = DNATokenizerFast.from_pretrained(str(folder))
        if corpus_name is not None:
            tok.dnalm_corpus = tok.init_kwargs["dnalm_corpus"] = corpus_name
        return tok
    return load_bpe(folder, corpus_name=corpus_name)


def _training_pieces(sequences: Iterable[str]) -> Iterable[str]:
    for i, seq in enumerate(sequences):
        try:
            clean = normalize_sequence(seq)
        except (TypeError, ValueError) as err:
            raise type(err)(f"training sequence {i}: {err}") from None
        # Merges are learnt on the A/C/G/T stretches only: N marks unknown sequence, and a token spanning
        # one would be meaningless. N then encodes as [UNK], as in the published DNABERT-2 vocabulary.
        yield from (piece for piece in clean.split("N") if piece)


def train_bpe(
    sequences: Iterable[str], vocab_size: int, corpus_name: str | None = None, min_frequency: int = 0
) -> DNATokenizerFast:
    """Train a DNABERT-2-style BPE (same specials, ids 0-4, and template) on an iterable of DNA strings.

    As the DNABERT-2 authors did (MAGICS-LAB/DNABERT_2#74): `tokenizers` BPE with [UNK], BpeTrainer with the
    five special tokens, Whitespace pre-tokenizer, `[CLS] $A [SEP]`. Sequences pass the input policy first
    and are cut at N. A, C, G, T are always in the alphabet (ids 5-8). Deterministic: the same sequences in
    the same order give the same tokenizer.json. `corpus_name` is recorded as provenance.
    """
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 10:
        raise ValueError(f"vocab_size must be an int >= 10 (5 special tokens + A C G T + merges), got {vocab_size!r}")
    if isinstance(sequences, str):
        raise TypeError("train_bpe takes an iterable of sequences, not one str: wrap it in a list")
    backend = Tokenizer(models.BPE(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=int(vocab_size),
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=list("ACGT"),
        show_progress=False,
    )
    seen = {"pieces": 0}

    def counted(pieces):
        for piece in pieces:
            seen["pieces"] += 1
            yield piece

    backend.train_from_iterator(counted(_training_pieces(sequences)), trainer=trainer)
    if seen["pieces"] == 0:
        raise ValueError("train_bpe got no sequence (or only Ns): pass a non-empty corpus of DNA strings")
    backend.post_processor = _template()
    got = backend.get_vocab_size()
    if got < vocab_size:
        warnings.warn(
            f"train_bpe: the corpus supports only {got} tokens, fewer than vocab_size={vocab_size}; "
            "train on more sequence for a larger vocabulary",
            stacklevel=2,
        )
    return DNATokenizerFast(tokenizer_object=backend, dnalm_family="bpe", dnalm_corpus=corpus_name)


def tokenizer_family(tokenizer) -> dict[str, Any]:
    """Describe a tokenizer for mismatch checks: {"family": "char"}, {"family": "kmer", "k": 6,
    "overlapping": True}, or {"family": "bpe", "vocab_size": 4096, "corpus": ..., "fingerprint": ...}.

    Works on any tokenizer built here, and on one reloaded with `AutoTokenizer.from_pretrained` (with or
    without `import modeling`: the description comes from tokenizer_config.json's dnalm_* fields, and a
    plain BPE such as the published DNABERT-2 folder is recognised by its model). Two BPEs tokenize alike
    iff their `fingerprint`s (hash of vocabulary and merges) are equal; `corpus` is provenance only.
    """
    kwargs = getattr(tokenizer, "init_kwargs", {}) or {}
    family = getattr(tokenizer, "dnalm_family", None) or kwargs.get("dnalm_family")
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if family is None and backend is not None:
        model = type(backend.model).__name__
        if model == "BPE":
            family = "bpe"
        elif model == "WordLevel" and backend.get_vocab(with_added_tokens=True) == CHAR_VOCAB:
            family = "char"
    if family == "char":
        return {"family": "char"}
    if family == "kmer":
        k = getattr(tokenizer, "dnalm_k", None) or kwargs.get("dnalm_k")
        overlapping = getattr(tokenizer, "dnalm_overlapping", None)
        if overlapping is None:
            overlapping = kwargs.get("dnalm_overlapping")
        return {"family": "kmer", "k": int(k), "overlapping": bool(overlapping)}
    if family == "bpe" and backend is not None:
        fingerprint = _bpe_fingerprint(backend)
        corpus = getattr(tokenizer, "dnalm_corpus", None) or kwargs.get("dnalm_corpus")
        if corpus is None and fingerprint == PUBLISHED_DNABERT2_FINGERPRINT:
            corpus = PUBLISHED_DNABERT2
        return {"family": "bpe", "vocab_size": backend.get_vocab_size(), "corpus": corpus, "fingerprint": fingerprint}
    raise ValueError(
        f"cannot tell the family of {type(tokenizer).__name__}: not built by modeling.tokenization "
        "(char_tokenizer, kmer_tokenizer, load_bpe, train_bpe) and not a plain BPE"
    )


# ----------------------------------------------------------------------------------------------------
# Registration
# ----------------------------------------------------------------------------------------------------


class _DNATokenizerRegistration(PreTrainedConfig):
    """Key under which DNATokenizerFast is registered with AutoTokenizer.

    `AutoTokenizer.register` needs a config class; the tokenizer families are not tied to one model, so a
    marker class holds the registration. What matters is the side effect: AutoTokenizer then resolves the
    `tokenizer_class: "DNATokenizerFast"` recorded in tokenizer_config.json without trust_remote_code.
    """

    model_type = "dnalm_tokenizer"


AutoTokenizer.register(_DNATokenizerRegistration, tokenizer_class=DNATokenizerFast, exist_ok=True)


def _build_bpe(path: str | os.PathLike | None = None, corpus_name: str | None = None) -> DNATokenizerFast:
    if path is None:
        raise ValueError(
            "the 'bpe' tokenizer needs path=: a folder with tokenizer.json (the published DNABERT-2 one, e.g. "
            "../shared/data/dnabert2, or one saved from train_bpe(...).save_pretrained(folder))"
        )
    return load_bpe(path, corpus_name=corpus_name)


TOKENIZERS.register("char", TokenizerEntry("char", build=char_tokenizer, description="single nucleotide A C G T N"))
TOKENIZERS.register(
    "kmer",
    TokenizerEntry("kmer", build=kmer_tokenizer, description="k-mers, k=1..8, overlapping (stride 1) or not (stride k)"),
)
TOKENIZERS.register(
    "bpe",
    TokenizerEntry("bpe", build=_build_bpe, description="DNABERT-2-style BPE loaded from path= (published or trained)"),
)
