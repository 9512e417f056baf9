"""Tests of the 1D U-Net (modeling/unet.py).

The central check is an independent re-implementation: `reference_unet` below computes the same network
with plain `torch.nn.functional` calls on the bare nucleotide sequence at its exact length (zero "same"
padding, `max_pool1d(ceil_mode=True)` for odd lengths, the up-sampled map cropped to the skip's length), with
the weights read from the model's state dict by name. The model instead compacts, pads to a multiple of
2^depth and masks; the two must agree to 1e-6 (float64) for every length, layout and special-token mix.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification

import modeling  # noqa: F401  (registers everything)
from dnalm_core.registry import MODELS
from modeling import UNetConfig, UNetForMaskedLM, UNetForSequenceClassification, UNetModel

# The char tokenizer's fixed vocabulary.
UNK, CLS, SEP, PAD, MASK = 0, 1, 2, 3, 4
A, C, G, T, N = 5, 6, 7, 8, 9
NUC_IDS = [A, C, G, T, N]
# What the model reads for each id: channel 0..4 for A C G T N; [MASK] and [UNK] read as N.
ID_TO_CHANNEL = {A: 0, C: 1, G: 2, T: 3, N: 4, MASK: 4, UNK: 4}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tensors are tiny: with 2 threads on a busy 2-core machine each conv spends most of its time
    waiting for the other thread (measured ~3x slower). Restored afterwards for the other test files."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = dict(base_channels=8, depth=3, channel_multipliers=[1, 2, 2, 3], convs_per_level=2, kernel_size=5)


# ---------------------------------------------------------------------------------------------------
# Independent reference (plain torch.nn.functional; weights by state-dict name)
# ---------------------------------------------------------------------------------------------------


def reference_unet(sd: dict, cfg: UNetConfig, ids: list[int], prefix: str = "") -> torch.Tensor:
    """U-Net output [n, base_channels] of one bare sequence of n token ids (nucleotide/mask/unk only)."""
    k, n_convs = cfg.kernel_size, cfg.convs_per_level
    chan = torch.tensor([ID_TO_CHANNEL[i] for i in ids])
    if cfg.input_embedding == "onehot":
        x = F.one_hot(chan, 5).to(torch.float64).T[None]  # [1, 5, n]
    else:
        x = sd[prefix + "embeddings.embedding.weight"][chan].T[None]

    def block(x, name):
        for u in range(n_convs):
            p = f"{prefix}{name}.units.{u}."
            x = F.conv1d(x, sd[p + "conv.weight"], sd[p + "conv.bias"], padding=k // 2)
            if cfg.normalization == "layernorm":
                x = F.layer_norm(
                    x.transpose(1, 2), (x.shape[1],), sd[p + "norm.weight"], sd[p + "norm.bias"], cfg.layer_norm_eps
                ).transpose(1, 2)
            elif cfg.normalization == "batchnorm":  # eval mode: running statistics
                x = F.batch_norm(
                    x,
                    sd[p + "norm.running_mean"],
                    sd[p + "norm.running_var"],
                    sd[p + "norm.weight"],
                    sd[p + "norm.bias"],
                    False,
                    0.0,
                    cfg.layer_norm_eps,
                )
            x = F.gelu(x)
        return x

    skips = []
    for i in range(cfg.depth):
        x = block(x, f"down_blocks.{i}")
        skips.append(x)
        x = F.max_pool1d(x, 2, ceil_mode=True)  # an odd tail forms a window of its own
    x = block(x, "bottleneck")
    for i in reversed(range(cfg.depth)):
        up = F.conv_transpose1d(x, sd[f"{prefix}up_convs.{i}.weight"], sd[f"{prefix}up_convs.{i}.bias"], stride=2)
        x = block(torch.cat([skips[i], up[:, :, : skips[i].shape[-1]]], dim=1), f"up_blocks.{i}")
    return x[0].T


def perturbed(model, seed=0):
    """Give every bias and norm parameter random values (init has them at 0/1, which hides bugs such as
    a bias leaking into excluded positions or a skipped norm)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".norm." in name:
                p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
            if name.endswith("running_var"):
                p.abs_()
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.3 * torch.randn(b.shape, generator=gen))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen))
    return model


