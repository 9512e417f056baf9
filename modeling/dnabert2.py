"""DNABERT-2 as a native `transformers` model.

DNABERT-2 (Zhou et al. 2023, arXiv 2306.15006) is a MosaicBERT-style encoder: no position embeddings,
symmetric ALiBi attention biases, a fused query/key/value projection, post-LayerNorm blocks and a GEGLU
feed-forward. The published checkpoint (`zhihan1996/DNABERT-2-117M`) ships as `trust_remote_code` code
(`bert_layers.py`) that needs `transformers==4.29`, `einops` and, on GPU, an old Triton. This file computes
the same function (checked against golden outputs of that code, see `tests/test_dnabert2.py`) with plain
PyTorch and `scaled_dot_product_attention` (no Triton, no flash-attn, no einops), so it runs on CPU and
CUDA, in fp32 and bf16, with gradient checkpointing, on `transformers` 5.x (tested on 5.24).

Module and parameter names equal the reference's (`bert.encoder.layer.N.attention.self.Wqkv`,
`mlp.gated_layers`, `cls.predictions.decoder`, ...), so the published weights load with no conversion:

    >>> model = DNABert2ForSequenceClassification.from_pretrained("path/to/DNABERT-2-117M", num_labels=2)

`path/to/DNABERT-2-117M` is the published repository as downloaded (its `config.json` has no `model_type`
and an `auto_map` to the remote code; both are handled: the `auto_map` is dropped). The published
checkpoint has no pooler, so the classifier reports exactly `bert.pooler.dense.*` and `classifier.*` as
newly initialised, as with the reference. `python -m modeling.convert_dnabert2 SRC DST` writes such a folder
once in the native layout, which the Auto classes and pipelines read.

Where this port deliberately differs from the reference (each is a fix of a reported problem, none
changes the outputs at real tokens):
- Padded batches are computed padded (no unpadding): same values at real tokens; padded positions of
  the hidden states are set to zero, as the reference does.
- Masked keys get the dtype's most negative value instead of -10000, so very long sequences (where
  ALiBi itself reaches -10000) stay correctly masked.
- `output_hidden_states` returns every layer, padded like `last_hidden_state` (the reference crashes,
  MAGICS-LAB/DNABERT_2#48); `output_attentions` returns attention weights by running the eager path for
  that call (the reference silently ignores it, #80/#82).
- MLM labels follow the `transformers` convention: -100 is ignored and every other id is a target. The
  reference scores only `labels > 0`, i.e. it never scores id 0 (`[UNK]`, which is what `N` becomes);
  the two agree whenever no label is 0.
- The ALiBi bias is built lazily and grows with the input, without warnings or config changes.

Speed: the sequence classifier runs its last layer for [CLS] only (the one position it reads) and the
masked-LM model, given labels, only at the labelled positions (as the reference does), through the
backbone's `last_layer_positions` argument; with SDPA attention a CPU fp32 training step is faster than
the reference's PyTorch path. `benchmarks/dnabert2_speed.py` times both on the same weights, and
`--baseline full` times the shortcuts against our model without them.

Outputs follow the `transformers` 5 conventions: the backbone records hidden states and attentions with
`capture_outputs` (hooks on the layers, no bookkeeping in the code), the heads pass their keyword arguments
through to it and return tuples through `can_return_tuple`, and the losses are the library's
`loss_function` (the classifier's through `common.sequence_classification_loss`). Besides `common.py`
(torch only) the file imports nothing from this project, so `register_for_auto_class` can ship both as
remote code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPooling, MaskedLMOutput, SequenceClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs
from transformers.utils.generic import can_return_tuple
from transformers.utils.output_capturing import capture_outputs

from .common import SavesFamilyAutoMap, sequence_classification_loss

__all__ = [
    "DNABert2Config",
    "DNABert2PreTrainedModel",
    "DNABert2Model",
    "DNABert2ForMaskedLM",
    "DNABert2ForSequenceClassification",
    "alibi_slopes",
]


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------


def _maps_to_this_file(auto_map: dict) -> bool:
    """Whether every class of an `auto_map` ("module.Class" or "repo--module.Class") is in this file. The
    name holds also when `transformers` loads this file as remote code (`transformers_modules.<...>.dnabert2`)."""
    this_module = __name__.rsplit(".", 1)[-1]
    references = [r for value in auto_map.values() for r in (value if isinstance(value, (list, tuple)) else [value])]
    return all(r is None or r.split("--")[-1].rsplit(".", 1)[0] == this_module for r in references)


# Largest [batch, heads, seq, seq] fp32 attention tensor a forward pass may allocate (see _check_inputs).
MAX_ATTENTION_BYTES = 64 * 2**30


@strict
class DNABert2Config(PreTrainedConfig):
    r"""Configuration of a DNABERT-2 model; the defaults are the published DNABERT-2-117M sizes.

    Args:
        vocab_size: token vocabulary size (4096 for the published BPE tokenizer).
        hidden_size, num_hidden_layers, num_attention_heads, intermediate_size: transformer sizes.
            `intermediate_size` is the width of each GEGLU half (`gated_layers` maps to 2x this).
        hidden_act: activation of the MLM head's transform (the GEGLU always uses exact GELU, as the
            reference does).
        hidden_dropout_prob: dropout after embeddings, attention output and MLP (0.1 published).
        attention_probs_dropout_prob: dropout on attention weights (0.0 published).
        max_position_embeddings: kept for compatibility with the published config; DNABERT-2 has no
            position embeddings (ALiBi), so it limits nothing.
        type_vocab_size: token-type embeddings (2; the tokenizer only ever uses type 0).
        initializer_range: std of the normal init of Linear and Embedding weights (BERT-style).
        layer_norm_eps: LayerNorm epsilon of the embeddings and encoder layers.
        alibi_starting_size: length the ALiBi bias is first built for; longer inputs grow it on demand.
        classifier_dropout: dropout before the classifier; `None` means `hidden_dropout_prob`.
        pad_token_id: id of the padding token, used as the word embedding's `padding_idx` (the row that
            starts at zero and receives no gradient). Defaults to **3**, the `[PAD]` id of the published
            tokenizer. The published `config.json` has no `pad_token_id`; the reference therefore used
            `None` (or 0 through `transformers.BertConfig`, which is `[UNK]`, the token every `N` becomes,
            so its embedding would stay frozen in training). The value never changes forward outputs,
            because padded positions are masked out of attention. Pass the tokenizer's pad id when
            training with another tokenizer.
        sparse_prediction: when the masked-LM model gets labels, run its last layer and head only at the
            labelled positions (as the reference does; several times cheaper for small models, whose
            4096-way head dominates) and return zero logits elsewhere. False: full logits always.

    A published `config.json` loads through `DNABert2Config.from_pretrained(dir)`: its remote-code
    `auto_map` and the keys the model never read (`position_embedding_type`, `gradient_checkpointing`,
    `use_cache`) are dropped, so a re-saved config points at this class only. An `auto_map` to this file
    itself (a folder saved after `register_for_auto_class`, which ships this file as remote code) is kept.
    """

    model_type = "dnabert2"

    vocab_size: int = 4096
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float | int = 0.1
    attention_probs_dropout_prob: float | int = 0.0
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    alibi_starting_size: int = 512
    classifier_dropout: float | int | None = None
    pad_token_id: int | None = 3
    tie_word_embeddings: bool = True
    sparse_prediction: bool = True

    # Keys of the published config.json that the model never reads.
    _IGNORED_PUBLISHED_KEYS = ("position_embedding_type", "gradient_checkpointing", "use_cache")

    def __post_init__(self, **kwargs):
        for key in self._IGNORED_PUBLISHED_KEYS:
            kwargs.pop(key, None)
        # The published `auto_map` would send the Auto classes back to the reference's remote code if a
        # re-saved config kept it; one that names this file is how the Auto classes find our remote code.
        if "auto_map" in kwargs and not _maps_to_this_file(kwargs["auto_map"]):
            del kwargs["auto_map"]
        super().__post_init__(**kwargs)

    def validate_architecture(self):
        """Checked by `@strict` on construction: sizes that would fail deep inside the model fail here."""
        super().validate_architecture()
        for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"DNABert2Config.{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.alibi_starting_size < 1:
            raise ValueError(f"alibi_starting_size must be >= 1, got {self.alibi_starting_size}")
        if self.pad_token_id is not None and not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(
                f"pad_token_id {self.pad_token_id} is outside the vocabulary (size {self.vocab_size}); pass the "
                "tokenizer's pad id and vocabulary size together"
            )


# --------------------------------------------------------------------------------------------------
# ALiBi
# --------------------------------------------------------------------------------------------------


def alibi_slopes(num_heads: int) -> list[float]:
    """Per-head ALiBi slopes (Press et al. 2022, "Train Short, Test Long", arXiv 2108.12409, section 3).

    For n a power of two the slopes are the geometric sequence 2^(-8/n), 2^(-16/n), ..., 2^(-8). For
    other n, the reference (ofirpress/attention_with_linear_biases, used by MosaicBERT and so by
    DNABERT-2) takes the slopes of the closest smaller power of two, p, and fills the remaining n - p
    heads with every other slope of 2p heads. For 12 heads: 2^-1 ... 2^-8, then 2^-0.5, 2^-1.5, 2^-2.5,
    2^-3.5.
    """
    if num_heads < 1:
        raise ValueError(f"num_heads must be >= 1, got {num_heads}")

    def power_of_two(n: int) -> list[float]:
        return [2.0 ** (-8.0 * (i + 1) / n) for i in range(n)]

    closest = 2 ** math.floor(math.log2(num_heads))
    if closest == num_heads:
        return power_of_two(num_heads)
    return power_of_two(closest) + power_of_two(2 * closest)[0::2][: num_heads - closest]


class DNABert2AlibiBias(nn.Module):
    """Symmetric ALiBi bias `bias[h, i, j] = -slope_h * |i - j|` (no causal part: an encoder).

    Built lazily on the device of the input and grown when a longer input arrives, so the module holds
    no tensor at construction (meta-device and `from_pretrained` loading stay cheap) and the bias is not
    part of the state dict (the reference keeps it out as well). The cache is a plain attribute, not a
    buffer: it is derived data, rebuilt on any device.
    """

    def __init__(self, config: DNABert2Config):
        super().__init__()
        self.slopes = alibi_slopes(config.num_attention_heads)
        self.starting_size = config.alibi_starting_size
        self._cache: torch.Tensor | None = None

    def forward(self, seq_len: int, device: torch.device) -> torch.Tensor:
        """Return the fp32 bias for `seq_len` tokens, shape [1, heads, seq_len, seq_len]."""
        cache = self._cache
        if cache is None or cache.device != device or cache.shape[-1] < seq_len:
            size = max(seq_len, self.starting_size, 0 if cache is None else cache.shape[-1])
            pos = torch.arange(size, device=device)
            distance = (pos[None, :] - pos[:, None]).abs().to(torch.float32)
            slopes = torch.tensor(self.slopes, dtype=torch.float32, device=device)
            cache = (-slopes[:, None, None] * distance).unsqueeze(0)
            self._cache = cache
        return cache[:, :, :seq_len, :seq_len]


# --------------------------------------------------------------------------------------------------
# Modules (names follow the reference so that its state dict loads unchanged)
# --------------------------------------------------------------------------------------------------


class DNABert2Embeddings(nn.Module):
    """Word + token-type embeddings, LayerNorm, dropout. No position embeddings: ALiBi carries position."""

    def __init__(self, config: DNABert2Config):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, inputs_embeds=None) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if token_type_ids is None:
            # Type 0 everywhere: adding the row directly equals an embedding lookup of zeros, without one.
            embeddings = inputs_embeds + self.token_type_embeddings.weight[0]
        else:
            embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(embeddings))


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention written out; used for `attn_implementation="eager"` and whenever weights are requested.

    query/key/value: [batch, heads, seq, head_dim]; attention_mask: additive float bias broadcastable to
    [batch, heads, seq, seq]. Returns the output as [batch, seq, heads, head_dim] (the layout of the
    `transformers` attention functions) and the attention weights.
    """
    scores = torch.matmul(query, key.transpose(-1, -2)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


class DNABert2SelfAttention(nn.Module):
    """Multi-head self-attention from one fused projection `Wqkv` (rows: all of Q, then K, then V)."""

    def __init__(self, config: DNABert2Config):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.dropout_p = config.attention_probs_dropout_prob
        # The shared SDPA interface reads `is_causal` from the module and defaults to causal without it.
        self.is_causal = False
        self.Wqkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)

    def forward(self, hidden_states, attention_bias, query_columns=None, **kwargs: Unpack[TransformersKwargs]):
        """`query_columns` (1-D index tensor): compute the output of these positions only ([batch, n, hidden]);
        their queries still attend to the keys and values of all positions."""
        batch, seq_len, _ = hidden_states.shape
        qkv = self.Wqkv(hidden_states).view(batch, seq_len, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [batch, heads, seq, head_dim]
        if query_columns is not None:
            query = query.index_select(2, query_columns)
            attention_bias = attention_bias.index_select(2, query_columns)
        # Only the eager path returns weights, so a request for them runs this call eagerly (SDPA would warn and
        # return none).
        implementation = "eager" if kwargs.get("output_attentions") else self.config._attn_implementation
        attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention_forward)
        output, weights = attention_interface(
            self,
            query,
            key,
            value,
            attention_bias,
            dropout=self.dropout_p if self.training else 0.0,
            scaling=self.scaling,
            is_causal=False,
            **kwargs,
        )
        return output.reshape(batch, query.shape[2], -1), weights


