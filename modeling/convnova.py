"""ConvNova as a native `transformers` 5.x model that computes the same function as the official code.

ConvNova: "Revisiting Convolution Architecture in the Realm of DNA Foundation Models" (ICLR 2025,
arXiv:2502.18538); official code `aim-uofa/ConvNova`, class `CNNModel` in
`convnova/src/models/ConvNova/convnova.py` (commit c6060272). No weights were released. This file is written
from the reference notes (`reference-architectures.md` section 2) and checked against golden outputs of the
official `CNNModel` (`../shared/data/parity/convnova_tiny`); no official code is copied.

Architecture (D = hidden_size, k = kernel_size, n = num_conv_blocks, s = num_stacks, n*s blocks in all):

- Input: one-hot over the five nucleotide channels A C G T N (channels 0..4), and the *complement* at the
  same position (A<->T, C<->G, N stays N; not reversed) as a second, parallel branch.
- Stems: `linear` and `rc_linear`, each Conv1d(5, D, kernel 9, zero "same" padding) then GELU (the stem
  width is 9 in the official code whatever k is).
- Block i (a "gated convolution block"): both branches are LayerNorm-ed over channels (`norms.i`,
  `rc_norms.i`); the gate g = sigmoid(`gates.i`(complement branch)) and the main conv c = GELU(`convs.i`(main
  branch)) are dilated Conv1d(D, D, k) with zero "same" padding; then feat = c * g + feat and
  rc_feat = g + rc_feat. With `ffn`, feat = `mlpgroup2.i`(feat) + feat, where mlpgroup2.i is
  Linear(D, D) -> GELU -> LayerNorm(D).
- Dilations: `1 if j < 2 else min(dilation_max, dilation_base ** (j - 2))` for j < n, each repeated s times
  in a row (n=5, base 4: 1, 1, 1, 4, 16); `ConvNovaConfig.dilations` gives the full list.
- After the blocks: feat = `milinear`(feat) + feat, milinear = Linear(D, D*d_inner) -> GELU ->
  Linear(D*d_inner, D*d_inner) -> LayerNorm -> Linear(D*d_inner, D*d_inner) -> GELU -> Linear(D*d_inner, D)
  -> LayerNorm(D). With `final_conv` (off in every official config), feat = Conv1d(D, D, 1) -> GELU ->
  Conv1d(D, D, 1) of it (no residual).
- Dropout (`dropout`, 0.0 in every official config) is applied to both branches before each block's norms.
- Every GELU is the exact (erf) form, like `nn.GELU()` in the official code; the tanh approximation misses
  the 1e-5 parity bound.

Parameter names are the official ones (`linear`, `rc_linear`, `convs.i`, `gates.i`, `norms.i`, `rc_norms.i`,
`mlpgroup2.i.{0,2}`, `milinear.{0,2,3,4,6,7}`, `final_conv.{0,2}`, and `out_linear` for the MLM head), so an
official state dict loads by a prefix mapping: `modeling/convert_convnova.py` (`load_official_state_dict`, and a
command line that turns an official checkpoint and its experiment yaml into a `save_pretrained` folder).

Special tokens, padding and exactness (the project's char-token scheme, shared with the U-Net through
`nucleotide.py`, which holds the token-id fields, the id -> channel table, the sequence mask and the heads):

- The official model only ever sees A C G T N: its datasets map every special token ([SEP], [PAD], [UNK],
  and [MASK] during pretraining) to N, and pad on the left with N. Here the ids in `nucleotide_token_ids`
  (A C G T N = 5..9 in the char tokenizer) are channels 0..4, and `mask_token_id` and `unk_token_id` read
  as N, as in the official pretraining (a masked base looks like an unknown base). Every other id ([CLS],
  [SEP], [PAD]) and every position with `attention_mask == 0` is *excluded*: not part of the sequence.
- Excluded positions feed zeros to every convolution: their one-hot input is all-zero, and both branches
  are multiplied by the position mask after the LayerNorms, i.e. right before each convolution, the only
  operations that mix positions (LayerNorm, the linears and the 1x1 `final_conv` act per position). A run of
  excluded positions at a sequence end therefore acts exactly like the convolutions' own zero padding.
- Consequences: with [CLS]/[SEP] around it and any amount of (left or right) padding, the outputs at the
  nucleotide positions equal the official model run on the bare nucleotide sequence; a sequence's outputs do
  not change when the batch pads it more. Outputs at excluded positions are 0. (An excluded position *inside*
  a sequence acts as a gap of zeros; the char tokenizer never produces one.)
- Where the official fine-tuning code differs: it pads with N and mean-pools over all positions, pads
  included, so its results depend on the padding; here the pooled mean is over the kept positions only.

Heads:

- `ConvNovaForMaskedLM`: the official `out_linear = Linear(D, 5)` scores A C G T N; the scores are placed at
  the nucleotide ids of a `[B, L, vocab_size]` logits tensor and every other column gets
  `NON_NUCLEOTIDE_LOGIT` = -1e4 (finite: predicting [CLS] or [PAD] is meaningless, and exp(-1e4 - max)
  underflows to exactly 0 in float32/bfloat16 and stays finite in float16, so softmax and the cross-entropy
  over the whole vocabulary equal the 5-way ones and nothing becomes inf or nan). Loss: cross-entropy over
  the positions whose label is not -100; labels must be nucleotide ids (ValueError otherwise), as in the
  official `bert_cross_entropy`. Computed by transformers' `ForMaskedLMLoss` (float32 also under half
  precision; a float64 model keeps float64).
- `ConvNovaForSequenceClassification`: mean over the kept positions, then `classifier` = Linear(D,
  num_labels), as the official decoder (`decoder.0.output_transform`, which loads into `classifier`);
  single-label, multi-label and regression losses by the standard `problem_type` logic (transformers'
  `ForSequenceClassificationLoss`).

Pretraining objective: BERT-style MLM over single nucleotides, 15% of the positions, of which 80% become
[MASK] (read as N), 10% a random base, 10% unchanged, loss on the selected positions only. The masking is
the data collator's job (train.py), applied once. NB the official code calls its `bert_mask` twice on the same
tensor (the first call mutates it in place), so its inputs are corrupted about twice as much as intended and
the loss is computed on the second mask only; we do not reproduce that bug.

Initialization (`_init_weights`): the official code keeps PyTorch's defaults, and so do we: every Conv1d and
Linear weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (torch's kaiming_uniform with a = sqrt(5)), biases from the
same interval; LayerNorm weight 1, bias 0. The classification head is a plain Linear with the same default.

Presets (`CONVNOVA_PRESETS`, used through the suite's registry: `MODELS.get("convnova").config(name)`), from the
official experiment configs (`convnova/configs/experiment/*/convnova.yaml`):

- "hg38_pretrain": D 128, k 9, dilation 4, 5 blocks x 1 stack, d_inner 2, ffn on: 1,772,933 parameters with
  the MLM head (645 of them).
- "nt_benchmark": the same without ffn: 1,688,706 with a 2-class head (the paper's "1.7M").
- "genomic_benchmark": D 64, k 5, dilation 4, 5 x 1, d_inner 4, ffn off: 378,050 with a 2-class head.
- "tiny": the parity fixture's configuration (D 32, otherwise hg38_pretrain), for tests.

Receptive field: 9 + (k - 1) * sum(dilations), e.g. 9 + 8 * 23 = 193 bp for hg38_pretrain.

Speed (CPU): the official forward permutes between channels-first (convolutions) and channels-last
(LayerNorms, linears) several times per block, each a copy in the forward and again in the backward. Here both
streams stay channels-last [B, L, D] throughout, and on the CPU the convolutions run on that memory directly
(`_ChannelsLastConv1d`: oneDNN's NHWC kernels for the forward and the input gradient, plain matrix products for
the weight gradient; up to 1.4x faster training steps, measured in its docstring); other devices and wrapped
convolutions (LoRA) use the module call. The last block's complement update (never read) is skipped, and the
position mask is skipped when nothing is excluded. `benchmarks/convnova_speed.py` times a training step against
the same model with plain module calls for the convolutions, and against the official code with the same weights.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput

from .nucleotide import (
    EXCLUDED,
    NUM_NUCLEOTIDE_CHANNELS,
    NucleotideConfig,
    NucleotideForMaskedLM,
    NucleotideForSequenceClassification,
    NucleotideModel,
    NucleotidePreTrainedModel,
    nucleotide_one_hot,
)

# Complement of each channel at the same position: A<->T, C<->G, N stays N (official: rc = 3 - x, rc[x==4] = 4).
COMPLEMENT_CHANNEL = (3, 2, 1, 0, 4)
STEM_KERNEL_SIZE = 9  # fixed in the official code (Conv1d(5, D, kernel_size=9, padding=4)), whatever k is

CONVNOVA_PRESETS: dict[str, dict[str, Any]] = {
    # experiment/hg38-pretrain/convnova.yaml: 1,772,933 parameters with the MLM head.
    "hg38_pretrain": dict(
        hidden_size=128, kernel_size=9, dilation_base=4, num_conv_blocks=5, num_stacks=1, d_inner=2, ffn=True
    ),
    # experiment/nt-benchmark/convnova.yaml: 1,688,706 parameters with a 2-class head.
    "nt_benchmark": dict(
        hidden_size=128, kernel_size=9, dilation_base=4, num_conv_blocks=5, num_stacks=1, d_inner=2, ffn=False
    ),
    # experiment/genomic-benchmark/convnova.yaml: 378,050 parameters with a 2-class head.
    "genomic_benchmark": dict(
        hidden_size=64, kernel_size=5, dilation_base=4, num_conv_blocks=5, num_stacks=1, d_inner=4, ffn=False
    ),
    # ../shared/data/parity/convnova_tiny (meta.json): hg38_pretrain at hidden 32.
    "tiny": dict(hidden_size=32, kernel_size=9, dilation_base=4, num_conv_blocks=5, num_stacks=1, d_inner=2, ffn=True),
}


@strict
class ConvNovaConfig(NucleotideConfig):
    r"""Configuration of ConvNova (see the module docstring for the architecture and the token scheme).

    Args:
        hidden_size: channels D of both branches (official `args.hidden_dim`).
        kernel_size: width k of the block convolutions (odd; official `kernel_size`).
        dilation_base, dilation_max: the dilation schedule `1 if j < 2 else min(max, base ** (j - 2))`
            (official `dilation`, and 1024 hard-coded).
        num_conv_blocks: n, distinct dilations (official `num_conv1d`).
        num_stacks: s, each dilation is used by s consecutive blocks (official `args.num_cnn_stacks`).
        d_inner: width multiplier of the final residual MLP `milinear`.
        ffn: per-block Linear -> GELU -> LayerNorm with residual (`mlpgroup2`).
        final_conv: 1x1 Conv -> GELU -> 1x1 Conv after `milinear` (off in every official config).
        dropout: applied to both branches before each block's LayerNorms.
        layer_norm_eps: epsilon of every LayerNorm (torch's default 1e-5, as in the official code).

    The token-id fields (`vocab_size`, `nucleotide_token_ids`, `mask_token_id`, `unk_token_id`, `pad_token_id`,
    `cls_token_id`, `sep_token_id`) and their checks are `NucleotideConfig`'s.
    """

    model_type = "convnova"

    hidden_size: int = 128
    kernel_size: int = 9
    dilation_base: int = 4
    dilation_max: int = 1024
    num_conv_blocks: int = 5
    num_stacks: int = 1
    d_inner: int = 2
    ffn: bool = True
    final_conv: bool = False
    dropout: float | int = 0.0
    layer_norm_eps: float = 1e-5

    def validate_convnova(self):
        """Reject configurations that cannot build a working ConvNova, naming the field and the fix."""
        self.require_positive_ints(
            "hidden_size", "kernel_size", "dilation_base", "dilation_max", "num_conv_blocks", "num_stacks", "d_inner"
        )
        self.require_odd("kernel_size")  # the official padding (k - 1) // 2 * d keeps the length only for odd k
        self.require_probabilities("dropout")

    @property
    def num_blocks(self) -> int:
        """Number of gated convolution blocks, n * s (the official `num_layers`)."""
        return self.num_conv_blocks * self.num_stacks

    @property
    def dilations(self) -> list[int]:
        """Dilation of each block: the official `get_dilation_schedule(..., small=True)`, each repeated s times."""
        base = [
            1 if j < 2 else min(self.dilation_max, self.dilation_base ** (j - 2)) for j in range(self.num_conv_blocks)
        ]
        return [d for d in base for _ in range(self.num_stacks)]

    @property
    def receptive_field(self) -> int:
        """Input positions that can influence one output position (stem plus every block)."""
        return STEM_KERNEL_SIZE + (self.kernel_size - 1) * sum(self.dilations)


def _as_nhwc(x: torch.Tensor) -> torch.Tensor:
    """[B, L, C] contiguous -> the same memory as a 4-D channels-last (NHWC) tensor [B, C, 1, L] (a view)."""
    return x.unsqueeze(1).permute(0, 3, 1, 2)


def _conv_weight_grad(x: torch.Tensor, grad: torch.Tensor, kernel_size: int, padding: int, dilation: int):
    """Weight gradient [C_out, C_in, k] of a stride-1 zero-padded Conv1d from channels-last x [B, L, C_in] and
    output gradient [B, L, C_out]: one batched matrix product (batch = the k taps) over all B*L positions.

    Both tensors are zero-padded along L and flattened to [B*(L+2p), C]. Output position (b, l) sits at flat row
    r = b*(L+2p) + l of the padded gradient shifted by p, and its tap j reads input row r + j*dilation; the pads
    between sequences are zero, so one slice per tap covers every sequence without crossing into its neighbour.
    The k slices are overlapping views of the same memory (no im2col copy). One call rather than k matters on a
    busy machine: each call is a parallel region whose threads wait for each other (measured ~1.6x faster than
    k separate products with 2 threads on 2 shared cores; equal with 1 thread).
    """
    batch, length, c_in = x.shape
    padded = length + 2 * padding
    xp = F.pad(x, (0, 0, padding, padding)).view(batch * padded, c_in)
    gp = F.pad(grad, (0, 0, padding, padding)).view(batch * padded, -1)
    rows = batch * padded - 2 * padding
    taps = xp.as_strided((kernel_size, rows, c_in), (dilation * c_in, c_in, 1))  # taps[j] = xp[j*dil : j*dil+rows]
    g_t = gp[padding : padding + rows].t()
    return torch.matmul(g_t.expand(kernel_size, -1, -1), taps).permute(1, 2, 0)


class _ChannelsLastConv1d(torch.autograd.Function):
    """Conv1d (stride 1, zero padding) on channels-last [B, L, C] tensors, for the CPU.

    Kept because it pays where this suite trains ConvNova on the CPU: a training step of the genomic_benchmark
    preset (the CPU grid's) is 1.3-1.4x faster than with plain `nn.Conv1d` calls between transposes (1 thread;
    1.5x with 2 threads on a busy 2-core machine); hg38_pretrain 1.05-1.1x, nt_benchmark 1.0-1.1x
    (`benchmarks/convnova_speed.py`, which prints the ratio). Other devices never reach it.

    Why it is faster: the LayerNorms and linears act on the last dimension, so the streams are kept
    channels-last, but `F.conv1d` copies a transposed input to channels-first (and the result has to go back);
    that costs about as much as the LayerNorms. Viewed as a 4-D NHWC tensor the same memory runs through
    oneDNN's channels-last kernels without copies, and these are the fastest for the forward and the input
    gradient. oneDNN's NHWC *weight* gradient is up to 2x slower than its channels-first one (dilation 1,
    measured on an AVX2 CPU), so the weight gradient is a batched matrix product instead (`_conv_weight_grad`;
    measured as fast as the channels-first kernel or faster, and no transposing copies). Same function as
    `nn.Conv1d`; only the summation order differs, so results agree to float rounding (tests: float64
    gradcheck, and the official model's outputs and gradients in float32).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, padding: int, dilation: int):
        ctx.save_for_backward(x, weight)
        ctx.conv = (padding, dilation, bias is not None)
        y = F.conv2d(_as_nhwc(x), weight.unsqueeze(2), bias, padding=(0, padding), dilation=(1, dilation))
        return y.permute(0, 2, 3, 1).squeeze(1)  # [B, L, C_out]; a view when y is channels-last

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        padding, dilation, has_bias = ctx.conv
        grad = grad.contiguous()
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x, _, _ = torch.ops.aten.convolution_backward(
                _as_nhwc(grad),
                _as_nhwc(x),
                weight.unsqueeze(2),
                None,
                [1, 1],
                [0, padding],
                [1, dilation],
                False,
                [0, 0],
                1,
                [True, False, False],
            )
            grad_x = grad_x.permute(0, 2, 3, 1).squeeze(1)
        if ctx.needs_input_grad[1]:
            grad_w = _conv_weight_grad(x, grad, weight.shape[-1], padding, dilation)
        if has_bias and ctx.needs_input_grad[2]:
            grad_b = grad.sum(dim=(0, 1))
        return grad_x, grad_w, grad_b, None, None


def _conv_channels_last(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a Conv1d module to channels-last x [B, L, C_in], returning channels-last [B, L, C_out].

    A plain `nn.Conv1d` on the CPU takes the copy-free path above; a wrapped convolution (a PEFT LoRA layer,
    forward hooks) and other devices go through the module call between transposes.
    """
    if (
        x.device.type == "cpu"
        and type(conv) is nn.Conv1d
        and not (conv._forward_hooks or conv._forward_pre_hooks)
        and conv.stride == (1,)
        and conv.groups == 1
        and conv.padding_mode == "zeros"
    ):
        return _ChannelsLastConv1d.apply(x.contiguous(), conv.weight, conv.bias, conv.padding[0], conv.dilation[0])
    return conv(x.transpose(1, 2)).transpose(1, 2)


class ConvNovaPreTrainedModel(NucleotidePreTrainedModel):
    config_class = ConvNovaConfig
    config: ConvNovaConfig
    base_model_prefix = "convnova"
    _no_split_modules = []

    def _init_weights(self, module: nn.Module):
        """PyTorch's default initialization, which the official code keeps (module docstring)."""
        if isinstance(module, (nn.Conv1d, nn.Linear)):
            # torch's reset_parameters: kaiming_uniform(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
            fan_in = module.weight[0].numel()  # in_features, or in_channels/groups * kernel_size
            bound = fan_in**-0.5
            init.uniform_(module.weight, -bound, bound)
            if module.bias is not None:
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)


class ConvNovaModel(NucleotideModel, ConvNovaPreTrainedModel):
    """The ConvNova backbone: `last_hidden_state [B, L, hidden_size]` (the official per-position features),
    zero at excluded positions. Parameter names are the official `CNNModel`'s. `forward` is `NucleotideModel`'s
    (input checks, token ids -> channels), which calls `encode`."""

    def __init__(self, config: ConvNovaConfig):
        super().__init__(config)
        d, k = config.hidden_size, config.kernel_size
        pad = STEM_KERNEL_SIZE // 2
        self.linear = nn.Conv1d(NUM_NUCLEOTIDE_CHANNELS, d, STEM_KERNEL_SIZE, padding=pad)
        self.rc_linear = nn.Conv1d(NUM_NUCLEOTIDE_CHANNELS, d, STEM_KERNEL_SIZE, padding=pad)
        # convs.i and gates.i: same shape and dilation, separate weights ("same" zero padding, odd k)
        self.convs = nn.ModuleList(
            nn.Conv1d(d, d, k, dilation=dil, padding=(k - 1) // 2 * dil) for dil in config.dilations
        )
        self.gates = nn.ModuleList(
            nn.Conv1d(d, d, k, dilation=dil, padding=(k - 1) // 2 * dil) for dil in config.dilations
        )
        if config.ffn:
            self.mlpgroup2 = nn.ModuleList(
                nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d, eps=config.layer_norm_eps))
                for _ in range(config.num_blocks)
            )
        di = d * config.d_inner
        self.milinear = nn.Sequential(
            nn.Linear(d, di),
            nn.GELU(),
            nn.Linear(di, di),
            nn.LayerNorm(di, eps=config.layer_norm_eps),
            nn.Linear(di, di),
            nn.GELU(),
            nn.Linear(di, d),
            nn.LayerNorm(d, eps=config.layer_norm_eps),
        )
        self.norms = nn.ModuleList(nn.LayerNorm(d, eps=config.layer_norm_eps) for _ in range(config.num_blocks))
        self.rc_norms = nn.ModuleList(nn.LayerNorm(d, eps=config.layer_norm_eps) for _ in range(config.num_blocks))
        if config.final_conv:
            self.final_conv = nn.Sequential(nn.Conv1d(d, d, 1), nn.GELU(), nn.Conv1d(d, d, 1))
        self.dropout = nn.Dropout(config.dropout)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        # The main-branch stem: its output is the first learned representation of the input
        # (`enable_input_require_grads` hooks it for gradient checkpointing with adapters).
        return self.linear

    def _block(self, i: int, feat: torch.Tensor, rc_feat: torch.Tensor, keep: torch.Tensor | None):
        """Gated convolution block i on channels-last [B, L, D] streams; `keep` [B, L, 1] or None (all kept)."""
        h = self.norms[i](self.dropout(feat))
        rc_h = self.rc_norms[i](self.dropout(rc_feat))
        if keep is not None:
            # Zero the convolutions' inputs at excluded positions: they then act as zero padding.
            h = h * keep
            rc_h = rc_h * keep
        g = torch.sigmoid(_conv_channels_last(self.gates[i], rc_h))
        c = F.gelu(_conv_channels_last(self.convs[i], h))
        feat = torch.addcmul(feat, c, g)  # c * g + feat in one pass
        if i + 1 < self.config.num_blocks:  # the last block's complement stream is never read
            rc_feat = g + rc_feat
        if self.config.ffn:
            feat = self.mlpgroup2[i](feat) + feat
        return feat, rc_feat

    def encode(self, channels: torch.Tensor, output_hidden_states: bool | None = None) -> BaseModelOutput:
        r"""The network on channels [B, L] (0..4, EXCLUDED; `NucleotideModel.forward` maps the token ids).
        output_hidden_states (default: the config's): also return the stem output and each block's output
        ([B, L, D] each, zero at excluded positions; the last entry is `last_hidden_state`)."""
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        keep_bool = channels != EXCLUDED
        # No excluded position (e.g. bare sequences): masking would be the identity, skip it.
        keep = None if bool(keep_bool.all()) else keep_bool.unsqueeze(-1).to(self.dtype)

        # One-hot with an all-zero row for excluded positions; the complement is a channel permutation. Every
        # stream below is channels-last [B, L, D].
        complement = torch.tensor(COMPLEMENT_CHANNEL + (EXCLUDED,), device=channels.device)
        onehot = nucleotide_one_hot(channels, self.dtype)  # [B, L, 5]
        rc_onehot = nucleotide_one_hot(complement[channels], self.dtype)

        feat = F.gelu(_conv_channels_last(self.linear, onehot))
        rc_feat = F.gelu(_conv_channels_last(self.rc_linear, rc_onehot))

        def masked(x):
            return x if keep is None else x * keep

        hidden_states = [masked(feat)] if output_hidden_states else None
        for i in range(self.config.num_blocks):
            if self.gradient_checkpointing and self.training:
                feat, rc_feat = self._gradient_checkpointing_func(self._block, i, feat, rc_feat, keep)
            else:
                feat, rc_feat = self._block(i, feat, rc_feat, keep)
            if output_hidden_states:
                hidden_states.append(masked(feat))

        feat = self.milinear(feat) + feat
        if self.config.final_conv:
            conv_in, act, conv_out = self.final_conv  # 1x1 convolutions: per position
            feat = _conv_channels_last(conv_out, act(_conv_channels_last(conv_in, feat)))
        feat = masked(feat)
        if output_hidden_states:
            hidden_states.append(feat)
        return BaseModelOutput(
            last_hidden_state=feat, hidden_states=tuple(hidden_states) if output_hidden_states else None
        )


class ConvNovaForMaskedLM(NucleotideForMaskedLM, ConvNovaPreTrainedModel):
    """Per-position vocabulary logits [B, L, vocab_size] from the official `out_linear` = Linear(D, 5)
    (A C G T N); forward, logits and loss are `NucleotideForMaskedLM`'s."""

    def __init__(self, config: ConvNovaConfig):
        super().__init__(config)
        self.convnova = ConvNovaModel(config)
        self.out_linear = nn.Linear(config.hidden_size, NUM_NUCLEOTIDE_CHANNELS)  # official name and shape
        self.post_init()

    def nucleotide_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.out_linear(hidden)


class ConvNovaForSequenceClassification(NucleotideForSequenceClassification, ConvNovaPreTrainedModel):
    """Mean of the backbone output over the kept positions -> `classifier` Linear(D, num_labels), the official
    mean-pool decoder; forward and losses are `NucleotideForSequenceClassification`'s."""

    def __init__(self, config: ConvNovaConfig):
        super().__init__(config)
        self.convnova = ConvNovaModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()