def random_seq(n, gen, with_specials=True):
    pool = NUC_IDS + ([MASK, UNK] if with_specials else [])
    return [pool[i] for i in torch.randint(len(pool), (n,), generator=gen).tolist()]


def layout(seq, style, width):
    """Token ids and attention mask of one row, `width` long, in one of several paddings/templates."""
    if style == "cls_sep_right":  # the tokenizer's template, right padding
        ids = [CLS, *seq, SEP]
        ids, mask = ids + [PAD] * (width - len(ids)), [1] * len(ids) + [0] * (width - len(ids))
    elif style == "bare_right":
        ids, mask = seq + [PAD] * (width - len(seq)), [1] * len(seq) + [0] * (width - len(seq))
    elif style == "cls_sep_left":
        ids = [CLS, *seq, SEP]
        ids, mask = [PAD] * (width - len(ids)) + ids, [0] * (width - len(ids)) + [1] * len(ids)
    elif style == "junk_tail":  # nucleotide ids after the sequence, excluded only by attention_mask
        ids = [CLS, *seq, SEP]
        ids, mask = ids + [A] * (width - len(ids)), [1] * len(ids) + [0] * (width - len(ids))
    else:
        raise ValueError(style)
    return ids, mask


def seq_positions(ids, mask):
    return [j for j, (i, m) in enumerate(zip(ids, mask)) if m and i in ID_TO_CHANNEL]


STYLES = ("cls_sep_right", "bare_right", "cls_sep_left", "junk_tail")


def build_batch(seqs, styles, extra=3):
    width = max(len(s) for s in seqs) + 2 + extra
    rows = [layout(s, st, width) for s, st in zip(seqs, styles)]
    return torch.tensor([r[0] for r in rows]), torch.tensor([r[1] for r in rows]), rows


# ---------------------------------------------------------------------------------------------------
# Agreement with the reference
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        dict(),
        dict(input_embedding="embedding", embedding_size=6),
        dict(depth=2, channel_multipliers=[1, 3, 2], convs_per_level=1, kernel_size=3, normalization="none"),
        dict(normalization="batchnorm"),
    ],
    ids=["onehot", "embedding", "depth2-nonorm", "batchnorm-eval"],
)
def test_matches_reference_for_every_length_and_layout(overrides):
    cfg = UNetConfig(**{**TINY, **overrides})
    torch.manual_seed(0)
    model = perturbed(UNetModel(cfg)).double().eval()
    sd = model.state_dict()
    gen = torch.Generator().manual_seed(1)
    lengths = list(range(1, 3 * 2**cfg.depth + 1))
    seqs = [random_seq(n, gen) for n in lengths]
    styles = [STYLES[i % len(STYLES)] for i in range(len(seqs))]
    ids, mask, rows = build_batch(seqs, styles)
    with torch.no_grad():
        out = model(ids, attention_mask=mask).last_hidden_state
    assert out.shape == (*ids.shape, cfg.base_channels)
    for b, (seq, (row_ids, row_mask)) in enumerate(zip(seqs, rows)):
        pos = seq_positions(row_ids, row_mask)
        assert len(pos) == len(seq)
        ref = reference_unet(sd, cfg, seq)
        torch.testing.assert_close(out[b, pos], ref, atol=1e-6, rtol=0)
        excluded = [j for j in range(ids.shape[1]) if j not in pos]
        assert torch.count_nonzero(out[b, excluded]) == 0