class DNABert2SelfOutput(nn.Module):
    """Output projection, dropout, residual, post-LayerNorm."""

    def __init__(self, config: DNABert2Config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class DNABert2Attention(nn.Module):
    def __init__(self, config: DNABert2Config):
        super().__init__()
        self.self = DNABert2SelfAttention(config)
        self.output = DNABert2SelfOutput(config)

    def forward(self, hidden_states, attention_bias, positions=None, **kwargs: Unpack[TransformersKwargs]):
        """`positions` (bool [batch, seq]): return only these positions' outputs, as [n_selected, hidden]."""
        if positions is None:
            attention, _ = self.self(hidden_states, attention_bias, **kwargs)
            return self.output(attention, hidden_states)
        # Queries only for the columns where some row needs an output (one column for a classifier's
        # [CLS]); then keep the selected (row, column) pairs, in row-major order like `tensor[positions]`.
        columns = positions.any(0).nonzero().squeeze(1)
        attention, _ = self.self(hidden_states, attention_bias, columns, **kwargs)
        residual = hidden_states.index_select(1, columns)
        selected = positions.index_select(1, columns)
        return self.output(attention[selected], residual[selected])


class DNABert2GatedMLP(nn.Module):
    """GEGLU feed-forward: `LN(wo(GELU(x W_gate) * (x W_up)) + x)`.

    `gated_layers` holds both halves in one matrix: rows [0, intermediate) are the gate (GELU applied),
    rows [intermediate, 2 * intermediate) the linear half, as in the reference.
    """

    def __init__(self, config: DNABert2Config):
        super().__init__()
        self.intermediate_size = config.intermediate_size
        self.gated_layers = nn.Linear(config.hidden_size, 2 * config.intermediate_size, bias=False)
        # Exact (erf) GELU regardless of `hidden_act`: the reference hard-codes nn.GELU(approximate="none").
        self.act = nn.GELU(approximate="none")
        self.wo = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        gate, up = self.gated_layers(hidden_states).split(self.intermediate_size, dim=-1)
        return self.layernorm(self.wo(self.dropout(self.act(gate) * up)) + hidden_states)


class DNABert2Layer(GradientCheckpointingLayer):
    def __init__(self, config: DNABert2Config):
        super().__init__()
        self.attention = DNABert2Attention(config)
        self.mlp = DNABert2GatedMLP(config)

    def forward(self, hidden_states, attention_bias, keep=None, positions=None, **kwargs: Unpack[TransformersKwargs]):
        """[batch, seq, hidden] -> [batch, seq, hidden].

        `keep` ([batch, seq, 1], 1 at real tokens) zeroes the padded positions of the output: they carry no
        meaning, and the recorded hidden states are then the same whatever the padding was (the reference
        drops padded positions altogether). With `positions` (bool [batch, seq]) the layer runs for those
        positions only; the rest of the output is zero.
        """
        output = self.mlp(self.attention(hidden_states, attention_bias, positions, **kwargs))
        if positions is not None:
            selected, output = output, torch.zeros_like(hidden_states)
            output[positions] = selected  # in place: an out-of-place index_put would copy the zeros once more
        return output if keep is None else output * keep


class DNABert2Encoder(nn.Module):
    def __init__(self, config: DNABert2Config):
        super().__init__()
        self.layer = nn.ModuleList([DNABert2Layer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states, attention_bias, keep=None, last_layer_positions=None, **kwargs):
        """Run the layers; with `last_layer_positions` (bool [batch, seq]) the last layer runs there only.

        A head that reads a few positions (the classifier's [CLS], the masked-LM targets) needs the last
        layer nowhere else. Keys and values still come from all tokens, so those outputs are unchanged,
        and the last layer costs a fraction of a full one (the reference does the same for masked-LM
        targets).
        """
        last = len(self.layer) - 1
        for i, layer in enumerate(self.layer):
            # Tensors go positionally: reentrant gradient checkpointing only tracks positional args.
            positions = last_layer_positions if i == last else None
            hidden_states = layer(hidden_states, attention_bias, keep, positions, **kwargs)
        return hidden_states


class DNABert2Pooler(nn.Module):
    """tanh(dense(hidden state of the first token, [CLS]))."""

    def __init__(self, config: DNABert2Config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


class DNABert2PredictionHeadTransform(nn.Module):
    def __init__(self, config: DNABert2Config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACT2FN[config.hidden_act]
        # eps 1e-12 regardless of config.layer_norm_eps: the reference hard-codes it here.
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=1e-12)

    def forward(self, hidden_states):
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class DNABert2LMPredictionHead(nn.Module):
    def __init__(self, config: DNABert2Config):
        super().__init__()
        self.transform = DNABert2PredictionHeadTransform(config)
        # Weight tied to the word embeddings (see `_tied_weights_keys`); the bias is the decoder's own
        # (`cls.predictions.decoder.bias`, not HF BERT's `cls.predictions.bias`).
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)

    def forward(self, hidden_states):
        return self.decoder(self.transform(hidden_states))


class DNABert2OnlyMLMHead(nn.Module):
    def __init__(self, config: DNABert2Config):
        super().__init__()
        self.predictions = DNABert2LMPredictionHead(config)

    def forward(self, sequence_output):
        return self.predictions(sequence_output)


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------


def _unpack_inputs(input_ids, attention_mask, token_type_ids):
    """Accept `model(tokenizer_output)` as well as `model(**tokenizer_output)`.

    The reference fails on a positional `BatchEncoding` with an unrelated error (MAGICS-LAB/DNABERT_2#8).
    Here the mapping is unpacked when it holds only model inputs; anything else fails with the fix.
    """
    if not isinstance(input_ids, Mapping):
        return input_ids, attention_mask, token_type_ids
    batch = dict(input_ids)
    extra = sorted(set(batch) - {"input_ids", "attention_mask", "token_type_ids"})
    if extra:
        raise TypeError(
            f"the first argument is a mapping with keys {sorted(batch)}; only input_ids, attention_mask and "
            f"token_type_ids can be passed this way (got also {extra}). Call the model with keyword arguments "
            "instead, e.g. model(input_ids=batch['input_ids'], attention_mask=batch['attention_mask'])"
        )
    if "input_ids" not in batch:
        raise TypeError("the first argument is a mapping without 'input_ids'; pass the tokenizer output")
    for name, explicit in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
        if explicit is not None and name in batch:
            raise TypeError(f"{name} given both inside the first argument and as a keyword argument")
    return (
        batch["input_ids"],
        attention_mask if attention_mask is not None else batch.get("attention_mask"),
        token_type_ids if token_type_ids is not None else batch.get("token_type_ids"),
    )


def _batch_input(input_ids, inputs_embeds) -> torch.Tensor | None:
    """The input that gives the batch shape and device (input_ids, else inputs_embeds); None when it is not a
    [batch, seq_len, ...] tensor, which the backbone then reports."""
    reference = input_ids if input_ids is not None else inputs_embeds
    return reference if isinstance(reference, torch.Tensor) and reference.dim() >= 2 else None


class DNABert2PreTrainedModel(SavesFamilyAutoMap, PreTrainedModel):
    config_class = DNABert2Config
    config: DNABert2Config
    base_model_prefix = "bert"
    supports_gradient_checkpointing = True
    _no_split_modules = ["DNABert2Layer"]
    # ALiBi is an additive float bias: SDPA and eager take it; the flash/flex kernels do not.
    _supports_sdpa = True
    _supports_flash_attn = False
    _supports_flex_attn = False
    # What `capture_outputs` records when asked: each layer's output (the embedding output first) and the
    # attention weights, second output of the self-attention.
    _can_record_outputs = {"hidden_states": DNABert2Layer, "attentions": DNABert2SelfAttention}
    # forward takes **kwargs for the output flags; without this the Trainer would read that as "handles
    # num_items_in_batch" and stop scaling the loss for gradient accumulation. The losses are batch means.
    accepts_loss_kwargs = False

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`, refusing to unpickle arbitrary objects.

        The published weights are a pickle (`pytorch_model.bin`); `transformers` reads pickles with
        `torch.load(weights_only=True)` by default, which this method keeps from being switched off.
        """
        if kwargs.get("weights_only", True) is not True:
            raise ValueError(
                "DNABERT-2 checkpoints load only with weights_only=True (a pickle can run arbitrary code); "
                "convert the checkpoint to safetensors if it holds more than tensors"
            )
        return super().from_pretrained(*args, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module):
        """BERT-style init: Linear and Embedding weights ~ N(0, initializer_range), biases 0, LayerNorm 1/0."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
            # A row slice loses the "already loaded" flag that `init.*` respects, so check it here:
            # otherwise loading a checkpoint would zero its pad row.
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)


class DNABert2Model(DNABert2PreTrainedModel):
    """The DNABERT-2 encoder (`BertModel` of the reference), with the [CLS] pooler unless disabled."""

    # An MLM checkpoint (the published one) carries the MLM head; a backbone drops it without a warning.
    _keys_to_ignore_on_load_unexpected = [r"^cls\.predictions\."]

    def __init__(self, config: DNABert2Config, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = DNABert2Embeddings(config)
        self.alibi = DNABert2AlibiBias(config)
        self.encoder = DNABert2Encoder(config)
        self.pooler = DNABert2Pooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    def _check_inputs(self, input_ids, attention_mask, inputs_embeds):
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if input_ids is not None:
            if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
                raise ValueError(
                    "input_ids must be a [batch, seq_len] tensor of token ids (tokenize with return_tensors='pt'), "
                    f"got {type(input_ids).__name__} {getattr(input_ids, 'shape', '')}"
                )
            if input_ids.dtype not in (torch.long, torch.int32, torch.int16, torch.int8, torch.uint8):
                raise ValueError(f"input_ids must be an integer tensor, got {input_ids.dtype}")
            shape = tuple(input_ids.shape)
            # Out-of-range ids otherwise surface as an opaque "index out of range" (CPU) or a device assert
            # (CUDA); the usual cause is a tokenizer whose vocabulary does not match the model's.
            if input_ids.numel() and not torch.compiler.is_compiling():
                low, high = int(input_ids.min()), int(input_ids.max())
                if low < 0 or high >= self.config.vocab_size:
                    raise ValueError(
                        f"input_ids hold ids in [{low}, {high}] but the model's vocabulary has "
                        f"{self.config.vocab_size} tokens; the tokenizer does not match the model "
                        "(set vocab_size from the tokenizer when building the config)"
                    )
        else:
            if inputs_embeds.dim() != 3 or inputs_embeds.shape[-1] != self.config.hidden_size:
                raise ValueError(
                    f"inputs_embeds must be [batch, seq_len, {self.config.hidden_size}], "
                    f"got {tuple(inputs_embeds.shape)}"
                )
            shape = tuple(inputs_embeds.shape[:2])
        if shape[1] == 0:
            raise ValueError("empty input: every sequence needs at least one token")
        # The ALiBi bias and the attention scores are [batch, heads, seq, seq]: memory grows with the square of
        # the length (1 Mbp of single-nucleotide tokens would ask for 360 GB). Refuse before allocating.
        bias_bytes = shape[0] * self.config.num_attention_heads * shape[1] ** 2 * 4
        if bias_bytes > MAX_ATTENTION_BYTES:
            raise ValueError(
                f"input of {shape[1]:,} tokens (batch {shape[0]}) needs {bias_bytes / 2**30:,.0f} GiB for each "
                f"[batch, heads, seq, seq] attention tensor, over the {MAX_ATTENTION_BYTES / 2**30:.0f} GiB this model "
                "allows; cut long sequences into windows (e.g. a few thousand tokens) or use a smaller batch"
            )
        if attention_mask is not None and tuple(attention_mask.shape) != shape:
            raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)} but the input is {shape}")

    def _attention_bias(self, attention_mask, seq_len, dtype, device):
        """ALiBi plus padding as one additive bias, [batch or 1, heads, seq, seq], shared by all layers."""
        alibi = self.alibi(seq_len, device)
        if attention_mask is None:
            return alibi.to(dtype)
        keep = attention_mask.to(device=device, dtype=torch.bool)[:, None, None, :]
        # The dtype's own minimum, filled in that dtype: an fp32 minimum cast to bf16/fp16 would be -inf.
        return torch.where(keep, alibi.to(dtype), torch.finfo(dtype).min)

    @capture_outputs
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        last_layer_positions: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutputWithPooling:
        r"""Encode a batch.

        Args:
            input_ids: [batch, seq_len] token ids, or the tokenizer's output mapping itself.
            attention_mask: [batch, seq_len], 1 for real tokens and 0 for padding; all ones if omitted.
            token_type_ids: [batch, seq_len]; all zeros if omitted (as the tokenizer produces).
            inputs_embeds: [batch, seq_len, hidden] instead of input_ids.
            last_layer_positions: bool [batch, seq_len], the positions of `last_hidden_state` the caller
                reads. The last layer then runs there only and `last_hidden_state` is zero elsewhere (the
                heads use it: the classifier reads [CLS], the masked-LM model its labelled positions).
                `pooler_output` is right when it includes each row's first position. Ignored when hidden
                states or attentions are returned, which stay complete.
            output_attentions: also return each layer's attention weights [batch, heads, seq, seq]
                (computed on the eager path for this call).
            output_hidden_states: also return the embedding output and every layer's output.
            return_dict: False for a tuple.

        Returns `BaseModelOutputWithPooling`: `last_hidden_state` [batch, seq_len, hidden] (zero at padded
        positions), `pooler_output` [batch, hidden] (None without a pooler), `hidden_states`, `attentions`.
        """
        input_ids, attention_mask, token_type_ids = _unpack_inputs(input_ids, attention_mask, token_type_ids)
        self._check_inputs(input_ids, attention_mask, inputs_embeds)
        hidden_states = self.embeddings(input_ids, token_type_ids, inputs_embeds)
        batch, seq_len = hidden_states.shape[:2]
        attention_bias = self._attention_bias(attention_mask, seq_len, hidden_states.dtype, hidden_states.device)
        keep = None
        if attention_mask is not None:
            # Padded positions carry no meaning; zero them from the embeddings on, as the reference does, so no
            # output (hidden states included) depends on what the padding was.
            keep = attention_mask.to(device=hidden_states.device, dtype=hidden_states.dtype).unsqueeze(-1)
            hidden_states = hidden_states * keep
        if last_layer_positions is not None:
            if tuple(last_layer_positions.shape) != (batch, seq_len):
                raise ValueError(
                    f"last_layer_positions has shape {tuple(last_layer_positions.shape)} but the input is "
                    f"{(batch, seq_len)}"
                )
            # Recorded hidden states and attentions stay complete: the last layer then runs everywhere.
            if kwargs.get("output_hidden_states", self.config.output_hidden_states) or kwargs.get(
                "output_attentions", self.config.output_attentions
            ):
                last_layer_positions = None
            else:
                last_layer_positions = last_layer_positions.to(hidden_states.device, torch.bool)
        hidden_states = self.encoder(hidden_states, attention_bias, keep, last_layer_positions, **kwargs)
        pooled = self.pooler(hidden_states) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=hidden_states, pooler_output=pooled)


class DNABert2ForMaskedLM(DNABert2PreTrainedModel):
    """DNABERT-2 with its masked-language-model head (the class of the published checkpoint)."""

    _tied_weights_keys = {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight"}

    def __init__(self, config: DNABert2Config):
        super().__init__(config)
        self.bert = DNABert2Model(config, add_pooling_layer=False)
        self.cls = DNABert2OnlyMLMHead(config)
        self.post_init()
        if config.tie_word_embeddings:
            # The tied decoder weight is never saved. Naming it here tells the Trainer that a checkpoint without
            # it is complete: when it reloads the best checkpoint it re-ties instead of warning "missing keys".
            self._keys_to_ignore_on_save.add("cls.predictions.decoder.weight")

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings):
        self.cls.predictions.decoder = new_embeddings

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> MaskedLMOutput:
        r"""Masked-LM logits [batch, seq_len, vocab]; with `labels` ([batch, seq_len] token ids, -100 where
        not scored) also the mean cross-entropy over the scored positions. Other arguments: as `DNABert2Model`.

        With labels and `config.sparse_prediction` (the default), the last layer and the head run only at
        the scored positions, as in the reference, and `logits` is zero elsewhere; without labels, or with
        `sparse_prediction=False`, or when hidden states / attentions are requested, logits are computed
        everywhere.
        """
        input_ids, attention_mask, token_type_ids = _unpack_inputs(input_ids, attention_mask, token_type_ids)
        scored = None
        if labels is not None:
            reference = _batch_input(input_ids, inputs_embeds)
            if reference is not None:
                expected = tuple(reference.shape[:2])
                if tuple(labels.shape) != expected:
                    raise ValueError(f"labels have shape {tuple(labels.shape)}, expected {expected} (one per token)")
                labels = labels.to(reference.device)
            scored = labels != -100
        sparse = scored is not None and self.config.sparse_prediction and bool(scored.any())
        positions = scored if sparse else None
        outputs = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            inputs_embeds,
            last_layer_positions=positions,
            return_dict=True,
            **kwargs,
        )
        if sparse and outputs.hidden_states is None and outputs.attentions is None:
            # The last layer ran at the scored positions only (it runs everywhere when per-layer outputs are
            # returned); the head does too: its 4096-way decoder dominates a small model. [n_scored, vocab]
            # goes back into place and the rest stays zero, as the reference returns it.
            scores = self.cls(outputs.last_hidden_state[scored])
            logits = scores.new_zeros(*scored.shape, scores.shape[-1])
            logits[scored] = scores  # in place: [batch, seq, vocab] is large, an out-of-place copy shows
            labels = labels[scored]
        else:
            logits = scores = self.cls(outputs.last_hidden_state)

        loss = None
        if labels is not None:
            # The library's masked-LM loss: cross-entropy in fp32 (also when the model runs in bf16: a
            # log-softmax over 4096 classes in bf16 is coarse), -100 ignored.
            loss = self.loss_function(scores, labels, vocab_size=self.config.vocab_size, **kwargs)
        return MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class DNABert2ForSequenceClassification(DNABert2PreTrainedModel):
    """[CLS] -> pooler (dense + tanh) -> dropout -> linear, as the reference fine-tunes DNABERT-2.

    The loss follows `config.problem_type` ("regression": MSE, "single_label_classification": cross-
    entropy on class ids, "multi_label_classification": BCE-with-logits on 0/1 floats); when unset it
    is inferred from `num_labels` and the labels' dtype, as in `transformers`.
    """

    _keys_to_ignore_on_load_unexpected = [r"^cls\.predictions\."]

    def __init__(self, config: DNABert2Config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = DNABert2Model(config)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> SequenceClassifierOutput:
        r"""Logits [batch, num_labels]; with `labels` also the loss of `config.problem_type` (see the class).
        Other arguments: as `DNABert2Model`."""
        input_ids, attention_mask, token_type_ids = _unpack_inputs(input_ids, attention_mask, token_type_ids)
        # Only [CLS] reaches the pooler, so the last layer runs for it alone.
        positions = None
        reference = _batch_input(input_ids, inputs_embeds)
        if reference is not None:
            positions = torch.zeros(reference.shape[:2], dtype=torch.bool, device=reference.device)
            positions[:, 0] = True
        outputs = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            inputs_embeds,
            last_layer_positions=positions,
            return_dict=True,
            **kwargs,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))

        loss = None
        if labels is not None:
            loss = sequence_classification_loss(self, logits, labels)
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


# --------------------------------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------------------------------


# Size presets; the suite's model registry (`modeling/__init__.py`) serves them by name.
DNABERT2_PRESETS = {
    # The published DNABERT-2-117M (zhihan1996/DNABERT-2-117M config.json).
    "117m": dict(
        vocab_size=4096, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072
    ),
    # A CPU-sized model for the random-init and tokenizer comparisons.
    "small": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256),
    # The sizes of the parity fixture (../shared/data/parity/dnabert2_tiny).
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
}
