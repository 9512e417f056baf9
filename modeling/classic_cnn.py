"""What Basset (`basset.py`) and DeepSEA (`deepsea.py`) share: the fixed input window, the layer blocks, the head.

Both classic networks end in a fully connected layer over the *flattened* convolution output, so they are built
for one input length (`sequence_length`: 600 bp for Basset, 1,000 bp for DeepSEA) and cannot read another as is.
Here every sequence is placed in a window of exactly `sequence_length` positions:

- the sequence's nucleotides (the positions the shared nucleotide base keeps: A C G T N, [MASK] and [UNK]; not
  [CLS], [SEP], [PAD] or `attention_mask == 0`) are moved, in order, to the middle of the window
  (`(sequence_length - n) // 2` zero positions before them, the rest after);
- the window is one-hot over A C G T, 4 channels as in both papers; N reads as 0.25 in each channel (Basset's
  `dna_io` encoding of N, and Selene's for both models); every position outside the sequence is all zero.

So a sequence shorter than the window meets the published network exactly as a published input would if its
flanks were unknown zeros ("pad to the window"), wherever the tokenizer put its special tokens and padding, and
its output does not depend on how much the batch pads it. A sequence longer than the window is refused with an
error naming the fix (a larger `sequence_length`): cropping it would silently drop sequence.

Self-contained for remote code: imports only torch, transformers and the shared nucleotide base.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .common import sequence_classification_loss
from .nucleotide import EXCLUDED, NucleotideConfig, NucleotidePreTrainedModel, NucleotideTaskHead, nucleotide_one_hot

NUM_INPUT_CHANNELS = 4  # A C G T: the papers' one-hot input
N_VALUE = 0.25  # an unknown base reads as a uniform distribution over A C G T


def centered_window(channels: torch.Tensor, length: int, dtype: torch.dtype, model_name: str) -> torch.Tensor:
    """[B, 4, length] one-hot window (channels first, for Conv1d) from nucleotide channels [B, L] (0..4, EXCLUDED):
    each row's kept positions, in order, centred; N = 0.25 in every channel; zero elsewhere."""
    keep = channels != EXCLUDED
    counts = keep.sum(dim=1)
    if (counts == 0).any():
        row = int((counts == 0).nonzero()[0])
        raise ValueError(f"batch row {row} has no nucleotide positions: there is nothing to classify")
    if (counts > length).any():
        row = int((counts > length).nonzero()[0])
        raise ValueError(
            f"batch row {row} has {int(counts[row])} nucleotides, more than {model_name}'s fixed input window "
            f"sequence_length={length}; truncate the sequences (train.py --max_length) or build the model with a "
            f"larger sequence_length (train.py --model_config '{{\"sequence_length\": {int(counts.max())}}}')"
        )
    onehot = nucleotide_one_hot(channels, dtype)  # [B, L, 5], zero rows at excluded positions
    acgt = onehot[..., :NUM_INPUT_CHANNELS] + N_VALUE * onehot[..., NUM_INPUT_CHANNELS:]
    rows, cols = keep.nonzero(as_tuple=True)
    target = ((length - counts) // 2)[rows] + (keep.cumsum(dim=1) - 1)[rows, cols]  # start + rank in the row
    window = acgt.new_zeros(channels.shape[0], length, NUM_INPUT_CHANNELS)
    window[rows, target] = acgt[rows, cols]
    return window.transpose(1, 2)


class ClassicCNNConfig(NucleotideConfig):
    """Checks both configs share: a conv stack given as equal-length lists, and a window long enough for it."""

    def conv_output_lengths(self) -> list[int]:
        """Positions after each conv block: unpadded ("valid") convolution, then max-pool of width = stride p,
        the remainder dropped (Torch7's and PyTorch's default floor mode)."""
        lengths, n = [], self.sequence_length
        for k, p in zip(self.conv_kernel_sizes, self.pool_sizes):
            n = (n - k + 1) // p
            lengths.append(n)
        return lengths

    @property
    def min_sequence_length(self) -> int:
        """The shortest window that leaves one position after the last block; also the receptive field of that
        position (168 bp for Basset's kernels and pools, 163 for DeepSEA's)."""
        n = 1
        for k, p in zip(reversed(self.conv_kernel_sizes), reversed(self.pool_sizes)):
            n = n * p + k - 1
        return n

    @property
    def flattened_size(self) -> int:
        """Inputs of the first fully connected layer: channels x positions of the last conv block."""
        return self.conv_channels[-1] * self.conv_output_lengths()[-1]

    def validate_conv_stack(self):
        name = type(self).__name__
        self.require_positive_ints("sequence_length")
        lists = {f: getattr(self, f) for f in ("conv_channels", "conv_kernel_sizes", "pool_sizes")}
        for field, values in lists.items():
            if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
                raise ValueError(f"{name}.{field} must be a non-empty list of positive integers, got {values!r}")
        if len({len(v) for v in lists.values()}) != 1:
            raise ValueError(
                f"{name}: conv_channels, conv_kernel_sizes and pool_sizes need one entry per conv layer, "
                f"got {', '.join(f'{f}={v!r}' for f, v in lists.items())}"
            )
        if self.sequence_length < self.min_sequence_length:
            raise ValueError(
                f"{name}.sequence_length={self.sequence_length} is too short for the conv stack "
                f"(nothing is left to flatten): it needs at least {self.min_sequence_length}; raise "
                "sequence_length or shrink the kernels and pools"
            )


class ConvBlock(nn.Module):
    """Conv1d (no padding) -> [BatchNorm] -> ReLU -> [MaxPool1d(p, stride p)] -> [Dropout], on [B, C, L]."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, pool: int, batch_norm: bool, dropout: float, eps):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel_size)
        self.norm = nn.BatchNorm1d(c_out, eps=eps) if batch_norm else nn.Identity()
        self.act = nn.ReLU()
        self.pool = nn.MaxPool1d(pool) if pool > 1 else nn.Identity()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.pool(self.act(self.norm(self.conv(x)))))


class DenseBlock(nn.Module):
    """Linear -> [BatchNorm] -> ReLU -> Dropout, on [B, D]."""

    def __init__(self, d_in: int, d_out: int, batch_norm: bool, dropout: float, eps):
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)
        self.norm = nn.BatchNorm1d(d_out, eps=eps) if batch_norm else nn.Identity()
        self.act = nn.ReLU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and isinstance(self.norm, nn.BatchNorm1d) and x.shape[0] < 2:
            # torch's own message ("Expected more than 1 value per channel") does not say what to change
            raise ValueError(
                "batch norm over a fully connected layer needs at least 2 sequences per training batch; "
                "raise the batch size or drop the last incomplete batch (dataloader_drop_last)"
            )
        return self.dropout(self.act(self.norm(self.dense(x))))


class ClassicCNNPreTrainedModel(NucleotidePreTrainedModel):
    """Reads token ids like the other one-hot models (`nucleotide.py`); no masked-LM head, no checkpointing."""

    supports_gradient_checkpointing = False  # a few layers; nothing worth recomputing

    def _init_weights(self, module: nn.Module):
        """PyTorch's default initialization, which is also Torch7's, the framework of both papers' code: weights
        and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)); batch norm weight 1, bias 0, fresh running statistics."""
        if isinstance(module, (nn.Conv1d, nn.Linear)):
            bound = module.weight[0].numel() ** -0.5
            init.uniform_(module.weight, -bound, bound)
            init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.BatchNorm1d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)


class ClassicCNNForSequenceClassification(NucleotideTaskHead):
    """The papers' output layer: `classifier` = Linear(last hidden width, num_labels) on the backbone's
    `pooler_output` (the last fully connected layer). Both papers put a sigmoid on it (independent binary
    targets): that is `problem_type="multi_label_classification"` here, whose loss is the binary cross-entropy
    on the logits; single-label and regression targets use the library's other losses."""

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels

    def head_output(self, out, input_ids, attention_mask, labels) -> SequenceClassifierOutput:
        r"""labels: class ids [B] (single-label), multi-hot [B, num_labels] (multi-label) or values (regression)."""
        logits = self.classifier(out.pooler_output)
        loss = None if labels is None else sequence_classification_loss(self, logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
