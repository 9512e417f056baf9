"""`python -m assess.grid SPEC --estimate` (assess/estimate.py) and benchmarks/gpu_check.py's dry path."""

import sys
from pathlib import Path

import pytest
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from assess import estimate as est
from assess import grid
from assess import spec as specmod
from training.records import iter_records

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_check  # noqa: E402  (benchmarks/ is a script folder, importable only after the sys.path line above)


def _counted_forward(model: str, preset: str, length: int) -> int:
    """FLOPs torch's FlopCounterMode counts for one sequence through the real classifier (the reference)."""
    from transformers import AutoModelForSequenceClassification

    from dnalm_core.registry import MODELS

    net = AutoModelForSequenceClassification.from_config(MODELS.get(model).config(preset, num_labels=2)).eval()
    ids = torch.full((1, length), 5)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(input_ids=ids, attention_mask=torch.ones_like(ids))
    return counter.get_total_flops()


def test_one_run_by_hand(tmp_path, capsys):
    """ConvNova on prom_core_tata (70 bp: 72 char tokens), 10 steps of 8, no evaluation during training, the
    test split (4,904 / 8 = 613 rows) once: 3 x forward per trained example, 1 x per test example."""
    path = tmp_path / "g.yaml"
    arm = {
        "model": "convnova",
        "preset": "tiny",
        "tokenizer": "char",
        "max_steps": 10,
        "per_device_train_batch_size": 8,
        "eval_strategy": "no",
    }
    path.write_text(
        yaml.safe_dump(
            {
                "name": "g",
                "seeds": [1],
                "tasks": ["gue/prom_core_tata"],
                "runs_dir": str(tmp_path / "runs"),
                "arms": {"a": arm},
            }
        )
    )
    e = est.estimate(specmod.load_spec(path))
    fwd = _counted_forward("convnova", "tiny", 72)
    assert e["total"]["runs"] == 1
    assert e["total"]["flops"] == pytest.approx(10 * 8 * 3 * fwd + 613 * fwd, rel=1e-6)
    h100 = est.GPU_KINDS["H100"]
    assert e["total"]["gpu_hours"]["H100"] == pytest.approx(e["total"]["flops"] / (989e12 * h100.mfu["cnn"]) / 3600)
    assert e["total"]["cpu_hours"] == pytest.approx(e["total"]["flops"] / (est.CPU_GFLOPS["convnova"] * 1e9) / 3600)
    assert grid.main([str(path), "--estimate"]) == 0
    assert "total                         1" in capsys.readouterr().out


def test_gue_train_sizes_match_the_shared_data(shared_data):
    for folder in sorted((shared_data / "gue").iterdir()):
        rows = sum(1 for _ in (folder / "train.csv").open()) - 1  # header
        assert est.GUE_TRAIN_SIZES[folder.name] == rows, folder.name


def test_a_hub_model_of_unknown_size_is_an_error_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    path = tmp_path / "g.yaml"
    arm = {"model": "dnabert2", "tokenizer": "bpe", "init": "pretrained", "pretrained": "someone/some-model"}
    path.write_text(
        yaml.safe_dump(
            {"name": "g", "seeds": [1], "tasks": ["gue/tf_0"], "arms": {"a": arm}, "runs_dir": str(tmp_path / "runs")}
        )
    )
    with pytest.raises(
        ValueError,
        match=r"finetune a gue/tf_0 seed 1: the size of `pretrained: someone/some-model` "
        r"is unknown here .* set `preset:` on the arm",
    ):
        est.estimate(specmod.load_spec(path))


@pytest.mark.slow
def test_grid_cpu_estimate_within_2x_of_its_records():
    """The committed records of configs/grid_cpu.yaml hold each run's measured seconds and FLOPs; the estimate,
    made from the spec and the CPU throughput measured by `measure_cpu` (never from these records), must be
    within 2x of their summed train + eval time, and its FLOPs within 1.5x of theirs."""
    spec = specmod.load_spec(ROOT / "configs" / "grid_cpu.yaml")
    records = [rec for _, rec in iter_records(ROOT / "reports" / "cpu" / "records")]
    # the estimate of the arms the archive holds records of (arms added to the spec later have none yet)
    recorded = {rec["arm"].split("-learning_rate=")[0] for rec in records if rec["stage"] == "finetune"}
    spec["arms"] = {name: arm for name, arm in spec["arms"].items() if name in recorded}
    spec["comparisons"] = {}
    e = est.estimate(spec)
    assert e["total"]["runs"] == len(records) >= 972  # one estimated run per archived record
    hours = sum(r["cost"]["train_seconds"] + r["cost"]["eval_seconds"] for r in records) / 3600
    assert 0.5 * hours <= e["total"]["cpu_hours"] <= 2 * hours, (e["total"]["cpu_hours"], hours)
    flops = sum(r["cost"]["train_flops"] for r in records)
    assert 1 / 1.5 <= e["total"]["flops"] / flops <= 1.5


# ------------------------------------------------------------------------------------------ gpu_check.py


def test_gpu_check_refuses_without_cuda(capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    out = tmp_path / "table.md"
    assert gpu_check.main(["--out", str(out)]) == 2
    assert "no CUDA device here" in capsys.readouterr().err and not out.exists()


@pytest.mark.slow
def test_gpu_check_cpu_dry_path(tmp_path):
    out = tmp_path / "table.md"
    argv = [
        "--device",
        "cpu",
        "--steps",
        "2",
        "--tiny",
        "--batch",
        "2",
        "--bert-len",
        "24",
        "--conv-len",
        "40",
        "--out",
        str(out),
    ]
    assert gpu_check.main(argv) == 0
    rows = {tuple(c.strip() for c in line.strip("|").split("|")) for line in out.read_text().splitlines()[4:]}
    by = {(m, c): r for m, c, r in rows}
    for model in ("dnabert2 tiny", "convnova tiny", "unet small"):
        rel = float(by[(model, "bf16 vs fp32")].split("= ")[1].split(";")[0])
        assert 0 < rel < 0.1  # bf16 differs from fp32, and not by much
        assert by[(model, "fine-tune 2 steps, prom_core_tata")].startswith("2 steps: test MCC ")
    # the throughput row's FLOPs per step: 3 x FlopCounterMode's forward count of the same model and shape
    gflop = float(by[("convnova tiny", "train step")].split("tokens/s, ")[1].split(" ms/step, ")[1].split(" GFLOP")[0])
    assert gflop * 1e9 == pytest.approx(2 * 3 * _counted_forward("convnova", "tiny", 40), rel=1e-3)
    assert "MATH: runs" in by[("dnabert2 tiny", "SDPA backend")]


def test_model_config_from_a_spec_mapping_or_a_json_string():
    # grid_paper.yaml gives Basset its 1,000 bp window as a YAML mapping; the command line gives JSON text
    for given in ({"sequence_length": 1000}, '{"sequence_length": 1000}'):
        config = est._config({"model": "basset", "preset": "paper", "model_config": given})
        assert config.sequence_length == 1000
