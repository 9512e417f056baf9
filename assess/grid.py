"""Expand a grid spec (configs/grid_*.yaml) into train.py runs and run them.

    python -m assess.grid configs/grid_cpu.yaml            # run everything not done yet
    python -m assess.grid configs/grid_cpu.yaml --commit   # ... and commit the archive after each run
    python -m assess.grid configs/grid_cpu.yaml --list     # show the runs and which are done
    python -m assess.grid configs/grid_paper.yaml --smoke  # every distinct arm, tiny, a few steps, on CPU
    python -m assess.grid configs/grid_paper.yaml --executor slurm   # one SLURM job per run (assess/slurm.py)

A run is done when its folder holds its record (`training.records.RECORD_NAME`, written atomically by
train.py, never replaced) or when the grid's archive holds a copy of it, so the runner can be interrupted at
any point and restarted, on this machine or another: finished runs are skipped, a run killed mid-training
continues from its last checkpoint (`--resume`), and no record is duplicated or lost.

The archive (`archive:` in the spec, a folder in the repository) keeps what a later session needs: after each
finished run the runner copies its record there, and for a pretraining run its `model/` folder too (the
fine-tuning arms start from the archived model when runs_dir is gone). With `--commit` it then commits the
archive, and only the archive (`git commit -- <archive>`: other changes, staged or not, stay out), one commit
per run, so a grid interrupted anywhere resumes where it stopped on a fresh clone.

With `sweep_seeds: N` in the spec, every sweep member runs on the first N seeds; on each later seed only the
member chosen on those seeds' validation scores runs (chosen by `spec.select_member`, as the report chooses),
so a 3-value sweep over 3 seeds costs 3 + 2 runs per arm x task instead of 9.

Progress: each run prints `[done/total]`, the elapsed time of this pass and an ETA from the mean duration of
the runs of the same kind (pretraining, fine-tuning) in this pass, or from the archived records before one
has finished.

`--smoke` runs every distinct arm of a spec once (each pretraining run, each fine-tuning arm with its first
sweep value, the first seed, one small shipped task) for a few steps with tiny stand-ins: tiny presets and small
FASTA corpora from the shared genomes; the arms that read the published weights read `--published DIR` (a folder
in the published DNABERT-2 layout), and without it are listed as not smoke-tested. Then it builds the report from
those records. It works in a temporary folder, removes it, and exits non-zero at the first failure, naming the
arm. With `--executor slurm` each smoke run is a SLURM job of one CPU.

Stopping: SIGTERM or SIGINT (Ctrl-C) reaches every train.py the grid runs (and every `--workers` worker) as
SIGTERM; train.py checkpoints and exits 75, and the grid exits 75 ("interrupted, resumable"). A train.py dies
with its grid even under `kill -9` (Linux: PR_SET_PDEATHSIG), and a restart that finds a run folder still held
by an earlier train.py waits for it, then adopts its record or resumes its checkpoint. See docs/grid_runs.md.

The spec's keys, their validation and the expansion of tasks and arms live in assess/spec.py.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import fcntl
import fnmatch
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from training.records import RECORD_NAME, has_record, read_record
from training.run_folder import EXIT_INTERRUPTED, LOCK_NAME

from .spec import (
    ROOT,
    archive_dir,
    expand_arms,
    expand_tasks,
    load_spec,  # noqa: F401
    pretrain_fields,
    runs_dir_of,
    safe,
    select_member,
    sweep_members,
    sweep_seeds,
    validate_spec,
)


@dataclass
class Run:
    kind: str  # "pretrain" | "finetune"
    name: str  # arm (sweep member) or pretraining-run name
    task: str | None
    seed: int
    out: Path
    fields: dict = field(default_factory=dict)
    archived: Path | None = None  # where the archive keeps this run (None: the grid has no archive)
    needs: dict = field(default_factory=dict)  # train.py field -> pretraining Run whose model/ it reads
    chosen_by: str | None = None  # a sweep member on a seed after `sweep_seeds`: runs only if chosen for this arm

    @property
    def done(self) -> bool:
        return has_record(self.out) or (self.archived is not None and has_record(self.archived))

    def record(self) -> dict | None:
        for folder in (self.out, self.archived):
            if folder is not None and has_record(folder):
                return read_record(folder / RECORD_NAME)
        return None

    @property
    def slot(self) -> tuple:
        """What the run stands for: itself, or for a conditional member the (arm, task, seed) it may fill."""
        return (self.kind, self.chosen_by or self.name, self.task, self.seed)

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
            elif isinstance(value, dict):
                argv.append(json.dumps(value))
            else:
                argv.append(str(value))
        return argv

    def label(self) -> str:
        return f"{self.kind} {self.name}" + (f" {self.task}" if self.task else "") + f" seed {self.seed}"


def _leakage_tasks(value, tasks: list[str]):
    """`@tasks`: the grid's tasks; patterns (`gue/*`) expand over the task registry; a list is kept."""
    if value == "@tasks":
        return list(tasks)
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and any(any(c in str(v) for c in "*?[") for v in value):
        return expand_tasks([str(v) for v in value])
    return value


