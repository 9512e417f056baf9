"""Run records (`results.json`): what ran, what it scored, what it cost, with which code.

A record is written once, atomically (temp file + rename in the same folder), and never replaced: a
second write to the same path is an error, so a finished result cannot be lost by a rerun.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import tempfile
import time
from importlib import metadata
from pathlib import Path

RECORD_NAME = "results.json"
ROOT = Path(__file__).resolve().parents[1]

# Fields every record has; the report and the tests check against this list.
RECORD_FIELDS = (
    "stage",
    "task",
    "model",
    "preset",
    "init",
    "pretrained_from",
    "tokenizer",
    "mode",
    "seed",
    "corpus",
    "problem_type",
    "primary_metric",
    "metrics",
    "cost",
    "versions",
    "dataset",
    "config",
    "run_name",
    "output_dir",
    "finished_at",
)


def build_record(
    *,
    run: dict,
    training: dict,
    seed: int,
    stage: str,
    preset: str,
    tokenizer: dict,
    corpus,
    problem_type: str,
    primary_metric: str,
    metrics: dict,
    dataset: dict,
    cost: dict,
    output_dir: Path,
    best_checkpoint,
    resume: dict,
    started_at: float | None = None,
) -> dict:
    """The record of a finished run. `run` and `training` are the run's settings (no secrets). `started_at`
    (epoch seconds) is when this process took the run folder: after a resume, the last segment's start."""
    return {
        "stage": stage,
        "task": run["task"],
        "model": run["model"],
        "preset": preset,
        "init": run["init"],
        "pretrained_from": run["pretrained"],
        "tokenizer": tokenizer,
        "mode": run["mode"],
        "seed": seed,
        "corpus": corpus,
        "problem_type": problem_type,
        "primary_metric": primary_metric,
        "metrics": metrics,
        "cost": cost,
        "versions": versions(),
        "dataset": dataset,
        "config": {"run": run, "training": training},
        "run_name": Path(output_dir).name,
        "arm": run.get("arm"),
        "output_dir": str(output_dir),
        "started_at": None if started_at is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_at)),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "best_checkpoint": best_checkpoint,
        "resume": resume,
    }


def git_commit(root: Path = ROOT) -> str | None:
    """The project's commit, with '-dirty' when the working tree has changes; None outside git."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("-dirty" if dirty else "")


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "tokenizers", "datasets", "accelerate", "peft", "evaluate", "dnalm-assess"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    out["dnalm_assess_commit"] = git_commit()
    return out


def write_record(path: str | os.PathLike, record: dict) -> Path:
    """Write `record` to `path` atomically; refuse to replace an existing record."""
    path = Path(path)
    missing = [f for f in RECORD_FIELDS if f not in record]
    if missing:
        raise ValueError(f"record is missing fields {missing}")
    if path.exists():
        raise FileExistsError(
            f"{path} already exists; a finished run's record is never overwritten "
            "(choose another output_dir or move the old run away)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".results.", suffix=".json.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            # strict JSON: NaN and infinities (e.g. AUROC of a one-class split) become null
            json.dump(_finite(record), fh, indent=2, sort_keys=False, default=_jsonable, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a record is meant to be read by others
        # os.link fails if the target exists, so two writers can never both "win"
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path


def read_record(path: str | os.PathLike) -> dict:
    with open(path) as fh:
        return json.load(fh)


def _finite(obj):
    """`obj` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:  # numpy / torch scalars
        return _finite(obj.item())
    return obj


def _jsonable(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


# ------------------------------------------------------------------ reading records (assess/ uses these)


def record_path(run_dir: str | os.PathLike) -> Path:
    """Where the record of the run in `run_dir` lives (whether or not it exists yet)."""
    return Path(run_dir) / RECORD_NAME


def has_record(run_dir: str | os.PathLike) -> bool:
    """Whether the run in `run_dir` finished: its record exists (records are written once, atomically)."""
    return record_path(run_dir).is_file()


def iter_records(folder: str | os.PathLike):
    """(path, record) for every run record under `folder`, in sorted path order."""
    for path in sorted(Path(folder).rglob(RECORD_NAME)):
        yield path, read_record(path)


def record_field(record: dict, dotted: str, default=None):
    """`record_field(rec, "cost.flops")`: a nested field by its dotted name; `default` when any part is absent
    (older records lack fields that later versions of train.py write)."""
    node = record
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node
