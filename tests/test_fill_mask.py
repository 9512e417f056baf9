"""`pipeline("fill-mask")` on every model x tokenizer family, from a folder saved with save_pretrained.

The reference is computed without the pipeline: the tokenizer and the model's forward (input_ids,
attention_mask) -> logits, softmax at the [MASK] position. The pipeline must give the same scores and token
ids, honour `top_k` and `targets`, and return the input with the mask filled as its `sequence`.
Models are small and randomly initialised (seeded): the numbers mean nothing, their agreement does.
"""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForMaskedLM, pipeline

import modeling  # noqa: F401  (registers the models and DNATokenizerFast with the Auto classes)
from dnalm_core.registry import MODELS, TOKENIZERS

TEXT = "ACGTACGTAC[MASK]TTGCA"

# (model, preset, tokenizer family, build kwargs, targets: tokens of that vocabulary)
CASES = {
    "dnabert2-bpe": ("dnabert2", "tiny", "bpe", None, ["A", "CGTA", "TT"]),
    "dnabert2-char": ("dnabert2", "tiny", "char", {}, ["A", "G"]),
    "dnabert2-kmer3-overlapping": ("dnabert2", "tiny", "kmer", {"k": 3, "overlapping": True}, ["ACG", "CAT", "TTT"]),
    "dnabert2-kmer3-nonoverlapping": ("dnabert2", "tiny", "kmer", {"k": 3, "overlapping": False}, ["ACG", "T", "TTT"]),
    "convnova-char": ("convnova", "tiny", "char", {}, ["C", "T"]),
    "unet-char": ("unet", "small", "char", {}, ["A", "N"]),
}
ONE_HOT = ("convnova", "unet")  # their MLM heads give every non-nucleotide token a logit of -1e4


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request, tmp_path_factory):
    name, preset, family, kwargs, targets = CASES[request.param]
    if kwargs is None:  # the published DNABERT-2 vocabulary
        kwargs = {"path": request.getfixturevalue("shared_data") / "dnabert2"}
    tok = TOKENIZERS.get(family).build(**kwargs)
    torch.manual_seed(0)
    config = MODELS.get(name).config(preset, vocab_size=len(tok), pad_token_id=tok.pad_token_id)
    model = AutoModelForMaskedLM.from_config(config).eval()
    folder = tmp_path_factory.mktemp(request.param)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    fill = pipeline("fill-mask", model=str(folder), device="cpu")
    return {"name": name, "tok": tok, "model": model, "fill": fill, "targets": targets}


def mask_probabilities(tok, model, text: str) -> torch.Tensor:
    """Softmax over the vocabulary at the [MASK] position, straight from the tokenizer and the model."""
    enc = tok(text, return_tensors="pt")
    (position,) = (enc["input_ids"][0] == tok.mask_token_id).nonzero()[0].tolist()
    with torch.no_grad():
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
    return logits[0, position].softmax(-1)


def filled(tok, text: str, token_id: int) -> str:
    """The input with the mask replaced by the token, as the pipeline's `sequence` should read."""
    token = tok.convert_ids_to_tokens(token_id)
    if token_id in tok.all_special_ids:
        token = ""  # the pipeline decodes with skip_special_tokens=True
    if tok.dnalm_family == "kmer" and tok.dnalm_overlapping:
        # overlapping windows decode as space-separated k-mers (DNABERT-1 style), not as DNA
        tokens = [token if t == "[MASK]" else t for t in tok.tokenize(text)]
        return " ".join(t for t in tokens if t)
    return text.replace("[MASK]", token)


def test_pipeline_uses_our_tokenizer_and_its_policy(case):
    fill = case["fill"]
    assert type(fill.tokenizer).__name__ == "DNATokenizerFast"
    assert fill.tokenizer.get_vocab() == case["tok"].get_vocab()
    with pytest.raises(ValueError, match="'X' at position 16"):
        fill("ACGTACGTAC[MASK]XTGCA")


@pytest.mark.parametrize("top_k", [1, 3])
def test_scores_and_tokens_match_the_model(case, top_k):
    tok, model, fill = case["tok"], case["model"], case["fill"]
    probs = mask_probabilities(tok, model, TEXT)
    expected = probs.topk(top_k)
    got = fill(TEXT, top_k=top_k)
    assert len(got) == top_k
    assert [p["token"] for p in got] == expected.indices.tolist()
    assert [p["score"] for p in got] == pytest.approx(expected.values.tolist(), abs=1e-6)
    for p in got:
        assert p["token_str"] == tok.convert_ids_to_tokens(p["token"])
        assert p["sequence"] == filled(tok, TEXT, p["token"])


def test_targets_restrict_the_candidates(case):
    tok, model, fill = case["tok"], case["model"], case["fill"]
    probs = mask_probabilities(tok, model, TEXT)
    assert all(t in tok.get_vocab() for t in case["targets"])
    target_ids = tok.convert_tokens_to_ids(case["targets"])
    got = fill(TEXT, targets=case["targets"])  # top_k (5) is capped to the number of targets
    assert sorted(p["token"] for p in got) == sorted(target_ids)
    for p in got:
        assert p["score"] == pytest.approx(probs[p["token"]].item(), abs=1e-6)
        assert p["sequence"] == filled(tok, TEXT, p["token"])
    assert [p["score"] for p in got] == sorted((p["score"] for p in got), reverse=True)
    assert len(fill(TEXT, targets=case["targets"], top_k=1)) == 1


def test_one_hot_models_propose_nucleotides_only(case):
    if case["name"] not in ONE_HOT:
        pytest.skip("only ConvNova and the U-Net mask the non-nucleotide logits")
    got = case["fill"](TEXT, top_k=5)
    assert sorted(p["token_str"] for p in got) == ["A", "C", "G", "N", "T"]
    assert sum(p["score"] for p in got) == pytest.approx(1.0, abs=1e-5)
    assert {p["sequence"] for p in got} == {TEXT.replace("[MASK]", b) for b in "ACGTN"}


def test_batch_of_inputs(case):
    fill, tok, model = case["fill"], case["tok"], case["model"]
    texts = [TEXT, "[MASK]acgtnACGT"]  # lower case and N pass the input policy as anywhere else
    got = fill(texts, top_k=2)
    assert len(got) == 2 and all(len(row) == 2 for row in got)
    for text, row in zip(texts, got):
        assert [p["token"] for p in row] == mask_probabilities(tok, model, text).topk(2).indices.tolist()
