"""modeling.embeddings: pooled and per-nucleotide embeddings, checked against a per-sequence hand loop."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, processors
from torch import nn
from transformers import AutoModel, PreTrainedTokenizerFast

import modeling  # noqa: F401
from dnalm_core.registry import MODELS
from modeling.dnabert2 import DNABert2Config, DNABert2ForSequenceClassification, DNABert2Model
from modeling.embeddings import embed, spread_to_nucleotides
from modeling.tokenization import char_tokenizer, kmer_tokenizer, load_bpe

TOL = 1e-5
SEQS = [
    "ACGTAGCATCGGATCTATCTATCGACACTTGGTTATCGATCTACGAGCATCTCGTTAGC",  # DNABERT-2 README example
    "TTGACA",
    "GGGCGGGGCCGGAGAGTGGGCGGGGCCTGGCGCGTGGGCGGGGCTCCGGGCGGGCCGGCCGCCGAGGGTGGGGCC",
    "ACGTNNACGT",
    "CACACACACACACACACACACACACACACACACACACACACACACACACACACACACACACACACACACA",
]


@pytest.fixture(scope="module")
def bpe(shared_data):
    return load_bpe(shared_data / "dnabert2")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = DNABert2Config(
        vocab_size=4096, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    )
    return DNABert2Model(config).eval()


def hand_loop(model, tokenizer, seq):
    """One sequence at a time, no padding: token vectors, ids and offsets."""
    enc = tokenizer(seq, return_offsets_mapping=True, return_special_tokens_mask=True)
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor([enc["input_ids"]])).last_hidden_state[0]
    return hidden, enc


def hand_nucleotide(hidden, enc, length):
    rows = []
    for base in range(length):
        covering = [
            t for t, (s, e) in enumerate(enc["offset_mapping"]) if s <= base < e and not enc["special_tokens_mask"][t]
        ]
        rows.append(hidden[covering].mean(0))
    return torch.stack(rows)


def test_mean_cls_and_nucleotide_match_a_hand_loop(model, bpe):
    # batch_size 2 with very different lengths: every batch is padded
    mean = embed(model, bpe, SEQS, "mean", batch_size=2)
    mean_own = embed(model, bpe, SEQS, "mean", batch_size=2, exclude_special_tokens=True)
    cls = embed(model, bpe, SEQS, "cls", batch_size=2)
    per_base = embed(model, bpe, SEQS, "nucleotide", batch_size=2)
    assert mean.shape == cls.shape == (len(SEQS), 32) and mean.dtype == np.float32
    for i, seq in enumerate(SEQS):
        hidden, enc = hand_loop(model, bpe, seq)
        assert enc["input_ids"][0] == bpe.cls_token_id and enc["input_ids"][-1] == bpe.sep_token_id
        np.testing.assert_allclose(mean[i], hidden.mean(0).numpy(), atol=TOL)
        np.testing.assert_allclose(mean_own[i], hidden[1:-1].mean(0).numpy(), atol=TOL)
        np.testing.assert_allclose(cls[i], hidden[0].numpy(), atol=TOL)
        assert per_base[i].shape == (len(seq), 32)
        np.testing.assert_allclose(per_base[i], hand_nucleotide(hidden, enc, len(seq)).numpy(), atol=TOL)


def test_bpe_bases_share_their_token_vector(model, bpe):
    # "ACGTNNACGT" -> [CLS] A C GT [UNK] [UNK] A C GT [SEP]: bases 2 and 3 are the one token GT
    (per_base,) = embed(model, bpe, ["ACGTNNACGT"], "nucleotide")
    np.testing.assert_array_equal(per_base[2], per_base[3])
    assert not np.allclose(per_base[1], per_base[2])


def test_padding_never_changes_an_embedding(model, bpe):
    target = SEQS[1]
    alone = embed(model, bpe, [target], "mean")[0]
    neighbours = embed(model, bpe, [SEQS[0], target, SEQS[4]], "mean", batch_size=3)[1]
    np.testing.assert_allclose(alone, neighbours, atol=TOL)
    alone_nt = embed(model, bpe, [target], "nucleotide")[0]
    neighbours_nt = embed(model, bpe, [SEQS[4], target], "nucleotide", batch_size=2)[1]
    np.testing.assert_allclose(alone_nt, neighbours_nt, atol=TOL)


def test_task_model_uses_its_encoder_and_keeps_its_mode(bpe):
    torch.manual_seed(1)
    config = DNABert2Config(
        vocab_size=4096,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        hidden_dropout_prob=0.5,
    )
    clf = DNABert2ForSequenceClassification(config).train()
    first = embed(clf, bpe, SEQS[:2], "mean")
    assert clf.training  # restored
    np.testing.assert_allclose(first, embed(clf, bpe, SEQS[:2], "mean"), atol=TOL)  # dropout was off
    np.testing.assert_allclose(first, embed(clf.bert, bpe, SEQS[:2], "mean"), atol=TOL)


def test_input_policy_applies(model, bpe):
    np.testing.assert_allclose(
        embed(model, bpe, ["  acgtRYacgt "], "nucleotide")[0],
        embed(model, bpe, ["ACGTNNACGT"], "nucleotide")[0],
        atol=TOL,
    )
    with pytest.raises(ValueError, match="RNA"):
        embed(model, bpe, ["ACGU"])


def test_overlapping_kmers_average_the_covering_tokens():
    tokenizer = kmer_tokenizer(3, overlapping=True)
    torch.manual_seed(2)
    config = DNABert2Config(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = DNABert2Model(config).eval()
    seqs = ["ACGTACGGT", "TTAC"]
    per_base = embed(model, tokenizer, seqs, "nucleotide", batch_size=2)
    for seq, got in zip(seqs, per_base):
        hidden, enc = hand_loop(model, tokenizer, seq)
        assert got.shape == (len(seq), 16)
        np.testing.assert_allclose(got, hand_nucleotide(hidden, enc, len(seq)).numpy(), atol=TOL)


def test_spread_to_nucleotides_by_hand():
    vectors = torch.tensor([[9.0], [1.0], [2.0], [3.0], [9.0]])
    offsets = torch.tensor([[0, 0], [0, 3], [1, 4], [2, 5], [0, 0]])  # [CLS], three 3-mers, [SEP]
    out = spread_to_nucleotides(vectors, offsets, 5)
    assert out[:, 0].tolist() == pytest.approx([1.0, 1.5, 2.0, 2.5, 3.0])
    with pytest.raises(ValueError, match="covered by no token"):
        spread_to_nucleotides(vectors, offsets, 6)


class _NoMaskBackbone(nn.Module):
    """A model without attention_mask whose outputs depend on the padding (a running sum)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.widths = []

    def forward(self, input_ids):
        self.widths.append(input_ids.shape[1])
        x = input_ids.float().unsqueeze(-1).flip(1).cumsum(1).flip(1) * self.scale  # depends on later tokens
        return SimpleNamespace(last_hidden_state=torch.cat([x, -x], -1))