def test_output_length_equals_input_length():
    """Each length 1..3*2^depth alone (no special tokens, no padding): output has that length and matches."""
    cfg = UNetConfig(**TINY)
    torch.manual_seed(0)
    model = perturbed(UNetModel(cfg)).double().eval()
    sd = model.state_dict()
    gen = torch.Generator().manual_seed(2)
    for n in range(1, 3 * 2**cfg.depth + 1):
        seq = random_seq(n, gen, with_specials=False)
        with torch.no_grad():
            out = model(torch.tensor([seq])).last_hidden_state
        assert out.shape == (1, n, cfg.base_channels), n
        torch.testing.assert_close(out[0], reference_unet(sd, cfg, seq), atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------------------------
# Padding / special-token / batch invariance in the working precision (float32)
# ---------------------------------------------------------------------------------------------------


# float64: exact up to round-off (1e-6 is the spec; the observed difference is ~1e-15). float32: the
# batch's length changes the convolution kernels' blocking, hence round-off of ~1e-6 after 13 conv layers;
# a leak of padding or of a neighbouring row would show as differences of order 0.1.
@pytest.mark.parametrize("dtype, atol", [(torch.float64, 1e-6), (torch.float32, 1e-5)], ids=["float64", "float32"])
@pytest.mark.parametrize("normalization", ["layernorm", "none"])
def test_padding_special_token_and_batch_invariance(normalization, dtype, atol):
    cfg = UNetConfig(**{**TINY, "normalization": normalization})
    torch.manual_seed(0)
    model = perturbed(UNetModel(cfg)).to(dtype).eval()
    gen = torch.Generator().manual_seed(3)
    seq = random_seq(13, gen)
    with torch.no_grad():
        alone = model(torch.tensor([seq])).last_hidden_state[0]
        for extra in (0, 7, 20):
            for style in STYLES:
                others = [random_seq(n, gen) for n in (30, 2)]
                ids, mask, rows = build_batch(
                    [others[0], seq, others[1]], ["cls_sep_right", style, "bare_right"], extra=extra
                )
                out = model(ids, attention_mask=mask).last_hidden_state[1]
                pos = seq_positions(*rows[1])
                torch.testing.assert_close(out[pos], alone, atol=atol, rtol=0)
                assert torch.count_nonzero(out[[j for j in range(ids.shape[1]) if j not in pos]]) == 0


@pytest.mark.parametrize("p", [150, 155])
def test_receptive_field_matches_config(p):
    """Mutating single nucleotides one at a time: the influenced inputs span exactly
    `config.receptive_field` (184 for this depth/kernel/convs, as for the "small" preset), and mutating
    everything farther away leaves the output unchanged."""
    cfg = UNetConfig(**TINY)
    assert cfg.receptive_field == 184 == MODELS.get("unet").config("small").receptive_field
    assert MODELS.get("unet").config("paper").receptive_field == 752
    torch.manual_seed(0)
    model = perturbed(UNetModel(cfg)).double().eval()
    gen = torch.Generator().manual_seed(6)
    base = random_seq(300, gen, with_specials=False)
    far, near = 100, 80  # half the field is 92: positions beyond `far` cannot matter, within `near` do
    edges = [q for q in range(p - far, p + far + 1) if abs(q - p) >= near]
    rows = [base]
    for q in edges:
        row = list(base)
        row[q] = NUC_IDS[(NUC_IDS.index(row[q]) + 1) % 4]  # a different one of A C G T
        rows.append(row)
    outside = [NUC_IDS[(NUC_IDS.index(x) + 1) % 4] if abs(q - p) > far else x for q, x in enumerate(base)]
    rows.append(outside)
    with torch.no_grad():
        out = model(torch.tensor(rows)).last_hidden_state[:, p]
    changed = (out[1:-1] - out[0]).abs().amax(dim=-1) > 1e-12
    influencing = [q for q, c in zip(edges, changed.tolist()) if c]
    assert max(influencing) - min(influencing) + 1 == cfg.receptive_field
    torch.testing.assert_close(out[-1], out[0], atol=1e-12, rtol=0)


def test_without_attention_mask_special_ids_are_excluded():
    """The [CLS]/[SEP]/[PAD] ids are excluded by id alone, so attention_mask may be omitted."""
    cfg = UNetConfig(**TINY)
    model = UNetModel(cfg).double().eval()
    seq = [A, C, G, T, T, G, N]
    with torch.no_grad():
        alone = model(torch.tensor([seq])).last_hidden_state[0]
        out = model(torch.tensor([[CLS, *seq, SEP, PAD, PAD]])).last_hidden_state[0]
    torch.testing.assert_close(out[1:8], alone, atol=1e-6, rtol=0)
    assert torch.count_nonzero(out[[0, 8, 9, 10]]) == 0


# ---------------------------------------------------------------------------------------------------
# Heads
# ---------------------------------------------------------------------------------------------------


def test_masked_lm_logits_and_loss():
    cfg = UNetConfig(**TINY)
    torch.manual_seed(0)
    model = perturbed(UNetForMaskedLM(cfg)).double().eval()
    sd = model.state_dict()
    gen = torch.Generator().manual_seed(4)
    seqs = [random_seq(n, gen) for n in (9, 4, 17)]
    ids, mask, rows = build_batch(seqs, ["cls_sep_right", "cls_sep_left", "bare_right"])
    # Labels: the original nucleotide at some sequence positions, -100 elsewhere (as the collator does).
    labels = torch.full_like(ids, -100)
    targets, ref_scores = [], []
    for b, seq in enumerate(seqs):
        pos = seq_positions(*rows[b])
        scores = reference_unet(sd, cfg, seq, prefix="unet.") @ sd["lm_head.weight"].T + sd["lm_head.bias"]
        for j, p in enumerate(pos[::2]):
            label = NUC_IDS[(b + j) % 5]
            labels[b, p] = label
            targets.append(NUC_IDS.index(label))
            ref_scores.append(scores[2 * j])
    out = model(ids, attention_mask=mask, labels=labels)
    assert out.logits.shape == (*ids.shape, cfg.vocab_size)
    non_nuc = [i for i in range(cfg.vocab_size) if i not in NUC_IDS]
    assert torch.all(out.logits[..., non_nuc] == UNetForMaskedLM.NON_NUCLEOTIDE_LOGIT)
    got = out.logits[labels != -100][:, NUC_IDS]
    torch.testing.assert_close(got, torch.stack(ref_scores), atol=1e-6, rtol=0)
    ref_loss = F.cross_entropy(torch.stack(ref_scores), torch.tensor(targets))
    torch.testing.assert_close(out.loss, ref_loss, atol=1e-9, rtol=0)

    # float32: the -1e4 entries carry exactly zero probability, so the full-vocab CE is the 5-way CE.
    model32 = model.float()
    out32 = model32(ids, attention_mask=mask, labels=labels)
    five = out32.logits[labels != -100][:, NUC_IDS]
    assert torch.isfinite(out32.loss)
    torch.testing.assert_close(out32.loss, F.cross_entropy(five, torch.tensor(targets)), atol=1e-6, rtol=0)
    out32.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model32.parameters() if p.grad is not None)


