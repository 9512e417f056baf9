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
official state dict loads by a prefix mapping: `load_official_state_dict`.

Special tokens, padding and exactness (the project's char-token scheme, shared with the U-Net):

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
  official `bert_cross_entropy`.
- `ConvNovaForSequenceClassification`: mean over the kept positions, then `classifier` = Linear(D,
  num_labels), as the official decoder (`decoder.0.output_transform`, which loads into `classifier`);
  single-label, multi-label and regression losses by the standard `problem_type` logic.

Pretraining objective: BERT-style MLM over single nucleotides, 15% of the positions, of which 80% become
[MASK] (read as N), 10% a random base, 10% unchanged, loss on the selected positions only. The masking is
the data collator's job (train.py), applied once. NB the official code calls its `bert_mask` twice on the same
tensor (the first call mutates it in place), so its inputs are corrupted about twice as much as intended and
the loss is computed on the second mask only; we do not reproduce that bug.

Initialization (`_init_weights`): the official code keeps PyTorch's defaults, and so do we: every Conv1d and
Linear weight ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (torch's kaiming_uniform with a = sqrt(5)), biases from the
same interval; LayerNorm weight 1, bias 0. The classification head is a plain Linear with the same default.

Presets (`CONVNOVA_PRESETS`, `ConvNovaConfig.from_preset(name)`, registry `MODELS["convnova"]`), from the
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
the weight gradient); other devices and wrapped convolutions (LoRA) use the module call. The last block's
complement update (never read) is skipped, and the position mask is skipped when nothing is excluded.
`benchmarks/convnova_speed.py` times a training step against the official code with the same weights.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import (
    PreTrainedConfig,
    PreTrainedModel,
)
from transformers import initialization as init
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput, SequenceClassifierOutput
from transformers.utils import can_return_tuple

from .common import (
    NON_NUCLEOTIDE_LOGIT,
    check_char_inputs,
    classification_loss,
    masked_mean,
    nucleotide_mlm_output,
)

logger = logging.getLogger(__name__)

NUM_NUCLEOTIDE_CHANNELS = 5  # A C G T N, the official alphabet_size
N_CHANNEL = 4
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
    "tiny": dict(
        hidden_size=32, kernel_size=9, dilation_base=4, num_conv_blocks=5, num_stacks=1, d_inner=2, ffn=True
    ),
}


