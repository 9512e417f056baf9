"""`python -m assess.grid configs/grid_paper.yaml --smoke`: every distinct arm of the paper grid (each pretraining
run, each fine-tuning arm) end to end on CPU, tiny and short, so a GPU run cannot die on a configuration error.
About 1-2.5 minutes on 2 cores."""

import io
import re
from pathlib import Path

import yaml

from assess import grid, spec as specmod

ROOT = Path(__file__).resolve().parents[1]


def test_paper_grid_smoke_runs_every_distinct_arm(shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the smoke folder lands here (and must be removed)
    spec = specmod.load_spec(ROOT / "configs" / "grid_paper.yaml")
    out = io.StringIO()
    rc = grid.smoke(spec, out=out)
    text = out.getvalue()
    assert rc == 0, text
    lines = [ln for ln in text.splitlines() if ln.startswith(("ok ", "FAIL"))]
    pre = {m[1] for ln in lines if (m := re.match(r"ok\s+pretrain\s+(\S+)", ln))}
    fine = {m[1] for ln in lines if (m := re.match(r"ok\s+finetune\s+(\S+)", ln))}
    assert pre == set(spec["pretrain"])
    # one run per arm: its first sweep value
    want = set()
    for arm, f in spec["arms"].items():
        (key, values), = f["sweep"].items()
        want.add(specmod.member_name(arm, key, values[0]))
    assert fine == want
    assert "ok   report" in text and f"all {len(pre) + len(fine)} runs passed" in text
    assert not list(tmp_path.glob("smoke-*")), "the smoke folder must be removed"


def test_published_standin_has_the_published_layout(shared_data, tmp_path):
    import json

    import torch

    folder = grid.make_published_standin(tmp_path / "pub", shared_data)
    config = json.loads((folder / "config.json").read_text())
    assert "model_type" not in config and "auto_map" in config and config["hidden_size"] == 64
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    assert "bert.embeddings.word_embeddings.weight" in state and "bert.encoder.layer.0.attention.self.Wqkv.weight" in state
    assert not any(k.startswith("bert.pooler") for k in state)  # published: an MLM state dict without pooler
    assert (folder / "tokenizer.json").read_bytes() == (shared_data / "dnabert2" / "tokenizer.json").read_bytes()


def test_smoke_names_the_failing_arm(shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    spec = {"name": "broken", "seeds": [1], "tasks": ["gue/prom_core_tata"],
            "arms": {"fine": {"model": "convnova", "tokenizer": "char"},
                     "bad": {"model": "unet", "tokenizer": "bpe", "bpe_path": str(shared_data / "dnabert2")}}}
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))  # `fine` runs first, then `bad` fails
    out = io.StringIO()
    assert grid.smoke(specmod.load_spec(path), out=out, report=False) == 1
    text = out.getvalue()
    assert "ok   finetune fine" in text and "FAIL finetune arm bad" in text and "takes tokenizers" in text
    assert not list(tmp_path.glob("smoke-*"))
