"""`python -m assess.grid configs/grid_paper.yaml --smoke`: every distinct arm of the paper grid (each pretraining
run, each fine-tuning arm) end to end on CPU, tiny and short, so a GPU run cannot die on a configuration error.
About 1-2.5 minutes on 2 cores."""

import io
import json
import re
from pathlib import Path

import pytest
import yaml
from standins import make_published_standin

from assess import grid
from assess import spec as specmod

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_paper_grid_smoke_runs_every_distinct_arm(shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the smoke folder lands here (and must be removed)
    spec = specmod.load_spec(ROOT / "configs" / "grid_paper.yaml")
    published = make_published_standin(tmp_path / "published", shared_data)
    out = io.StringIO()
    rc = grid.smoke(spec, out=out, published=published)
    text = out.getvalue()
    assert rc == 0, text
    lines = [ln for ln in text.splitlines() if ln.startswith(("ok ", "FAIL"))]
    pre = {m[1] for ln in lines if (m := re.match(r"ok\s+pretrain\s+(\S+)", ln))}
    fine = {m[1] for ln in lines if (m := re.match(r"ok\s+finetune\s+(\S+)", ln))}
    assert pre == set(spec["pretrain"])
    # one run per arm: its first sweep value
    want = set()
    for arm, f in spec["arms"].items():
        ((key, values),) = f["sweep"].items()
        want.add(specmod.member_name(arm, key, values[0]))
    assert fine == want
    assert "ok   report" in text and f"all {len(pre) + len(fine)} runs passed" in text
    assert "not smoke-tested" not in text
    assert not list(tmp_path.glob("smoke-*")), "the smoke folder must be removed"


def test_smoke_without_published_weights_names_what_it_leaves_out(shared_data, tmp_path):
    """Without --published, the runs that read zhihan1996/DNABERT-2-117M (weights or tokenizer), and the arms
    fine-tuned from those pretraining runs, are named as not smoke-tested; the rest still runs."""
    spec = specmod.load_spec(ROOT / "configs" / "grid_paper.yaml")
    s, runs, skipped = grid.smoke_runs(spec, tmp_path / "w")
    hub = "zhihan1996/DNABERT-2-117M"
    want_pre = {n for n, f in spec["pretrain"].items() if f.get("bpe_path") == hub}
    want_arms = {
        a
        for a, f in spec["arms"].items()
        if hub in (f.get("pretrained"), f.get("bpe_path")) or str(f.get("pretrained"))[1:] in want_pre
    }
    assert want_pre == {"bert-hg38", "bert-multi"} and "dnabert2-published" in want_arms  # the spec's own arms
    assert set(skipped) == {f"pretrain {n}" for n in want_pre} | {f"finetune {a}" for a in want_arms}
    assert {r.fields["arm"] for r in runs} & (want_pre | want_arms) == set()
    assert not any(hub in json.dumps(r.fields) for r in runs)
    # run it: the published arm is named, the other one runs
    two = {a: spec["arms"][a] for a in ("dnabert2-published", "convnova-random")}
    small = {**spec, "pretrain": {}, "arms": two, "comparisons": {"architecture": [list(two)]}}
    out = io.StringIO()
    assert grid.smoke(small, out=out, report=False) == 0, out.getvalue()
    text = out.getvalue()
    assert (
        "not smoke-tested: finetune dnabert2-published (reads the published DNABERT-2 weights; pass --published"
    ) in text
    assert re.search(r"ok\s+finetune convnova-random-learning_rate=", text) and "all 1 runs passed" in text


def test_published_folder_is_checked(shared_data, tmp_path):
    spec = specmod.load_spec(ROOT / "configs" / "grid_paper.yaml")
    (tmp_path / "pub").mkdir()
    (tmp_path / "pub" / "config.json").write_text("{}")
    out = io.StringIO()
    assert grid.smoke(spec, out=out, published=tmp_path / "pub") == 1
    assert "FAIL setup: --published" in out.getvalue() and "tokenizer.json" in out.getvalue()


def test_published_standin_has_the_published_layout(shared_data, tmp_path):
    import json

    import torch

    folder = make_published_standin(tmp_path / "pub", shared_data)
    config = json.loads((folder / "config.json").read_text())
    assert "model_type" not in config and "auto_map" in config and config["hidden_size"] == 64
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    assert (
        "bert.embeddings.word_embeddings.weight" in state and "bert.encoder.layer.0.attention.self.Wqkv.weight" in state
    )
    assert not any(k.startswith("bert.pooler") for k in state)  # published: an MLM state dict without pooler
    assert (folder / "tokenizer.json").read_bytes() == (shared_data / "dnabert2" / "tokenizer.json").read_bytes()


def test_smoke_names_the_failing_arm(shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    spec = {
        "name": "broken",
        "seeds": [1],
        "tasks": ["gue/prom_core_tata"],
        "arms": {
            "fine": {"model": "convnova", "tokenizer": "char"},
            "bad": {"model": "unet", "tokenizer": "bpe", "bpe_path": str(shared_data / "dnabert2")},
        },
    }
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))  # `fine` runs first, then `bad` fails
    out = io.StringIO()
    assert grid.smoke(specmod.load_spec(path), out=out, report=False) == 1
    text = out.getvalue()
    assert "ok   finetune fine" in text and "FAIL finetune arm bad" in text and "takes tokenizers" in text
    assert not list(tmp_path.glob("smoke-*"))
