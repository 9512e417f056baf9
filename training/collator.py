"""The masked-LM collator of `train.py --stage pretrain`.

The masking follows BERT (Devlin et al. 2019): 15% of the real tokens are selected; of those 80% become
[MASK], 10% a random token, 10% stay. Two DNA-specific choices: the random replacement draws only real
(non-special) tokens, since a random [CLS] or [PAD] in the middle of DNA teaches nothing, and masking is
applied exactly once per batch (the official ConvNova code masks twice by mistake).
"""

from __future__ import annotations

import torch
from transformers import DataCollatorForLanguageModeling


class DNAMaskingCollator(DataCollatorForLanguageModeling):
    """BERT 80/10/10 masking whose random replacements are drawn from real (non-special) tokens only."""

    def __init__(self, tokenizer, mlm_probability: float = 0.15, **kwargs):
        # seed=None: the collator then draws from torch's global RNG, which the Trainer saves in every
        # checkpoint, so a resumed run masks exactly as an uninterrupted one would.
        super().__init__(tokenizer=tokenizer, mlm=True, mlm_probability=mlm_probability, **kwargs)
        special = set(tokenizer.all_special_ids)
        self.regular_ids = torch.tensor([i for i in range(len(tokenizer)) if i not in special], dtype=torch.long)

    def torch_mask_tokens(self, inputs, special_tokens_mask=None, offset_mapping=None):
        labels = inputs.clone()
        if special_tokens_mask is None:
            special_tokens_mask = torch.tensor(
                [self.tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True) for row in labels.tolist()],
                dtype=torch.bool,
            )
        special_tokens_mask = special_tokens_mask.bool() | (inputs == self.tokenizer.pad_token_id)
        prob = torch.full(labels.shape, self.mlm_probability).masked_fill_(special_tokens_mask, 0.0)
        masked = torch.bernoulli(prob, generator=self.generator).bool()
        labels[~masked] = -100
        to_mask = torch.bernoulli(torch.full(labels.shape, self.mask_replace_prob), generator=self.generator).bool() & masked
        inputs[to_mask] = self.tokenizer.mask_token_id
        rest = 1.0 - self.mask_replace_prob
        if rest > 0 and self.random_replace_prob > 0:
            p_random = self.random_replace_prob / rest
            to_random = (
                torch.bernoulli(torch.full(labels.shape, p_random), generator=self.generator).bool() & masked & ~to_mask
            )
            picks = torch.randint(len(self.regular_ids), labels.shape, generator=self.generator)
            inputs[to_random] = self.regular_ids[picks][to_random]
        return inputs, labels