def expand(spec: dict) -> list[Run]:
    """Pretraining runs first (fine-tuning arms depend on them), then seeds x tasks x arms. With `sweep_seeds`,
    a sweep member on a later seed is conditional (`chosen_by`): it runs only if chosen (see `chosen_member`)."""
    runs_dir = runs_dir_of(spec)
    archive = archive_dir(spec)
    tasks, arms = expand_tasks(spec["tasks"]), expand_arms(spec["arms"])
    members, sweeping = sweep_members(spec["arms"]), sweep_seeds(spec)

    def archived(out: Path) -> Path | None:
        return archive / out.relative_to(runs_dir) if archive is not None else None

    pre_runs = {}
    for name, f in pretrain_fields(spec).items():
        f.setdefault("stage", "pretrain")
        if not f.get("corpus"):  # a registered corpus keeps its own name (the report groups regimes by it)
            f.setdefault("corpus_name", name)
        if "leakage_tasks" in f:
            f["leakage_tasks"] = _leakage_tasks(f["leakage_tasks"], tasks)
        seed = int(f.pop("seed", 0))
        out = runs_dir / "pretrain" / safe(name)
        pre_runs[name] = Run(
            "pretrain", name, None, seed, out, {**f, "seed": seed, "arm": name, "output_dir": str(out)}, archived(out)
        )
    runs = list(pre_runs.values())
    for seed in spec["seeds"]:
        for task in tasks:
            per_task = {
                k: v
                for pat, o in (spec.get("task_overrides") or {}).items()
                if fnmatch.fnmatch(task, pat)
                for k, v in o.items()
            }
            for arm, arm_fields in arms.items():
                f = {**(spec.get("common") or {}), **per_task, **arm_fields}
                needs = {}
                for key in ("pretrained", "bpe_path"):
                    ref = f.get(key)
                    if isinstance(ref, str) and ref.startswith("@"):
                        if ref[1:] not in pre_runs:
                            raise ValueError(f"arm {arm!r} refers to unknown pretraining run {ref!r}")
                        needs[key] = pre_runs[ref[1:]]
                        f[key] = str(pre_runs[ref[1:]].out / "model")
                if "pretrained" in needs:
                    f.setdefault("init", "pretrained")
                out = runs_dir / "finetune" / safe(task) / arm / f"seed{seed}"
                chosen_by = members[arm][0] if arm in members and seed not in sweeping else None
                runs.append(
                    Run(
                        "finetune",
                        arm,
                        task,
                        int(seed),
                        out,
                        {**f, "stage": "finetune", "task": task, "seed": seed, "arm": arm, "output_dir": str(out)},
                        archived(out),
                        needs,
                        chosen_by,
                    )
                )
    return runs


def chosen_member(spec: dict, runs: list[Run], run: Run, strict: bool = True) -> str | None:
    """For a conditional run: the member of its arm chosen on the sweep seeds' validation scores for its task,
    by the report's own rule (`spec.select_member`). Until every sweep-seed run of the arm x task is finished:
    an error naming the missing run (strict) or None. The grid's order (seed by seed) finishes them first."""
    members, seeds = sweep_members(spec["arms"]), sweep_seeds(spec)
    by_member, missing = {}, []
    for r in runs:
        if (
            r.kind == "finetune"
            and r.task == run.task
            and r.seed in seeds
            and members.get(r.name, ("",))[0] == run.chosen_by
        ):
            rec = r.record()
            if rec is None:
                missing.append(r.label())
            else:
                by_member.setdefault(r.name, {})[r.seed] = rec
    sel = None if missing else select_member(run.chosen_by, run.task, by_member, members, seeds=seeds)
    if sel is None and strict:
        why = f"{len(missing)} of them are not finished ({missing[0]})" if missing else "none has a validation score"
        raise RuntimeError(
            f"{run.label()}: its learning rate is chosen on the sweep seeds' validation runs of "
            f"{run.chosen_by} on {run.task}, but {why}; run those first"
        )
    return None if sel is None else sel.member


# ------------------------------------------------------------------------------------------------ archive


def _copy_atomic(src: Path, dst: Path) -> None:
    """Copy a file or folder to `dst` through a temporary sibling, so `dst` is whole or absent. The sibling's
    name is fixed: one left by a killed copy is replaced by the next copy (the runner copies every finished but
    unarchived run before it commits anything)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f".{dst.name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
    if src.is_dir():
        # "*.py": the model code a saved folder carries (for trust_remote_code) is this repository's own code at
        # the record's commit; the archive loads through `import modeling`, so it keeps no copy of it
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns("checkpoint-*", "*.lock", "*.py"))
    else:
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def archive_run(run: Run) -> bool:
    """Copy a finished run's record (and a pretraining run's model/) into the archive. The record goes last:
    an archived record means the archived run is complete. Returns whether anything was copied."""
    if run.archived is None or has_record(run.archived) or not has_record(run.out):
        return False
    if run.kind == "pretrain":
        model = run.out / "model"
        if not model.is_dir():
            raise FileNotFoundError(f"{run.label()}: finished, but {model} is missing; the archive needs it")
        if not (run.archived / "model").is_dir():
            _copy_atomic(model, run.archived / "model")
    _copy_atomic(run.out / RECORD_NAME, run.archived / RECORD_NAME)
    return True


def model_folder(run: Run) -> Path:
    """A pretraining run's model folder: in runs_dir, or the archived copy when runs_dir lacks it."""
    local = run.out / "model"
    if (local / "config.json").is_file() or run.archived is None:
        return local
    return run.archived / "model" if (run.archived / "model" / "config.json").is_file() else local


