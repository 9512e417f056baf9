"""DNABERT-2 port: parity with the reference code, loading of the published layout, semantics.

Independent references used here:
- the golden outputs in ../shared/data/parity/dnabert2_tiny (made by the reference `bert_layers.py`);
- `naive_forward` below, a direct float64 transcription of the reference's forward semantics
  (docs: reference-architectures.md section 1.4), written without the model code;
- hand-written constants (ALiBi slopes, checkpoint keys and parameter counts from section 1.3).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    PreTrainedTokenizerFast,
)

import modeling  # noqa: F401  (registers the Auto classes)
from dnalm_core.registry import MODELS
from modeling.dnabert2 import (
    DNABert2Config,
    DNABert2ForMaskedLM,
    DNABert2ForSequenceClassification,
    DNABert2Model,
    alibi_slopes,
)

TOL = 1e-5
TINY = dict(vocab_size=4096, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def published_layout(
    folder: Path, config: dict, weights: dict[str, torch.Tensor], shared_data: Path, fmt="safetensors"
):
    """Write a folder laid out like zhihan1996/DNABERT-2-117M: its config.json (no model_type, remote-code
    auto_map) with the given sizes, and the weights as model.safetensors or pytorch_model.bin."""
    published = json.loads((shared_data / "dnabert2" / "config.json").read_text())
    assert "model_type" not in published and "auto_map" in published
    published.update(config)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(published))
    if fmt == "safetensors":
        save_file(weights, str(folder / "model.safetensors"))
    else:
        torch.save(weights, folder / "pytorch_model.bin")
    return folder


@pytest.fixture(scope="module")
def parity(shared_data):
    root = shared_data / "parity" / "dnabert2_tiny"
    meta = json.loads((root / "meta.json").read_text())
    return dict(
        config=meta["config"],
        num_labels=meta["num_labels"],
        io=load_file(str(root / "io.safetensors")),
        mlm=load_file(str(root / "mlm_weights.safetensors")),
        clf=load_file(str(root / "clf_weights.safetensors")),
    )


@pytest.fixture(scope="module")
def parity_dirs(parity, shared_data, tmp_path_factory):
    base = tmp_path_factory.mktemp("dnabert2_parity")
    return dict(
        mlm=published_layout(base / "mlm", parity["config"], parity["mlm"], shared_data),
        clf=published_layout(base / "clf", parity["config"], parity["clf"], shared_data),
    )


def max_diff_real(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    return (a - b)[mask.bool()].abs().max().item()


# Slopes written out by hand from Press et al. (arXiv 2108.12409): n a power of two -> 2^(-8i/n), i=1..n;
# otherwise the 2^k closest below, then every other slope of 2^(k+1) heads.
HAND_SLOPES = {
    1: [2**-8],
    4: [2**-2, 2**-4, 2**-6, 2**-8],
    6: [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3],
    8: [2**-1, 2**-2, 2**-3, 2**-4, 2**-5, 2**-6, 2**-7, 2**-8],
    12: [
        0.5,
        0.25,
        0.125,
        0.0625,
        0.03125,
        0.015625,
        0.0078125,
        0.00390625,
        0.70710678,
        0.35355339,
        0.17677670,
        0.08838835,
    ],  # reference-architectures.md section 1.4
}


def naive_forward(sd, cfg, ids, mask, prefix="bert."):
    """The reference's forward (section 1.4) in float64, straight from the formulas.

    Returns (hidden state after embeddings and after each layer, attention probabilities per layer).
    Padding is masked with -10000 as in the reference.
    """
    sd = {k: v.double() for k, v in sd.items()}
    hid, heads, inter = cfg["hidden_size"], cfg["num_attention_heads"], cfg["intermediate_size"]
    d = hid // heads
    eps = cfg.get("layer_norm_eps", 1e-12)

    def ln(x, name):
        return F.layer_norm(x, (hid,), sd[name + ".weight"], sd[name + ".bias"], eps)

    x = (
        sd[prefix + "embeddings.word_embeddings.weight"][ids]
        + sd[prefix + "embeddings.token_type_embeddings.weight"][0]
    )
    x = ln(x, prefix + "embeddings.LayerNorm")
    n = ids.shape[1]
    dist = (torch.arange(n)[None, :] - torch.arange(n)[:, None]).abs().double()
    slopes = torch.tensor(HAND_SLOPES[heads], dtype=torch.float64)
    bias = -slopes[None, :, None, None] * dist + (1.0 - mask.double())[:, None, None, :] * -10000.0
    hidden, probs_all = [x], []
    for layer in range(cfg["num_hidden_layers"]):
        p = f"{prefix}encoder.layer.{layer}."
        qkv = x @ sd[p + "attention.self.Wqkv.weight"].T + sd[p + "attention.self.Wqkv.bias"]
        q, k, v = (t.reshape(*t.shape[:2], heads, d) for t in qkv.split(hid, dim=-1))
        scores = torch.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(d) + bias
        probs = scores.softmax(-1)
        att = torch.einsum("bhij,bjhd->bihd", probs, v).reshape(x.shape)
        x = ln(
            att @ sd[p + "attention.output.dense.weight"].T + sd[p + "attention.output.dense.bias"] + x,
            p + "attention.output.LayerNorm",
        )
        g = x @ sd[p + "mlp.gated_layers.weight"].T
        h = F.gelu(g[..., :inter]) * g[..., inter:]
        x = ln(h @ sd[p + "mlp.wo.weight"].T + sd[p + "mlp.wo.bias"] + x, p + "mlp.layernorm")
        hidden.append(x)
        probs_all.append(probs)
    return hidden, probs_all


def tiny_model(cls=DNABert2Model, seed=0, **overrides):
    torch.manual_seed(seed)
    return cls(DNABert2Config(**{**TINY, **overrides})).eval()


# ------------------------------------------------------------------------------------------------
# ALiBi, config, registry
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("heads", sorted(HAND_SLOPES))
def test_alibi_slopes_follow_press_et_al(heads):
    assert alibi_slopes(heads) == pytest.approx(HAND_SLOPES[heads], rel=1e-7)


def test_alibi_bias_values():
    model = tiny_model(num_attention_heads=6, hidden_size=48)
    bias = model.alibi(5, torch.device("cpu"))
    assert bias.shape == (1, 6, 5, 5)
    # head 4 has slope 2^-1: row 1 is -0.5 * |1 - j|
    assert bias[0, 4, 1].tolist() == [-0.5, 0.0, -0.5, -1.0, -1.5]
    assert torch.equal(bias, bias.transpose(-1, -2))  # symmetric: an encoder has no causal part


def test_published_config_loads_and_resaves_without_remote_code(shared_data, tmp_path):
    config = DNABert2Config.from_pretrained(shared_data / "dnabert2")
    assert (config.vocab_size, config.hidden_size, config.num_hidden_layers) == (4096, 768, 12)
    assert (config.num_attention_heads, config.intermediate_size, config.alibi_starting_size) == (12, 3072, 512)
    assert config.pad_token_id == 3  # the published tokenizer's [PAD]; absent from the published config
    assert not hasattr(config, "auto_map")
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    # the published auto_map (to the reference's bert_layers.py) is gone; the saved one names this code, which
    # the folder now carries
    assert saved["model_type"] == "dnabert2" and saved["auto_map"] == {"AutoConfig": "dnabert2.DNABert2Config"}
    assert (tmp_path / "dnabert2.py").is_file()
    assert type(AutoConfig.from_pretrained(tmp_path)) is DNABert2Config


def test_config_rejects_bad_sizes():
    # @strict configs wrap validator errors in huggingface_hub's StrictDataclassClassValidationError
    with pytest.raises(Exception, match="multiple of num_attention_heads"):
        DNABert2Config(hidden_size=100, num_attention_heads=12)
    with pytest.raises(Exception, match="outside the vocabulary"):
        DNABert2Config(vocab_size=10, pad_token_id=10)


def test_registry_entry_and_presets():
    entry = MODELS.get("dnabert2")
    assert entry.config_class is DNABert2Config and entry.default_preset == "small"
    assert set(entry.tokenizers) == {"bpe", "kmer", "char"}
    big = entry.config("117m")
    assert (big.hidden_size, big.num_hidden_layers, big.num_attention_heads, big.intermediate_size) == (
        768,
        12,
        12,
        3072,
    )
    tiny = entry.config("tiny")
    assert (tiny.hidden_size, tiny.num_hidden_layers, tiny.num_attention_heads, tiny.intermediate_size) == (
        64,
        2,
        4,
        128,
    )
    small = entry.config(vocab_size=10, pad_token_id=3)  # what train.py passes for the char tokenizer
    assert (small.vocab_size, small.pad_token_id, small.hidden_size) == (10, 3, 128)
    model = AutoModel.from_config(small)
    assert model.get_input_embeddings().padding_idx == 3
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    assert set(entry.lora_target_modules) <= names


def test_auto_classes_from_config_build_ours():
    config = DNABert2Config(**TINY)
    assert type(AutoModel.from_config(config)) is DNABert2Model
    assert type(AutoModelForMaskedLM.from_config(config)) is DNABert2ForMaskedLM
    assert type(AutoModelForSequenceClassification.from_config(config)) is DNABert2ForSequenceClassification


# ------------------------------------------------------------------------------------------------
# parity with the reference implementation (golden outputs)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_parity_masked_lm(parity, parity_dirs, attn):
    model, info = DNABert2ForMaskedLM.from_pretrained(
        parity_dirs["mlm"], output_loading_info=True, attn_implementation=attn
    )
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    model.eval()
    io = parity["io"]
    with torch.no_grad():
        full = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"])
        out = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"], labels=io["mlm_labels"])
    assert max_diff_real(full.logits, io["mlm_logits"], io["attention_mask"]) <= TOL
    # with labels (sparse prediction, as the reference): same loss, logits only at labelled positions
    assert abs(out.loss.item() - io["mlm_loss"].item()) <= TOL
    scored = io["mlm_labels"] != -100
    assert max_diff_real(out.logits, io["mlm_logits"], scored) <= TOL
    assert torch.all(out.logits[~scored] == 0)
    model.config.sparse_prediction = False
    with torch.no_grad():
        dense = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"], labels=io["mlm_labels"])
    assert abs(dense.loss.item() - io["mlm_loss"].item()) <= TOL
    assert max_diff_real(dense.logits, io["mlm_logits"], io["attention_mask"]) <= TOL
    # the decoder is tied to the embeddings, so it is the file's word embedding
    assert model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_parity_sequence_classification(parity, parity_dirs, attn):
    model = DNABert2ForSequenceClassification.from_pretrained(parity_dirs["clf"], attn_implementation=attn).eval()
    assert model.config.num_labels == parity["num_labels"]
    io = parity["io"]
    with torch.no_grad():
        logits = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"]).logits
        base = model.bert(input_ids=io["input_ids"], attention_mask=io["attention_mask"])
    assert max_diff_real(base.last_hidden_state, io["clf_last_hidden_state"], io["attention_mask"]) <= TOL
    assert (base.pooler_output - io["clf_pooled_output"]).abs().max().item() <= TOL
    assert (logits - io["clf_logits"]).abs().max().item() <= TOL
    # padded positions are exactly zero, as in the reference
    assert torch.all(base.last_hidden_state[io["attention_mask"] == 0] == 0)


def test_parity_from_pickle_checkpoint(parity, shared_data, tmp_path):
    # The published file is a pickle with the decoder weight saved next to (tied with) the embedding.
    weights = dict(parity["mlm"])
    weights["cls.predictions.decoder.weight"] = weights["bert.embeddings.word_embeddings.weight"]
    folder = published_layout(tmp_path / "bin", parity["config"], weights, shared_data, fmt="bin")
    model = DNABert2ForMaskedLM.from_pretrained(folder).eval()
    io = parity["io"]
    with torch.no_grad():
        logits = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"]).logits
    assert max_diff_real(logits, io["mlm_logits"], io["attention_mask"]) <= TOL
    with pytest.raises(ValueError, match="weights_only=True"):
        DNABert2ForMaskedLM.from_pretrained(folder, weights_only=False)


class _Payload:
    """Unpickling this would create a file: a pickle checkpoint must never be allowed to do that."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickle_checkpoint_cannot_run_code(parity, shared_data, tmp_path):
    folder = published_layout(tmp_path / "evil", parity["config"], dict(parity["mlm"]), shared_data, fmt="bin")
    marker = tmp_path / "pwned"
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    state["payload"] = _Payload(marker)
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(Exception, match="(?i)weights_only|unpickl|unsupported global"):
        DNABert2ForMaskedLM.from_pretrained(folder)
    assert not marker.exists()


