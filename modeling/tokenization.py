"""DNA tokenizers: single nucleotide, k-mer, and BPE (published DNABERT-2 or trained on a corpus).

Public API (other modules, `train.py` and external checks use these names):

- `char_tokenizer()`                       one token per base.
- `kmer_tokenizer(k, overlapping)`          k = 1..8; stride 1 (DNABERT-1) or stride k (Nucleotide Transformer).
- `bpe_tokenizer(path=... | sequences=..., vocab_size=...)`   load a BPE, or train one (`load_bpe` / `train_bpe`).
- `load_bpe(path)`                          a DNABERT-2-style BPE from a folder holding `tokenizer.json`
                                            (the published `zhihan1996/DNABERT-2-117M` layout, or one saved here).
- `train_bpe(sequences, vocab_size)`        a new DNABERT-2-style BPE trained on an iterable of DNA strings.
- `load_tokenizer(path)`                    any of these from a saved folder (e.g. a model folder), or the
                                            published DNABERT-2 folder.
- `tokenizer_family(tokenizer)`             {"family": ..., ...} describing a tokenizer, for mismatch checks.
- `normalize_sequence(seq)` / `normalize_batch(seqs)`   the input policy, for data scripts.
- `DNATokenizerFast`                        the class all four families return (a `PreTrainedTokenizerFast`).
`import modeling` registers the families by name: `TOKENIZERS.get("kmer").build(k=6, overlapping=True)`.

What each family does with a sequence (ids, the letter N, special tokens written in the text, decoding)
and the input policy every call path applies first (one place: `dnalm_core/policy.py`) are documented once,
in docs/tokenizers.md of the dnalm-assess repository.

How encoding works (see `DNATokenizerFast`): ours are only the policy (its errors cannot be raised inside
`tokenizers`), the overlapping k-mer rule (no `tokenizers` pipeline), and the encoding of single sequences
with numpy (char, k-mers) or the Rust BPE model alone: the `tokenizers` pipeline builds an object per
token and runs 10-40x slower on one-base and k-mer tokens (benchmarks/tokenization.py), so a single
sequence is also cut to max_length here (keep the first, or last, max_length - 2 tokens). Padding goes
through the library's `pad()`; pairs, overflowing windows and stride go through the `tokenizers` pipeline
(template, every truncation strategy, padding). The saved `tokenizer.json` also carries the policy's
mapping as a `tokenizers` normalizer (strip, lowercase -> uppercase, IUPAC -> N), so a folder loaded by
plain `transformers` without `import modeling` still folds case and IUPAC codes -- it just cannot raise on
bad characters. `import modeling` registers `DNATokenizerFast` with `AutoTokenizer`, so
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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast
from transformers.tokenization_utils_base import BatchEncoding, PaddingStrategy, TruncationStrategy

try:  # inside this repository / the installed package
    from dnalm_core.policy import (  # noqa: F401  (normalize_*: part of this module's API)
        IUPAC_AMBIGUITY,
        NUCLEOTIDES,
        PreparedBatch,
        is_batch,
        normalize_batch,
        normalize_sequence,
    )
except ImportError:  # a model folder loaded with trust_remote_code carries the policy beside this file
    from .dna_policy import IUPAC_AMBIGUITY, NUCLEOTIDES, PreparedBatch, is_batch, normalize_batch, normalize_sequence  # noqa: F401

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


# A saved tokenizer folder carries this file and the input policy, so that `AutoTokenizer.from_pretrained(folder,
# trust_remote_code=True)` gives the same ids where this package is not installed. transformers'
# `register_for_auto_class` cannot do it here: its copier follows `from .x import` lines to files beside this one,
# and the policy lives in `dnalm_core/` (torch-free, shared with the data layer), saved as `dna_policy.py`.
REMOTE_CODE_FILE, REMOTE_POLICY_FILE = "tokenization_dna.py", "dna_policy.py"


def save_tokenizer_code(folder: str | os.PathLike) -> list[str]:
    """Copy this module and the policy into `folder` and point tokenizer_config.json's auto_map at them."""
    import shutil
    import sys

    folder = Path(folder)
    policy_file = sys.modules[normalize_sequence.__module__].__file__
    written = [str(folder / REMOTE_CODE_FILE), str(folder / REMOTE_POLICY_FILE)]
    shutil.copyfile(__file__, written[0])
    shutil.copyfile(policy_file, written[1])
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["auto_map"] = {"AutoTokenizer": [None, f"{REMOTE_CODE_FILE[:-3]}.DNATokenizerFast"]}
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    return written


