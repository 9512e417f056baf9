"""Analytic FLOP counts of the suite's architectures, per example and for a whole training run.

Why: the Trainer records `total_flos = 6 x (input_ids.numel()) x (non-embedding parameters)`. That is the
dense-transformer rule of thumb (Kaplan et al. 2020): it leaves out attention, which grows with the square
of the sequence length, and it assumes every parameter is applied at every token. Neither holds here:

- DNABERT-2 on single nucleotides or overlapping 6-mers (~300-500 tokens) spends a large share of its
  compute on the attention scores, so the rule undercounts it;
- the U-Net runs its wide, deep levels on 1/2, 1/4, ... of the positions, so the rule overcounts it;
- DNABERT-2's heads run their last layer at a few positions only (the [CLS] of a classifier, the masked
  positions of the MLM loss), and a classifier's head runs once per sequence, not per token.

So `forward_flops` counts, from the config alone, what the model files actually compute.

What is counted: 2 FLOPs (one multiply, one add) per multiply-accumulate of every matrix product and
convolution, bias additions not counted separately. That is the convention of
`torch.utils.flop_counter.FlopCounterMode`, which `tests/test_flops.py` uses to check these formulas
against real forward passes. In detail:

- DNABERT-2: the fused Q/K/V projection, the attention scores Q K^T and the weighted sum A V
  (2 x L_query x L_key x hidden each, i.e. quadratic in the length), the attention output projection,
  the GEGLU feed-forward (`gated_layers`, 2 x intermediate wide, and `wo`), and the heads (MLM transform
  and decoder; pooler and classifier). The last layer runs its queries, output projection and MLP only at
  the positions the head reads ([CLS] for a classifier; the labelled positions for the MLM loss when
  `config.sparse_prediction`), while its keys and values still come from every position, as in
  `modeling/dnabert2.py`.
- ConvNova: both stems (Conv1d(5, D, 9), main and complement strand), in every block both dilated
  convolutions (`convs.i` on the main branch and the gate `gates.i` on the complement branch), the
  per-block FFN linear when `ffn`, the final residual MLP `milinear`, `final_conv` when on, and the head.
  A convolution costs its full kernel at every output position (also where it reads zero padding or a
  dilation gap), which is what the hardware computes.
- U-Net: every conv unit at its level's actual length (level i runs on P / 2^i positions, where P is the
  input length rounded up to a multiple of 2^depth, as the model pads it), the transposed up-convolutions,
  the bottleneck, and the head.
- Basset and DeepSEA: every unpadded convolution at its output length, the fully connected layers and the
  output layer. These networks read a fixed window of `sequence_length` positions whatever the sequence's
  length (`modeling/classic_cnn.py`), so their cost per sequence does not depend on `seq_len`. They have no
  masked-LM head: task "mlm" is an error.

What is ignored (all elementwise or memory operations, which FlopCounterMode ignores too): LayerNorms,
GELU/sigmoid/tanh, the GEGLU product, the ALiBi bias addition and the attention softmax (about
5 x heads x L^2 per layer; for DNABERT-2 "small" that is ~4% of the attention matrix products, i.e.
5 x heads / (4 x hidden)), the ConvNova gate product and residual additions, max-pooling, masking,
embedding look-ups, one-hot encoding, dropout and the losses.

Lengths: `seq_len` is the number of tokens of one example *as fed to the model*: `len(input_ids)` of the
tokenized example, special tokens included ([CLS] and [SEP] are positions for all three models, even
where the one-hot models exclude them from the result). It depends on the tokenizer: a 300 bp sequence
is ~302 char tokens but ~60-70 BPE tokens. Padding is not counted unless you count it: pass padded
lengths to get the hardware cost of padded batches (DNABERT-2, ConvNova and the U-Net all compute on
padded positions), or true lengths for the useful work. The Trainer's `total_flos` counts padded tokens.

Training: `train_flops = (1 + backward_factor) x forward`, backward_factor = 2 by default: the backward
pass of a matrix product or convolution computes the gradient of its input and of its weight, each as
many FLOPs as the forward product. This is the usual "3 x forward" approximation; exceptions it ignores
are the first layer of the one-hot models (no gradient is needed for the one-hot input; the stems are
small) and frozen weights (LoRA or a frozen backbone need no weight gradient: pass backward_factor ~ 1
for them, plus the adapters' own small cost). Gradient checkpointing recomputes the forward:
backward_factor 3 then.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

__all__ = [
    "TASKS",
    "architecture",
    "flops_breakdown",
    "forward_flops",
    "train_flops",
    "non_embedding_parameters",
    "trainer_flos",
    "correction_factor",
]

TASKS = ("mlm", "classification", "backbone")

# Fixed in modeling/convnova.py (and in the official code): the stems are Conv1d(5, D, 9) whatever the
# block kernel size is. Not a config field, hence a constant here.
CONVNOVA_STEM_KERNEL_SIZE = 9
NUM_NUCLEOTIDE_CHANNELS = 5  # A C G T N: the one-hot input and the MLM scores of ConvNova and the U-Net

_ARCHITECTURES = {
    "dnabert2": "dnabert2",
    "convnova": "convnova",
    "dna_unet": "unet",
    "unet": "unet",
    "basset": "basset",
    "deepsea": "deepsea",
}
FIXED_WINDOW = ("basset", "deepsea")  # no MLM head; cost independent of the sequence length
CLASSIC_INPUT_CHANNELS = 4  # their one-hot is A C G T (N = 0.25 in each)


def architecture(config: Any) -> str:
    """ "dnabert2", "convnova", "unet", "basset" or "deepsea", from `config.model_type`."""
    model_type = getattr(config, "model_type", None)
    if model_type not in _ARCHITECTURES:
        raise ValueError(f"no FLOP formula for model_type {model_type!r}; known: {', '.join(sorted(_ARCHITECTURES))}")
    return _ARCHITECTURES[model_type]


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def _num_labels(config: Any, num_labels: int | None) -> int:
    return int(num_labels if num_labels is not None else getattr(config, "num_labels", 2))


# ------------------------------------------------------------------------------------------ DNABERT-2


def _dnabert2(config, seq_len, task, num_labels, mlm_positions, query_positions) -> dict[str, float]:
    """Per-sequence FLOPs by component. `mlm_positions` S and `query_positions` Q may be fractional
    (expected values under random masking); everything is linear in them."""
    d = config.hidden_size
    inter = config.intermediate_size
    n_layers = config.num_hidden_layers
    vocab = config.vocab_size
    L = seq_len
    if task == "classification":
        S = Q = 1  # the last layer runs for [CLS] only
    elif task == "mlm":
        S = L if mlm_positions is None else mlm_positions
        Q = S if query_positions is None else query_positions
    else:  # backbone: every position of every layer
        S = Q = L
    if not (0 <= S <= L and 0 <= Q <= L):
        raise ValueError(f"mlm_positions / query_positions must lie in [0, seq_len={L}], got {S}, {Q}")

    qkv_proj = 2 * L * d * 3 * d  # keys and values are needed at every position, in every layer
    full = n_layers - 1
    out = {
        "qkv_projection": n_layers * qkv_proj,
        # Q K^T and A V: 2 * L_q * L_k * d each (summed over heads: heads x head_dim = d)
        "attention_scores": full * 4 * L * L * d + 4 * Q * L * d,
        "attention_output": full * 2 * L * d * d + 2 * S * d * d,
        "mlp": full * 2 * L * 3 * d * inter + 2 * S * 3 * d * inter,  # gated_layers (d -> 2I) + wo (I -> d)
    }
    if task == "mlm":
        out["head"] = 2 * S * d * d + 2 * S * d * vocab  # transform dense + decoder
    elif task == "classification":
        out["head"] = 2 * d * d + 2 * d * _num_labels(config, num_labels)  # pooler + classifier
    else:
        out["head"] = 2 * d * d  # DNABert2Model's pooler (built by default)
    return out


def _dnabert2_params(config, task, num_labels) -> int:
    d, inter, v = config.hidden_size, config.intermediate_size, config.vocab_size
    layer = (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (2 * inter * d) + (inter * d + d) + 2 * d
    n = 2 * d + config.num_hidden_layers * layer  # embedding LayerNorm + layers
    if task == "mlm":
        n += d * d + d + 2 * d + v  # transform, its LayerNorm, decoder bias
        if not getattr(config, "tie_word_embeddings", True):
            n += v * d
    elif task == "classification":
        n += d * d + d + d * _num_labels(config, num_labels) + _num_labels(config, num_labels)
    else:
        n += d * d + d
    return n


# ------------------------------------------------------------------------------------------ ConvNova


def _convnova_dilations(config) -> list[int]:
    dil = getattr(config, "dilations", None)
    if dil is not None:
        return list(dil)
    base = [
        1 if j < 2 else min(config.dilation_max, config.dilation_base ** (j - 2)) for j in range(config.num_conv_blocks)
    ]
    return [x for x in base for _ in range(config.num_stacks)]


def _convnova(config, seq_len, task, num_labels) -> dict[str, float]:
    d, k, L = config.hidden_size, config.kernel_size, seq_len
    n_blocks = len(_convnova_dilations(config))
    di = d * config.d_inner
    out = {
        # main-strand stem `linear` and complement-strand stem `rc_linear`
        "stems": 2 * 2 * L * NUM_NUCLEOTIDE_CHANNELS * CONVNOVA_STEM_KERNEL_SIZE * d,
        # per block: `convs.i` (main branch) and `gates.i` (complement branch), full kernel at every position
        "gated_convolutions": n_blocks * 2 * 2 * L * d * d * k,
        "block_ffn": n_blocks * 2 * L * d * d if config.ffn else 0,
        "milinear": 2 * L * (d * di + di * di + di * di + di * d),
        "final_conv": 2 * 2 * L * d * d if getattr(config, "final_conv", False) else 0,
    }
    if task == "mlm":
        out["head"] = 2 * L * d * NUM_NUCLEOTIDE_CHANNELS
    elif task == "classification":
        out["head"] = 2 * d * _num_labels(config, num_labels)  # mean pooling, then one linear per sequence
    else:
        out["head"] = 0
    return out


def _convnova_params(config, task, num_labels) -> int:
    d, k = config.hidden_size, config.kernel_size
    n_blocks = len(_convnova_dilations(config))
    di = d * config.d_inner
    n = 2 * (NUM_NUCLEOTIDE_CHANNELS * CONVNOVA_STEM_KERNEL_SIZE * d + d)
    n += n_blocks * (2 * (d * d * k + d) + 2 * 2 * d)  # convs, gates, norms, rc_norms
    if config.ffn:
        n += n_blocks * (d * d + d + 2 * d)
    n += (d * di + di) + (di * di + di) + 2 * di + (di * di + di) + (di * d + d) + 2 * d
    if getattr(config, "final_conv", False):
        n += 2 * (d * d + d)
    if task == "mlm":
        n += NUM_NUCLEOTIDE_CHANNELS * d + NUM_NUCLEOTIDE_CHANNELS
    elif task == "classification":
        n += d * _num_labels(config, num_labels) + _num_labels(config, num_labels)
    return n


# ------------------------------------------------------------------------------------------ U-Net


def _unet_channels(config) -> list[int]:
    channels = getattr(config, "level_channels", None)
    if channels is not None:
        return list(channels)
    return [config.base_channels * m for m in config.channel_multipliers]


def _unet_input_channels(config) -> int:
    return NUM_NUCLEOTIDE_CHANNELS if config.input_embedding == "onehot" else config.embedding_size


def _unet(config, seq_len, task, num_labels) -> dict[str, float]:
    depth, k, cpl = config.depth, config.kernel_size, config.convs_per_level
    ch = _unet_channels(config)
    unit = 2**depth
    padded = -(-seq_len // unit) * unit  # the model pads the length to a multiple of 2^depth
    length = [padded // 2**i for i in range(depth + 1)]  # positions at level i

    def block(c_in, c_out, n):
        return 2 * n * k * (c_in * c_out + (cpl - 1) * c_out * c_out)

    c_in0 = _unet_input_channels(config)
    out = {
        "down_blocks": sum(block(c_in0 if i == 0 else ch[i - 1], ch[i], length[i]) for i in range(depth)),
        "bottleneck": block(c_in0 if depth == 0 else ch[depth - 1], ch[depth], length[depth]),
        # ConvTranspose1d(ch[i+1], ch[i], 2, stride 2): each of the length[i+1] inputs feeds 2 outputs
        "up_convolutions": sum(2 * length[i + 1] * ch[i + 1] * ch[i] * 2 for i in range(depth)),
        "up_blocks": sum(block(2 * ch[i], ch[i], length[i]) for i in range(depth)),
    }
    d = config.base_channels  # width of last_hidden_state, which the heads read
    if task == "mlm":
        out["head"] = 2 * seq_len * d * NUM_NUCLEOTIDE_CHANNELS  # on the cropped output, L positions
    elif task == "classification":
        out["head"] = 2 * d * _num_labels(config, num_labels)
    else:
        out["head"] = 0
    return out


def _unet_params(config, task, num_labels) -> int:
    depth, k, cpl = config.depth, config.kernel_size, config.convs_per_level
    ch = _unet_channels(config)
    norm = 0 if config.normalization == "none" else 2  # LayerNorm / BatchNorm: weight and bias

    def block(c_in, c_out):
        units = [(c_in, c_out)] + [(c_out, c_out)] * (cpl - 1)
        return sum(a * b * k + b + norm * b for a, b in units)

    c_in0 = _unet_input_channels(config)
    n = sum(block(c_in0 if i == 0 else ch[i - 1], ch[i]) for i in range(depth))
    n += block(c_in0 if depth == 0 else ch[depth - 1], ch[depth])
    n += sum(ch[i + 1] * ch[i] * 2 + ch[i] for i in range(depth))
    n += sum(block(2 * ch[i], ch[i]) for i in range(depth))
    d = config.base_channels
    if task == "mlm":
        n += NUM_NUCLEOTIDE_CHANNELS * d + NUM_NUCLEOTIDE_CHANNELS
    elif task == "classification":
        n += d * _num_labels(config, num_labels) + _num_labels(config, num_labels)
    return n  # the learned input embedding (if any) is an nn.Embedding: excluded, as the Trainer does


# ------------------------------------------------------------------------------------------ Basset, DeepSEA


def _classic_layers(config) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int]]]:
    """The convolutions as (c_in, c_out, kernel, output positions) and the fully connected layers before the
    output layer as (d_in, d_out), from the config's lists (the same arithmetic as the model: unpadded
    convolutions, pools of width = stride that drop a remainder)."""
    convs, c_in, n = [], CLASSIC_INPUT_CHANNELS, config.sequence_length
    for c_out, k, p in zip(config.conv_channels, config.conv_kernel_sizes, config.pool_sizes):
        convs.append((c_in, c_out, k, n - k + 1))
        c_in, n = c_out, (n - k + 1) // p
    widths = list(config.hidden_sizes) if architecture(config) == "basset" else [config.hidden_size]
    dense = list(zip([c_in * n] + widths[:-1], widths))
    return convs, dense


def _classic(config, task, num_labels) -> dict[str, float]:
    convs, dense = _classic_layers(config)
    out = {
        "convolutions": sum(2 * n * c_in * c_out * k for c_in, c_out, k, n in convs),
        "fully_connected": sum(2 * d_in * d_out for d_in, d_out in dense),
    }
    out["head"] = 2 * dense[-1][1] * _num_labels(config, num_labels) if task == "classification" else 0
    return out


def _classic_params(config, task, num_labels) -> int:
    convs, dense = _classic_layers(config)
    n = sum(c_in * c_out * k + c_out for c_in, c_out, k, _ in convs)
    n += sum(d_in * d_out + d_out for d_in, d_out in dense)
    if architecture(config) == "basset":  # batch norm weight and bias after every conv (and hidden layer)
        n += 2 * sum(c_out for _, c_out, _, _ in convs)
        n += 2 * sum(d_out for _, d_out in dense) if config.hidden_batch_norm else 0
    if task == "classification":
        n += dense[-1][1] * _num_labels(config, num_labels) + _num_labels(config, num_labels)
    return n


def _check_has_task(arch: str, task: str) -> None:
    if arch in FIXED_WINDOW and task == "mlm":
        raise ValueError(f"{arch} has no masked-LM head: use task 'classification' or 'backbone'")


# ------------------------------------------------------------------------------------------ public API


def flops_breakdown(
    config: Any,
    seq_len: int,
    task: str = "mlm",
    *,
    num_labels: int | None = None,
    mlm_positions: float | None = None,
    query_positions: float | None = None,
) -> dict[str, float]:
    """Forward FLOPs of ONE sequence of `seq_len` tokens, by component (keys depend on the architecture;
    DNABERT-2's quadratic term is "attention_scores"). See `forward_flops` for the arguments."""
    _check_task(task)
    seq_len = int(seq_len)
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    arch = architecture(config)
    _check_has_task(arch, task)
    if arch == "dnabert2":
        return _dnabert2(config, seq_len, task, num_labels, mlm_positions, query_positions)
    if mlm_positions is not None or query_positions is not None:
        raise ValueError(f"{arch} computes its head at every position: mlm_positions/query_positions do not apply")
    if arch in FIXED_WINDOW:
        return _classic(config, task, num_labels)
    if arch == "convnova":
        return _convnova(config, seq_len, task, num_labels)
    return _unet(config, seq_len, task, num_labels)


def forward_flops(
    config: Any,
    seq_len: int,
    batch: int = 1,
    task: str = "mlm",
    *,
    num_labels: int | None = None,
    mlm_positions: int | None = None,
    query_positions: int | None = None,
) -> int:
    """FLOPs of one forward pass over `batch` unpadded sequences of `seq_len` tokens each.

    Args:
        config: a DNABert2Config, ConvNovaConfig, UNetConfig, BassetConfig or DeepSEAConfig (read through its
            public fields only).
        seq_len: tokens per sequence as fed to the model, special tokens included.
        batch: number of such sequences.
        task: "mlm" (the ...ForMaskedLM model), "classification" (...ForSequenceClassification) or
            "backbone" (the bare model; DNABERT-2's includes its pooler; Basset's and DeepSEA's their fully
            connected layers up to the output layer).
        num_labels: classifier outputs; default `config.num_labels`.
        mlm_positions: DNABERT-2 MLM only: positions per sequence at which the last layer's output part
            and the head run. None = all (no labels given, or `sparse_prediction=False`). With labels and
            `config.sparse_prediction` (the default), the number of labelled positions.
        query_positions: DNABERT-2 MLM only: query columns of the last layer's attention per sequence;
            the model takes the union over the batch of the labelled columns. None = `mlm_positions`.
    """
    if batch < 0:
        raise ValueError(f"batch must be >= 0, got {batch}")
    parts = flops_breakdown(
        config, seq_len, task, num_labels=num_labels, mlm_positions=mlm_positions, query_positions=query_positions
    )
    return int(round(batch * sum(parts.values())))


def _length_counts(lengths: int | Iterable[int]) -> Counter:
    if isinstance(lengths, int) or (hasattr(lengths, "ndim") and lengths.ndim == 0):
        return Counter({int(lengths): 1})
    counts = Counter(int(n) for n in lengths)
    if not counts:
        raise ValueError("lengths is empty")
    if min(counts) < 1:
        raise ValueError(f"every length must be >= 1, got {min(counts)}")
    return counts


def train_flops(
    config: Any,
    lengths: int | Iterable[int],
    task: str = "mlm",
    *,
    epochs: float = 1.0,
    num_labels: int | None = None,
    mlm_probability: float = 0.15,
    special_tokens: int = 2,
    batch_size: int = 1,
    backward_factor: float = 2.0,
) -> int:
    """Training FLOPs: (1 + backward_factor) x the forward FLOPs of every example, times `epochs`.

    Args:
        lengths: the token count of each training example (e.g. `[len(ids) for ids in ds["input_ids"]]`),
            or one int for a single example. Attention costs L^2 per example, so the per-example lengths
            are needed, not just their sum. Pass padded lengths to count padding.
        epochs: passes over `lengths`; fractional for a partial epoch (e.g. steps x batch / len(dataset)).
        task: "mlm" for pretraining, "classification" for fine-tuning.
        mlm_probability, special_tokens, batch_size: DNABERT-2 MLM with `sparse_prediction` only. The
            collator labels `mlm_probability` of the non-special tokens (`special_tokens` per example:
            [CLS] and [SEP]); the last layer then runs its output part and head at those positions and its
            attention queries at the union of the labelled columns over the `batch_size` rows of a batch,
            expected fraction 1 - (1 - p)^batch_size. Expected values: the masking is random.
        backward_factor: backward FLOPs / forward FLOPs: 2 (input and weight gradients) for full training,
            ~1 with frozen weights (LoRA), 3 with gradient checkpointing.

    Returns the total for the run, rounded to an integer.
    """
    if epochs < 0 or backward_factor < 0:
        raise ValueError("epochs and backward_factor must be >= 0")
    counts = _length_counts(lengths)
    sparse = task == "mlm" and architecture(config) == "dnabert2" and bool(getattr(config, "sparse_prediction", False))
    if sparse and not (0.0 < mlm_probability <= 1.0):
        raise ValueError(f"mlm_probability must be in (0, 1], got {mlm_probability}")
    total = 0.0
    for length, n in counts.items():
        kwargs = {}
        if sparse:
            maskable = max(length - special_tokens, 0)
            kwargs["mlm_positions"] = mlm_probability * maskable
            kwargs["query_positions"] = (1.0 - (1.0 - mlm_probability) ** max(batch_size, 1)) * maskable
        parts = flops_breakdown(config, length, task, num_labels=num_labels, **kwargs)
        total += n * sum(parts.values())
    return int(round((1.0 + backward_factor) * epochs * total))


def non_embedding_parameters(config: Any, task: str = "mlm", *, num_labels: int | None = None) -> int:
    """`model.num_parameters(exclude_embeddings=True)` of the model `task` selects, from the config:
    the N of the Trainer's 6 x N x tokens estimate (nn.Embedding weights excluded; a tied MLM decoder
    weight is the embedding and is excluded with it)."""
    _check_task(task)
    arch = architecture(config)
    _check_has_task(arch, task)
    if arch == "dnabert2":
        return _dnabert2_params(config, task, num_labels)
    if arch in FIXED_WINDOW:
        return _classic_params(config, task, num_labels)
    if arch == "convnova":
        return _convnova_params(config, task, num_labels)
    return _unet_params(config, task, num_labels)


def trainer_flos(
    config: Any, lengths: int | Iterable[int], task: str = "mlm", *, epochs: float = 1.0, num_labels: int | None = None
) -> int:
    """What the Trainer's `total_flos` records for the same examples: 6 x tokens x non-embedding parameters."""
    tokens = sum(length * n for length, n in _length_counts(lengths).items())
    return int(round(6 * tokens * epochs * non_embedding_parameters(config, task, num_labels=num_labels)))


def correction_factor(config: Any, lengths: int | Iterable[int], task: str = "mlm", **kwargs) -> float:
    """train_flops / trainer_flos: multiply a recorded `total_flos` by this to get the analytic count
    (> 1: the Trainer undercounts, e.g. attention; < 1: it overcounts, e.g. the U-Net's short levels)."""
    num_labels = kwargs.get("num_labels")
    epochs = kwargs.pop("epochs", 1.0)
    recorded = trainer_flos(config, lengths, task, epochs=epochs, num_labels=num_labels)
    if recorded == 0:
        return math.nan
    return train_flops(config, lengths, task, epochs=epochs, **kwargs) / recorded