def test_mlm_checkpoint_into_classifier_reports_only_new_head(parity_dirs):
    model, info = DNABert2ForSequenceClassification.from_pretrained(
        parity_dirs["mlm"], num_labels=3, output_loading_info=True
    )
    assert set(info["missing_keys"]) == {
        "bert.pooler.dense.weight",
        "bert.pooler.dense.bias",
        "classifier.weight",
        "classifier.bias",
    }
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    assert model.classifier.out_features == 3
    # the backbone alone: the MLM head is dropped quietly, only the pooler is new
    backbone, info = DNABert2Model.from_pretrained(parity_dirs["mlm"], output_loading_info=True)
    assert set(info["missing_keys"]) == {"pooler.dense.weight", "pooler.dense.bias"}
    assert not info["unexpected_keys"] and not info["mismatched_keys"]


# ------------------------------------------------------------------------------------------------
# the full 117M published layout
# ------------------------------------------------------------------------------------------------


def published_117m_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of the published BertForMaskedLM checkpoint (reference-architectures.md section 1.3)."""
    h, inter, v = 768, 3072, 4096
    shapes = {
        "bert.embeddings.word_embeddings.weight": (v, h),
        "bert.embeddings.token_type_embeddings.weight": (2, h),
        "bert.embeddings.LayerNorm.weight": (h,),
        "bert.embeddings.LayerNorm.bias": (h,),
        "cls.predictions.transform.dense.weight": (h, h),
        "cls.predictions.transform.dense.bias": (h,),
        "cls.predictions.transform.LayerNorm.weight": (h,),
        "cls.predictions.transform.LayerNorm.bias": (h,),
        "cls.predictions.decoder.weight": (v, h),
        "cls.predictions.decoder.bias": (v,),
    }
    for i in range(12):
        p = f"bert.encoder.layer.{i}."
        shapes.update(
            {
                p + "attention.self.Wqkv.weight": (3 * h, h),
                p + "attention.self.Wqkv.bias": (3 * h,),
                p + "attention.output.dense.weight": (h, h),
                p + "attention.output.dense.bias": (h,),
                p + "attention.output.LayerNorm.weight": (h,),
                p + "attention.output.LayerNorm.bias": (h,),
                p + "mlp.gated_layers.weight": (2 * inter, h),
                p + "mlp.wo.weight": (h, inter),
                p + "mlp.wo.bias": (h,),
                p + "mlp.layernorm.weight": (h,),
                p + "mlp.layernorm.bias": (h,),
            }
        )
    return shapes


def test_117m_architecture_matches_published_keys_on_meta(shared_data):
    config = DNABert2Config.from_pretrained(shared_data / "dnabert2")
    with torch.device("meta"):
        mlm = DNABert2ForMaskedLM(config)
        backbone = DNABert2Model(config)
    expected = published_117m_shapes()
    assert {k: tuple(t.shape) for k, t in mlm.state_dict().items()} == expected
    # Parameter counts of section 1.3: 117,074,176 unique in the MLM checkpoint (decoder tied),
    # 117,068,544 for BertModel with pooler.
    assert sum(p.numel() for p in mlm.parameters()) == 117_074_176
    assert sum(p.numel() for p in backbone.parameters()) == 117_068_544
    result = mlm.load_state_dict(
        {k: torch.empty(s, device="meta") for k, s in expected.items()}, strict=True, assign=True
    )
    assert not result.missing_keys and not result.unexpected_keys


def test_117m_random_checkpoint_loads_with_nothing_unexpected(shared_data, tmp_path):
    expected = published_117m_shapes()
    generator = torch.Generator().manual_seed(0)
    # safetensors stores tied tensors once, as the SFconvertbot copy of the checkpoint does
    weights = {
        k: torch.randn(s, generator=generator) for k, s in expected.items() if k != "cls.predictions.decoder.weight"
    }
    folder = tmp_path / "dnabert2_117m"
    folder.mkdir()
    (folder / "config.json").write_text((shared_data / "dnabert2" / "config.json").read_text())
    save_file(weights, str(folder / "model.safetensors"))

    clf, info = DNABert2ForSequenceClassification.from_pretrained(folder, output_loading_info=True)
    assert not info["unexpected_keys"] and not info["mismatched_keys"]
    assert set(info["missing_keys"]) == {
        "bert.pooler.dense.weight",
        "bert.pooler.dense.bias",
        "classifier.weight",
        "classifier.bias",
    }
    key = "bert.encoder.layer.11.mlp.gated_layers.weight"
    assert torch.equal(clf.state_dict()[key], weights[key])
    del clf

    mlm, info = DNABert2ForMaskedLM.from_pretrained(folder, output_loading_info=True)
    assert not info["unexpected_keys"] and not info["missing_keys"] and not info["mismatched_keys"]
    assert torch.equal(mlm.cls.predictions.decoder.weight, weights["bert.embeddings.word_embeddings.weight"])


# ------------------------------------------------------------------------------------------------
# semantics against the naive float64 reference
# ------------------------------------------------------------------------------------------------


def test_non_power_of_two_heads_long_inputs_hidden_states_and_attentions():
    # 6 heads (non-power-of-2 slopes); inputs longer than alibi_starting_size; padding.
    cfg = dict(TINY, hidden_size=48, num_attention_heads=6, alibi_starting_size=8)
    model = tiny_model(**cfg)
    sd = {"bert." + k: v for k, v in model.state_dict().items()}
    ids = torch.randint(5, 4096, (3, 20), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 13:] = 0
    mask[2, 5:] = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad():
            out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True, output_attentions=True)
    assert not [w for w in caught if "alibi" in str(w.message).lower()]
    assert model.config.alibi_starting_size == 8  # grown without touching the config
    hidden, probs = naive_forward(sd, cfg, ids, mask)
    assert len(out.hidden_states) == cfg["num_hidden_layers"] + 1
    for ours, ref in zip(out.hidden_states, hidden):
        assert max_diff_real(ours, ref.float(), mask) <= TOL
        assert torch.all(ours[mask == 0] == 0)
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)
    assert len(out.attentions) == cfg["num_hidden_layers"]
    for ours, ref in zip(out.attentions, probs):
        assert ours.shape == (3, 6, 20, 20)
        real_rows = mask.bool()[:, None, :, None].expand_as(ours)
        assert (ours - ref.float())[real_rows].abs().max().item() <= TOL
        assert torch.all(ours[:, :, :, 13:][1] == 0)  # no weight on padded keys

    # longer again: the bias grows a second time; a shorter call reuses it
    for length in (40, 7):
        ids2 = torch.randint(5, 4096, (2, length), generator=torch.Generator().manual_seed(length))
        with torch.no_grad():
            ours = model(input_ids=ids2).last_hidden_state
        ref = naive_forward(sd, cfg, ids2, torch.ones_like(ids2))[0][-1]
        assert (ours - ref.float()).abs().max().item() <= TOL


def test_padding_does_not_change_real_positions():
    model = tiny_model(cls=DNABert2ForSequenceClassification)
    gen = torch.Generator().manual_seed(2)
    short = torch.randint(5, 4096, (1, 9), generator=gen)
    long = torch.randint(5, 4096, (1, 30), generator=gen)
    batch = torch.full((2, 30), 3)
    batch[0, :9], batch[1] = short[0], long[0]
    mask = (torch.arange(30) < torch.tensor([[9], [30]])).long()
    with torch.no_grad():
        alone = model.bert(input_ids=short)
        together = model.bert(input_ids=batch, attention_mask=mask)
        logits_alone = model(input_ids=short).logits
        logits_together = model(input_ids=batch, attention_mask=mask).logits
    assert (alone.last_hidden_state[0] - together.last_hidden_state[0, :9]).abs().max().item() <= TOL
    assert (alone.pooler_output[0] - together.pooler_output[0]).abs().max().item() <= TOL
    assert (logits_alone[0] - logits_together[0]).abs().max().item() <= TOL


def test_classifier_last_layer_shortcut_gives_the_same_logits():
    model = tiny_model(cls=DNABert2ForSequenceClassification, num_hidden_layers=3)
    ids = torch.randint(5, 4096, (3, 16), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    mask[0, 10:] = 0
    with torch.no_grad():
        fast = model(input_ids=ids, attention_mask=mask).logits  # last layer for [CLS] only
        full = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)  # every position
        by_hand = model.classifier(model.bert(input_ids=ids, attention_mask=mask).pooler_output)
    assert (fast - full.logits).abs().max().item() <= 1e-6
    assert (fast - by_hand).abs().max().item() <= 1e-6


def test_last_layer_positions_computes_those_positions_only():
    model = tiny_model(num_hidden_layers=3)
    gen = torch.Generator().manual_seed(9)
    ids = torch.randint(5, 4096, (3, 14), generator=gen)
    mask = torch.ones_like(ids)
    mask[2, 6:] = 0
    positions = torch.rand(3, 14, generator=gen) < 0.3
    positions[:, 0] = True
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask)
        part = model(input_ids=ids, attention_mask=mask, last_layer_positions=positions)
        recorded = model(input_ids=ids, attention_mask=mask, last_layer_positions=positions, output_hidden_states=True)
    assert part.last_hidden_state.shape == full.last_hidden_state.shape
    assert (part.last_hidden_state - full.last_hidden_state)[positions].abs().max().item() <= 1e-6
    assert torch.all(part.last_hidden_state[~positions] == 0)
    assert (part.pooler_output - full.pooler_output).abs().max().item() <= 1e-6  # [CLS] was computed
    # with hidden states recorded, every output stays complete
    assert torch.equal(recorded.last_hidden_state, full.last_hidden_state)
    assert torch.equal(recorded.hidden_states[-1], full.last_hidden_state)
    with pytest.raises(ValueError, match="last_layer_positions has shape"):
        model(input_ids=ids, last_layer_positions=positions[:, :5])


def test_heads_return_tuples_and_requested_outputs():
    ids = torch.randint(5, 4096, (2, 12), generator=torch.Generator().manual_seed(10))
    labels = torch.full_like(ids, -100)
    labels[0, 3], labels[1, 7] = 77, 4000
    mlm = tiny_model(cls=DNABert2ForMaskedLM)
    with torch.no_grad():
        sparse = mlm(input_ids=ids, labels=labels)
        recorded = mlm(input_ids=ids, labels=labels, output_hidden_states=True, output_attentions=True)
        as_tuple = mlm(input_ids=ids, labels=labels, return_dict=False)
    assert torch.all(sparse.logits[labels == -100] == 0)
    # requested hidden states / attentions: the last layer ran everywhere, so logits are complete
    assert len(recorded.hidden_states) == 3 and len(recorded.attentions) == 2
    assert torch.all(recorded.logits[labels == -100].abs().sum(-1) > 0)  # (the [PAD] column is 0: a zero row, tied)
    assert abs(recorded.loss.item() - sparse.loss.item()) <= 1e-6
    assert isinstance(as_tuple, tuple) and len(as_tuple) == 2
    assert torch.equal(as_tuple[0], sparse.loss) and torch.equal(as_tuple[1], sparse.logits)

    clf = tiny_model(cls=DNABert2ForSequenceClassification)
    clf.config.return_dict = False
    with torch.no_grad():
        out = clf(input_ids=ids, labels=torch.tensor([0, 1]), output_hidden_states=True)
    assert isinstance(out, tuple) and len(out) == 3  # loss, logits, hidden states
    assert out[1].shape == (2, 2) and len(out[2]) == 3


def test_inputs_embeds_and_batch_encoding(shared_data):
    model = tiny_model()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(shared_data / "dnabert2" / "tokenizer.json"), pad_token="[PAD]"
    )
    batch = tokenizer(["ACGTAGCATCGGATCTATCT", "TTGACA"], padding=True, return_token_type_ids=True, return_tensors="pt")
    assert "token_type_ids" in batch
    with torch.no_grad():
        by_keywords = model(**batch).last_hidden_state
        positional = model(batch).last_hidden_state  # MAGICS-LAB/DNABERT_2#8: this used to fail
        embeds = model(
            inputs_embeds=model.embeddings.word_embeddings(batch["input_ids"]), attention_mask=batch["attention_mask"]
        ).last_hidden_state
    assert torch.equal(by_keywords, positional)
    with torch.no_grad():
        as_tuple = model(**batch, return_dict=False)
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], by_keywords)
    assert (by_keywords - embeds).abs().max().item() <= 1e-6
    with_offsets = tokenizer(["ACGT"], return_offsets_mapping=True, return_tensors="pt")
    with pytest.raises(TypeError, match="keyword arguments"):
        model(with_offsets)


def test_bad_inputs_fail_clearly():
    model = tiny_model(vocab_size=10)
    with pytest.raises(ValueError, match="vocabulary has 10 tokens"):
        model(input_ids=torch.tensor([[1, 5, 12, 2]]))
    with pytest.raises(ValueError, match="attention_mask has shape"):
        model(input_ids=torch.tensor([[1, 5, 6, 2]]), attention_mask=torch.ones(1, 3))
    with pytest.raises(ValueError, match="exactly one of input_ids and inputs_embeds"):
        model()
    with pytest.raises(ValueError, match=r"\[batch, seq_len\]"):
        model(input_ids=torch.tensor([1, 5, 6, 2]))
    with pytest.raises(ValueError, match="integer"):
        model(input_ids=torch.tensor([[1.0, 5.0]]))


# ------------------------------------------------------------------------------------------------
# heads and losses
# ------------------------------------------------------------------------------------------------


def test_masked_lm_loss_ignores_minus_100_and_scores_every_other_id():
    model = tiny_model(cls=DNABert2ForMaskedLM)
    ids = torch.randint(5, 4096, (2, 12), generator=torch.Generator().manual_seed(4))
    labels = torch.full_like(ids, -100)
    labels[0, 3], labels[1, 5], labels[1, 7] = 77, 0, 4000  # label 0 ([UNK], i.e. N) is a target here
    with torch.no_grad():
        out = model(input_ids=ids, labels=labels)
    logp = out.logits.log_softmax(-1)
    manual = -(logp[0, 3, 77] + logp[1, 5, 0] + logp[1, 7, 4000]) / 3
    assert abs(out.loss.item() - manual.item()) <= 1e-5


def test_sequence_classification_problem_types():
    ids = torch.randint(5, 4096, (4, 10), generator=torch.Generator().manual_seed(5))

    model = tiny_model(cls=DNABert2ForSequenceClassification, num_labels=3)
    labels = torch.tensor([0, 2, 1, 2])
    with torch.no_grad():
        out = model(input_ids=ids, labels=labels)
    assert model.config.problem_type == "single_label_classification"
    manual = -out.logits.log_softmax(-1)[torch.arange(4), labels].mean()
    assert abs(out.loss.item() - manual.item()) <= 1e-6

    model = tiny_model(cls=DNABert2ForSequenceClassification, num_labels=3)
    multi = torch.tensor([[1.0, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]])
    with torch.no_grad():
        out = model(input_ids=ids, labels=multi)
    assert model.config.problem_type == "multi_label_classification"
    p = out.logits.sigmoid()
    manual = -(multi * p.log() + (1 - multi) * (1 - p).log()).mean()
    assert abs(out.loss.item() - manual.item()) <= 1e-6
    with pytest.raises(ValueError, match="multi-label labels"):
        model(input_ids=ids, labels=multi[:, :2])

    model = tiny_model(cls=DNABert2ForSequenceClassification, num_labels=1)
    target = torch.tensor([0.5, -1.0, 2.0, 0.0])
    with torch.no_grad():
        out = model(input_ids=ids, labels=target)
    assert model.config.problem_type == "regression"
    assert abs(out.loss.item() - ((out.logits[:, 0] - target) ** 2).mean().item()) <= 1e-6


def test_sequence_classification_loss_dtypes():
    ids = torch.randint(5, 4096, (4, 10), generator=torch.Generator().manual_seed(11))
    model = tiny_model(cls=DNABert2ForSequenceClassification, num_labels=3)
    labels = torch.tensor([0, 2, 1, 2])
    with torch.no_grad():
        reference = model(input_ids=ids, labels=labels).loss
        assert torch.equal(model(input_ids=ids, labels=labels.int()).loss, reference)  # int32 class ids
        model.to(torch.bfloat16)
        out = model(input_ids=ids, labels=labels)
    # half-precision logits, fp32 loss (of those logits)
    assert out.logits.dtype == torch.bfloat16 and out.loss.dtype == torch.float32
    manual = -out.logits.float().log_softmax(-1)[torch.arange(4), labels].mean()
    assert abs(out.loss.item() - manual.item()) <= 1e-6

    # integer 0/1 targets when the config says multi-label
    model = tiny_model(cls=DNABert2ForSequenceClassification, num_labels=3, problem_type="multi_label_classification")
    multi = torch.tensor([[1, 0, 1], [0, 0, 0], [1, 1, 1], [0, 1, 0]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids, labels=multi).loss, model(input_ids=ids, labels=multi.float()).loss)


def test_random_init_is_bert_style():
    config = MODELS.get("dnabert2").config("small", num_labels=2)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config)
    assert type(model) is DNABert2ForSequenceClassification
    for name, param in model.named_parameters():
        if "LayerNorm" in name or "layernorm" in name:
            expected = torch.ones_like(param) if name.endswith("weight") else torch.zeros_like(param)
            assert torch.equal(param, expected), name
        elif name.endswith("bias"):
            assert torch.equal(param, torch.zeros_like(param)), name
        elif param.numel() >= 4096:
            values = param.detach()
            if "word_embeddings" in name:
                assert torch.equal(values[config.pad_token_id], torch.zeros(config.hidden_size))
                values = values[torch.arange(len(values)) != config.pad_token_id]
            assert abs(values.std().item() - 0.02) < 0.002, name
            assert abs(values.mean().item()) < 0.002, name


def test_saved_model_reloads_through_auto_classes(tmp_path):
    model = tiny_model(cls=DNABert2ForMaskedLM)
    model.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == "dnabert2" and saved["auto_map"] == {
        "AutoConfig": "dnabert2.DNABert2Config",
        "AutoModel": "dnabert2.DNABert2Model",
        "AutoModelForMaskedLM": "dnabert2.DNABert2ForMaskedLM",
        "AutoModelForSequenceClassification": "dnabert2.DNABert2ForSequenceClassification",
    }
    loaded = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()  # no trust_remote_code: the registered class
    assert type(loaded) is DNABert2ForMaskedLM
    assert loaded.cls.predictions.decoder.weight.data_ptr() == loaded.bert.embeddings.word_embeddings.weight.data_ptr()
    ids = torch.randint(5, 4096, (2, 8), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, loaded(input_ids=ids).logits)


REMOTE_CODE_CHECK = """
import importlib.abc, sys, torch

