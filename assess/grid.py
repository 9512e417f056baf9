"""Expand a grid spec (configs/grid_*.yaml) into train.py runs and run them.

    python -m assess.grid configs/grid_cpu.yaml            # run everything not done yet
    python -m assess.grid configs/grid_cpu.yaml --list     # show the runs and which are done

A run is done when its folder holds `results.json` (written atomically by train.py, never replaced),
so the runner can be interrupted at any point and restarted: finished runs are skipped, a run killed
mid-training continues from its last checkpoint (`--resume`), and no record is duplicated or lost.

Spec keys: `name`, `runs_dir`, `seeds`, `tasks` (names or patterns such as `gue/*`), `common` (fields
of every fine-tuning run), `task_overrides` (pattern -> fields for matching tasks; arms still win),
`pretrain` (name -> train.py fields; run first, once each), `arms` (name -> fields; `pretrained:
"@<pretrain name>"` points at that pretraining run's model; `sweep: {field: [values]}` makes one arm
per value, named `<arm>-<field>=<value>`), `comparisons` (question -> [[arm_a, arm_b],
...] pairs the report tests), `launcher` (command prefix, default: this Python; `inprocess` runs train.py in this process),
`references` (`source` plus `scores: {model: {task: score x 100}}`: published numbers the report shows
beside ours; they are context, never an arm or part of a test).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPEC_KEYS = {"name", "description", "runs_dir", "seeds", "tasks", "common", "pretrain", "arms", "comparisons",
             "launcher", "pretrain_common", "task_overrides", "references"}
QUESTIONS = ("architecture", "pretraining", "tokenizer", "corpus")


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
        return (self.out / "results.json").is_file()

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


def _expand_env(value):
    """`$VAR` / `${VAR}` in string values come from the environment (paths to genomes, weights)."""
    if isinstance(value, str):
        return os.path.expandvars(value)
    if isinstance(value, list):
        return [_expand_env(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand_env(v) for k, v in value.items()}
    return value


def load_spec(path: str | Path) -> dict:
    spec = _expand_env(yaml.safe_load(Path(path).read_text()))
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ValueError(f"{path}: unknown grid keys {sorted(unknown)}; valid: {sorted(SPEC_KEYS)}")
    for key in ("name", "seeds", "tasks", "arms"):
        if key not in spec:
            raise ValueError(f"{path}: missing grid key {key!r}")
    arm_names = expand_arms(spec["arms"])
    for question, pairs in (spec.get("comparisons") or {}).items():
        if question not in QUESTIONS:
            raise ValueError(f"{path}: comparison {question!r} is not one of {QUESTIONS}")
        for a, b in pairs:
            for arm in (a, b):
                if arm not in arm_names:
                    raise ValueError(f"{path}: comparison {question} names unknown arm {arm!r}")
    refs = spec.get("references") or {}
    if refs and not (isinstance(refs.get("source"), str) and isinstance(refs.get("scores"), dict)):
        raise ValueError(f"{path}: `references` needs `source` (where the numbers are published) and "
                         "`scores` ({model: {task: score x 100}})")
    tasks = set(expand_tasks(spec["tasks"])) if refs else set()
    for model, by_task in (refs.get("scores") or {}).items():
        for task in by_task:
            if task not in tasks:
                raise ValueError(f"{path}: reference {model!r} names task {task!r}, which is not in the grid's tasks")
    spec.setdefault("runs_dir", f"runs/{spec['name']}")
    return spec


def safe(name: str) -> str:
    return name.replace("/", "__")


def expand_tasks(patterns: list[str]) -> list[str]:
    """Task names, with shell-style patterns (`gue/*`, `nt/H3*`) expanded over the task registry."""
    import data_scripts  # noqa: F401  (fills the task registry)
    from dnalm_core.registry import TASKS

    out = []
    for pat in patterns:
        hits = fnmatch.filter(TASKS.names(), pat) if any(c in pat for c in "*?[") else [pat]
        if not hits:
            raise ValueError(f"task pattern {pat!r} matches no registered task")
        out.extend(h for h in hits if h not in out)
    return out


def expand_arms(arms: dict) -> dict:
    """An arm with `sweep: {field: [values]}` becomes one arm per value, named `<arm>-<field>=<value>`."""
    out = {}
    for name, fields_ in arms.items():
        fields_ = dict(fields_)
        sweep = fields_.pop("sweep", None)
        if not sweep:
            out[name] = fields_
            continue
        (key, values), = sweep.items()  # one swept field per arm keeps names readable
        for v in values:
            out[f"{name}-{key}={v}"] = {**fields_, key: v}
    return out


def expand(spec: dict) -> list[Run]:
    """Pretraining runs first (fine-tuning arms depend on them), then seeds x tasks x arms."""
    runs_dir = (ROOT / spec["runs_dir"]).resolve()
    pre_runs = {}
    for name, fields_ in (spec.get("pretrain") or {}).items():
        f = {**(spec.get("pretrain_common") or {}), **fields_}
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