class DNATokenizerFast(PreTrainedTokenizerFast):
    """A `PreTrainedTokenizerFast` for DNA that applies the input policy on every path.

    Built by `char_tokenizer`, `kmer_tokenizer`, `load_bpe` and `train_bpe`; reloaded by
    `AutoTokenizer.from_pretrained(folder)` after `import modeling`. The family and its parameters live in
    `dnalm_family`, `dnalm_k`, `dnalm_overlapping`, `dnalm_corpus` (saved in tokenizer_config.json).

    `_encode_plus` (the one method `__call__`, `encode` and `tokenize` reach in transformers 5) first applies
    the policy, then takes one of two paths:
    - single sequences (what `datasets.map`, the collators and the pipelines send): the DNA is encoded with
      numpy (char, k-mers) or the Rust BPE model, each sequence keeps its first max_length - 2 tokens,
      [CLS]/[SEP] go around, and the library's `pad()` pads the rows (tensors are written straight into a
      padded array: pad() on Python lists would cost 10-15x there);
    - pairs, `return_overflowing_tokens` and `stride`: the `tokenizers` pipeline does it all (template,
      every truncation strategy, padding), on the policy-clean text; overlapping k-mers enter it as words.
    Both give what `PreTrainedTokenizerFast` gives with the same `tokenizer.json` (tests compare them).
    `BatchEncoding.encodings` (`word_ids()`, `char_to_token()`) exist on the second path only.
    """

    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "right"
    truncation_side = "right"

    def save_pretrained(self, save_directory, *args, **kwargs):
        """The library's save, plus this class's code and the policy (`save_tokenizer_code`)."""
        files = super().save_pretrained(save_directory, *args, **kwargs)
        return (*files, *save_tokenizer_code(save_directory))

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
                raise ValueError(
                    f"dnalm_family 'bpe' needs a BPE model in tokenizer.json, found {type(backend.model).__name__}"
                )
            missing = [b for b in "ACGT" if b not in vocab]
            if missing:
                raise ValueError(f"this BPE vocabulary lacks the bases {missing}: it is not a DNA BPE")
            _configure_bpe_backend(backend)
            expected = None
        if expected is not None and vocab != expected:
            raise ValueError(
                f"tokenizer.json does not hold the {self._describe()} vocabulary this class expects "
                f"({len(vocab)} tokens, expected {len(expected)}); "
                "rebuild it with the functions in modeling.tokenization"
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
        batched, first, second = self._apply_policy(text, text_pair, split_special_tokens)
        options = dict(
            add_special_tokens=add_special_tokens,
            padding_strategy=padding_strategy,
            truncation_strategy=truncation_strategy,
            max_length=max_length,
            stride=stride,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_tensors=return_tensors,
            return_token_type_ids=return_token_type_ids,
            return_attention_mask=return_attention_mask,
            return_overflowing_tokens=return_overflowing_tokens,
            return_special_tokens_mask=return_special_tokens_mask,
            return_offsets_mapping=return_offsets_mapping,
            return_length=return_length,
            verbose=verbose,
        )
        if second is not None or return_overflowing_tokens or stride:
            return self._encode_with_pipeline(first, second, batched, options)
        return self._encode_single(first, batched, **options)

    def _apply_policy(self, text, text_pair, split_special_tokens):
        """(batched, first, second): the inputs as `PreparedBatch`es; raises the policy's errors."""
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
        # Special tokens written in the text ("AC[MASK]GT") are tokens; split_special_tokens=True reads them as
        # text instead, which the policy then refuses (DNA has no '[').
        split = self.split_special_tokens if split_special_tokens is None else split_special_tokens
        specials = () if split else SPECIAL_TOKENS
        first = PreparedBatch(texts, batched, specials)
        second = PreparedBatch(pairs, batched, specials) if pairs is not None else None
        return batched, first, second

    def _content(self, batch: PreparedBatch, spans: bool):
        """(ids, counts, starts, ends): the tokens of all sequences joined, tokens per sequence, and (if `spans`)
        each token's [start, end) in its stripped sequence.

        Each run of DNA is encoded on its own (numpy for char and k-mers, the Rust BPE model for bpe); a special
        token written in the text is one token between the runs around it.
        """
        codes, lengths = batch.codes, batch.run_lengths
        spans = spans or bool(batch.found)  # placing special tokens needs the spans
        if self.dnalm_family == "char":
            ids, counts, starts, ends = _encode_char(codes, lengths, spans)
        elif self.dnalm_family == "kmer":
            encode = _encode_kmer_overlapping if self.dnalm_overlapping else _encode_kmer_nonoverlapping
            ids, counts, starts, ends = encode(codes, lengths, self.dnalm_k, spans)
        else:
            ids, counts, starts, ends = _encode_bpe(self._tokenizer, batch.run_strings(), spans)
        if not batch.found:
            return ids, counts, starts, ends  # one run per sequence
        run_of = np.repeat(np.arange(len(counts)), counts)
        seq = np.concatenate([batch.run_seq[run_of], [s for s, _, _ in batch.found]])
        special_starts = np.array([p for _, p, _ in batch.found], dtype=np.int64)
        special_ends = special_starts + [len(t) for _, _, t in batch.found]
        starts = np.concatenate([starts + batch.run_starts[run_of], special_starts])
        ends = np.concatenate([ends + batch.run_starts[run_of], special_ends])
        ids = np.concatenate([ids, [SPECIAL_TOKENS.index(t) for _, _, t in batch.found]])
        order = np.lexsort((starts, seq))  # no two tokens of a sequence start at the same base
        return ids[order], np.bincount(seq, minlength=len(batch.lengths)), starts[order], ends[order]

    def _encode_single(
        self,
        batch,
        batched,
        add_special_tokens,
        padding_strategy,
        truncation_strategy,
        max_length,
        padding_side,
        pad_to_multiple_of,
        return_tensors,
        return_token_type_ids,
        return_attention_mask,
        return_special_tokens_mask,
        return_offsets_mapping,
        return_length,
        verbose,
        **_,
    ) -> BatchEncoding:
        """Single sequences: our content tokens, cut to max_length, [CLS] seq [SEP], then padded."""
        content = self._content(batch, return_offsets_mapping)
        n_special = 2 if add_special_tokens else 0
        ids, counts, starts, ends = self._truncate(*content, n_special, truncation_strategy, max_length, verbose)
        # per output: (content values, or one value for all content tokens; at [CLS]; at [SEP]; padding)
        columns = {"input_ids": (ids, CLS_ID, SEP_ID, self.pad_token_id)}
        if return_token_type_ids or (return_token_type_ids is None and "token_type_ids" in self.model_input_names):
            columns["token_type_ids"] = (0, 0, 0, self.pad_token_type_id)
        if return_attention_mask or (return_attention_mask is None and "attention_mask" in self.model_input_names):
            columns["attention_mask"] = (1, 1, 1, 0)
        if return_special_tokens_mask:
            columns["special_tokens_mask"] = (0, 1, 1, 1)
        if return_offsets_mapping:
            shift = np.repeat(batch.leads(), counts)
            columns["offset_mapping"] = (np.stack([starts + shift, ends + shift], axis=1), (0, 0), (0, 0), 0)
        if not add_special_tokens:
            columns = {key: (values, None, None, pad) for key, (values, _, _, pad) in columns.items()}

        width = _rectangle(counts + n_special, padding_strategy, max_length, pad_to_multiple_of)
        if return_tensors is not None and width is not None:
            # Tensors: the rows go straight into one padded array. pad() would turn every id into a Python int
            # and back (measured 10-15x slower for one-base tokens).
            left = (padding_side or self.padding_side) == "left"
            data = {key: _grid(*column, counts, width, left) for key, column in columns.items()}
        else:
            data = {key: _rows(values, first, last, counts) for key, (values, first, last, _) in columns.items()}
            if padding_strategy != PaddingStrategy.DO_NOT_PAD:
                data = self._pad_rows(data, padding_strategy, max_length, pad_to_multiple_of, padding_side)
        if return_length:
            data["length"] = [len(row) for row in data["input_ids"]]
        return _finish(data, batched, return_tensors, n_sequences=1)

    def _truncate(self, ids, counts, starts, ends, n_special, strategy, max_length, verbose):
        """Each sequence keeps its first (or, with truncation_side='left', last) max_length - n_special tokens.
        For one sequence, `tokenizers` treats longest_first and only_first alike."""
        if strategy == TruncationStrategy.DO_NOT_TRUNCATE or max_length is None:
            if verbose and int(counts.max()) + n_special > self.model_max_length:
                self._eventual_warn_about_too_long_sequence(range(int(counts.max()) + n_special), max_length, verbose)
            return ids, counts, starts, ends
        if strategy == TruncationStrategy.ONLY_SECOND:
            raise ValueError("truncation='only_second' needs sequence pairs (text_pair); use truncation=True")
        if max_length < n_special:
            raise ValueError(f"max_length={max_length} leaves no room for the special tokens [CLS] and [SEP]")
        keep = np.minimum(counts, max_length - n_special)
        if (keep == counts).all():
            return ids, counts, starts, ends
        begin = _excl_cumsum(counts) + (counts - keep if self.truncation_side == "left" else 0)
        kept = np.repeat(begin, keep) + _positions_in_sequence(keep)
        if starts is not None:
            starts, ends = starts[kept], ends[kept]
        return ids[kept], keep, starts, ends

    def _pad_rows(self, data, padding_strategy, max_length, pad_to_multiple_of, padding_side) -> dict:
        """The library's `pad()` pads ids and masks; offsets (which it leaves alone) get (0, 0) likewise."""
        offsets = data.pop("offset_mapping", None)
        data = dict(
            self.pad(
                data,
                padding=padding_strategy,
                max_length=max_length,
                padding_side=padding_side,
                pad_to_multiple_of=pad_to_multiple_of,
                return_attention_mask="attention_mask" in data,
            )
        )
        if offsets is not None:
            left = (padding_side or self.padding_side) == "left"
            pads = [[(0, 0)] * (len(ids) - len(spans)) for ids, spans in zip(data["input_ids"], offsets)]
            data["offset_mapping"] = [p + s if left else s + p for p, s in zip(pads, offsets)]
        return data

    def _encode_with_pipeline(self, first, second, batched, options) -> BatchEncoding:
        """Pairs, overflowing windows, stride: the `tokenizers` pipeline does the template, every truncation
        strategy and the padding. It reads the policy-clean text at the caller's positions, so its offsets index
        the caller's strings."""
        if self._backend_is_exact:
            text = first.positional_text()
            pair = second.positional_text() if second is not None else None
            if not batched:
                text, pair = text[0], (pair[0] if pair is not None else None)
            return self._run_pipeline(text, pair, **options)
        # Overlapping k-mers are no pipeline (see the module docstring): our tokens go in as words, and the
        # offsets, which the pipeline would count inside each word, come from our spans.
        if options["return_overflowing_tokens"] or options["stride"]:
            raise ValueError(
                "return_overflowing_tokens / stride are not available for overlapping k-mer tokenizers; "
                "split long sequences into windows before tokenizing"
            )
        with_offsets, tensors = options.pop("return_offsets_mapping"), options.pop("return_tensors")
        words, spans = zip(*(self._words(b) if b is not None else (None, None) for b in (first, second)))
        encoded = self._run_pipeline(words[0], words[1], is_split_into_words=True, **options)
        data = dict(encoded)
        if with_offsets:
            data["offset_mapping"] = [
                [(0, 0) if w is None else spans[s][i][w] for s, w in zip(encoded.sequence_ids(i), encoded.word_ids(i))]
                for i in range(len(words[0]))
            ]
        return _finish(data, batched, tensors, n_sequences=1 if second is None else 2)

    def _run_pipeline(self, text, pair, **options) -> BatchEncoding:
        try:
            return super()._encode_plus(text, pair, **options)
        except Exception as err:  # `tokenizers` raises a bare Exception, e.g. when a truncation rule cannot be met
            if type(err) is not Exception:
                raise
            raise ValueError(
                f"{err} (truncation={options['truncation_strategy'].value!r}, max_length={options['max_length']})"
            ) from None

    def _words(self, batch: PreparedBatch) -> tuple[list[list[str]], list[list[tuple[int, int]]]]:
        """Per sequence: its tokens as strings, and each token's span in the caller's string."""
        ids, counts, starts, ends = self._content(batch, spans=True)
        shift = np.repeat(batch.leads(), counts)
        tokens = self.convert_ids_to_tokens(ids.tolist())
        spans = list(zip((starts + shift).tolist(), (ends + shift).tolist()))
        bounds = np.cumsum(counts).tolist()
        pieces = list(zip([0] + bounds[:-1], bounds))
        return [tokens[a:b] for a, b in pieces], [spans[a:b] for a, b in pieces]

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs) -> list[str]:
        ids = self._encode_plus(text, text_pair=pair, add_special_tokens=add_special_tokens, **kwargs)["input_ids"]
        return self.convert_ids_to_tokens(ids)


