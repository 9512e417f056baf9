"""Test stand-ins for what the tests cannot download: a folder in the published DNABERT-2 layout.

`python -m assess.grid SPEC --smoke --published DIR` reads such a folder for the arms that use the published
weights; the tests make one here (the assessment layer reads records, never builds weights itself)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

# The published DNABERT-2 layout at tiny sizes (the tokenizer stays the published one: 4,096 tokens).
PUBLISHED_SIZES = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)


def make_published_standin(folder: Path, shared: Path) -> Path:
    """A folder laid out like the Hub's zhihan1996/DNABERT-2-117M at tiny sizes: its config.json (no model_type,
    the remote-code auto_map), random weights of a DNABERT-2 masked LM under the published key names in
    `pytorch_model.bin` (torch.save of a state dict, without the tied decoder weight and without a pooler, as
    published), and the published tokenizer files (from the shared data's dnabert2/ folder)."""
    import torch

    from modeling.dnabert2 import DNABert2Config, DNABert2ForMaskedLM

    src = shared / "dnabert2"
    if not (src / "tokenizer.json").is_file():
        raise FileNotFoundError(f"the published DNABERT-2 tokenizer is missing ({src}/tokenizer.json)")
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads((src / "config.json").read_text())
    config.update(PUBLISHED_SIZES)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy2(src / name, folder / name)
    torch.manual_seed(0)
    model = DNABert2ForMaskedLM(DNABert2Config(vocab_size=config["vocab_size"], **PUBLISHED_SIZES))
    state = {k: v for k, v in model.state_dict().items() if k != "cls.predictions.decoder.weight"}
    torch.save(state, folder / "pytorch_model.bin")
    return folder
