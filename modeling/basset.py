"""Basset as a native `transformers` 5.x model.

Basset: Kelley, Snoek & Rinn, "Basset: learning the regulatory code of the accessible genome with deep
convolutional neural networks", Genome Research 26:990-999 (2016), doi:10.1101/gr.200535.115. Written from the
paper's description of its architecture and its published hyperparameters; no code is copied.

Architecture (the "paper" preset; `BassetConfig` holds every number):

- Input: 600 bp, one-hot over A C G T (4 channels), N = 0.25 in each; see `classic_cnn.py` for how shorter
  inputs, special tokens and padding are placed in the fixed window.
- Three convolution layers, each convolution -> batch normalization -> ReLU -> max-pool:
  300 filters of width 19, pool 3; 200 of width 11, pool 4; 200 of width 7, pool 4.
- Two fully connected layers of 1,000 units, each linear -> batch normalization -> ReLU -> dropout 0.3.
- Output: a linear layer to the 164 cell types (DNase-seq peaks), each through a sigmoid (independent binary
  targets; here the `classifier`, with the sigmoid in the multi-label loss).

Where the paper leaves a choice open, and what this file does:

- Order of batch norm, ReLU and pooling: the paper lists the three for each convolution layer without an
  order; here convolution -> batch norm -> ReLU -> max-pool, the order of the authors' Torch7 code as
  commonly ported (BN before the non-linearity, as in Ioffe & Szegedy 2015). Max-pool commutes with ReLU, so
  only the BN position matters.
- Batch normalization of the fully connected layers: the paper applies batch normalization to its layers;
  here both hidden layers are batch-normalized too (linear -> BN -> ReLU -> dropout), as the released model
  is. `hidden_batch_norm=False` removes it.
- Padding and pooling: unpadded ("valid") convolutions; pools of width p and stride p that drop a remainder
  (Torch7's default). With 600 bp: 600 -19+1-> 582 /3-> 194 -11+1-> 184 /4-> 46 -7+1-> 40 /4-> 10 positions,
  so the first fully connected layer reads 200 x 10 = 2,000 values (the figure every port of the released
  model uses).
- Dropout: 0.3 after each fully connected layer; none in the convolution layers (the published
  hyperparameters list dropout for the hidden layers only).
- Initialization: Torch7's (= PyTorch's) default; the paper does not state one.

Shorter inputs (GUE is 70-300 bp): the network is the published one at `sequence_length` positions, and a
shorter sequence sits in the middle of that window with all-zero flanks (`classic_cnn.centered_window`), so
the published preset runs unchanged on any sequence up to 600 bp; longer ones are refused with an error naming
`sequence_length`. Receptive field of one final position: 168 bp (19, then +2, +30, +9, +72, +36 through the
pools and convolutions).

Presets (`BASSET_PRESETS`; parameter counts of `BassetForSequenceClassification`):

- "paper": the published network, 164 outputs: 4,135,064 parameters (`tests/test_classic_cnns.py` derives the
  figure by hand from the layer list).
- "small" (the CPU grid): the same layer types, kernels and pools at a quarter of the widths (75, 50, 50
  filters; two hidden layers of 250) and a 300 bp window (the longest task of the CPU grid): 3 x 50 = 150
  flattened values. See `docs/classic_cnns.md` for its parameter count and speed.
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

BASSET_PRESETS: dict[str, dict[str, Any]] = {
    # Kelley et al. 2016, Methods and the released model's hyperparameters: 164 cell types, sigmoid outputs.
    "paper": dict(num_labels=164, problem_type="multi_label_classification"),
    # CPU preset: a quarter of the widths, the same kernels and pools, a 300 bp window.
    "small": dict(sequence_length=300, conv_channels=[75, 50, 50], hidden_sizes=[250, 250]),
}


@strict
class BassetConfig(ClassicCNNConfig):
    r"""Configuration of Basset (Kelley, Snoek & Rinn, Genome Research 2016); defaults are the published network.

    Args:
        sequence_length: the fixed input window in bp (600 in the paper); shorter sequences are centred in it.
        conv_channels: filters of each convolution layer (300, 200, 200).
        conv_kernel_sizes: their widths (19, 11, 7).
        pool_sizes: max-pool width (= stride) after each (3, 4, 4).
        hidden_sizes: units of the fully connected layers (1000, 1000).
        hidden_dropout: dropout after each fully connected layer (0.3).
        hidden_batch_norm: batch-normalize the fully connected layers too (as the released model does).
        batch_norm_eps: epsilon of every batch norm (1e-5, Torch7's and PyTorch's default).

    The token-id fields and their checks are `NucleotideConfig`'s. The module docstring lists the points where
    the paper is ambiguous and the choices made.
    """

    model_type = "basset"

    sequence_length: int = 600
    conv_channels: list[int] | None = None
    conv_kernel_sizes: list[int] | None = None
    pool_sizes: list[int] | None = None
    hidden_sizes: list[int] | None = None
    hidden_dropout: float | int = 0.3
    hidden_batch_norm: bool = True
    batch_norm_eps: float = 1e-5

    def __post_init__(self, **kwargs):
        # None -> the paper's lists; lists are copied so a tuple or a preset's list is not shared or mutated.
        for field, paper in (
            ("conv_channels", [300, 200, 200]),
            ("conv_kernel_sizes", [19, 11, 7]),
            ("pool_sizes", [3, 4, 4]),
            ("hidden_sizes", [1000, 1000]),
        ):
            value = getattr(self, field)
            setattr(self, field, list(paper if value is None else value))
        super().__post_init__(**kwargs)

    def validate_basset(self):
        sizes = self.hidden_sizes
        if not sizes or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in sizes):
            raise ValueError(f"BassetConfig.hidden_sizes must be a non-empty list of positive integers, got {sizes!r}")
        self.require_probabilities("hidden_dropout")

    @property
    def hidden_size(self) -> int:
        """Width of `pooler_output`, the last fully connected layer, which the classifier reads."""
        return self.hidden_sizes[-1]


class BassetPreTrainedModel(ClassicCNNPreTrainedModel):
    config_class = BassetConfig
    config: BassetConfig
    base_model_prefix = "basset"
    _no_split_modules = []


class BassetModel(NucleotideModel, BassetPreTrainedModel):
    """The Basset network up to its last hidden layer: `pooler_output [B, hidden_sizes[-1]]` (what the output
    layer reads) and `last_hidden_state [B, positions, conv_channels[-1]]`, the last convolution block's output
    (channels last, at its pooled resolution). `forward` is `NucleotideModel`'s (input checks, token ids ->
    channels), which calls `encode`."""

    def __init__(self, config: BassetConfig):
        super().__init__(config)
        c_in = [NUM_INPUT_CHANNELS] + config.conv_channels[:-1]
        self.convs = nn.ModuleList(
            ConvBlock(i, o, k, p, batch_norm=True, dropout=0.0, eps=config.batch_norm_eps)
            for i, o, k, p in zip(c_in, config.conv_channels, config.conv_kernel_sizes, config.pool_sizes)
        )
        d_in = [config.flattened_size] + config.hidden_sizes[:-1]
        self.hidden = nn.ModuleList(
            DenseBlock(i, o, config.hidden_batch_norm, config.hidden_dropout, config.batch_norm_eps)
            for i, o in zip(d_in, config.hidden_sizes)
        )
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.convs[0].conv  # the first learned representation of the one-hot input

    def encode(self, channels: torch.Tensor, output_hidden_states: bool | None = None) -> BaseModelOutputWithPooling:
        r"""The network on channels [B, L] (0..4, EXCLUDED). output_hidden_states (default: the config's): also
        return each convolution block's output, [B, positions_i, channels_i] (channels last)."""
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        x = centered_window(channels, self.config.sequence_length, self.dtype, type(self).__name__)
        hidden_states = []
        for block in self.convs:
            x = block(x)
            hidden_states.append(x.transpose(1, 2))
        h = x.flatten(1)  # channel-major, as Torch7's nn.Reshape of a [C, L] map
        for layer in self.hidden:
            h = layer(h)
        return BaseModelOutputWithPooling(
            last_hidden_state=hidden_states[-1],
            pooler_output=h,
            hidden_states=tuple(hidden_states) if output_hidden_states else None,
        )


class BassetForSequenceClassification(ClassicCNNForSequenceClassification, BassetPreTrainedModel):
    """Basset with its output layer: `classifier` = Linear(hidden_sizes[-1], num_labels); forward and losses are
    `ClassicCNNForSequenceClassification`'s (the paper's sigmoid outputs are
    `problem_type="multi_label_classification"`)."""

    def __init__(self, config: BassetConfig):
        super().__init__(config)
        self.basset = BassetModel(config)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()