def _rows(values, first, last, counts: np.ndarray) -> list[list]:
    """Row i: `first`, the next counts[i] content values, `last` (neither if `first` is None).
    `values` is an array over all content tokens, or one number that all of them share (a mask)."""
    if np.isscalar(values):
        if first is None or first == last == values:
            return [[values] * n for n in (counts + (0 if first is None else 2)).tolist()]
        return [[first] + [values] * n + [last] for n in counts.tolist()]
    if first is not None:  # place first/last around each row's values, then cut the rows
        ends = np.cumsum(counts)
        where = np.stack([ends - counts, ends], axis=1).ravel()
        values = np.insert(values, where, np.array([first, last] * len(counts)), axis=0)
        counts = counts + 2
    # (start, end) pairs straight from two flat lists: a list per pair would cost 20x (the garbage collector)
    items = values.tolist() if values.ndim == 1 else list(zip(values[:, 0].tolist(), values[:, 1].tolist()))
    ends = np.cumsum(counts).tolist()
    return [items[a:b] for a, b in zip([0] + ends[:-1], ends)]


def _rectangle(lengths: np.ndarray, padding_strategy, max_length, pad_to_multiple_of) -> int | None:
    """The common row length after padding, as `pad()` computes it; None when the rows stay ragged."""
    if padding_strategy == PaddingStrategy.DO_NOT_PAD:
        return int(lengths[0]) if (lengths == lengths[0]).all() else None
    width = int(lengths.max()) if padding_strategy == PaddingStrategy.LONGEST else max_length
    if pad_to_multiple_of and width % pad_to_multiple_of:
        width += pad_to_multiple_of - width % pad_to_multiple_of
    return width if lengths.max() <= width else None  # pad() leaves longer rows as they are


