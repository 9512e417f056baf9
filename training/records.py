"""Run records (`results.json`): what ran, what it scored, what it cost, with which code.

A record is written once, atomically (temp file + rename in the same folder), and never replaced: a
second write to the same path is an error, so a finished result cannot be lost by a rerun.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

RECORD_NAME = "results.json"
ROOT = Path(__file__).resolve().parents[1]

# Fields every record has; the report and the tests check against this list.
RECORD_FIELDS = (
    "stage", "task", "model", "preset", "init", "pretrained_from", "tokenizer", "mode", "seed", "corpus",
    "problem_type", "primary_metric", "metrics", "cost", "versions", "dataset", "config", "run_name",
    "output_dir", "finished_at",
)


def git_commit(root: Path = ROOT) -> str | None:
    """The project's commit, with '-dirty' when the working tree has changes; None outside git."""
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
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
        raise FileExistsError(f"{path} already exists; a finished run's record is never overwritten "
                              "(choose another output_dir or move the old run away)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".results.", suffix=".json.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh, indent=2, sort_keys=False, default=_jsonable)
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


def _jsonable(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)
