"""DeepSEA as a native `transformers` 5.x model.

DeepSEA: Zhou & Troyanskaya, "Predicting effects of noncoding variants with deep learning-based sequence
model", Nature Methods 12:931-934 (2015), doi:10.1038/nmeth.3547; the architecture is in its Online Methods and
Supplementary Note. Written from that description; no code is copied.

Architecture (the "paper" preset; `DeepSEAConfig` holds every number):

- Input: 1,000 bp, one-hot over A C G T (4 channels), N = 0.25 in each; see `classic_cnn.py` for how shorter
  inputs, special tokens and padding are placed in the fixed window.
- Convolution 320 kernels of width 8 (step 1) -> ReLU -> max-pool 4 (step 4) -> dropout 0.2;
  convolution 480 x 8 -> ReLU -> max-pool 4 -> dropout 0.2;
  convolution 960 x 8 -> ReLU -> dropout 0.5 (no pooling).
- One fully connected layer of 925 units -> ReLU.
- Output: a linear layer to the 919 chromatin features, each through a sigmoid (here the `classifier`, with the
  sigmoid in the multi-label loss).

Where the paper leaves a choice open, and what this file does:

- Padding: unpadded ("valid") convolutions and pools that drop a remainder. With 1,000 bp: 1000 -8+1-> 993
  /4-> 248 -8+1-> 241 /4-> 60 -8+1-> 53 positions, so the fully connected layer reads 960 x 53 = 50,880
  values (the paper does not print the figure; it is the one the released code computes).
- Dropout after the fully connected layer: the paper gives 20% for layers 2 and 4 (the pools) and "50% for all
  other layers"; the released code applies 0.5 once, after the third convolution, and none after the fully
  connected layer. Here likewise (`hidden_dropout=0.0`; set it to 0.5 for the other reading).
- Width of the fully connected layer: the paper says 925 units, the released Torch7 code uses 919 (the number
  of outputs). The paper's 925 is the default; `hidden_size=919` gives the released code's network.
- Activation: ReLU. The released code uses Torch7's `Threshold(0, 1e-6)` (negative inputs become 1e-6, not 0),
  a numerical detail of no consequence for training.
- No batch normalization (the paper has none). Regularization the paper adds in training (L2 on the weights,
  L1 on the last hidden layer, a max-norm constraint) is the optimizer's business, not the architecture's;
  train.py's weight decay stands in for the L2 term.
- Initialization: Torch7's (= PyTorch's) default; the paper does not state one.

Shorter inputs (GUE is 70-300 bp): the published network at `sequence_length` positions, with a shorter
sequence in the middle of the window and all-zero flanks (`classic_cnn.centered_window`); longer ones are
refused. Receptive field of one final position: 8, +3, +28, +12, +112 = 163 bp.

Presets (`DEEPSEA_PRESETS`; parameter counts of `DeepSEAForSequenceClassification`):

- "paper": the published network, 919 outputs: 52,843,119 parameters (`tests/test_classic_cnns.py` derives the
  figure by hand from the layer list; 47,064,925 of them are the fully connected layer).
- "small" (the CPU grid): the same layers at a quarter of the kernels (80, 120, 240) and a 300 bp window (the
  longest task of the CPU grid): 300 -> 73 -> 16 -> 9 positions, 240 x 9 = 2,160 flattened values, a fully
  connected layer of 128. See `docs/classic_cnns.md` for its parameter count and speed.
"""

from __future__ import annotations

from typing import Any

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

from .classic_cnn import (
    NUM_INPUT_CHANNELS,
    ClassicCNNConfig,
    ClassicCNNForSequenceClassification,
    ClassicCNNPreTrainedModel,
    ConvBlock,
    DenseBlock,
    centered_window,
)
from .nucleotide import NucleotideModel

DEEPSEA_PRESETS: dict[str, dict[str, Any]] = {
    # Zhou & Troyanskaya 2015, Supplementary Note: 919 chromatin features, sigmoid outputs.
    "paper": dict(num_labels=919, problem_type="multi_label_classification"),
    # CPU preset: a quarter of the kernels and of the hidden width's order, the same layers, a 300 bp window.
    "small": dict(sequence_length=300, conv_channels=[80, 120, 240], hidden_size=128),
}


