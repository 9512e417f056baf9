"""Pieces every model file shares: the sequence-classification loss and the saving of a family's auto_map.

Kept here so that the three model files (`dnabert2.py`, `convnova.py`, `unet.py`) stay one readable file
each without three copies of the same logic; the one-hot nucleotide input that ConvNova and the U-Net share is
in `nucleotide.py`. Imports only torch, so a checkpoint folder can carry this file as remote code.
"""

from __future__ import annotations

import torch

HALF_PRECISION = (torch.float16, torch.bfloat16)


def sequence_classification_loss(model, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """`model.loss_function`, i.e. transformers' ForSequenceClassificationLoss (MSE for regression, cross-entropy
    for single-label, BCE with logits for multi-label; `problem_type` inferred on first use), on prepared inputs.

    The library computes in the logits' dtype and takes the labels as they come. Prepared here, as the heads have
    always had it:
    - half-precision logits are upcast, so the loss is float32 (float64 stays float64);
    - class ids become int64 (its cross_entropy rejects int32); other labels take the logits' dtype (its BCE
      rejects integer 0/1 targets, and float32 targets would round a float64 loss);
    - targets of the wrong shape fail with a message that says what to pass (BCE's own does not; MSE would
      broadcast them silently).
    """
    config = model.config
    if logits.dtype in HALF_PRECISION:
        logits = logits.float()
    class_ids = config.problem_type == "single_label_classification" or (
        config.problem_type is None and labels.dtype in (torch.long, torch.int)  # the library's single-label test
    )
    # With num_labels == 1 the library takes integer labels as regression targets; MSE promotes them.
    labels = labels.long() if class_ids else labels.to(logits.dtype)
    if not class_ids and config.num_labels > 1 and labels.shape != logits.shape:
        raise ValueError(
            f"multi-label labels (and regression targets) must be [batch, num_labels] = {tuple(logits.shape)} "
            f"floats, got {tuple(labels.shape)}"
        )
    return model.loss_function(labels=labels, pooled_logits=logits, config=config)


class SavesFamilyAutoMap:
    """Mixed into each model family's PreTrainedModel base: a saved folder's `auto_map` names every Auto class of
    the family, not only the saving class's.

    `register_for_auto_class` (done on `import modeling`) makes `save_pretrained` copy the model file and its
    relative imports into the folder and record the saving class in `config.auto_map`; so a folder saved by the
    masked-LM class would only say `AutoModelForMaskedLM`, and a user could not load that pretrained checkpoint
    as a classifier with `trust_remote_code=True`. `modeling/__init__.py` fills `family_auto_map`; in a process
    that loaded the code from a folder it stays empty and the folder's own `auto_map` is kept as it is.
    """

    family_auto_map: dict = {}

    def save_pretrained(self, save_directory, *args, **kwargs):
        if self.family_auto_map:
            self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **self.family_auto_map}
        return super().save_pretrained(save_directory, *args, **kwargs)