class NoProject(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("modeling", "dnalm_core", "data_scripts", "training"):
            raise ImportError(f"the remote code imported {name}")

sys.meta_path.insert(0, NoProject())
from transformers import AutoModelForMaskedLM
folder = sys.argv[1]
model = AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True).eval()
ids, expected = torch.load(f"{folder}/expected.pt")
with torch.no_grad():
    assert torch.equal(model(input_ids=ids).logits, expected)
print(type(model).__module__)
"""


@pytest.mark.slow
def test_saved_as_remote_code_loads_without_this_project(tmp_path):
    import subprocess
    import sys

    model = tiny_model(cls=DNABert2ForMaskedLM)
    model.save_pretrained(tmp_path)  # `import modeling` registered the classes for the Auto classes' remote code
    assert {"dnabert2.py", "common.py", "config.json", "model.safetensors"} <= {p.name for p in tmp_path.iterdir()}
    assert json.loads((tmp_path / "config.json").read_text())["auto_map"] == {
        "AutoConfig": "dnabert2.DNABert2Config",
        "AutoModel": "dnabert2.DNABert2Model",
        "AutoModelForMaskedLM": "dnabert2.DNABert2ForMaskedLM",
        "AutoModelForSequenceClassification": "dnabert2.DNABert2ForSequenceClassification",
    }
    ids = torch.randint(5, 4096, (2, 9), generator=torch.Generator().manual_seed(12))
    with torch.no_grad():
        torch.save((ids, model(input_ids=ids).logits), tmp_path / "expected.pt")
    run = subprocess.run(
        [sys.executable, "-c", REMOTE_CODE_CHECK, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().startswith("transformers_modules.") and run.stdout.strip().endswith(".dnabert2")


def test_tied_decoder_is_not_saved_and_untied_decoder_is(tmp_path):
    tied = tiny_model(cls=DNABert2ForMaskedLM)
    tied.save_pretrained(tmp_path / "tied")
    missing, unexpected = tied.load_state_dict(load_file(tmp_path / "tied" / "model.safetensors"), strict=False)
    # what the Trainer checks when it reloads the best checkpoint: the only missing key is the tied one, which
    # the model declares unsaved, so the Trainer re-ties it rather than warning "missing keys"
    assert missing == ["cls.predictions.decoder.weight"] and not unexpected
    assert set(missing) == set(tied._keys_to_ignore_on_save)
    untied = tiny_model(cls=DNABert2ForMaskedLM, tie_word_embeddings=False)
    with torch.no_grad():
        untied.cls.predictions.decoder.weight.add_(1.0)
    assert not untied._keys_to_ignore_on_save
    untied.save_pretrained(tmp_path / "untied")
    assert "cls.predictions.decoder.weight" in load_file(tmp_path / "untied" / "model.safetensors")
    loaded = AutoModelForMaskedLM.from_pretrained(tmp_path / "untied")
    assert torch.equal(loaded.cls.predictions.decoder.weight, untied.cls.predictions.decoder.weight)
    assert not torch.equal(loaded.cls.predictions.decoder.weight, loaded.bert.embeddings.word_embeddings.weight)


# ------------------------------------------------------------------------------------------------
# training paths: gradient checkpointing, bf16
# ------------------------------------------------------------------------------------------------


def test_gradient_checkpointing_gives_the_same_gradients():
    ids = torch.randint(5, 4096, (2, 12), generator=torch.Generator().manual_seed(7))
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    labels = torch.tensor([0, 1])
    grads = []
    for checkpointing in (False, True):
        model = tiny_model(cls=DNABert2ForSequenceClassification, hidden_dropout_prob=0.0).train()
        if checkpointing:
            model.activation_checkpointing_enable()
            assert all(layer.gradient_checkpointing for layer in model.bert.encoder.layer)
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-6), name


def test_bf16_runs_and_stays_close_to_fp32():
    model = tiny_model(cls=DNABert2ForSequenceClassification)
    ids = torch.randint(5, 4096, (2, 40), generator=torch.Generator().manual_seed(8))
    mask = torch.ones_like(ids)
    mask[0, 25:] = 0
    with torch.no_grad():
        ref = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        model.to(torch.bfloat16)
        out = model.bert(input_ids=ids, attention_mask=mask)
        logits = model(input_ids=ids, attention_mask=mask).logits
    assert out.last_hidden_state.dtype == torch.bfloat16 and logits.dtype == torch.bfloat16
    assert torch.isfinite(out.last_hidden_state).all() and torch.isfinite(logits).all()
    # post-LN hidden states are O(1); bf16 keeps ~3 significant digits through two layers
    assert max_diff_real(out.last_hidden_state.float(), ref, mask) < 0.1
    # the padding bias is the bf16 minimum, not -inf: even a fully padded row stays finite
    with torch.no_grad():
        empty = model.bert(input_ids=ids, attention_mask=torch.zeros_like(ids)).last_hidden_state
    assert torch.isfinite(empty).all()


def test_an_input_too_long_for_attention_memory_is_refused_before_allocating():
    """1 Mbp of single-nucleotide tokens would ask for hundreds of GB of attention scores: a clear error
    instead, raised before any large tensor exists (the check is on the shape alone)."""
    model = tiny_model(cls=DNABert2ForMaskedLM)
    ids = torch.full((1, 1_000_000), 5, dtype=torch.long)
    heads = model.config.num_attention_heads
    with pytest.raises(ValueError, match=r"input of 1,000,000 tokens \(batch 1\) needs 14,901 GiB") as err:
        model(input_ids=ids)
    assert heads * 10**12 * 4 / 2**30 == pytest.approx(14901, abs=1)  # the hand computation behind the message
    assert "cut long sequences into windows" in str(err.value)