def test_masked_lm_rejects_special_token_labels():
    model = UNetForMaskedLM(UNetConfig(**TINY))
    ids = torch.tensor([[CLS, A, C, G, SEP]])
    with pytest.raises(ValueError, match="not a nucleotide id"):
        model(ids, labels=torch.tensor([[CLS, -100, C, -100, -100]]))
    with pytest.raises(ValueError, match="labels shape"):
        model(ids, labels=torch.tensor([[-100, A]]))


@pytest.mark.parametrize("problem", ["single_label_classification", "multi_label_classification", "regression"])
def test_sequence_classification_pooling_and_losses(problem):
    num_labels = 1 if problem == "regression" else 3
    cfg = UNetConfig(**TINY, num_labels=num_labels)
    torch.manual_seed(0)
    model = perturbed(UNetForSequenceClassification(cfg)).double().eval()
    sd = model.state_dict()
    gen = torch.Generator().manual_seed(5)
    seqs = [random_seq(n, gen) for n in (6, 11, 1)]
    ids, mask, _ = build_batch(seqs, ["cls_sep_right", "junk_tail", "cls_sep_left"])
    pooled = torch.stack([reference_unet(sd, cfg, s, prefix="unet.").mean(0) for s in seqs])
    ref_logits = pooled @ sd["classifier.weight"].T + sd["classifier.bias"]
    if problem == "single_label_classification":
        labels = torch.tensor([2, 0, 1])
        ref_loss = F.cross_entropy(ref_logits, labels)
    elif problem == "multi_label_classification":
        labels = torch.tensor([[1.0, 0, 1], [0, 0, 0], [1, 1, 1]], dtype=torch.float64)
        ref_loss = F.binary_cross_entropy_with_logits(ref_logits, labels)
    else:
        labels = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
        ref_loss = F.mse_loss(ref_logits[:, 0], labels)
    out = model(ids, attention_mask=mask, labels=labels)
    assert model.config.problem_type == problem  # inferred by the standard transformers logic
    torch.testing.assert_close(out.logits, ref_logits, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.loss, ref_loss, atol=1e-9, rtol=0)