def test_models_without_attention_mask_get_unpadded_batches(bpe):
    backbone = _NoMaskBackbone()
    seqs = ["ACGTAGCATCGG", "TT", "GGGCCCAAATTT", "AC"]
    got = embed(backbone, bpe, seqs, "mean", batch_size=4)
    for i, seq in enumerate(seqs):
        ids = torch.tensor([bpe(seq)["input_ids"]])
        expected = backbone(ids).last_hidden_state[0].mean(0)
        np.testing.assert_allclose(got[i], expected.detach().numpy(), atol=TOL)


def test_bad_arguments_fail_clearly(model, bpe, shared_data):
    with pytest.raises(TypeError, match="list"):
        embed(model, bpe, "ACGT")
    assert embed(model, bpe, [], "mean").shape == (0, 32)
    assert embed(model, bpe, [], "nucleotide") == []
    with pytest.raises(ValueError, match="unknown pooling"):
        embed(model, bpe, ["ACGT"], "max")
    with pytest.raises(ValueError, match="truncated"):
        embed(model, bpe, [SEQS[0]], "nucleotide", max_length=5)

    # a tokenizer that does not start sequences with [CLS]
    raw = Tokenizer.from_file(str(shared_data / "dnabert2" / "tokenizer.json"))
    raw.post_processor = processors.TemplateProcessing(single="$A [SEP]", special_tokens=[("[SEP]", 2)])
    no_cls = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]")
    with pytest.raises(ValueError, match=r"puts \[CLS\] first"):
        embed(model, no_cls, ["ACGT"], "cls")
    assert embed(model, no_cls, ["ACGT"], "mean").shape == (1, 32)


# Basset and DeepSEA pool their convolutions down to a few positions: no vector per token, so embed() refuses
# them (tests/test_classic_cnns.py checks the error).
@pytest.mark.parametrize("name", [n for n in MODELS.names() if n not in ("basset", "deepsea")])
def test_every_registered_backbone_embeds_the_same_alone_or_padded(name):
    # the char tokenizer is the one family every model takes; the smallest preset keeps this fast
    entry = MODELS.get(name)
    assert "char" in entry.tokenizers
    tokenizer = char_tokenizer()
    preset = "tiny" if "tiny" in entry.presets else entry.default_preset
    torch.manual_seed(0)
    model = AutoModel.from_config(
        entry.config(preset, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    ).eval()
    seqs = ["ACGTACGTTTGACCA", "GGC", "ACGTNACGTACGATCGATCGATCGTAGCTAGCTAGCTAGCATCGAT"]
    batched = embed(model, tokenizer, seqs, "mean", batch_size=3)
    per_base = embed(model, tokenizer, seqs, "nucleotide", batch_size=3)
    for i, seq in enumerate(seqs):
        np.testing.assert_allclose(batched[i], embed(model, tokenizer, [seq], "mean")[0], atol=TOL)
        hidden, enc = hand_loop(model, tokenizer, seq)
        np.testing.assert_allclose(per_base[i], hand_nucleotide(hidden, enc, len(seq)).numpy(), atol=TOL)
