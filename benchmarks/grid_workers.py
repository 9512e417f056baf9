"""Grid throughput: one worker process with all CPU threads vs `--workers N` processes of 1/N of them each.

Both arms run the same small grid through the real command line (`python -m assess.grid SPEC [--workers N]`,
the in-process launcher, real train.py fine-tuning runs on the shipped gue/prom_core_tata task), each in a fresh
runs folder, one after the other on the same machine. Printed: wall seconds and runs per hour of each, and the
ratio workers / single (above 1: the workers finish more runs per hour). Small CPU models use several
one-thread processes better than one multi-thread process; a large model's matrix products do not gain.

    python benchmarks/grid_workers.py                       # 4 ConvNova runs (grid_cpu's size), 1 vs 2 workers
    python benchmarks/grid_workers.py --model dnabert2 --preset tiny --runs 6
Run it alone: other jobs on the same cores distort both arms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def spec_for(runs_dir: Path, args) -> dict:
    return {
        "name": "bench",
        "runs_dir": str(runs_dir),
        "launcher": "inprocess",
        "seeds": list(range(1, args.runs + 1)),
        "tasks": ["gue/prom_core_tata"],
        "common": {
            "model": args.model,
            "preset": args.preset,
            "tokenizer": "char",
            "max_train_samples": args.train_samples,
            "max_eval_samples": 400,
            "num_train_epochs": args.epochs,
            "per_device_train_batch_size": 16,
            "eval_strategy": "epoch",
            "save_strategy": "epoch",
            "disable_tqdm": True,
            "learning_rate": 1e-3,
        },
        "arms": {"a": {}},
    }


def timed_grid(folder: Path, args, workers: int) -> float:
    folder.mkdir(parents=True)
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(spec_for(folder / "runs", args)))
    cmd = [sys.executable, "-m", "assess.grid", str(path), *(["--workers", str(workers)] if workers > 1 else [])]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"grid failed ({workers} worker(s)):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    done = list((folder / "runs").rglob("results.json"))
    if len(done) != args.runs:
        sys.exit(f"expected {args.runs} records with {workers} worker(s), found {len(done)}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=4, help="fine-tuning runs per arm (seeds)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default="convnova")
    ap.add_argument("--preset", default="genomic_benchmark")
    ap.add_argument("--train-samples", type=int, default=2000, help="as in configs/grid_cpu.yaml")
    ap.add_argument("--epochs", type=int, default=3, help="as in configs/grid_cpu.yaml")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        single = timed_grid(Path(tmp) / "single", args, 1)
        multi = timed_grid(Path(tmp) / "multi", args, args.workers)
    out = {
        "runs": args.runs,
        "cpu_count": os.cpu_count(),
        "model": f"{args.model} ({args.preset})",
        "single_seconds": round(single, 1),
        f"workers{args.workers}_seconds": round(multi, 1),
        "single_runs_per_hour": round(3600 * args.runs / single, 1),
        f"workers{args.workers}_runs_per_hour": round(3600 * args.runs / multi, 1),
        "ratio_workers_over_single": round(single / multi, 3),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