def resolve_needs(run: Run) -> None:
    """Point a fine-tuning run at its pretraining run's model where it is now (runs_dir or the archive)."""
    for key, pre in run.needs.items():
        run.fields[key] = str(model_folder(pre))


def _git(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`git {shlex.join(args)}` failed in {cwd}: {(proc.stderr or proc.stdout).strip()}")
    return proc


def check_committable(archive: Path) -> Path:
    """The top of the git work tree holding `archive`; errors when there is none or git ignores the archive."""
    archive.mkdir(parents=True, exist_ok=True)
    top = Path(_git(["rev-parse", "--show-toplevel"], archive).stdout.strip())
    probe = archive.relative_to(top) / RECORD_NAME
    if _git(["check-ignore", "-q", "--no-index", str(probe)], top, check=False).returncode == 0:
        raise RuntimeError(
            f"git ignores {archive} (a .gitignore pattern matches it); choose an `archive` folder that "
            "is not ignored (e.g. reports/<grid>/records)"
        )
    return top


def commit_archive(archive: Path, message: str) -> bool:
    """Commit the archive folder and nothing else: `git add -- <archive>`, then `git commit -- <archive>` (a
    pathspec commit takes only those paths, whatever else is staged). Returns False when nothing changed."""
    top = check_committable(archive)
    rel = str(archive.relative_to(top))
    _git(["add", "--", rel], top)
    if _git(["diff", "--cached", "--quiet", "--", rel], top, check=False).returncode == 0:
        return False
    _git(["commit", "-q", "-m", message, "--", rel], top)
    return True


# ------------------------------------------------------------------------------------------------ running


def _run_in_process(argv: list[str], log) -> int:
    """`launcher: inprocess`: call train.main in this process. On a small CPU machine this saves the
    ~7 s of interpreter start-up and imports that each of hundreds of short runs would otherwise pay."""
    import contextlib
    import traceback

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import train

    # Loggers that hold the original stderr (transformers') and native code write to file descriptors 1 and 2:
    # point those at the log too for the run, so the runner's own lines stay readable.
    sys.stdout.flush(), sys.stderr.flush()
    saved = []
    try:
        for fd in (1, 2):
            saved.append((fd, os.dup(fd)))
            os.dup2(log.fileno(), fd)
    except (OSError, ValueError, AttributeError):  # no real descriptors (an embedding host): Python-level only
        for fd, copy_ in saved:
            os.dup2(copy_, fd), os.close(copy_)
        saved = []
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            try:
                return train.main(argv)
            except Exception:  # a crash fails this run (logged), like a subprocess's non-zero exit
                traceback.print_exc()
                return 1
    finally:
        log.flush()
        for fd, copy_ in saved:
            os.dup2(copy_, fd)
            os.close(copy_)


def launcher(spec: dict) -> list[str]:
    prefix = spec.get("launcher")
    if not prefix or prefix == "inprocess":
        return [sys.executable, str(ROOT / "train.py")]
    return [*shlex.split(prefix), str(ROOT / "train.py")]


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    """Runs done of the total, elapsed time of this pass, and an ETA per kind of run. The total counts a
    conditional sweep member's (arm, task, seed) once: one of its members will run."""

    def __init__(self, runs: list[Run], workers: int = 1):
        self.workers = workers
        self.total = len({r.slot for r in runs})
        self.refresh(runs)
        self.t0 = time.perf_counter()
        self.seconds: dict[str, list[float]] = {"pretrain": [], "finetune": []}
        self.prior: dict[str, list[float]] = {"pretrain": [], "finetune": []}
        for r in runs:  # before a run of this pass finishes, the archived records' own cost is the estimate
            if r.done:
                cost = r.record().get("cost") or {}
                self.prior[r.kind].append(float(cost.get("train_seconds") or 0) + float(cost.get("eval_seconds") or 0))

    def refresh(self, runs: list[Run]) -> None:
        """Count what is done on disk (other workers finish runs too)."""
        self.filled = {r.slot for r in runs if r.done}
        self.done = len(self.filled)

    def finished(self, run: Run, seconds: float) -> None:
        self.seconds[run.kind].append(seconds)

    def eta(self, todo: list[Run]) -> float | None:
        total = 0.0
        for kind in ("pretrain", "finetune"):
            left = len({r.slot for r in todo if r.kind == kind})
            if not left:
                continue
            seen = self.seconds[kind] or self.prior[kind]
            if not seen:
                return None
            total += left * sum(seen) / len(seen)
        return total / self.workers

    def line(self, todo: list[Run]) -> str:
        return (
            f"{self.done}/{self.total} done, elapsed {fmt_duration(time.perf_counter() - self.t0)}, "
            f"ETA {fmt_duration(self.eta(todo))}"
        )


# ------------------------------------------------------------------------------------------ stopping, restarting

# EX_TEMPFAIL (75): train.py exits so after checkpointing on SIGTERM; the grid too when it is stopped
INTERRUPTED = EXIT_INTERRUPTED
PR_SET_PDEATHSIG = 1  # linux/prctl.h
RESUMABLE = (
    "interrupted (exit 75): rerun the same command to continue; a run that was cut short resumes "
    "from its last checkpoint"
)


class GridInterrupted(RuntimeError):
    """A signal stopped the grid, or a train.py exited 75: its run resumes from its last checkpoint on restart."""


_children: list[subprocess.Popen] = []  # the child processes (train.py, or --workers' workers) a signal reaches
_stopping: list[int] = []  # the signals that asked this grid to stop


def _forward(signum, _frame) -> None:
    """SIGTERM or SIGINT: send the children SIGTERM (train.py checkpoints and exits 75 on it) and stop at the
    next safe point (`_check_stop`), never in the middle of archiving or committing."""
    _stopping.append(signum)
    for proc in _children:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)