@strict
class DeepSEAConfig(ClassicCNNConfig):
    r"""Configuration of DeepSEA (Zhou & Troyanskaya, Nature Methods 2015); defaults are the published network.

    Args:
        sequence_length: the fixed input window in bp (1,000 in the paper); shorter sequences are centred in it.
        conv_channels: kernels of each convolution layer (320, 480, 960).
        conv_kernel_sizes: their widths (8, 8, 8).
        pool_sizes: max-pool width (= step) after each; 1 means no pooling (4, 4, 1).
        conv_dropouts: dropout after each convolution layer (0.2, 0.2, 0.5).
        hidden_size: units of the fully connected layer (925 in the paper; 919 in the released code).
        hidden_dropout: dropout after the fully connected layer (0.0, as the released code).

    The token-id fields and their checks are `NucleotideConfig`'s. The module docstring lists the points where
    the paper is ambiguous and the choices made.
    """

    model_type = "deepsea"

    sequence_length: int = 1000
    conv_channels: list[int] | None = None
    conv_kernel_sizes: list[int] | None = None
    pool_sizes: list[int] | None = None
    conv_dropouts: list[float] | None = None
    hidden_size: int = 925
    hidden_dropout: float | int = 0.0

    def __post_init__(self, **kwargs):
        # None -> the paper's lists; lists are copied so a tuple or a preset's list is not shared or mutated.
        for field, paper in (
            ("conv_channels", [320, 480, 960]),
            ("conv_kernel_sizes", [8, 8, 8]),
            ("pool_sizes", [4, 4, 1]),
            ("conv_dropouts", [0.2, 0.2, 0.5]),
        ):
            value = getattr(self, field)
            setattr(self, field, list(paper if value is None else value))
        super().__post_init__(**kwargs)

    def validate_deepsea(self):
        self.require_positive_ints("hidden_size")
        self.require_probabilities("hidden_dropout")
        drops = self.conv_dropouts
        if len(drops) != len(self.conv_channels) or not all(isinstance(p, (int, float)) and 0 <= p < 1 for p in drops):
            raise ValueError(
                f"DeepSEAConfig.conv_dropouts must give one probability in [0, 1) per conv layer "
                f"({len(self.conv_channels)}), got {drops!r}"
            )


class DeepSEAPreTrainedModel(ClassicCNNPreTrainedModel):
    config_class = DeepSEAConfig
    config: DeepSEAConfig
    base_model_prefix = "deepsea"
    _no_split_modules = []


class DeepSEAModel(NucleotideModel, DeepSEAPreTrainedModel):
    """The DeepSEA network up to its fully connected layer: `pooler_output [B, hidden_size]` (what the output
    layer reads) and `last_hidden_state [B, positions, conv_channels[-1]]`, the last convolution's output
    (channels last). `forward` is `NucleotideModel`'s (input checks, token ids -> channels), which calls
    `encode`."""

    def __init__(self, config: DeepSEAConfig):
        super().__init__(config)
        c_in = [NUM_INPUT_CHANNELS] + config.conv_channels[:-1]
        self.convs = nn.ModuleList(
            ConvBlock(i, o, k, p, batch_norm=False, dropout=d, eps=None)
            for i, o, k, p, d in zip(
                c_in, config.conv_channels, config.conv_kernel_sizes, config.pool_sizes, config.conv_dropouts
            )
        )
        self.hidden = DenseBlock(config.flattened_size, config.hidden_size, False, config.hidden_dropout, None)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.convs[0].conv  # the first learned representation of the one-hot input

    def encode(self, channels: torch.Tensor, output_hidden_states: bool | None = None) -> BaseModelOutputWithPooling:
        r"""The network on channels [B, L] (0..4, EXCLUDED). output_hidden_states (default: the config's): also
        return each convolution layer's output, [B, positions_i, channels_i] (channels last)."""
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        x = centered_window(channels, self.config.sequence_length, self.dtype, type(self).__name__)
        hidden_states = []
        for block in self.convs:
            x = block(x)
            hidden_states.append(x.transpose(1, 2))
        h = self.hidden(x.flatten(1))  # channel-major, as Torch7's nn.Reshape of a [C, L] map
        return BaseModelOutputWithPooling(
            last_hidden_state=hidden_states[-1],
            pooler_output=h,
            hidden_states=tuple(hidden_states) if output_hidden_states else None,
        )


class DeepSEAForSequenceClassification(ClassicCNNForSequenceClassification, DeepSEAPreTrainedModel):
    """DeepSEA with its output layer: `classifier` = Linear(hidden_size, num_labels); forward and losses are
    `ClassicCNNForSequenceClassification`'s (the paper's sigmoid outputs are
    `problem_type="multi_label_classification"`)."""

    def __init__(self, config: DeepSEAConfig):
        super().__init__(config)
        self.deepsea = DeepSEAModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()
