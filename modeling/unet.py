"""A 1D U-Net over single nucleotides, in the `transformers` 5.x modeling-file style.

Architecture (Ronneberger, Fischer & Brox 2015, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI, arXiv:1505.04597), adapted from 2D images to 1D DNA:

- input: the five nucleotide channels A C G T N, as a one-hot (`input_embedding="onehot"`, the usual
  input of convolutional DNA models) or a learned `nn.Embedding(5, embedding_size)` ("embedding");
- contracting path: `depth` levels; each level is a block of `convs_per_level` units
  (Conv1d(kernel_size, "same" zero padding) -> normalization -> activation -> dropout), its output is kept
  as the skip connection, then a max-pool of width 2 halves the length (the paper's 2x2 max-pool);
- bottleneck: one more block at 1/2^depth resolution;
- expanding path: per level, a transposed convolution of width 2 and stride 2 doubles the length and
  maps the channels to those of the level (the paper's 2x2 "up-convolution"), the skip is concatenated
  (skip first, then the up-sampled features) and a block mixes them;
- output: `last_hidden_state [B, L, base_channels]`, one vector per input token, at input resolution.

Level i has `base_channels * channel_multipliers[i]` channels (i = 0..depth; the last is the bottleneck);
the paper doubles per level, which is the default `[1, 2, 4, ...]`. Differences from the paper, and why:
the paper's convolutions are unpadded and the skips are cropped (output smaller than input); here they are
"same"-padded so the output has one vector per nucleotide, as every other model in this suite. The paper
has no normalization; later U-Nets add one, and we default to a per-position LayerNorm over channels
(see "Normalization"). The paper uses ReLU; the default here is GELU, as in ConvNova.

Special tokens, padding and exactness (the project's char-token scheme, shared with ConvNova through
`nucleotide.py`, which holds the token-id fields, the id -> channel table, the sequence mask and the heads):

- Ids in `nucleotide_token_ids` (A C G T N = 5..9) are channels 0..4; `mask_token_id` and `unk_token_id`
  read as N (so a masked position looks like an unknown base). Every other id ([CLS], [SEP], [PAD]) and
  every position with `attention_mask == 0` is "excluded": it is not part of the sequence.
- Max-pooling by 2 makes position parity matter: a leading [CLS] would shift the sequence by one and
  change which nucleotides share a pooling window. So the model *compacts* each row before the U-Net:
  the kept positions are moved, in order, to the front (a stable sort), the U-Net sees only the bare
  nucleotide sequence followed by an excluded tail, and the outputs are scattered back to the original
  positions afterwards. The result is the same with or without [CLS]/[SEP], with right or left padding,
  and with any amount of padding.
- The excluded tail is exact, not approximate: the length is padded up to a multiple of 2^depth with
  excluded positions, features at excluded positions are set to zero after every operation that mixes
  positions (each conv unit, each pooling, each up-sampling), the max-pool ignores excluded positions
  (they are -inf inside the pool, and a window with no kept position yields an excluded, zero position),
  and a coarse position is kept when its window holds a kept position. For a sequence of n nucleotides
  this equals running the U-Net on exactly n positions with zero "same" padding, max-pool with
  `ceil_mode=True` and the up-sampled output cropped to the skip's length: `tests/test_unet.py` checks
  the model against that formulation written in plain torch. Outputs at excluded positions are 0.
- Consequence: a position's output never depends on padding, special tokens or other rows of the batch
  (with the default LayerNorm; see "Normalization").

Normalization: "layernorm" (default) normalizes each position over its channels; it mixes neither
positions nor batch rows, so the invariances above hold exactly. "batchnorm" (BatchNorm1d) is offered for
comparison with image U-Nets: in train mode its statistics mix the batch rows and include the zeroed
excluded positions, so outputs then depend on the batch and on padding (in eval mode it uses running
statistics and is exact again). "none" is the paper's choice.

Heads:

- `UNetForMaskedLM`: a linear map (the paper's final 1x1 convolution) to 5 nucleotide scores per position,
  placed at the nucleotide ids of the vocabulary; every other id gets `NON_NUCLEOTIDE_LOGIT` (-1e4, finite):
  predicting [CLS] or [PAD] is meaningless, and with -1e4 their softmax weight underflows to exactly 0 in
  float32, so the cross-entropy over the full vocabulary equals the 5-way one and stays finite. Logits are
  `[B, L, vocab_size]`, in tokenizer-id space like the other models. Loss: cross-entropy over the positions
  whose label is not -100; labels must be nucleotide ids (a ValueError otherwise); transformers'
  `ForMaskedLMLoss`. Masking is the data collator's job (train.py), as for the other models.
- `UNetForSequenceClassification`: mean of `last_hidden_state` over the kept positions -> dropout ->
  linear; single-label, multi-label and regression losses by the standard `problem_type` logic (transformers'
  `ForSequenceClassificationLoss`).

Initialization (`_init_weights`): convolutions draw from N(0, 2/fan_in) with zero bias, the scheme
Ronneberger et al. use (He et al. 2015); for the width-2 stride-2 transposed convolution each output
position receives `in_channels` inputs, so fan_in = in_channels. Norms start at weight 1, bias 0; the
learned nucleotide embedding at N(0, 1) (PyTorch's default, the scale of a one-hot); the head linears at
N(0, initializer_range) with zero bias, as in the other models of the suite.

Presets (`UNET_PRESETS`, used through the suite's registry: `MODELS.get("unet").config(name)`; counts are of
`UNetModel`, the backbone):

- "small" (CPU): base 16, depth 3, channels 16-32-32-64, 2 convs/level, kernel 5: 93,472 params
  (+85 for the MLM head, +34 for a 2-class head); receptive field 184 bp.
- "paper": base 32, depth 4, channels 32-64-64-128-128, 2 convs/level, kernel 9: 1,412,928 params
  (+165 MLM head, +66 2-class head); receptive field 752 bp. That is within the range of ConvNova's
  configurations (378,050 for genomic-benchmark .. 1,688,706 for nt-benchmark, 1,772,933 pretraining).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput

from .nucleotide import (
    EXCLUDED,
    N_CHANNEL,
    NUM_NUCLEOTIDE_CHANNELS,
    NucleotideConfig,
    NucleotideForMaskedLM,
    NucleotideForSequenceClassification,
    NucleotideModel,
    NucleotidePreTrainedModel,
    nucleotide_one_hot,
)

NORMALIZATIONS = ("layernorm", "batchnorm", "none")
INPUT_EMBEDDINGS = ("onehot", "embedding")


@strict
class UNetConfig(NucleotideConfig):
    r"""Configuration of the 1D DNA U-Net (see the module docstring for the architecture).

    Args:
        base_channels: channels at the first level, which is also the width of `last_hidden_state`
            (also readable as `hidden_size`).
        depth: number of down-sampling (and up-sampling) levels; the bottleneck runs at 1/2^depth.
        convs_per_level: conv units per block (the paper uses 2).
        kernel_size: odd width of every (non-transposed) convolution.
        channel_multipliers: `depth + 1` positive integers; level i has `base_channels * m[i]` channels.
            None means doubling per level, `[1, 2, 4, ..., 2**depth]`, as in the paper.
        normalization: "layernorm" (per position over channels; default), "batchnorm" or "none".
        layer_norm_eps: epsilon of LayerNorm / BatchNorm.
        hidden_act: activation after each normalization, any `transformers.activations.ACT2FN` name.
        dropout: dropout after each conv unit's activation.
        classifier_dropout: dropout before the classification linear; None means `dropout`.
        input_embedding: "onehot" or "embedding" (a learned `nn.Embedding(5, embedding_size)`).
        embedding_size: width of the learned embedding; None means `base_channels`.
        initializer_range: std of the head linears at initialization.

    The token-id fields (`vocab_size`, `nucleotide_token_ids`, `mask_token_id`, `unk_token_id`, `pad_token_id`,
    `cls_token_id`, `sep_token_id`) and their checks are `NucleotideConfig`'s.
    """

    model_type = "dna_unet"
    attribute_map = {"hidden_size": "base_channels"}

    base_channels: int = 16
    depth: int = 3
    convs_per_level: int = 2
    kernel_size: int = 5
    channel_multipliers: list[int] | None = None
    normalization: str = "layernorm"
    layer_norm_eps: float = 1e-5
    hidden_act: str = "gelu"
    dropout: float | int = 0.0
    classifier_dropout: float | int | None = None
    input_embedding: str = "onehot"
    embedding_size: int | None = None
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if "hidden_size" in kwargs:  # the alias (attribute_map); resolve it before the defaults below use it
            self.base_channels = kwargs.pop("hidden_size")
        if self.channel_multipliers is None:
            self.channel_multipliers = [2**i for i in range(self.depth + 1)] if self.depth >= 0 else []
        else:
            self.channel_multipliers = list(self.channel_multipliers)
        if self.embedding_size is None:
            self.embedding_size = self.base_channels
        if self.classifier_dropout is None:
            self.classifier_dropout = self.dropout
        super().__post_init__(**kwargs)

    def validate_unet(self):
        """Reject configurations that cannot build a working U-Net, naming the field and the fix."""
        self.require_positive_ints("base_channels", "convs_per_level", "kernel_size", "embedding_size")
        self.require_positive_ints("depth", minimum=0)
        self.require_odd("kernel_size")  # an even kernel would shift the sequence by half a base
        mults = self.channel_multipliers
        if len(mults) != self.depth + 1 or any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in mults):
            raise ValueError(
                f"UNetConfig.channel_multipliers must be depth + 1 = {self.depth + 1} positive integers "
                f"(one per level, the last for the bottleneck), got {mults!r}"
            )
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"UNetConfig.normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if self.input_embedding not in INPUT_EMBEDDINGS:
            raise ValueError(
                f"UNetConfig.input_embedding must be one of {INPUT_EMBEDDINGS}, got {self.input_embedding!r}"
            )
        if self.hidden_act not in ACT2FN:
            raise ValueError(f"UNetConfig.hidden_act {self.hidden_act!r} is not a transformers activation name")
        self.require_probabilities("dropout", "classifier_dropout")

    @property
    def level_channels(self) -> list[int]:
        """Channels of each level, 0..depth (the last is the bottleneck)."""
        return [self.base_channels * m for m in self.channel_multipliers]

    @property
    def receptive_field(self) -> int:
        """How many consecutive nucleotides can influence one output position (the same for every position
        away from the sequence ends). Found by following the interval of inputs back through the network:
        a block widens it by `convs_per_level * (kernel_size // 2)` on each side at its level's resolution,
        a max-pool window depends on both of its positions, an up-sampled position on one coarse position."""
        reach = self.convs_per_level * (self.kernel_size // 2)

        def encoder_input(level, lo, hi):  # interval at the output of down block `level` -> input interval
            lo, hi = lo - reach, hi + reach
            return (lo, hi) if level == 0 else encoder_input(level - 1, 2 * lo, 2 * hi + 1)

        def decoder_input(level, lo, hi):  # interval at the output of up block `level` (depth: bottleneck)
            lo, hi = lo - reach, hi + reach
            if level == self.depth:
                return (lo, hi) if self.depth == 0 else encoder_input(self.depth - 1, 2 * lo, 2 * hi + 1)
            skip, up = encoder_input(level, lo, hi), decoder_input(level + 1, lo // 2, hi // 2)
            return min(skip[0], up[0]), max(skip[1], up[1])

        lo, hi = decoder_input(0, 0, 0)
        return hi - lo + 1


class UNetInputLayer(nn.Module):
    """Nucleotide channels [B, L] (0..4, EXCLUDED) -> features [B, L, C_in] (one-hot or learned), zero at
    excluded positions.

    A module (even with no parameters, for one-hot input) so `get_input_embeddings()` has something to
    return: `enable_input_require_grads` (gradient checkpointing with adapters) hooks its output.
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.onehot = config.input_embedding == "onehot"
        self.out_channels = NUM_NUCLEOTIDE_CHANNELS if self.onehot else config.embedding_size
        if not self.onehot:
            self.embedding = nn.Embedding(NUM_NUCLEOTIDE_CHANNELS, config.embedding_size)

    def forward(self, channels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        if self.onehot:
            return nucleotide_one_hot(channels, dtype)  # all-zero rows at excluded positions
        # Excluded positions carry channel EXCLUDED, which has no row: look up N there, then zero it.
        feats = self.embedding(channels.clamp(max=N_CHANNEL))
        return feats * (channels != EXCLUDED).unsqueeze(-1).to(feats.dtype)


class UNetConvUnit(nn.Module):
    """Conv1d ("same" zero padding) -> normalization -> activation -> dropout, on [B, C, L]."""

    def __init__(self, config: UNetConfig, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, config.kernel_size, padding=config.kernel_size // 2)
        if config.normalization == "layernorm":
            self.norm = nn.LayerNorm(out_channels, eps=config.layer_norm_eps)
        elif config.normalization == "batchnorm":
            self.norm = nn.BatchNorm1d(out_channels, eps=config.layer_norm_eps)
        else:
            self.norm = nn.Identity()
        self.act = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if isinstance(self.norm, nn.LayerNorm):
            x = self.norm(x.transpose(1, 2)).transpose(1, 2)  # LayerNorm acts on the last (channel) dim
        else:
            x = self.norm(x)
        return self.dropout(self.act(x))


class UNetConvBlock(GradientCheckpointingLayer):
    """`convs_per_level` conv units; features at excluded positions are zeroed after each unit so the
    next convolution sees zeros there, exactly like the zero padding at a sequence end."""

    def __init__(self, config: UNetConfig, in_channels: int, out_channels: int):
        super().__init__()
        self.units = nn.ModuleList(
            UNetConvUnit(config, in_channels if i == 0 else out_channels, out_channels)
            for i in range(config.convs_per_level)
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for unit in self.units:
            x = unit(x) * mask
        return x


def _masked_max_pool(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Max over windows of 2 that ignores excluded positions. x [B, C, L] (L even), mask [B, 1, L] float.

    Returns the pooled features (zero at windows with no kept position) and the coarse mask.
    """
    pooled = F.max_pool1d(x.masked_fill(mask == 0, float("-inf")), 2)
    coarse_mask = F.max_pool1d(mask, 2)  # kept when either position of the window is kept
    # A window of two excluded positions pooled to -inf; zero it (masked_fill, not multiply: -inf * 0 = nan).
    return pooled.masked_fill(coarse_mask == 0, 0.0), coarse_mask


class UNetPreTrainedModel(NucleotidePreTrainedModel):
    config_class = UNetConfig
    config: UNetConfig
    base_model_prefix = "unet"
    _no_split_modules = ["UNetConvBlock"]

    def _init_weights(self, module: nn.Module):
        """He et al. (2015) normal init for convolutions, as in Ronneberger et al.; see the module docstring."""
        if isinstance(module, nn.ConvTranspose1d):
            # stride == kernel_size, so each output position sees in_channels inputs (torch's fan_in
            # formula for transposed convs would count out_channels * kernel_size instead).
            init.normal_(module.weight, mean=0.0, std=math.sqrt(2.0 / module.in_channels))
            init.zeros_(module.bias)
        elif isinstance(module, nn.Conv1d):
            init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=1.0)
        elif isinstance(module, (nn.LayerNorm, nn.BatchNorm1d)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            if isinstance(module, nn.BatchNorm1d):
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)


class UNetModel(NucleotideModel, UNetPreTrainedModel):
    """The U-Net backbone: `last_hidden_state [B, L, base_channels]`, zero at excluded positions. `forward` is
    `NucleotideModel`'s (input checks, token ids -> channels), which calls `encode`."""

    def __init__(self, config: UNetConfig):
        super().__init__(config)
        ch = config.level_channels
        self.embeddings = UNetInputLayer(config)
        self.down_blocks = nn.ModuleList(
            UNetConvBlock(config, self.embeddings.out_channels if i == 0 else ch[i - 1], ch[i])
            for i in range(config.depth)
        )
        self.bottleneck = UNetConvBlock(
            config, self.embeddings.out_channels if config.depth == 0 else ch[config.depth - 1], ch[config.depth]
        )
        # up_convs[i] brings level i+1 up to level i; up_blocks[i] mixes it with the skip of level i.
        self.up_convs = nn.ModuleList(
            nn.ConvTranspose1d(ch[i + 1], ch[i], kernel_size=2, stride=2) for i in range(config.depth)
        )
        self.up_blocks = nn.ModuleList(UNetConvBlock(config, 2 * ch[i], ch[i]) for i in range(config.depth))
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings

    def encode(self, channels: torch.Tensor, output_hidden_states: bool | None = None) -> BaseModelOutput:
        r"""The network on channels [B, L] (0..4, EXCLUDED; `NucleotideModel.forward` maps the token ids).
        output_hidden_states: accepted as None/False (generic callers pass it); the levels have different
        lengths, so a request raises."""
        if output_hidden_states:
            raise ValueError("the U-Net's levels have different lengths; output_hidden_states is not supported")
        length = channels.shape[1]

        # Compact: stable sort puts the kept positions first, in order (see the module docstring).
        order = torch.argsort((channels == EXCLUDED).to(torch.int8), dim=1, stable=True)
        # Pad the length to a multiple of 2^depth with excluded positions so every pooling is by exactly 2.
        unit = 2**self.config.depth
        channels_c = F.pad(channels.gather(1, order), (0, -(-length // unit) * unit - length), value=EXCLUDED)

        x = self.embeddings(channels_c, self.dtype).transpose(1, 2)  # [B, C, L]
        mask = (channels_c != EXCLUDED).unsqueeze(1).to(x.dtype)  # [B, 1, L]
        skips = []
        for block in self.down_blocks:
            x = block(x, mask)
            skips.append((x, mask))
            x, mask = _masked_max_pool(x, mask)
        x = self.bottleneck(x, mask)
        for i in reversed(range(self.config.depth)):
            skip, mask = skips[i]
            x = self.up_convs[i](x) * mask  # each coarse position feeds its two fine positions only
            x = self.up_blocks[i](torch.cat([skip, x], dim=1), mask)

        out = x[:, :, :length].transpose(1, 2)  # [B, L, C], compacted order
        # Scatter back: `order` is a permutation, so excluded positions receive the zero tail.
        hidden = torch.zeros_like(out).scatter(1, order.unsqueeze(-1).expand_as(out), out)
        return BaseModelOutput(last_hidden_state=hidden)


class UNetForMaskedLM(NucleotideForMaskedLM, UNetPreTrainedModel):
    """Per-position vocabulary logits [B, L, vocab_size] from `lm_head` = Linear(base_channels, 5) (A C G T N, the
    paper's final 1x1 convolution); forward, logits and loss are `NucleotideForMaskedLM`'s."""

    def __init__(self, config: UNetConfig):
        super().__init__(config)
        self.unet = UNetModel(config)
        self.lm_head = nn.Linear(config.base_channels, NUM_NUCLEOTIDE_CHANNELS)
        self.post_init()

    def nucleotide_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm_head(hidden)


class UNetForSequenceClassification(NucleotideForSequenceClassification, UNetPreTrainedModel):
    """Mean of the U-Net output over the kept positions -> dropout -> `classifier` Linear(base_channels,
    num_labels); forward and losses are `NucleotideForSequenceClassification`'s."""

    def __init__(self, config: UNetConfig):
        super().__init__(config)
        self.unet = UNetModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.base_channels, config.num_labels)
        self.post_init()

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(pooled))


# Both presets use BatchNorm. Measured on gue/mouse_0 and gue/tf_2 (2,000 training sequences, batch 16): with
# LayerNorm (or no normalization) the small U-Net's training loss stays at 0.693 (chance) at every learning rate
# from 1e-3 to 1e-2, and it predicts one class; with BatchNorm the training loss falls from 0.69 to 0.30 in 300
# steps. (The promoter tasks learn either way.) The config's default stays LayerNorm, so folders saved before
# load unchanged.
UNET_PRESETS = {
    # CPU preset: 93,472 backbone parameters, receptive field 184 bp.
    "small": dict(
        base_channels=16,
        depth=3,
        channel_multipliers=[1, 2, 2, 4],
        convs_per_level=2,
        kernel_size=5,
        normalization="batchnorm",
    ),
    # Paper scale: 1,412,928 backbone parameters, receptive field 752 bp; in the range of ConvNova's
    # configurations (378,050 .. 1,772,933; reference-architectures.md section 2.4).
    "paper": dict(
        base_channels=32,
        depth=4,
        channel_multipliers=[1, 2, 2, 4, 4],
        convs_per_level=2,
        kernel_size=9,
        normalization="batchnorm",
    ),
}