def test_sequence_classification_rejects_rows_without_nucleotides():
    model = UNetForSequenceClassification(UNetConfig(**TINY))
    ids = torch.tensor([[CLS, A, C, SEP], [CLS, SEP, PAD, PAD]])
    with pytest.raises(ValueError, match="batch row 1 has no nucleotide"):
        model(ids)


# ---------------------------------------------------------------------------------------------------
# Save / load, Auto classes, registry, init
# ---------------------------------------------------------------------------------------------------


def test_save_load_round_trip_through_auto_classes(tmp_path):
    cfg = UNetConfig(**{**TINY, "input_embedding": "embedding"})
    torch.manual_seed(0)
    model = perturbed(UNetForMaskedLM(cfg)).eval()
    model.save_pretrained(tmp_path)
    ids = torch.tensor([[CLS, A, C, G, T, N, MASK, SEP, PAD], [CLS, G, G, SEP, PAD, PAD, PAD, PAD, PAD]])
    mask = (ids != PAD).long()

    loaded_cfg = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded_cfg, UNetConfig) and loaded_cfg.model_type == "dna_unet"
    for field in (
        "base_channels",
        "depth",
        "convs_per_level",
        "kernel_size",
        "channel_multipliers",
        "normalization",
        "input_embedding",
        "embedding_size",
        "nucleotide_token_ids",
        "mask_token_id",
    ):
        assert getattr(loaded_cfg, field) == getattr(cfg, field), field
    loaded = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, UNetForMaskedLM)
    with torch.no_grad():
        assert torch.equal(loaded(ids, attention_mask=mask).logits, model(ids, attention_mask=mask).logits)
        backbone = AutoModel.from_pretrained(tmp_path).eval()
        assert isinstance(backbone, UNetModel)
        assert torch.equal(
            backbone(ids, attention_mask=mask).last_hidden_state, model.unet(ids, attention_mask=mask).last_hidden_state
        )
    # The MLM checkpoint starts a classifier: backbone weights carried over, head new.
    clf = AutoModelForSequenceClassification.from_pretrained(tmp_path, num_labels=3)
    assert isinstance(clf, UNetForSequenceClassification)
    for name, tensor in model.unet.state_dict().items():
        assert torch.equal(clf.unet.state_dict()[name], tensor), name
    assert clf.classifier.weight.shape == (3, cfg.base_channels)


