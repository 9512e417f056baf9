"""Pieces every model file shares: the task-head loss and the one-hot nucleotide input handling.

Kept here so that the three model files (`dnabert2.py`, `convnova.py`, `unet.py`) stay one readable file
each without three copies of the same logic.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def classification_loss(config, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The standard transformers `problem_type` logic: MSE (regression), cross-entropy (single label),
    BCE with logits (multi-label). `problem_type` is inferred on first use when unset, as transformers does."""
    num_labels = logits.shape[-1]
    if config.problem_type is None:
        if num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # losses in fp32 under half precision; fp64 stays fp64
    if config.problem_type == "regression":
        if num_labels == 1:
            return F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype).view(-1))
        return F.mse_loss(logits, labels.to(logits.dtype))
    if config.problem_type == "single_label_classification":
        return F.cross_entropy(logits.view(-1, num_labels), labels.view(-1).long())
    if config.problem_type == "multi_label_classification":
        if labels.shape != logits.shape:
            raise ValueError(
                f"multi-label labels must be [batch, num_labels] = {tuple(logits.shape)} of 0/1 floats, "
                f"got {tuple(labels.shape)}"
            )
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    raise ValueError(f"unknown problem_type {config.problem_type!r}; use regression, "
                     "single_label_classification or multi_label_classification")


# ---- single-nucleotide (one-hot) models: ConvNova and the U-Net read the char tokenizer's ids --------

# Score of the non-nucleotide vocabulary entries ([CLS], [PAD], ...) in the MLM logits: predicting them is
# meaningless. Finite, so softmax and cross-entropy stay exact: exp(-1e4 - max) is 0 in float32.
NON_NUCLEOTIDE_LOGIT = -1e4


def check_char_inputs(input_ids, attention_mask, vocab_size: int, model_name: str) -> None:
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


def nucleotide_mlm_output(scores: torch.Tensor, config, input_ids, labels):
    """(logits over the vocabulary, loss) from per-position nucleotide scores [B, L, 5] (A C G T N).

    The 5 scores go to the nucleotide ids of the vocabulary, every other id gets NON_NUCLEOTIDE_LOGIT;
    the loss is cross-entropy over positions whose label is not -100, which must be nucleotide ids.
    """
    nucleotide_ids = torch.tensor(config.nucleotide_token_ids, device=scores.device)
    logits = scores.new_full((*scores.shape[:2], config.vocab_size), NON_NUCLEOTIDE_LOGIT)
    logits = logits.index_copy(-1, nucleotide_ids, scores)
    if labels is None:
        return logits, None
    if labels.shape != input_ids.shape:
        raise ValueError(f"labels shape {tuple(labels.shape)} differs from input_ids {tuple(input_ids.shape)}")
    bad = (labels != -100) & ~torch.isin(labels, nucleotide_ids)
    if bad.any():
        raise ValueError(
            f"MLM label {labels[bad][0].item()} is not a nucleotide id {config.nucleotide_token_ids}; "
            "special tokens and padding must have label -100"
        )
    return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), labels.reshape(-1).long(), ignore_index=-100)


def masked_mean(hidden: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean of hidden [B, L, D] over the kept positions keep [B, L]; a row with none is an error."""
    counts = keep.sum(dim=1, keepdim=True)
    if (counts == 0).any():
        row = int((counts.squeeze(1) == 0).nonzero()[0])
        raise ValueError(f"batch row {row} has no nucleotide positions: there is nothing to classify")
    return (hidden * keep.unsqueeze(-1).to(hidden.dtype)).sum(dim=1) / counts.to(hidden.dtype)