@strict
class ConvNovaConfig(PreTrainedConfig):
    r"""Configuration of ConvNova (see the module docstring for the architecture and the token scheme).

    Args:
        vocab_size: size of the tokenizer vocabulary; MLM logits have this last dimension.
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
        nucleotide_token_ids: the ids of A, C, G, T, N, in that order (channels 0..4).
        mask_token_id, unk_token_id: ids read as N (None: not used); any other id is excluded.
        pad_token_id, cls_token_id, sep_token_id: the tokenizer's special ids, recorded for users of the
            config; the model excludes them because they are not nucleotide, mask or unk ids.
    """

    model_type = "convnova"

    vocab_size: int = 10
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
    nucleotide_token_ids: list[int] | None = None
    mask_token_id: int | None = 4
    unk_token_id: int | None = 0
    pad_token_id: int | None = 3
    cls_token_id: int | None = 1
    sep_token_id: int | None = 2

    def __post_init__(self, **kwargs):
        if self.nucleotide_token_ids is None:
            self.nucleotide_token_ids = [5, 6, 7, 8, 9]  # the char tokenizer's A C G T N
        else:
            self.nucleotide_token_ids = list(self.nucleotide_token_ids)
        super().__post_init__(**kwargs)

    def validate_convnova(self):
        """Reject configurations that cannot build a working ConvNova, naming the field and the fix."""
        for name in ("vocab_size", "hidden_size", "kernel_size", "dilation_base", "dilation_max",
                     "num_conv_blocks", "num_stacks", "d_inner"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ConvNovaConfig.{name} must be a positive integer, got {value!r}")
        if self.kernel_size % 2 == 0:
            # The official padding (k - 1) // 2 * d keeps the length only for odd k.
            raise ValueError(f"ConvNovaConfig.kernel_size must be odd (centred 'same' padding), got {self.kernel_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ConvNovaConfig.dropout must be in [0, 1), got {self.dropout!r}")
        ids = self.nucleotide_token_ids
        if len(ids) != NUM_NUCLEOTIDE_CHANNELS or len(set(ids)) != NUM_NUCLEOTIDE_CHANNELS:
            raise ValueError(f"ConvNovaConfig.nucleotide_token_ids must be 5 distinct ids (A C G T N), got {ids!r}")
        as_n = [i for i in (self.mask_token_id, self.unk_token_id) if i is not None]
        for token_id in list(ids) + as_n:
            if isinstance(token_id, bool) or not isinstance(token_id, int) or not 0 <= token_id < self.vocab_size:
                raise ValueError(
                    f"token id {token_id!r} in ConvNovaConfig is outside the vocabulary [0, {self.vocab_size})"
                )
        if set(as_n) & set(ids):
            raise ValueError("ConvNovaConfig.mask_token_id / unk_token_id must differ from the nucleotide ids")

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

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "ConvNovaConfig":
        """One of `CONVNOVA_PRESETS` ("hg38_pretrain", "nt_benchmark", "genomic_benchmark", "tiny")."""
        if name not in CONVNOVA_PRESETS:
            raise ValueError(f"unknown ConvNova preset {name!r}; valid presets: {', '.join(sorted(CONVNOVA_PRESETS))}")
        return cls(**{**CONVNOVA_PRESETS[name], **overrides})

    @classmethod
    def from_official_args(
        cls,
        hidden_dim: int | None = None,
        num_cnn_stacks: int | None = None,
        dropout: float | None = None,
        *,
        args: Any = None,
        alphabet_size: int = NUM_NUCLEOTIDE_CHANNELS,
        for_representation: bool = False,
        pretrain: bool = False,
        dilation: int = 2,
        kernel_size: int = 9,
        num_conv1d: int = 5,
        d_inner: int = 2,
        final_conv: bool = False,
        ffn: bool = True,
        d_model: int | None = None,
        _name_: str = "convnova",
        **config_kwargs,
    ) -> "ConvNovaConfig":
        """The config of an official `CNNModel(args, alphabet_size, ..., **kwargs)`.

        Takes the official constructor's arguments with the official defaults (note `dilation=2` there; every
        shipped experiment sets 4). `args` holds hidden_dim, num_cnn_stacks and dropout as in the official
        code (a namespace or a dict); they may also be given directly. So the `model:` section of an official
        experiment yaml can be passed as keyword arguments. `for_representation` and `pretrain` choose the
        official output head; here the model class does (`ConvNovaModel` / `ConvNovaForMaskedLM` /
        `ConvNovaForSequenceClassification`), so they are accepted and not stored. Other keyword arguments
        must be `ConvNovaConfig` fields (e.g. `num_labels`, `vocab_size`).
        """
        if args is not None:
            given = dict(args) if isinstance(args, Mapping) else vars(args)
            for name, value in (("hidden_dim", hidden_dim), ("num_cnn_stacks", num_cnn_stacks), ("dropout", dropout)):
                if name in given and value is not None and given[name] != value:
                    raise ValueError(
                        f"{name} given twice with different values: args.{name}={given[name]!r}, {name}={value!r}"
                    )
            hidden_dim = given.get("hidden_dim", hidden_dim)
            num_cnn_stacks = given.get("num_cnn_stacks", num_cnn_stacks)
            dropout = given.get("dropout", dropout)
        required = (("hidden_dim", hidden_dim), ("num_cnn_stacks", num_cnn_stacks), ("dropout", dropout))
        missing = [name for name, value in required if value is None]
        if missing:
            raise ValueError(
                f"the official CNNModel needs args.{', args.'.join(missing)} (pass them directly or in `args`)"
            )
        if alphabet_size != NUM_NUCLEOTIDE_CHANNELS:
            raise ValueError(
                f"ConvNova's official alphabet is A C G T N (alphabet_size=5), got alphabet_size={alphabet_size}"
            )
        if _name_ != "convnova":
            raise ValueError(f"not a ConvNova model config: _name_={_name_!r}")
        if d_model is not None and d_model != hidden_dim:
            # The official CNNModel ignores d_model (it uses args.hidden_dim everywhere); so do we, loudly.
            logger.warning(
                "official config has d_model=%s but args.hidden_dim=%s; CNNModel uses hidden_dim", d_model, hidden_dim
            )
        fields = set(inspect.signature(cls).parameters) | {"num_labels"}
        unknown = sorted(set(config_kwargs) - fields)
        if unknown:
            raise TypeError(
                f"unknown arguments {unknown}: neither official CNNModel arguments nor ConvNovaConfig fields"
            )
        return cls(
            hidden_size=hidden_dim,
            num_stacks=num_cnn_stacks,
            dropout=dropout,
            dilation_base=dilation,
            kernel_size=kernel_size,
            num_conv_blocks=num_conv1d,
            d_inner=d_inner,
            final_conv=final_conv,
            ffn=ffn,
            **config_kwargs,
        )


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

    Why: the LayerNorms and linears act on the last dimension, so the streams are kept channels-last, but
    `F.conv1d` copies a transposed input to channels-first (and the result has to go back); that costs about as
    much as the LayerNorms. Viewed as a 4-D NHWC tensor the same memory runs through oneDNN's channels-last
    kernels without copies, and these are the fastest for the forward and the input gradient. oneDNN's NHWC
    *weight* gradient is up to 2x slower than its channels-first one (dilation 1, measured on an AVX2 CPU), so
    the weight gradient is a batched matrix product instead (`_conv_weight_grad`; measured as fast as the
    channels-first kernel or faster, and no transposing copies). Same function as
    `nn.Conv1d`; only the summation order differs, so results agree to float rounding (tests: float64 gradcheck,
    and the official model's outputs and gradients in float32).
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
                _as_nhwc(grad), _as_nhwc(x), weight.unsqueeze(2), None,
                [1, 1], [0, padding], [1, dilation], False, [0, 0], 1, [True, False, False],
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


def _reject_unsupported(inputs_embeds, output_attentions):
    if inputs_embeds is not None:
        raise ValueError("ConvNova reads token ids (one-hot inside the model); inputs_embeds is not supported")
    if output_attentions:
        raise ValueError("ConvNova has no attention: output_attentions=True is not supported")


class ConvNovaPreTrainedModel(PreTrainedModel):
    config_class = ConvNovaConfig
    config: ConvNovaConfig
    base_model_prefix = "convnova"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = []
    # forward takes no **kwargs; stated anyway so the Trainer never passes num_items_in_batch.
    accepts_loss_kwargs = False

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


class ConvNovaModel(ConvNovaPreTrainedModel):
    """The ConvNova backbone: `last_hidden_state [B, L, hidden_size]` (the official per-position features),
    zero at excluded positions. Parameter names are the official `CNNModel`'s."""

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

    def _channel_table(self, device: torch.device) -> torch.Tensor:
        # Token id -> channel 0..4, or 5 for excluded ids. Built per call from the config (10 entries) rather
        # than kept as a buffer: non-persistent buffers are not restored when from_pretrained builds the model
        # on the meta device.
        cfg = self.config
        table = torch.full((cfg.vocab_size,), NUM_NUCLEOTIDE_CHANNELS, dtype=torch.long)
        table[torch.tensor(cfg.nucleotide_token_ids)] = torch.arange(NUM_NUCLEOTIDE_CHANNELS)
        for token_id in (cfg.mask_token_id, cfg.unk_token_id):
            if token_id is not None:
                table[token_id] = N_CHANNEL
        return table.to(device)

    def _channels(self, input_ids, attention_mask) -> torch.Tensor:
        """Long [B, L]: channel 0..4 of each position, 5 at excluded positions."""
        check_char_inputs(input_ids, attention_mask, self.config.vocab_size, "ConvNovaModel")
        channels = self._channel_table(input_ids.device)[input_ids.long()]
        if attention_mask is not None:
            channels = channels.masked_fill(attention_mask == 0, NUM_NUCLEOTIDE_CHANNELS)
        return channels

    def sequence_mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Bool [B, L]: True at the positions that are part of the sequence (nucleotide, mask or unk ids with
        attention_mask 1); the positions the model processes and the classifier pools over."""
        return self._channels(input_ids, attention_mask) < NUM_NUCLEOTIDE_CHANNELS

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

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
    ) -> BaseModelOutput:
        r"""token_type_ids: accepted and ignored (one segment), so tokenizer output can be passed as is.
        output_hidden_states: also return the stem output and each block's output ([B, L, D] each, zero at
        excluded positions; the last entry is `last_hidden_state`).
        inputs_embeds, output_attentions: accepted because PEFT and other generic callers pass them (as None);
        ConvNova reads one-hot token ids and has no attention, so anything else raises."""
        _reject_unsupported(inputs_embeds, output_attentions)
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        channels = self._channels(input_ids, attention_mask)
        keep_bool = channels < NUM_NUCLEOTIDE_CHANNELS
        # No excluded position (e.g. bare sequences): masking would be the identity, skip it.
        keep = None if bool(keep_bool.all()) else keep_bool.unsqueeze(-1).to(self.dtype)

        # One-hot with an all-zero row for excluded positions; the complement is a channel permutation.
        table = torch.cat([torch.eye(NUM_NUCLEOTIDE_CHANNELS), torch.zeros(1, NUM_NUCLEOTIDE_CHANNELS)])
        table = table.to(device=channels.device, dtype=self.dtype)
        complement = torch.tensor(COMPLEMENT_CHANNEL + (NUM_NUCLEOTIDE_CHANNELS,), device=channels.device)
        onehot = table[channels]  # [B, L, 5]; every stream below is channels-last [B, L, D]
        rc_onehot = table[complement[channels]]

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


class ConvNovaForMaskedLM(ConvNovaPreTrainedModel):
    """Per-position vocabulary logits [B, L, vocab_size]; only the nucleotide ids get learned scores."""

    NON_NUCLEOTIDE_LOGIT = NON_NUCLEOTIDE_LOGIT

    def __init__(self, config: ConvNovaConfig):
        super().__init__(config)
        self.convnova = ConvNovaModel(config)
        self.out_linear = nn.Linear(config.hidden_size, NUM_NUCLEOTIDE_CHANNELS)  # official name and shape
        self.post_init()

    def get_output_embeddings(self):
        return None  # nothing to tie: the input is one-hot, not a vocabulary embedding

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
    ) -> MaskedLMOutput:
        r"""labels: [B, L] token ids, -100 where no prediction is scored; the others must be nucleotide ids."""
        out = self.convnova(
            input_ids,
            attention_mask=attention_mask,
            output_hidden_states=output_hidden_states,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
        )
        scores = self.out_linear(out.last_hidden_state)  # [B, L, 5], official A C G T N order
        logits, loss = nucleotide_mlm_output(scores, self.config, input_ids, labels)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)


class ConvNovaForSequenceClassification(ConvNovaPreTrainedModel):
    """Mean of the backbone output over the kept positions -> `classifier` Linear(D, num_labels)."""

    def __init__(self, config: ConvNovaConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.convnova = ConvNovaModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
    ) -> SequenceClassifierOutput:
        r"""labels: class ids [B] (single-label), multi-hot [B, num_labels] (multi-label) or values (regression)."""
        out = self.convnova(
            input_ids,
            attention_mask=attention_mask,
            output_hidden_states=output_hidden_states,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
        )
        pooled = masked_mean(out.last_hidden_state, self.convnova.sequence_mask(input_ids, attention_mask))
        logits = self.classifier(pooled)

        loss = None
        if labels is not None:
            loss = classification_loss(self.config, logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)


# ----------------------------------------------------------------------------- official checkpoints

_LIGHTNING_BACKBONE_PREFIX = "model."  # SequenceLightningModule.model
_OFFICIAL_MLM_HEAD = "out_linear."  # CNNModel(pretrain=True).out_linear
_OFFICIAL_CLF_HEAD = "decoder.0.output_transform."  # SequenceDecoder(mode="pool").output_transform


def load_official_state_dict(model: ConvNovaPreTrainedModel, state_dict: Mapping[str, Any]) -> dict[str, list[str]]:
    """Load official ConvNova weights into `model`; afterwards its outputs equal the official ones.

    `state_dict` is a plain `CNNModel.state_dict()` (keys `linear.weight`, ..., `out_linear.*` when
    pretrained) or a PyTorch-Lightning checkpoint, either the whole `torch.load(ckpt)` dict or its
    `"state_dict"` (backbone keys prefixed `model.`, fine-tuning head `decoder.0.output_transform.*`).

    Every backbone tensor must be present, with the shape of `model.config`, and every key must be a known
    official key (backbone, `out_linear`, or the Lightning decoder); otherwise KeyError/ValueError, listing them.
    Heads: `out_linear` loads into `ConvNovaForMaskedLM.out_linear` (required there); the decoder loads into
    `ConvNovaForSequenceClassification.classifier` when present (otherwise the classifier keeps its
    initialization: fine-tuning from a pretrained backbone). A head the target model does not have is dropped,
    as the official `load_backbone` does when fine-tuning from a pretraining checkpoint.

    Returns {"loaded": our parameter names, "dropped": official keys not used, "not_loaded": our parameter
    names left at their initialization}.
    """
    if not isinstance(model, ConvNovaPreTrainedModel):
        raise TypeError(f"expected a ConvNova model, got {type(model).__name__}")
    if isinstance(state_dict.get("state_dict"), Mapping):  # a whole Lightning checkpoint
        state_dict = state_dict["state_dict"]
    non_tensors = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if non_tensors:
        raise ValueError(f"not a state dict: entries {non_tensors[:5]} are not tensors")
    lightning = any(k.startswith(_LIGHTNING_BACKBONE_PREFIX) for k in state_dict)

    backbone = model if isinstance(model, ConvNovaModel) else model.convnova
    prefix = "" if backbone is model else model.base_model_prefix + "."
    targets = {}  # official key -> our parameter name
    for name in backbone.state_dict():
        targets[(_LIGHTNING_BACKBONE_PREFIX if lightning else "") + name] = prefix + name
    heads = {}  # official key -> our parameter name, or None when this model has no such head
    for suffix in ("weight", "bias"):
        mlm_key = (_LIGHTNING_BACKBONE_PREFIX if lightning else "") + _OFFICIAL_MLM_HEAD + suffix
        heads[mlm_key] = f"out_linear.{suffix}" if isinstance(model, ConvNovaForMaskedLM) else None
        clf_key = _OFFICIAL_CLF_HEAD + suffix
        heads[clf_key] = f"classifier.{suffix}" if isinstance(model, ConvNovaForSequenceClassification) else None

    unexpected = sorted(k for k in state_dict if k not in targets and k not in heads)
    missing = sorted(k for k in targets if k not in state_dict)
    if isinstance(model, ConvNovaForMaskedLM):
        # the MLM head is required there: without it the logits would be those of an untrained head
        missing += sorted(
            k for k, ours in heads.items() if ours and ours.startswith("out_linear") and k not in state_dict
        )
    if missing or unexpected:
        cfg = model.config
        raise KeyError(
            f"official ConvNova state dict does not match this config (hidden {cfg.hidden_size}, "
            f"{cfg.num_conv_blocks}x{cfg.num_stacks} blocks, ffn={cfg.ffn}, final_conv={cfg.final_conv}): "
            f"missing {missing}, unexpected {unexpected}"
        )

    params = dict(model.named_parameters())
    plan = {k: v for k, v in targets.items()}
    plan.update({k: v for k, v in heads.items() if v is not None and k in state_dict})
    mismatched = [
        f"{k}: {tuple(state_dict[k].shape)} vs {tuple(params[ours].shape)}"
        for k, ours in plan.items()
        if state_dict[k].shape != params[ours].shape
    ]
    if mismatched:
        raise ValueError(f"shape mismatch between the official state dict and this model: {mismatched}")
    with torch.no_grad():
        for k, ours in plan.items():
            params[ours].copy_(state_dict[k])
    loaded = sorted(plan.values())
    return {
        "loaded": loaded,
        "dropped": sorted(k for k, v in heads.items() if v is None and k in state_dict),
        "not_loaded": sorted(set(params) - set(loaded)),
    }
