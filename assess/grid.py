"""Expand a grid spec (configs/grid_*.yaml) into train.py runs and run them.

    python -m assess.grid configs/grid_cpu.yaml            # run everything not done yet
    python -m assess.grid configs/grid_cpu.yaml --list     # show the runs and which are done

A run is done when its folder holds its record (`training.records.RECORD_NAME`, written atomically by
train.py, never replaced), so the runner can be interrupted at any point and restarted: finished runs are
skipped, a run killed mid-training continues from its last checkpoint (`--resume`), and no record is
duplicated or lost.

The spec's keys, their validation and the expansion of tasks and arms live in assess/spec.py.
"""

from __future__ import annotations

import argparse
import fnmatch
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from training.records import has_record

from .spec import (QUESTIONS, ROOT, SPEC_KEYS, expand_arms, expand_tasks, load_spec,  # noqa: F401  (re-exported)
                   pretrain_fields, runs_dir_of, safe)


@dataclass
class Run:
    kind: str  # "pretrain" | "finetune"
    name: str  # arm or pretraining-run name
    task: str | None
    seed: int
    out: Path
    fields: dict = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return has_record(self.out)

    def args(self) -> list[str]:
        argv = []
        for key, value in self.fields.items():
            if value is None:
                continue
            argv.append(f"--{key}")
            if isinstance(value, (list, tuple)):
                argv.extend(str(v) for v in value)
            elif isinstance(value, bool):
                argv.append("true" if value else "false")
            else:
                argv.append(str(value))
        return argv


def expand(spec: dict) -> list[Run]:
    """Pretraining runs first (fine-tuning arms depend on them), then seeds x tasks x arms."""
    runs_dir = runs_dir_of(spec)
    pre_runs = {}
    for name, f in pretrain_fields(spec).items():
        f.setdefault("stage", "pretrain")
        if not f.get("corpus"):  # a registered corpus keeps its own name (the report groups regimes by it)
            f.setdefault("corpus_name", name)
        seed = int(f.pop("seed", 0))
        out = runs_dir / "pretrain" / safe(name)
        pre_runs[name] = Run("pretrain", name, None, seed, out, {**f, "seed": seed, "arm": name, "output_dir": str(out)})
    runs = list(pre_runs.values())
    tasks, arms = expand_tasks(spec["tasks"]), expand_arms(spec["arms"])
    for seed in spec["seeds"]:
        for task in tasks:
            per_task = {k: v for pat, o in (spec.get("task_overrides") or {}).items()
                        if fnmatch.fnmatch(task, pat) for k, v in o.items()}
            for arm, arm_fields in arms.items():
                f = {**(spec.get("common") or {}), **per_task, **arm_fields}
                pre = f.get("pretrained")
                if isinstance(pre, str) and pre.startswith("@"):
                    if pre[1:] not in pre_runs:
                        raise ValueError(f"arm {arm!r} refers to unknown pretraining run {pre!r}")
                    f["pretrained"] = str(pre_runs[pre[1:]].out / "model")
                    f.setdefault("init", "pretrained")
                bpe = f.get("bpe_path")
                if isinstance(bpe, str) and bpe.startswith("@"):
                    f["bpe_path"] = str(pre_runs[bpe[1:]].out / "model")
                out = runs_dir / "finetune" / safe(task) / arm / f"seed{seed}"
                runs.append(Run("finetune", arm, task, int(seed), out,
                                {**f, "stage": "finetune", "task": task, "seed": seed, "arm": arm, "output_dir": str(out)}))
    return runs


def _run_in_process(argv: list[str], log) -> int:
    """`launcher: inprocess`: call train.main in this process. On a small CPU machine this saves the
    ~7 s of interpreter start-up and imports that each of hundreds of short runs would otherwise pay."""
    import contextlib
    import traceback

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import train

    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        try:
            return train.main(argv)
        except Exception:  # a crash fails this run (logged), like a subprocess's non-zero exit
            traceback.print_exc()
            return 1


def launcher(spec: dict) -> list[str]:
    prefix = spec.get("launcher")
    if not prefix or prefix == "inprocess":
        return [sys.executable, str(ROOT / "train.py")]
    return [*shlex.split(prefix), str(ROOT / "train.py")]


def run_all(spec: dict, limit: int | None = None, dry: bool = False) -> list[Run]:
    runs = expand(spec)
    todo = [r for r in runs if not r.done]
    print(f"grid {spec['name']}: {len(runs)} runs, {len(runs) - len(todo)} done, {len(todo)} to run", flush=True)
    started = []
    for i, run in enumerate(todo[:limit] if limit is not None else todo, 1):
        resume = run.out.is_dir() and any(run.out.glob("checkpoint-*"))
        cmd = [*launcher(spec), *run.args(), *(["--resume", "true"] if resume else [])]
        label = f"[{i}/{len(todo)}] {run.kind} {run.name} {run.task or ''} seed {run.seed}".replace("  ", " ")
        print(f"{label}{' (resuming)' if resume else ''}", flush=True)
        if dry:
            print("   ", shlex.join(cmd))
            continue
        t0 = time.perf_counter()
        log = run.out.parent / f"{run.out.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as fh:
            if spec.get("launcher") == "inprocess":
                rc = _run_in_process(cmd[2:], fh)
            else:
                rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT).returncode
        if rc != 0:
            raise RuntimeError(f"{label} failed (exit {rc}); see {log}. Rerun the grid to retry it.")
        print(f"    done in {time.perf_counter() - t0:.0f} s", flush=True)
        started.append(run)
    return started


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec", help="grid YAML, e.g. configs/grid_cpu.yaml")
    ap.add_argument("--list", action="store_true", help="list the runs and whether each is done")
    ap.add_argument("--dry-run", action="store_true", help="print the train.py commands without running them")
    ap.add_argument("--limit", type=int, default=None, help="run at most this many of the pending runs")
    args = ap.parse_args(argv)
    spec = load_spec(args.spec)
    if args.list:
        for r in expand(spec):
            print(f"{'done ' if r.done else 'todo '} {r.kind:8s} {r.name:28s} {r.task or '-':28s} seed {r.seed}")
        return 0
    t0 = time.perf_counter()
    run_all(spec, limit=args.limit, dry=args.dry_run)
    print(f"grid {spec['name']}: finished this pass in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
