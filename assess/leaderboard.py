"""Leaderboard submissions from run records, in the Hub's own formats.

    python -m assess.leaderboard configs/grid_cpu.yaml --out reports/cpu/leaderboard

Reads every fine-tuning record of the grid (runs_dir and archive). Writes, for each checkpoint on this machine:
  - `<checkpoint>/.eval_results/<benchmark>.yaml`: Hub eval-results entries (dataset id, task id, value,
    date, source), written with `huggingface_hub.eval_result_entries_to_yaml` and parsed back with
    `parse_eval_result_entries` as a check;
  - its model card's `model-index` (train.py renders it; re-read here with `ModelCard.load`);
and under --out:
  - `results/<arm>/<task>__seed<k>.json`: one Open-LLM-leaderboard-style results file per run
    (`config` with model name and revision, `results` by task);
  - `datasets/<benchmark>/eval.yaml`: for each benchmark dataset repo, the tasks it evaluates.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import yaml
from huggingface_hub import EvalResultEntry, ModelCard, eval_result_entries_to_yaml, parse_eval_result_entries

from dnalm_core.registry import TASKS

from .results import Run
from .spec import grid_records, load_spec

SOURCE_NAME = "dnalm-assess train.py"


def eval_entries(rec: dict) -> list[EvalResultEntry]:
    ds, run = rec["dataset"], Run.from_record(rec)
    return [
        EvalResultEntry(
            dataset_id=ds.get("hub_id") or ds["name"],
            task_id=ds.get("config") or run.task,
            value=round(run.score, 4),
            date=rec["finished_at"],
            notes=f"{run.metric.upper()} x 100 on the test split; seed {run.seed}; arm {run.arm}; "
            f"{run.regime}; tokenizer {run.tokens}",
        )
    ]


def write_checkpoint_eval_results(rec: dict) -> Path:
    model_dir = Path(rec["output_dir"]) / "model"
    bench = rec["dataset"].get("benchmark") or "custom"
    path = model_dir / ".eval_results" / f"{bench}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = eval_entries(rec)
    path.write_text(yaml.safe_dump(eval_result_entries_to_yaml(entries), sort_keys=False))
    # validate: the Hub's parser reads back exactly what we meant
    back = parse_eval_result_entries(yaml.safe_load(path.read_text()))
    assert [(e.dataset_id, e.task_id, e.value) for e in back] == [(e.dataset_id, e.task_id, e.value) for e in entries]
    return path


def check_model_index(rec: dict) -> None:
    card = ModelCard.load(Path(rec["output_dir"]) / "model" / "README.md")
    got = {(r.dataset_config, r.metric_type): r.metric_value for r in (card.data.eval_results or [])}
    want = round(float(rec["metrics"]["test"][rec["primary_metric"]]), 6)
    key = (rec["dataset"].get("config"), rec["primary_metric"])
    if got.get(key) != want:
        raise ValueError(f"model card of {rec['output_dir']} has model-index {got}, expected {key} = {want}")


def results_json(rec: dict) -> dict:
    run = Run.from_record(rec)
    return {
        "config": {
            "model_name": f"dnalm-assess/{rec.get('arm') or rec['run_name']}",
            "model_sha": rec["versions"].get("dnalm_assess_commit"),
            "model_dtype": "torch.float32",
            "model_arch": rec["model"],
            "init": rec["init"],
            # the pretraining corpus (the regime "pretrained: human" in the report and the Space); None for random
            # init and for published weights, whose corpus is not ours to name
            "corpus": run.corpus,
            "tokenizer": rec["tokenizer"],
            "mode": rec["mode"],
            "seed": rec["seed"],
        },
        "results": {
            rec["task"]: {
                rec["primary_metric"]: rec["metrics"]["test"][rec["primary_metric"]],
                **{k: v for k, v in rec["metrics"]["test"].items() if isinstance(v, float)},
            }
        },
        "versions": rec["versions"],
        "cost": rec["cost"],
    }


def benchmark_eval_yaml(bench: str, tasks: list[str]) -> dict:
    return {
        "name": f"{bench.upper()} (dnalm-assess packaging)",
        "description": f"Fine-tuning tasks of the {bench.upper()} benchmark, one dataset config per task; "
        "the primary metric of each task is scored on its test split.",
        "evaluation_framework": "dnalm-assess",
        "tasks": [
            {
                "id": TASKS.get(t).config_name if t in TASKS else t,
                "config": TASKS.get(t).config_name if t in TASKS else t,
                "split": "test",
            }
            for t in sorted(tasks)
        ],
    }


def export(spec: dict, out: Path) -> dict:
    """Every fine-tuning record of the grid (runs_dir and archive). Checkpoint files (`.eval_results`, the model
    card check) are written for checkpoints on this machine; a run known only from the archive gets its
    results file only (counted under `archived_only`)."""
    fine = [rec for _, rec in grid_records(spec) if rec["stage"] != "pretrain"]
    if not fine:
        raise ValueError("no fine-tuning records to export")
    written = defaultdict(list)
    by_bench = defaultdict(set)
    for rec in fine:
        if (Path(rec["output_dir"]) / "model" / "README.md").is_file():
            written["eval_results"].append(write_checkpoint_eval_results(rec))
            check_model_index(rec)
        else:
            written["archived_only"].append(Path(rec["output_dir"]))
        path = (
            out
            / "results"
            / (rec.get("arm") or rec["model"])
            / f"{rec['task'].replace('/', '__')}__seed{rec['seed']}.json"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results_json(rec), indent=2))
        written["results"].append(path)
        by_bench[rec["dataset"].get("benchmark") or "custom"].add(rec["task"])
    for bench, tasks in by_bench.items():
        path = out / "datasets" / bench / "eval.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(benchmark_eval_yaml(bench, sorted(tasks)), sort_keys=False))
        written["eval_yaml"].append(path)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Write Hub leaderboard submissions from a grid's run records.")
    ap.add_argument("spec")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    try:
        written = export(load_spec(args.spec), Path(args.out))
    except ValueError as err:
        print(f"leaderboard: error: {err}", file=sys.stderr)
        return 2
    for kind, paths in written.items():
        print(f"{kind}: {len(paths)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