def test_registry_presets_and_parameter_counts():
    entry = MODELS.get("unet")
    assert entry.config_class is UNetConfig and entry.default_preset == "small" and entry.tokenizers == ("char",)

    def count(m):
        return sum(p.numel() for p in m.parameters())

    small = AutoModel.from_config(entry.config("small"))
    paper = AutoModel.from_config(entry.config("paper"))
    assert isinstance(small, UNetModel)
    # The counts stated in modeling/unet.py's docstring.
    assert count(small) == 93_472
    assert count(paper) == 1_412_928
    # ConvNova's configurations span 378,050 (genomic-benchmark) .. 1,772,933 (pretraining).
    assert 378_050 <= count(paper) <= 1_772_933
    assert 50_000 <= count(small) <= 150_000
    # Head sizes: 5 nucleotide scores; num_labels outputs.
    assert count(AutoModelForMaskedLM.from_config(entry.config("small"))) - count(small) == 16 * 5 + 5

    # Hand count of the small preset (channels 16-32-32-64, kernel 5, LayerNorm, 2 convs per level).
    def conv(i, o, k=5):
        return i * o * k + o + 2 * o  # conv weight + bias + LayerNorm

    ch = [16, 32, 32, 64]
    down = conv(5, 16) + conv(16, 16) + conv(16, 32) + conv(32, 32) + conv(32, 32) + conv(32, 32)
    bottleneck = conv(32, 64) + conv(64, 64)
    ups = sum(ch[i + 1] * ch[i] * 2 + ch[i] for i in range(3))
    up_blocks = sum(conv(2 * c, c) + conv(c, c) for c in ch[:3])
    assert count(small) == down + bottleneck + ups + up_blocks


def test_lora_target_modules_name_the_convolutions():
    entry = MODELS.get("unet")
    cfg = entry.config("small")
    model = UNetForSequenceClassification(cfg)
    targets = [n for n, m in model.named_modules() if n.split(".")[-1] in entry.lora_target_modules]
    assert len(targets) == cfg.convs_per_level * (2 * cfg.depth + 1)
    assert all(isinstance(model.get_submodule(n), torch.nn.Conv1d) for n in targets)
    peft = pytest.importorskip("peft")
    ids = torch.tensor([[CLS, A, C, G, T, A, SEP]])
    model.eval()
    with torch.no_grad():
        before = model(ids).logits
    lora = peft.get_peft_model(model, peft.LoraConfig(r=2, target_modules=list(entry.lora_target_modules)))
    assert sum(1 for n, _ in lora.named_modules() if n.endswith("conv.lora_A")) == len(targets)
    with torch.no_grad():
        torch.testing.assert_close(lora(input_ids=ids).logits, before)  # LoRA B starts at zero


def test_init_follows_he_normal_and_norm_defaults():
    torch.manual_seed(0)
    model = UNetForMaskedLM(MODELS.get("unet").config("paper"))
    conv = model.unet.bottleneck.units[1].conv  # 128 x 128 x 9: enough weights for a tight std estimate
    expected = math.sqrt(2.0 / (conv.in_channels * conv.kernel_size[0]))
    assert abs(conv.weight.std().item() / expected - 1) < 0.02
    assert torch.count_nonzero(conv.bias) == 0
    up = model.unet.up_convs[3]
    assert abs(up.weight.std().item() / math.sqrt(2.0 / up.in_channels) - 1) < 0.03
    norm = model.unet.bottleneck.units[0].norm
    assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)
    assert abs(model.lm_head.weight.std().item() - 0.02) < 0.006 and torch.count_nonzero(model.lm_head.bias) == 0


def test_gradient_checkpointing_gives_the_same_gradients():
    cfg = UNetConfig(**TINY)
    torch.manual_seed(0)
    model = UNetForMaskedLM(cfg).train()
    ids = torch.tensor([[CLS, A, C, G, T, MASK, A, SEP], [CLS, T, MASK, G, SEP, PAD, PAD, PAD]])
    labels = torch.full_like(ids, -100)
    labels[0, 5], labels[1, 2] = C, A

    def grads():
        model.zero_grad()
        model(ids, attention_mask=(ids != PAD).long(), labels=labels).loss.backward()
        return [p.grad.clone() for p in model.parameters()]

    plain = grads()
    model.activation_checkpointing_enable()  # the 5.x name of gradient_checkpointing_enable
    assert model.unet.bottleneck.gradient_checkpointing
    for a, b in zip(plain, grads()):
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    model = UNetModel(UNetConfig(**TINY))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(torch.tensor([[A, 12]]))
    with pytest.raises(ValueError, match="integer tensor"):
        model(torch.tensor([[5.0, 6.0]]))
    with pytest.raises(ValueError, match="attention_mask shape"):
        model(torch.tensor([[A, C]]), attention_mask=torch.tensor([[1, 1, 1]]))
    with pytest.raises(ValueError, match="needs input_ids"):
        model()


