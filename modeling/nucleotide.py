"""The single-nucleotide input that ConvNova and the U-Net share: config fields, checks, masking and heads.

Both models read the char tokenizer's ids one-hot (the project's char-token scheme):

- the ids in `nucleotide_token_ids` (A C G T N = 5..9 in the char tokenizer) are channels 0..4;
- `mask_token_id` and `unk_token_id` read as N (channel 4), so a masked base looks like an unknown base, as in
  the official ConvNova pretraining;
- every other id ([CLS], [SEP], [PAD]) and every position with `attention_mask == 0` is *excluded*: not part
  of the sequence. Its one-hot row is all zero, its output is 0, and the heads never pool or score it.

How an architecture keeps excluded positions from reaching the others is its own (see each model file); what
is the same for both lives here, once:

- `NucleotideConfig`: the token-id fields, their defaults and checks, and the small field checks both
  configs use;
- `NucleotidePreTrainedModel`: input checks, the id -> channel table, the sequence mask, the one-hot rows,
  the MLM logits and losses;
- `NucleotideModel`: the backbones' forward (checks, ids -> channels), around each architecture's `encode`;
- `NucleotideForMaskedLM`, `NucleotideForSequenceClassification`: the task heads' forward.
The last three are mixed in before the model's own PreTrainedModel base, the way
`transformers.modeling_layers.GenericForSequenceClassification` serves many models; a model's classes build
their modules and define only what is their own (`encode`, `nucleotide_scores`, `classify`).

Self-contained for remote code: this file imports only torch, transformers, huggingface_hub and `.common`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput, SequenceClassifierOutput
from transformers.utils import can_return_tuple

from .common import SavesFamilyAutoMap, sequence_classification_loss

NUM_NUCLEOTIDE_CHANNELS = 5  # A C G T N (the official ConvNova alphabet_size)
N_CHANNEL = 4
# Channel value of an excluded position: one past the nucleotides, so a one-hot over 6 classes with the last
# column dropped gives it an all-zero row.
EXCLUDED = NUM_NUCLEOTIDE_CHANNELS
DEFAULT_NUCLEOTIDE_TOKEN_IDS = (5, 6, 7, 8, 9)  # the char tokenizer's A C G T N
# Score of the non-nucleotide vocabulary entries ([CLS], [PAD], ...) in the MLM logits: predicting them is
# meaningless. Finite, so softmax and cross-entropy stay exact and free of inf/nan: exp(-1e4 - max) is exactly 0
# in float32/bfloat16 and stays finite in float16.
NON_NUCLEOTIDE_LOGIT = -1e4


class NucleotideConfig(PreTrainedConfig):
    r"""Base of the configs of the one-hot nucleotide models (ConvNova, the U-Net); not used on its own.

    Args:
        vocab_size: size of the tokenizer vocabulary; MLM logits have this last dimension.
        nucleotide_token_ids: the ids of A, C, G, T, N, in that order (channels 0..4); None means the char
            tokenizer's 5..9.
        mask_token_id, unk_token_id: ids read as N (None: not used); any other id is excluded.
        pad_token_id, cls_token_id, sep_token_id: the tokenizer's special ids, recorded for users of the
            config; the models exclude them because they are not nucleotide, mask or unk ids.
    """

    vocab_size: int = 10
    nucleotide_token_ids: list[int] | None = None
    mask_token_id: int | None = 4
    unk_token_id: int | None = 0
    pad_token_id: int | None = 3
    cls_token_id: int | None = 1
    sep_token_id: int | None = 2

    def __post_init__(self, **kwargs):
        if self.nucleotide_token_ids is None:
            self.nucleotide_token_ids = list(DEFAULT_NUCLEOTIDE_TOKEN_IDS)
        else:
            self.nucleotide_token_ids = list(self.nucleotide_token_ids)  # a tuple would not survive JSON
        super().__post_init__(**kwargs)

    def validate_nucleotide_token_ids(self):
        """The five nucleotide ids, and the ids read as N, must be distinct ids of the vocabulary."""
        self.require_positive_ints("vocab_size")
        name, ids = type(self).__name__, self.nucleotide_token_ids
        if len(ids) != NUM_NUCLEOTIDE_CHANNELS or len(set(ids)) != NUM_NUCLEOTIDE_CHANNELS:
            raise ValueError(f"{name}.nucleotide_token_ids must be 5 distinct ids (A C G T N), got {ids!r}")
        read_as_n = [i for i in (self.mask_token_id, self.unk_token_id) if i is not None]
        for token_id in list(ids) + read_as_n:
            if isinstance(token_id, bool) or not isinstance(token_id, int) or not 0 <= token_id < self.vocab_size:
                raise ValueError(f"token id {token_id!r} in {name} is outside the vocabulary [0, {self.vocab_size})")
        if set(read_as_n) & set(ids):
            raise ValueError(f"{name}.mask_token_id / unk_token_id must differ from the nucleotide ids")

    # Field checks for the subclasses' validators; each error names the config class and the field.

    def require_positive_ints(self, *fields: str, minimum: int = 1):
        for field in fields:
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
                raise ValueError(f"{type(self).__name__}.{field} must be {what}, got {value!r}")

    def require_odd(self, field: str):
        # A kernel's "same" padding (k - 1) // 2 (times the dilation) keeps the length, centred, only for odd k.
        value = getattr(self, field)
        if value % 2 == 0:
            raise ValueError(f"{type(self).__name__}.{field} must be odd (centred 'same' padding), got {value}")

    def require_probabilities(self, *fields: str):
        for field in fields:
            value = getattr(self, field)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{type(self).__name__}.{field} must be in [0, 1), got {value!r}")


def check_token_ids(input_ids, attention_mask, vocab_size: int, model_name: str) -> None:
    """Clear errors for inputs a one-hot nucleotide model cannot read."""
    if input_ids is None:
        raise ValueError(f"{model_name} needs input_ids (token ids of the char tokenizer)")
    if input_ids.dim() != 2 or input_ids.dtype not in (torch.long, torch.int, torch.int16, torch.uint8):
        raise ValueError(
            f"input_ids must be an integer tensor [batch, length], got {input_ids.dtype} {tuple(input_ids.shape)}"
        )
    if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= vocab_size):
        bad = input_ids[(input_ids < 0) | (input_ids >= vocab_size)][0].item()
        raise ValueError(
            f"token id {bad} is outside the vocabulary [0, {vocab_size}); {model_name} expects ids from the char "
            "tokenizer (A C G T N = 5..9); official 0..4 ids must be mapped first"
        )
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask shape {tuple(attention_mask.shape)} differs from input_ids {tuple(input_ids.shape)}"
        )


def nucleotide_one_hot(channels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, L, 5] one-hot of channels [B, L]; all-zero rows at EXCLUDED positions."""
    return F.one_hot(channels, EXCLUDED + 1)[..., :EXCLUDED].to(dtype)