@contextlib.contextmanager
def forwarding_signals():
    """Handle SIGTERM and SIGINT with `_forward` while the grid runs (main thread only)."""
    old = {sig: signal.signal(sig, _forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _check_stop() -> None:
    if _stopping:
        raise GridInterrupted(f"stopped by {signal.Signals(_stopping[0]).name}")


def _die_with_parent(parent: int) -> None:
    """preexec_fn of every child: on Linux the kernel sends it SIGTERM when the grid dies, `kill -9` included
    (prctl PR_SET_PDEATHSIG), so no train.py outlives its grid. Elsewhere a restart waits for an orphan
    instead (`_wait_for_holder`)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the grid died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _spawn(cmd: list[str], **kwargs) -> subprocess.Popen:
    """Start a child that signals reach through the grid only: its own session (a terminal's Ctrl-C goes to the
    grid, which forwards SIGTERM once), dying with the grid."""
    parent = os.getpid()
    # preexec_fn is unsafe only in a process with threads: the grid runs none (train.py runs in the child)
    proc = subprocess.Popen(
        cmd,
        start_new_session=True,
        preexec_fn=lambda: _die_with_parent(parent),  # noqa: PLW1509
        **kwargs,
    )
    _children.append(proc)
    if _stopping:  # a signal came while it started
        proc.send_signal(signal.SIGTERM)
    return proc


def _wait(proc: subprocess.Popen) -> int:
    try:
        return proc.wait()
    finally:
        _children.remove(proc)


def _wait_for_holder(run: Run, tag: str, poll_seconds: float = 1.0) -> None:
    """A train.py that outlived a killed grid (a launcher wrapper that PR_SET_PDEATHSIG does not reach, or not
    Linux) still holds its run folder's lock (training/run_folder.py). Starting a second one would be refused
    (exit 2), so wait for it: it either finishes (its record is then adopted) or leaves a checkpoint to resume."""
    path = run.out / LOCK_NAME
    if not path.is_file():
        return
    said = False
    while True:
        with _lock(path, wait=False) as free:
            if free:
                return
        if not said:
            try:
                holder = json.loads(path.read_text() or "{}")
            except ValueError:
                holder = {}
            _say(
                tag,
                f"    {run.out} is held by a running train.py (pid {holder.get('pid', '?')}, started "
                f"{holder.get('started', '?')}), perhaps left by a grid that was killed; waiting for it",
            )
            said = True
        _check_stop()
        time.sleep(poll_seconds)


def run_one(spec: dict, run: Run, log_path: Path) -> int:
    resume = run.out.is_dir() and any(run.out.glob("checkpoint-*"))
    cmd = [*launcher(spec), *run.args(), *(["--resume", "true"] if resume else [])]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as fh:
        if spec.get("launcher") == "inprocess":
            return _run_in_process(cmd[2:], fh)
        return _wait(_spawn(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT))


@contextlib.contextmanager
def _lock(path: Path, wait: bool = True):
    """An exclusive `flock` on `path` (created): yields True when held, False when another process holds it and
    `wait` is False. Workers of one grid share runs_dir, so the locks live there (runs/ is not committed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _say(tag: str, msg: str) -> None:
    print(f"{tag}{msg}", flush=True)


def run_all(
    spec: dict,
    limit: int | None = None,
    dry: bool = False,
    commit: bool = False,
    workers: int = 1,
    tag: str = "",
    poll_seconds: float = 5.0,
) -> list[Run]:
    """Run what is not done, in the grid's order. Several workers (`--workers`, or several `python -m
    assess.grid` processes on one runs_dir) share the work: each run is claimed with a lock first, a run whose
    pretraining or sweep-seed runs another worker is still running waits for them, and archiving plus its commit
    happen under one lock, so each commit holds exactly its run. One worker never waits: the order (pretraining,
    then seed by seed) finishes every dependency first."""
    runs = expand(spec)
    archive = archive_dir(spec)
    locks = runs_dir_of(spec) / ".grid-locks"
    if commit:
        if archive is None:
            raise ValueError(f"--commit needs an `archive:` folder in the spec {spec['name']!r}")
        check_committable(archive)
    # finished runs whose archive copy is missing (a pass killed between the record and the copy)
    with _lock(locks / "archive.lock"):
        synced = [r for r in runs if archive_run(r)]
        if synced and commit:
            commit_archive(archive, f"{spec['name']}: archive {len(synced)} finished run{'s' * (len(synced) != 1)}")
    progress = Progress(runs, workers)
    filled = {r.slot for r in runs if r.done}  # a conditional slot one member has filled needs no other member
    pending = [r for r in runs if not r.done and r.slot not in filled]
    groups: dict[tuple, list[Run]] = {}
    for r in runs:
        groups.setdefault(r.slot, []).append(r)
    _say(
        tag,
        f"grid {spec['name']}: {progress.total} runs, {progress.done} done, {progress.total - progress.done} to run"
        + (
            f" (later seeds run the learning rate chosen on seed{'s' * (len(sweep_seeds(spec)) > 1)} "
            f"{', '.join(map(str, sweep_seeds(spec)))})"
            if any(r.chosen_by for r in runs)
            else ""
        )
        + (f"; archive {archive}" if archive else ""),
    )
    started, listed = [], 0
    while pending:
        waiting = []
        for run in pending:
            if limit is not None and max(len(started), listed) >= limit:
                return started
            if any(r.done for r in groups[run.slot]):
                continue  # finished meanwhile (by another worker), or another member filled the slot
            if run.chosen_by:
                chosen = chosen_member(spec, runs, run, strict=False)
                if chosen is None and not dry:
                    waiting.append(run)  # its sweep-seed runs are still running in another worker
                    continue
                if chosen is not None and chosen != run.name:
                    continue  # another value was chosen on validation for this arm x task
            if not dry and not all(pre.done for pre in run.needs.values()):
                waiting.append(run)  # its pretraining run is still running in another worker
                continue
            with _lock(locks / "claims" / f"{safe(run.label())}.lock", wait=False) as mine:
                if not mine:
                    waiting.append(run)  # another worker is running it; it may still fail there
                    continue
                if run.done:
                    continue
                if not dry:
                    started.append(_execute(spec, run, runs, progress, archive, locks, commit, tag))
                    continue
                resolve_needs(run)
                listed += 1
                _say(tag, f"[{progress.done + 1}/{progress.total}] {run.label()}")
                print(
                    "   ",
                    ("(runs if chosen on validation) " if run.chosen_by else "")
                    + shlex.join([*launcher(spec), *run.args()]),
                )
        if dry or not waiting:
            break
        if len(waiting) == len(pending):  # nothing this worker could do: wait for the others
            time.sleep(poll_seconds)
            _check_stop()
        pending = waiting
    return started


def _execute(spec, run, runs, progress, archive, locks, commit, tag) -> Run:
    _check_stop()
    resolve_needs(run)
    progress.refresh(runs)
    t0 = time.perf_counter()
    _wait_for_holder(run, tag)
    log = run.out.parent / f"{run.out.name}.log"
    if run.done:  # the train.py waited for finished it
        _say(tag, f"[{progress.done + 1}/{progress.total}] {run.label()} (finished by the train.py waited for)")
    else:
        resume = run.out.is_dir() and any(run.out.glob("checkpoint-*"))
        _say(tag, f"[{progress.done + 1}/{progress.total}] {run.label()}{' (resuming)' if resume else ''}")
        rc = run_one(spec, run, log)
        if rc != 0 and (rc == INTERRUPTED or _stopping):
            raise GridInterrupted(f"{run.label()} was interrupted (exit {rc}); see {log}")
        if rc != 0:
            raise RuntimeError(f"{run.label()} failed (exit {rc}); see {log}. Rerun the grid to retry it.")
    seconds = time.perf_counter() - t0
    with _lock(locks / "archive.lock"):
        copied = archive_run(run)
        if commit and copied:
            commit_archive(
                archive, f"{spec['name']}: {run.name}" + (f" {run.task}" if run.task else "") + f" seed {run.seed}"
            )
    progress.finished(run, seconds)
    progress.refresh(runs)
    todo = [r for r in runs if r.slot not in progress.filled]
    _say(
        tag,
        f"    done in {seconds:.0f} s{'; archived' if copied else ''}{' and committed' if commit and copied else ''}"
        f" | {progress.line(todo)}",
    )
    return run


def run_workers(spec_path: str, workers: int, limit: int | None, commit: bool) -> int:
    """`--workers N`: N worker processes on this grid, each with an equal share of the CPU threads (small CPU
    models use two 1-thread processes better than one 2-thread process: benchmarks/grid_workers.py measured
    1.17x the runs per hour on 2 cores; a transformer's larger matrix products gain less). Each prints with its
    tag; the first failure is reported and the others finish their run. SIGTERM/SIGINT reach every worker, which
    passes SIGTERM to its train.py; a worker dies with this process (`_spawn`)."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    procs = []
    for k in range(1, workers + 1):
        cmd = [
            sys.executable,
            "-m",
            "assess.grid",
            spec_path,
            "--worker",
            f"{k}/{workers}",
            *(["--commit"] if commit else []),
            *(["--limit", str(limit)] if limit is not None else []),
        ]
        if _stopping:
            break
        procs.append(_spawn(cmd, cwd=ROOT, env=env))
        time.sleep(2)  # the first worker syncs the archive before the others look at it
    codes = [_wait(p) for p in procs]
    return INTERRUPTED if _stopping or INTERRUPTED in codes else max(codes)


# ------------------------------------------------------------------------------------------------ smoke test

SMOKE_TASK = "gue/prom_core_tata"  # ships in data/: nothing to build
SMOKE_STEPS = 2
# Fine-tuning and pretraining fields every smoke run gets (after the spec's own: these win).
SMOKE_FINETUNE = dict(
    max_steps=SMOKE_STEPS,
    max_train_samples=32,
    max_eval_samples=32,
    per_device_train_batch_size=8,
    per_device_eval_batch_size=128,
    eval_strategy="steps",
    eval_steps=SMOKE_STEPS,
    save_strategy="steps",
    save_steps=SMOKE_STEPS,
    logging_steps=1,
    warmup_steps=0,
    disable_tqdm=True,
    report_to="none",
    dataloader_num_workers=0,
    fp16=False,
    bf16=False,
    num_train_epochs=1,
    gradient_accumulation_steps=1,
)
SMOKE_PRETRAIN = dict(SMOKE_FINETUNE, window_length=128, num_windows=32, eval_windows=8, bpe_vocab_size=64)
for _key in ("max_train_samples", "max_eval_samples"):
    SMOKE_PRETRAIN.pop(_key)
# Tiny presets; a model without one keeps its smallest.
SMOKE_PRESETS = {"convnova": "tiny", "dnabert2": "tiny", "unet": "small", "basset": "small", "deepsea": "small"}
# Small real FASTA (../shared/data/genomes) standing in for the paper-scale corpora: one file per species.
SMOKE_FASTA = {
    "human": ["human_GRCh38_fragments_biopython.fa"],
    "multispecies": ["human_GRCh38_fragments_biopython.fa", "A_thaliana_chloroplast_NC_000932.fa"],
}


def _shared_data() -> Path:
    return Path(os.environ.get("DNALM_SHARED_DATA", ROOT.parent / "shared" / "data"))


def _is_hub_id(value) -> bool:
    return (
        isinstance(value, str)
        and not value.startswith(("@", ".", "/", "~"))
        and value.count("/") == 1
        and not Path(value).exists()
        and not (ROOT / value).exists()
    )


def _fasta(names: list[str], shared: Path) -> list[str]:
    paths = [shared / "genomes" / n for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"smoke corpora need {missing} (../shared/data/genomes)")
    return [str(p) for p in paths]


def published_arms(spec: dict) -> tuple[set[str], set[str]]:
    """(pretraining runs, arms) that read the published weights or tokenizer by Hub id, directly or through a
    pretraining run: what `--smoke` runs only with `--published DIR`."""
    pre = {
        name
        for name, f in pretrain_fields(spec).items()
        if any(_is_hub_id(f.get(k)) for k in ("pretrained", "bpe_path"))
    }
    arms = set()
    for name, f in spec["arms"].items():
        f = {**(spec.get("common") or {}), **(f or {})}
        refs = [f.get(k) for k in ("pretrained", "bpe_path")]
        if any(_is_hub_id(v) or (isinstance(v, str) and v.startswith("@") and v[1:] in pre) for v in refs):
            arms.add(name)
    return pre, arms


def _check_published(folder: Path) -> Path:
    missing = [n for n in ("config.json", "tokenizer.json") if not (folder / n).is_file()]
    weights = any((folder / n).is_file() for n in ("pytorch_model.bin", "model.safetensors"))
    if missing or not weights:
        missing += [] if weights else ["pytorch_model.bin or model.safetensors"]
        raise FileNotFoundError(
            f"--published {folder}: not a folder in the published DNABERT-2 layout (missing {', '.join(missing)})"
        )
    return folder


def smoke_runs(
    spec: dict, workdir: Path, task: str = SMOKE_TASK, published: Path | None = None
) -> tuple[dict, list[Run], list[str]]:
    """The smoke version of a spec, its runs and what it leaves out: every pretraining run, and one run per arm
    (first sweep value, first seed, `task`), all with tiny stand-ins, writing under `workdir`. The runs that read
    the published weights by Hub id read `published` (a folder in the published DNABERT-2 layout); without it
    they are left out, and named in the third value."""
    shared = _shared_data()
    s = copy.deepcopy({k: v for k, v in spec.items() if not k.startswith("_")})
    s.update(runs_dir=str(workdir / "runs"), launcher="inprocess", seeds=[spec["seeds"][0]], tasks=[task])
    for key in ("archive", "min_sweep", "references", "sweep_seeds"):
        s.pop(key, None)
    skipped = []
    if published is None:
        pre_out, arms_out = published_arms(s)
        for name in sorted(pre_out):
            del s["pretrain"][name]
        for name in sorted(arms_out):
            del s["arms"][name]
        skipped = [f"pretrain {n}" for n in sorted(pre_out)] + [f"finetune {n}" for n in sorted(arms_out)]
        s["comparisons"] = {
            q: [p for p in pairs if not set(p) & arms_out] for q, pairs in (s.get("comparisons") or {}).items()
        }
        s["compute_curve"] = {
            k: c for k, c in (s.get("compute_curve") or {}).items() if not {c["random"], *c["pretrained"]} & arms_out
        } or None
        if not s["compute_curve"]:
            s.pop("compute_curve")
    else:
        published = _check_published(Path(published))
    for fields_ in s["arms"].values():
        sweep = fields_.get("sweep")
        if sweep:
            ((key, values),) = sweep.items()
            fields_["sweep"] = {key: values[:1]}
    validate_spec(s, f"{spec['name']} (smoke)")
    runs = expand(s)
    data_dir = str(ROOT / "data")
    for run in runs:
        f = run.fields
        for key in ("pretrained", "bpe_path"):
            if key not in run.needs and _is_hub_id(f.get(key)):
                if f.get("model") != "dnabert2":
                    raise ValueError(
                        f"{run.label()}: {key}={f[key]!r} is a Hub id; the smoke test only stands in for "
                        "the published DNABERT-2"
                    )
                f[key] = str(published)
        if f.get("init", "random") == "random" or run.kind == "pretrain":
            f["preset"] = SMOKE_PRESETS.get(f.get("model"), f.get("preset"))
            f.pop("model_config", None)
        if run.kind == "pretrain":
            f.update(SMOKE_PRETRAIN)
            f["leakage_tasks"] = [task]
            if f.get("corpus"):
                f.update(
                    corpus_scale="paper",
                    corpus_fasta=_fasta(SMOKE_FASTA.get(f["corpus"], SMOKE_FASTA["human"]), shared),
                )
            elif f.get("pretrain_fasta"):
                f["pretrain_fasta"] = _fasta(SMOKE_FASTA["human"], shared)
            if f.get("tokenizer") == "bpe" and not f.get("bpe_path"):
                f["bpe_vocab_size"] = SMOKE_PRETRAIN["bpe_vocab_size"]
        else:
            f.update(SMOKE_FINETUNE, data_dir=data_dir)
    return s, runs, skipped


def _smoke_local(s: dict, runs: list[Run], workdir: Path, out) -> int:
    """Run the smoke runs one after another in this process; 1 at the first failure, naming the arm."""
    for run in runs:
        t0 = time.perf_counter()
        resolve_needs(run)
        log = workdir / "logs" / f"{run.kind}-{run.name}.log"
        rc = run_one(s, run, log)
        if rc != 0 or not has_record(run.out):
            tail = log.read_text().strip().splitlines()[-15:] if log.is_file() else []
            print(f"FAIL {run.kind} arm {run.name} (exit {rc}):\n    " + "\n    ".join(tail), file=out, flush=True)
            return 1
        print(f"ok   {run.kind:8s} {run.name} ({time.perf_counter() - t0:.1f} s)", file=out, flush=True)
    return 0


def smoke(
    spec: dict,
    task: str = SMOKE_TASK,
    keep: bool = False,
    report: bool = True,
    out=None,
    published: Path | None = None,
    executor: str = "local",
    slurm_overrides: list[str] | None = None,
    poll_seconds: float = 10.0,
) -> int:
    """Run every distinct arm of `spec` end to end, tiny and short. 0 when all pass; 1 at a failure. With
    `executor="slurm"` every run is a SLURM job (one CPU each, see assess/slurm.py) and all of them run."""
    out = out or sys.stdout
    workdir = Path(tempfile.mkdtemp(prefix=f"smoke-{spec['name']}-"))
    t_all = time.perf_counter()
    try:
        try:
            s, runs, skipped = smoke_runs(spec, workdir, task, published)
            if executor == "slurm":
                from . import slurm

                s["slurm"] = slurm.smoke_resources(spec, slurm_overrides or [])
        except (ValueError, FileNotFoundError) as err:
            print(f"FAIL setup: {err}", file=out, flush=True)
            return 1
        n_pre = sum(r.kind == "pretrain" for r in runs)
        print(
            f"smoke {spec['name']}: {n_pre} pretraining runs and {len(runs) - n_pre} fine-tuning arms on {task}, "
            f"{SMOKE_STEPS} steps each, in {workdir}" + (" (each a SLURM job)" if executor == "slurm" else ""),
            file=out,
            flush=True,
        )
        for name in skipped:
            print(
                f"not smoke-tested: {name} (reads the published DNABERT-2 weights; pass --published DIR, a folder "
                "in the published layout such as a local copy of zhihan1996/DNABERT-2-117M, to include it)",
                file=out,
                flush=True,
            )
        if executor == "slurm":
            try:
                rc = slurm.smoke_jobs(s, runs, out, poll_seconds)
            except RuntimeError as err:  # SLURM unreachable, sbatch refused the resources, ...
                print(f"FAIL slurm: {err}", file=out, flush=True)
                return 1
        else:
            rc = _smoke_local(s, runs, workdir, out)
        if rc:
            return rc
        if report:
            from .report import build_report

            t0 = time.perf_counter()
            try:
                build_report(s, workdir / "report")
            except Exception as err:  # the report must read every arm's record and the spec's comparisons
                print(f"FAIL report: {type(err).__name__}: {err}", file=out, flush=True)
                return 1
            print(f"ok   report   ({time.perf_counter() - t0:.1f} s)", file=out, flush=True)
        print(
            f"smoke {spec['name']}: all {len(runs)} runs passed in {time.perf_counter() - t_all:.0f} s"
            + (f"; {len(skipped)} not smoke-tested (above)" if skipped else ""),
            file=out,
            flush=True,
        )
        return 0
    finally:
        if keep:
            print(f"kept {workdir}", file=out)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec", help="grid YAML, e.g. configs/grid_cpu.yaml")
    ap.add_argument("--list", action="store_true", help="list the runs and whether each is done")
    ap.add_argument("--dry-run", action="store_true", help="print the train.py commands without running them")
    ap.add_argument("--limit", type=int, default=None, help="run at most this many of the pending runs")
    ap.add_argument(
        "--commit",
        action="store_true",
        help="after each finished run, commit the spec's archive folder (only it) with git",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run N worker processes sharing the grid, each with 1/N of the CPU threads (see run_workers)",
    )
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # "k/N": one of --workers' processes
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="run every distinct arm once, tiny and for a few steps, on CPU in a temporary folder",
    )
    ap.add_argument("--smoke-task", default=SMOKE_TASK, help=f"the task of --smoke (default {SMOKE_TASK}, shipped)")
    ap.add_argument("--keep", action="store_true", help="--smoke: keep the temporary folder")
    ap.add_argument("--estimate", action="store_true", help="print the runs, FLOPs, CPU/GPU hours and disk it needs")
    ap.add_argument(
        "--published",
        type=Path,
        default=None,
        help="--smoke: a folder in the published DNABERT-2 layout for the arms that read the published "
        "weights (without it they are listed as not smoke-tested)",
    )
    ap.add_argument(
        "--executor",
        choices=("local", "slurm"),
        default="local",
        help="local: run here (default); slurm: one SLURM job per run (docs/cluster.md)",
    )
    ap.add_argument(
        "--slurm",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="--executor slurm: override a key of the spec's `slurm:` section (pretrain.KEY for "
        "pretraining runs only; KEY=null removes it), e.g. --slurm partition=debug --slurm time=30",
    )
    args = ap.parse_args(argv)
    spec = load_spec(args.spec)
    spec["_path"] = args.spec
    if args.executor == "slurm" and (args.workers != 1 or args.limit is not None or args.dry_run or args.worker):
        ap.error("--workers, --limit and --dry-run are options of --executor local")
    if args.slurm and args.executor != "slurm":
        ap.error("--slurm KEY=VALUE needs --executor slurm")
    if args.estimate:
        from .estimate import estimate, format_estimate

        try:
            print(format_estimate(estimate(spec)))
        except ValueError as err:
            print(f"grid: error: {err}", file=sys.stderr)
            return 1
        return 0
    if args.smoke:
        return smoke(
            spec,
            task=args.smoke_task,
            keep=args.keep,
            published=args.published,
            executor=args.executor,
            slurm_overrides=args.slurm,
        )
    if args.executor == "slurm":
        from . import slurm

        return slurm.main(spec, args.slurm, list_only=args.list, commit=args.commit)
    if args.list:
        runs = expand(spec)
        filled = {r.slot for r in runs if r.done}
        for r in runs:
            state = "done " if r.done else "skip " if r.slot in filled else "todo?" if r.chosen_by else "todo "
            print(f"{state} {r.kind:8s} {r.name:40s} {r.task or '-':24s} seed {r.seed}")
        progress = Progress(runs)
        print(
            f"{progress.done}/{progress.total} done"
            + (
                "; todo?: a later seed's sweep member, run only if chosen on the sweep seeds' validation"
                if any(r.chosen_by for r in runs)
                else ""
            )
        )
        return 0
    t0 = time.perf_counter()
    if args.workers < 1:
        ap.error("--workers must be at least 1")
    if args.workers > 1 and not args.dry_run:
        with forwarding_signals():
            rc = run_workers(args.spec, args.workers, args.limit, args.commit)
        print(
            f"grid {spec['name']}: {args.workers} workers "
            + (
                RESUMABLE
                if rc == INTERRUPTED
                else f"finished this pass in {fmt_duration(time.perf_counter() - t0)}"
                + ("" if rc == 0 else f"; a worker failed (exit {rc})")
            )
        )
        return rc
    k, n = map(int, args.worker.split("/")) if args.worker else (1, 1)
    tag = f"w{k}/{n} " if args.worker else ""
    try:
        with forwarding_signals():
            run_all(spec, limit=args.limit, dry=args.dry_run, commit=args.commit, workers=n, tag=tag)
    except GridInterrupted as err:
        print(f"{tag}grid {spec['name']}: {err}; {RESUMABLE}", file=sys.stderr)
        return INTERRUPTED
    except (RuntimeError, ValueError) as err:
        print(f"{tag}grid: error: {err}", file=sys.stderr)
        return 1
    print(f"{tag}grid {spec['name']}: finished this pass in {fmt_duration(time.perf_counter() - t0)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
