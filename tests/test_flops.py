"""training/flops.py: the analytic FLOP counts against torch's FlopCounterMode on real forward passes.

Inputs are [CLS] + random nucleotides + [SEP] (the char tokenizer's ids), batch 2, no padding, eval mode.
"""

from __future__ import annotations

import functools

import pytest
import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode, flop_registry, sdpa_backward_flop_count, sdpa_flop_count

import modeling  # noqa: F401  (registers the models)
from dnalm_core.registry import MODELS
from training import flops

aten = torch.ops.aten
BATCH = 2
LENGTHS = (70, 300, 512)
CASES = [
    ("dnabert2", "tiny"),
    ("dnabert2", "small"),
    ("convnova", "genomic_benchmark"),  # k 5, no block FFN
    ("convnova", "hg38_pretrain"),  # k 9, block FFN on
    ("unet", "small"),  # depth 3: lengths 70 and 300 are padded to multiples of 8
    ("unet", "paper"),  # depth 4, k 9
]
TASKS = ("mlm", "classification")


# On the CPU, DNABERT-2's SDPA call (float ALiBi mask) runs `aten._scaled_dot_product_flash_attention_for_cpu`,
# which torch 2.13's FlopCounterMode has no formula for: without one it silently counts 0 for Q K^T and A V.
# Map it (and its backward) to torch's own SDPA formulas; `test_attention_is_counted` checks the result against
# the eager path, whose two matmuls FlopCounterMode counts natively (aten.bmm).
def _sdpa_forward(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _sdpa_backward(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


CUSTOM_MAPPING = {}
for _op, _formula in (
    ("_scaled_dot_product_flash_attention_for_cpu", _sdpa_forward),
    ("_scaled_dot_product_flash_attention_for_cpu_backward", _sdpa_backward),
):
    if hasattr(aten, _op) and getattr(aten, _op) not in flop_registry:
        CUSTOM_MAPPING[getattr(aten, _op)] = _formula


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """FLOP counts do not depend on threads; one thread is several times faster on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def counted(fn) -> tuple[int, dict[str, int]]:
    """FLOPs FlopCounterMode counts while running fn(), and the per-op counts."""
    counter = FlopCounterMode(display=False, custom_mapping=CUSTOM_MAPPING)
    with counter:
        fn()
    return counter.get_total_flops(), {str(k): v for k, v in counter.get_flop_counts()["Global"].items()}


def config_of(name: str, preset: str, **overrides):
    return MODELS.get(name).config(preset, vocab_size=10, pad_token_id=3, num_labels=2, **overrides)


@functools.cache
def model_of(name: str, preset: str, task: str, attn: str | None = None):
    torch.manual_seed(0)
    cfg = config_of(name, preset)
    cls = transformers.AutoModelForMaskedLM if task == "mlm" else transformers.AutoModelForSequenceClassification
    kwargs = {"attn_implementation": attn} if attn else {}
    return cls.from_config(cfg, **kwargs).eval()


def char_inputs(length: int, batch: int = BATCH) -> torch.Tensor:
    """[CLS] nucleotides [SEP] with the char tokenizer's ids (CLS 1, SEP 2, A C G T N = 5..9)."""
    gen = torch.Generator().manual_seed(length)
    ids = torch.randint(5, 10, (batch, length), generator=gen)
    ids[:, 0], ids[:, -1] = 1, 2
    return ids


def measured_forward(model, ids, **kwargs) -> tuple[int, dict[str, int]]:
    with torch.no_grad():
        return counted(lambda: model(input_ids=ids, **kwargs))


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name,preset", CASES)
def test_forward_matches_flop_counter(name, preset, task):
    model = model_of(name, preset, task)
    cfg = model.config
    for length in LENGTHS:
        measured, _ = measured_forward(model, char_inputs(length))
        analytic = flops.forward_flops(cfg, length, BATCH, task)
        assert measured > 0
        assert abs(analytic / measured - 1) < 0.10, (name, preset, task, length, analytic, measured)


# Basset and DeepSEA: classification only (no MLM head); a fixed input window, so one cost for every length.
CLASSIC_CASES = [("basset", "small"), ("deepsea", "small"), ("basset", "paper")]


@pytest.mark.parametrize("name,preset", CLASSIC_CASES)
def test_classic_cnns_forward_matches_flop_counter(name, preset):
    model = model_of(name, preset, "classification")
    analytic = flops.forward_flops(model.config, 72, BATCH, "classification")
    for length in (72, 302):
        measured, ops = measured_forward(model, char_inputs(length))
        assert abs(analytic / measured - 1) < 0.01, (name, preset, length, analytic, measured)
    assert flops.forward_flops(model.config, 302, BATCH, "classification") == analytic
    parts = flops.flops_breakdown(model.config, 72, "classification")
    assert ops["aten.convolution"] == BATCH * parts["convolutions"]  # every convolution, at its output length
    backbone = transformers.AutoModel.from_config(model.config).eval()
    measured, _ = measured_forward(backbone, char_inputs(72))
    assert abs(flops.forward_flops(model.config, 72, BATCH, "backbone") / measured - 1) < 0.01
    assert flops.non_embedding_parameters(model.config, "classification") == model.num_parameters()
    assert flops.non_embedding_parameters(model.config, "backbone") == backbone.num_parameters()


def test_classic_cnns_paper_flops_by_hand():
    """DeepSEA at 1,000 bp, 919 outputs: per sequence 2 x (multiply-accumulates), from the paper's layer list."""
    macs = (
        993 * 4 * 320 * 8  # conv 1 at its 993 output positions
        + 241 * 320 * 480 * 8  # conv 2 (after pooling 993 -> 248) at 241 positions
        + 53 * 480 * 960 * 8  # conv 3 (after pooling 241 -> 60) at 53 positions
        + 960 * 53 * 925
        + 925 * 919
    )  # fully connected, output layer
    cfg = MODELS.get("deepsea").config("paper")
    assert flops.forward_flops(cfg, 1002, task="classification") == 2 * macs
    with pytest.raises(ValueError, match="no masked-LM head"):
        flops.forward_flops(cfg, 1002, task="mlm")
    with pytest.raises(ValueError, match="no masked-LM head"):
        flops.non_embedding_parameters(cfg)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name,preset", CASES)
def test_non_embedding_parameters_match_the_model(name, preset, task):
    model = model_of(name, preset, task)
    assert flops.non_embedding_parameters(model.config, task) == model.num_parameters(exclude_embeddings=True)


def test_attention_is_counted_and_superlinear():
    """The SDPA path (with the mapping above) and the eager path count the same; the quadratic term matters."""
    sdpa = model_of("dnabert2", "small", "mlm")
    eager = model_of("dnabert2", "small", "mlm", "eager")
    eager.load_state_dict(sdpa.state_dict())
    cfg = sdpa.config
    short, long = 70, 512
    m_short, _ = measured_forward(sdpa, char_inputs(short))
    m_long, _ = measured_forward(sdpa, char_inputs(long))
    e_long, e_ops = measured_forward(eager, char_inputs(long))
    assert e_ops.get("aten.bmm", 0) > 0  # the eager Q K^T and A V, counted natively
    assert m_long == e_long
    measured_ratio = m_long / m_short
    analytic_ratio = flops.forward_flops(cfg, long, BATCH) / flops.forward_flops(cfg, short, BATCH)
    assert measured_ratio > 1.3 * long / short  # superlinear: the L^2 attention term
    assert abs(analytic_ratio / measured_ratio - 1) < 0.01
    # and the linear-only count (what 6 x N x tokens assumes) cannot explain it
    parts = flops.flops_breakdown(cfg, long)
    linear_only = sum(v for k, v in parts.items() if k != "attention_scores")
    assert parts["attention_scores"] > 0.4 * linear_only


def test_dnabert2_sparse_mlm_last_layer():
    """With labels (sparse_prediction), the last layer's output part and the head run at the labelled
    positions only, its queries at the union of labelled columns over the batch."""
    model = model_of("dnabert2", "small", "mlm")
    length = 300
    ids = char_inputs(length)
    labels = torch.full_like(ids, -100)
    labels[:, 1:-1:7] = ids[:, 1:-1:7]  # same columns in both rows: union == per-row positions
    scored = int((labels[0] != -100).sum())
    measured, _ = measured_forward(model, ids, labels=labels)
    analytic = flops.forward_flops(model.config, length, BATCH, "mlm", mlm_positions=scored)
    assert abs(analytic / measured - 1) < 0.01
    assert analytic < 0.85 * flops.forward_flops(model.config, length, BATCH, "mlm")  # much cheaper than dense
    # different columns per row: queries at the union, outputs at the labelled (row, column) pairs
    labels = torch.full_like(ids, -100)
    labels[0, 1:-1:10], labels[1, 6:-1:10] = ids[0, 1:-1:10], ids[1, 6:-1:10]
    per_row = int((labels[0] != -100).sum())
    union = int((labels != -100).any(0).sum())
    assert int((labels[1] != -100).sum()) == per_row
    measured, _ = measured_forward(model, ids, labels=labels)
    analytic = flops.forward_flops(model.config, length, BATCH, "mlm", mlm_positions=per_row, query_positions=union)
    assert abs(analytic / measured - 1) < 0.01


def test_convnova_channels_last_convolutions_are_counted():
    """ConvNova's `_ChannelsLastConv1d` is a custom autograd Function: FlopCounterMode (a dispatch mode, below
    autograd) still sees the aten.convolution inside it, so every convolution is in the measured counts."""
    model = model_of("convnova", "genomic_benchmark", "mlm")
    _, ops = measured_forward(model, char_inputs(70))
    parts = flops.flops_breakdown(model.config, 70)
    assert ops["aten.convolution"] == BATCH * (parts["stems"] + parts["gated_convolutions"])


@pytest.mark.parametrize("name,preset", [("dnabert2", "small"), ("convnova", "genomic_benchmark"), ("unet", "small")])
def test_training_step_is_about_three_forwards(name, preset):
    """train_flops = 3 x forward: measured backward / forward of a real training step is ~2."""
    torch.manual_seed(0)
    model = transformers.AutoModelForMaskedLM.from_config(config_of(name, preset)).train()
    ids = char_inputs(300)
    labels = ids.clone()
    labels[:, 0] = labels[:, -1] = -100
    loss_box = {}
    fwd, _ = counted(lambda: loss_box.setdefault("loss", model(input_ids=ids, labels=labels).loss))
    bwd, _ = counted(lambda: loss_box["loss"].backward())
    # 2.0 for convolutions and linears; DNABERT-2 ~2.15: torch's SDPA backward formula recomputes Q K^T.
    assert 1.9 < bwd / fwd < 2.3, bwd / fwd
    assert (
        abs(flops.train_flops(model.config, [300, 300], "mlm", batch_size=BATCH, mlm_probability=1.0) / (fwd + bwd) - 1)
        < 0.10
    )


def test_train_flops_sums_per_example_forwards():
    cfg = config_of("convnova", "genomic_benchmark")
    lengths = [72, 302, 302, 512]
    expected = 3 * sum(flops.forward_flops(cfg, n) for n in lengths)
    assert flops.train_flops(cfg, lengths) == expected
    assert flops.train_flops(cfg, lengths, epochs=2.5) == round(2.5 * expected)
    assert flops.train_flops(cfg, 302) == 3 * flops.forward_flops(cfg, 302)
    assert flops.train_flops(cfg, lengths, backward_factor=1.0) == round(2 / 3 * expected)
    # attention: per-example L^2, not (sum L)^2 nor mean L
    bert = config_of("dnabert2", "small")
    mixed = flops.train_flops(bert, [20, 500], "classification")
    assert mixed == 3 * (
        flops.forward_flops(bert, 20, task="classification") + flops.forward_flops(bert, 500, task="classification")
    )
    assert mixed > flops.train_flops(bert, [260, 260], "classification")


def test_train_flops_sparse_mlm_expectation():
    cfg = config_of("dnabert2", "small")
    p, length, batch = 0.15, 302, 32
    parts = flops.flops_breakdown(
        cfg, length, mlm_positions=p * (length - 2), query_positions=(1 - (1 - p) ** batch) * (length - 2)
    )
    assert flops.train_flops(cfg, [length], batch_size=batch) == round(3 * sum(parts.values()))
    dense = config_of("dnabert2", "small", sparse_prediction=False)
    assert flops.train_flops(dense, [length]) == 3 * flops.forward_flops(dense, length)


def test_correction_factors_against_the_trainer_estimate():
    """Trainer: 6 x tokens x non-embedding params. Attention makes char-level DNABERT-2 cost more than that,
    the U-Net's short levels make it cost less."""
    bert = MODELS.get("dnabert2").config("small", vocab_size=4096)
    char = MODELS.get("dnabert2").config("small", vocab_size=10)
    unet = config_of("unet", "small")
    assert flops.correction_factor(char, [302], "mlm", batch_size=32) > 1.2
    assert flops.correction_factor(char, [512], "mlm", batch_size=32) > 1.4
    assert flops.correction_factor(bert, [20], "mlm", batch_size=32) < flops.correction_factor(
        bert, [70], "mlm", batch_size=32
    )
    assert flops.correction_factor(unet, [302], "mlm") < 0.5
    assert flops.trainer_flos(unet, [302, 72], epochs=2) == 6 * 374 * 2 * flops.non_embedding_parameters(unet)
    # analytic only: at hidden 768 the L^2 term is a smaller share (~7% at 512 tokens) than at hidden 128
    big = MODELS.get("dnabert2").config("117m")
    parts = flops.flops_breakdown(big, 512)
    assert 0.05 < parts["attention_scores"] / sum(parts.values()) < 0.10


def test_rejects_bad_arguments():
    cfg = config_of("convnova", "genomic_benchmark")
    with pytest.raises(ValueError, match="task"):
        flops.forward_flops(cfg, 70, task="generation")
    with pytest.raises(ValueError, match="mlm_positions"):
        flops.forward_flops(cfg, 70, mlm_positions=10)
    with pytest.raises(ValueError, match="seq_len"):
        flops.forward_flops(cfg, 0)
    with pytest.raises(ValueError, match="model_type"):
        flops.forward_flops(transformers.BertConfig(), 70)
    with pytest.raises(ValueError, match="empty"):
        flops.train_flops(cfg, [])
    with pytest.raises(ValueError, match="mlm_positions"):
        flops.forward_flops(config_of("dnabert2", "tiny"), 70, mlm_positions=71)