def _grid(values, first, last, pad, counts: np.ndarray, width: int, left: bool) -> np.ndarray:
    """`_rows(...)` written into a [rows, width] array filled with `pad`, rows aligned right if `left`."""
    n_special = 0 if first is None else 2
    lengths = counts + n_special
    start = width - lengths if left else np.zeros(len(counts), dtype=np.int64)  # column of each row's first token
    columns = np.arange(width)[None, :]
    inner = (start + n_special // 2)[:, None]
    content = (columns >= inner) & (columns < inner + counts[:, None])
    grid = np.full(content.shape + np.shape(values)[1:], pad, dtype=np.int64)
    grid[content] = values  # row-major order is token order
    if first is not None:
        rows = np.arange(len(counts))
        grid[rows, start] = first
        grid[rows, start + lengths - 1] = last
    return grid


def _finish(data: dict, batched: bool, tensor_type, n_sequences: int) -> BatchEncoding:
    if not batched and tensor_type is None:
        # as transformers does: unwrap the one row; `length` stays a one-element list
        data = {key: value[0] if value and isinstance(value[0], list) else value for key, value in data.items()}
    return BatchEncoding(data, tensor_type=tensor_type, n_sequences=n_sequences)


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
            "(offline copy: ../shared/data/dnabert2; "
            f"online: huggingface_hub.snapshot_download('{PUBLISHED_DNABERT2}'))"
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


# BPE training cost grows with the square of a word's length: `tokenizers` applies each merge by inserting into
# and removing from the word's symbol vector. A whole bacterial chromosome (2.46 Mbp, the multispecies corpus)
# as one word ran over 12 minutes without finishing; cut into pieces of at most 20 kb it trains in 14 s (4 kb:
# 10 s; measured on 2 cores, 1,024 tokens). Only merges across a cut are lost: a handful per 20 kb. 20 kb is
# above every piece of the human CPU corpus (longest 18,325 bp), so its vocabulary is unchanged by the cut.
BPE_PIECE_BP = 20_000


def _training_pieces(sequences: Iterable[str], max_bp: int = BPE_PIECE_BP) -> Iterable[str]:
    for i, seq in enumerate(sequences):
        try:
            clean = normalize_sequence(seq)
        except (TypeError, ValueError) as err:
            raise type(err)(f"training sequence {i}: {err}") from None
        # Merges are learnt on the A/C/G/T stretches only: N marks unknown sequence, and a token spanning
        # one would be meaningless. N then encodes as [UNK], as in the published DNABERT-2 vocabulary.
        for stretch in clean.split("N"):
            yield from (stretch[start : start + max_bp] for start in range(0, len(stretch), max_bp))


def train_bpe(
    sequences: Iterable[str], vocab_size: int, corpus_name: str | None = None, min_frequency: int = 0
) -> DNATokenizerFast:
    """Train a DNABERT-2-style BPE (same specials, ids 0-4, and template) on an iterable of DNA strings.

    As the DNABERT-2 authors did (MAGICS-LAB/DNABERT_2#74): `tokenizers` BPE with [UNK], BpeTrainer with the
    five special tokens, Whitespace pre-tokenizer, `[CLS] $A [SEP]`. Sequences pass the input policy first
    and are cut at N. A, C, G, T are always in the alphabet (ids 5-8). Deterministic: the same sequences in
    the same order give the same tokenizer.json. `corpus_name` is recorded as provenance. Stretches longer
    than BPE_PIECE_BP are learnt as consecutive pieces of that length (see there why).
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


def bpe_tokenizer(
    path: str | os.PathLike | None = None,
    *,
    sequences: Iterable[str] | None = None,
    vocab_size: int | None = None,
    corpus_name: str | None = None,
    min_frequency: int = 0,
) -> DNATokenizerFast:
    """The "bpe" family: `path=` loads one (a folder or Hub id, as `load_tokenizer`), `sequences=` and
    `vocab_size=` train one (`train_bpe`). `corpus_name` records the corpus either way."""
    if (path is None) == (sequences is None):
        raise ValueError(
            "the 'bpe' tokenizer needs path= (a folder with tokenizer.json: the published DNABERT-2 one, e.g. "
            "../shared/data/dnabert2, or one saved with save_pretrained) or sequences= and vocab_size= "
            "(to train one), not both"
        )
    if sequences is not None:
        if vocab_size is None:
            raise ValueError("training a 'bpe' tokenizer needs vocab_size= as well as sequences=")
        return train_bpe(sequences, vocab_size, corpus_name=corpus_name, min_frequency=min_frequency)
    tok = load_tokenizer(path, corpus_name=corpus_name)
    if tok.dnalm_family != "bpe":
        raise ValueError(f"{path} holds a {tok._describe()} tokenizer, not a BPE")
    return tok