def test_hidden_size_alias_and_defaults():
    cfg = UNetConfig(hidden_size=24, depth=2)
    assert cfg.base_channels == 24 == cfg.hidden_size == cfg.embedding_size
    assert cfg.channel_multipliers == [1, 2, 4] and cfg.level_channels == [24, 48, 96]
    assert cfg.nucleotide_token_ids == NUC_IDS and cfg.model_type == "dna_unet"
    out = UNetModel(cfg)(torch.tensor([[CLS, A, C, SEP]])).last_hidden_state
    assert out.shape == (1, 4, 24)


def test_dropout_in_train_mode_keeps_excluded_positions_zero():
    cfg = UNetConfig(**{**TINY, "dropout": 0.3})
    model = perturbed(UNetModel(cfg)).train()
    ids = torch.tensor([[CLS, A, C, G, T, SEP, PAD, PAD], [A, C, PAD, PAD, PAD, PAD, PAD, PAD]])
    out = model(ids, attention_mask=(ids != PAD).long()).last_hidden_state
    assert torch.count_nonzero(out[0, [0, 5, 6, 7]]) == 0 and torch.count_nonzero(out[1, 2:]) == 0
    assert torch.count_nonzero(out[0, 1:5]) > 0


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(kernel_size=4), "kernel_size must be odd"),
        (dict(depth=3, channel_multipliers=[1, 2]), "channel_multipliers must be depth"),
        (dict(normalization="groupnorm"), "normalization must be one of"),
        (dict(input_embedding="kmer"), "input_embedding must be one of"),
        (dict(nucleotide_token_ids=[5, 6, 7, 8, 8]), "5 distinct ids"),
        (dict(nucleotide_token_ids=[5, 6, 7, 8, 10]), "outside the vocabulary"),
        (dict(base_channels=0), "base_channels must be a positive integer"),
    ],
)
def test_bad_configs_raise(bad, message):
    with pytest.raises(Exception, match=message):
        UNetConfig(**{**TINY, **bad})


@pytest.mark.slow
def test_preset_learns_a_local_motif_task():
    """The presets' BatchNorm: the small U-Net learns a 101 bp task whose label is a planted 8 bp motif (as GUE's
    TF-binding tasks are), where its LayerNorm variant stayed at chance on mouse_0 and tf_2."""
    from transformers import AutoModelForSequenceClassification

    from dnalm_core.registry import MODELS, TOKENIZERS

    rng = np.random.default_rng(0)
    seqs, labels = [], []
    for i in range(512):
        s = list(rng.choice(list("ACGT"), 101))
        if i % 2:
            at = rng.integers(0, 93)
            s[at : at + 8] = "TGACGTCA"
        seqs.append("".join(s))
        labels.append(i % 2)
    tok = TOKENIZERS.get("char").build()
    enc = tok(seqs, return_tensors="pt")
    y = torch.tensor(labels)
    torch.manual_seed(0)
    cfg = MODELS.get("unet").config("small", vocab_size=len(tok), pad_token_id=tok.pad_token_id, num_labels=2)
    assert cfg.normalization == "batchnorm"
    model = AutoModelForSequenceClassification.from_config(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _step in range(150):
        idx = torch.randint(0, len(y), (32,))
        loss = model(input_ids=enc["input_ids"][idx], labels=y[idx]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(input_ids=enc["input_ids"]).logits.argmax(-1) == y).float().mean().item()
    assert acc > 0.9, acc