def masked_mean(hidden: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean of hidden [B, L, D] over the kept positions keep [B, L]; a row with none is an error."""
    counts = keep.sum(dim=1, keepdim=True)
    if (counts == 0).any():
        row = int((counts.squeeze(1) == 0).nonzero()[0])
        raise ValueError(f"batch row {row} has no nucleotide positions: there is nothing to classify")
    return (hidden * keep.unsqueeze(-1).to(hidden.dtype)).sum(dim=1) / counts.to(hidden.dtype)


class NucleotidePreTrainedModel(SavesFamilyAutoMap, PreTrainedModel):
    """Base of the one-hot nucleotide models' PreTrainedModel classes: reading the ids and scoring nucleotides."""

    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    # The heads pass **kwargs on to the backbone, which takes no loss arguments: the Trainer must not send
    # num_items_in_batch (it would otherwise, seeing **kwargs).
    accepts_loss_kwargs = False

    def _channel_table(self, device: torch.device) -> torch.Tensor:
        # Token id -> channel 0..4, or EXCLUDED. Built per call from the config (10 entries) rather than kept as a
        # buffer: non-persistent buffers are not restored when from_pretrained builds the model on the meta device.
        cfg = self.config
        table = torch.full((cfg.vocab_size,), EXCLUDED, dtype=torch.long)
        table[torch.tensor(cfg.nucleotide_token_ids)] = torch.arange(NUM_NUCLEOTIDE_CHANNELS)
        for token_id in (cfg.mask_token_id, cfg.unk_token_id):
            if token_id is not None:
                table[token_id] = N_CHANNEL
        return table.to(device)

    def nucleotide_channels(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """Long [B, L]: the channel 0..4 of each position, EXCLUDED where it is not part of the sequence."""
        check_token_ids(input_ids, attention_mask, self.config.vocab_size, type(self).__name__)
        channels = self._channel_table(input_ids.device)[input_ids.long()]
        if attention_mask is not None:
            channels = channels.masked_fill(attention_mask == 0, EXCLUDED)
        return channels

    def sequence_mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Bool [B, L]: True at the positions that are part of the sequence (nucleotide, mask or unk ids with
        attention_mask 1); the positions the model processes and the classifier pools over."""
        return self.nucleotide_channels(input_ids, attention_mask) != EXCLUDED

    def vocabulary_logits(self, scores: torch.Tensor) -> torch.Tensor:
        """[B, L, vocab_size] logits from nucleotide scores [B, L, 5] (A C G T N): the scores at the nucleotide
        ids, NON_NUCLEOTIDE_LOGIT everywhere else."""
        nucleotide_ids = torch.tensor(self.config.nucleotide_token_ids, device=scores.device)
        logits = scores.new_full((*scores.shape[:2], self.config.vocab_size), NON_NUCLEOTIDE_LOGIT)
        return logits.index_copy(-1, nucleotide_ids, scores)

    def masked_lm_loss(self, logits: torch.Tensor, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy over the positions whose label is not -100; those labels must be nucleotide ids."""
        if labels.shape != input_ids.shape:
            raise ValueError(f"labels shape {tuple(labels.shape)} differs from input_ids {tuple(input_ids.shape)}")
        nucleotide_ids = torch.tensor(self.config.nucleotide_token_ids, device=labels.device)
        bad = (labels != -100) & ~torch.isin(labels, nucleotide_ids)
        if bad.any():
            raise ValueError(
                f"MLM label {labels[bad][0].item()} is not a nucleotide id {self.config.nucleotide_token_ids}; "
                "special tokens and padding must have label -100"
            )
        targets = labels.reshape(-1).long()  # int64 whatever the collator made, and any memory layout
        if logits.dtype == torch.float64:
            # transformers' ForMaskedLMLoss computes in float32 (`logits.float()`), which would round a float64
            # model's loss; the same cross-entropy (mean over labels != -100) in float64 instead.
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets)
        return self.loss_function(logits, targets, vocab_size=self.config.vocab_size)


class NucleotideModel:
    """The backbones' forward: input checks and token ids -> channels, then the architecture's `encode`.

    Mixed in before the model's PreTrainedModel base; the backbone class defines
    `encode(channels, output_hidden_states) -> BaseModelOutput` on the channels of `nucleotide_channels`.
    """

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
        output_hidden_states: see the model's `encode`.
        inputs_embeds, output_attentions: accepted because PEFT and other generic callers pass them (as None);
        these models read token ids (one-hot inside) and have no attention, so anything else raises."""
        name = type(self).__name__
        if inputs_embeds is not None:
            raise ValueError(f"{name} reads token ids (one-hot inside the model); inputs_embeds is not supported")
        if output_attentions:
            raise ValueError(f"{name} has no attention: output_attentions=True is not supported")
        return self.encode(self.nucleotide_channels(input_ids, attention_mask), output_hidden_states)


class NucleotideTaskHead:
    """The task heads' forward: run the backbone (at `base_model_prefix`), then the head's `head_output`.

    Mixed in before the model's PreTrainedModel base; the head class builds the backbone and its own modules.
    """

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> MaskedLMOutput | SequenceClassifierOutput:
        r"""labels: see the head's `head_output`. kwargs: the backbone's forward arguments (token_type_ids,
        output_hidden_states; inputs_embeds and output_attentions, which generic callers pass as None)."""
        out = self.base_model(input_ids, attention_mask=attention_mask, **kwargs)
        return self.head_output(out, input_ids, attention_mask, labels)


class NucleotideForMaskedLM(NucleotideTaskHead):
    """Masked-LM head: backbone -> `nucleotide_scores` [B, L, 5] -> logits [B, L, vocab_size].

    The head class defines `nucleotide_scores` (its Linear(D, 5), A C G T N order). Only the nucleotide ids get
    learned scores; see `vocabulary_logits` and `masked_lm_loss`.
    """

    NON_NUCLEOTIDE_LOGIT = NON_NUCLEOTIDE_LOGIT

    def get_output_embeddings(self):
        return None  # nothing to tie: the input is one-hot (or a 5-row embedding), not the vocabulary

    def head_output(self, out, input_ids, attention_mask, labels) -> MaskedLMOutput:
        r"""labels: [B, L] token ids, -100 where no prediction is scored; the others must be nucleotide ids."""
        logits = self.vocabulary_logits(self.nucleotide_scores(out.last_hidden_state))
        loss = None if labels is None else self.masked_lm_loss(logits, input_ids, labels)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)


class NucleotideForSequenceClassification(NucleotideTaskHead):
    """Sequence-classification head: mean of the backbone output over the kept positions -> `classify` (by
    default the head class's `classifier`, Linear(D, num_labels))."""

    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(pooled)

    def head_output(self, out, input_ids, attention_mask, labels) -> SequenceClassifierOutput:
        r"""labels: class ids [B] (single-label), multi-hot [B, num_labels] (multi-label) or values (regression);
        the loss follows `problem_type` (`common.sequence_classification_loss`)."""
        logits = self.classify(masked_mean(out.last_hidden_state, self.sequence_mask(input_ids, attention_mask)))
        loss = None if labels is None else sequence_classification_loss(self, logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
