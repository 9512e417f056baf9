"""Run a grid on a SLURM cluster: `python -m assess.grid SPEC --executor slurm` (see docs/cluster.md).

One SLURM job per run, submitted through submitit (`pip install -e ".[slurm]"`) as job arrays: runs with the same
resources and the same dependencies form one array. The grid's order becomes job dependencies (`afterok`): a
fine-tuning run waits for its pretraining run, and on a seed after `sweep_seeds` the job of an (arm, task, seed)
waits for the sweep-seed runs of that arm x task and, once they are finished, runs the member chosen on their
validation scores (`grid.chosen_member`, the report's rule). A job whose dependency failed is cancelled by SLURM
(`--kill-on-invalid-dep=yes`), so it shows as failed instead of pending forever.

Preemption and time limits: each job asks for SIGUSR2 `signal_seconds` before its limit (submitit's
`--signal`). submitit then calls `GridJob.checkpoint`, which sends SIGTERM to train.py (train.py saves a
complete checkpoint and exits 75) and hands submitit the same job, which it requeues; the requeued job runs
train.py with `--resume`. A job that SLURM itself kills and requeues (preemption with PreemptMode=REQUEUE,
`scontrol requeue`) resumes the same way from the newest complete checkpoint.

The submitting process keeps a ledger (runs_dir/.slurm/ledger.json, rewritten atomically, under a lock) of the
job of every run it submitted. A rerun submits only the runs that are neither done (a record, in runs_dir or the
archive) nor queued or running in SLURM, so no run is ever submitted twice. It then waits for the grid's jobs,
copying each finished run's record into the archive and, with `--commit`, committing it as the local executor
does (`grid.archive_run`, `grid.commit_archive`). Ctrl-C stops the waiting only: the jobs go on, and a rerun
picks up where it stopped.

A pretraining run whose `slurm:` resources ask for `nodes` > 1 is one job over several nodes, not a submitit job:
`multinode_script` writes its batch script (`srun` starts one `accelerate launch` per node; machine rank, main
address and the number of machines come from SLURM's variables). submitit runs one Python function per task,
while `accelerate launch` must be the per-node process that starts one process per GPU, so a plain script is
simpler and can be read and run by hand.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from training.records import has_record

from .grid import (
    Run,
    _lock,
    archive_dir,
    archive_run,
    check_committable,
    chosen_member,
    commit_archive,
    expand,
    fmt_duration,
    launcher,
    resolve_needs,
    runs_dir_of,
    safe,
    sweep_members,
    sweep_seeds,
)
from .spec import ROOT, slurm_minutes, slurm_resources, validate_slurm

EX_TEMPFAIL = 75  # train.py's exit code after SIGTERM/SIGINT: a complete checkpoint is saved, no record
LIVE = {
    "PENDING": "pending",
    "CONFIGURING": "pending",
    "REQUEUED": "pending",
    "REQUEUE_FED": "pending",
    "REQUEUE_HOLD": "pending",
    "RESV_DEL_HOLD": "pending",
    "SUSPENDED": "pending",
    "RUNNING": "running",
    "COMPLETING": "running",
    "RESIZING": "running",
    "SIGNALING": "running",
    "STAGE_OUT": "running",
}
LOG_TAIL = 15


def slot_key(run: Run) -> str:
    """The ledger's name for what a run stands for (a conditional sweep member: its arm, task and seed)."""
    kind, name, task, seed = run.slot
    return f"{kind}/{name}/{task or '-'}/seed{seed}"


def train_log(run: Run) -> Path:
    """Where train.py's output goes: beside the run folder, as the local executor writes it."""
    return run.out.parent / f"{run.out.name}.log"


# ------------------------------------------------------------------------------------------------ the job


class GridJob:
    """What one SLURM job runs: one run of the grid (for a conditional slot, the member chosen on validation).

    It carries the runs it needs (its slot's runs, and for a conditional slot the sweep-seed runs it is chosen
    from), not the whole grid, so each job's pickle stays small. submitit pickles it at submission and calls it
    on the node; `checkpoint` makes it requeueable (submitit's Checkpointable protocol)."""

    def __init__(self, spec: dict, slot: list[Run], sweep_runs: list[Run], signal_seconds: int):
        self.spec, self.slot, self.sweep_runs, self.signal_seconds = spec, slot, sweep_runs, signal_seconds
        self._proc = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k != "_proc"}  # a process does not survive a requeue

    def __setstate__(self, state):
        self.__dict__.update(state, _proc=None)

    def pick(self) -> Run:
        first = self.slot[0]
        if not first.chosen_by:
            return first
        chosen = chosen_member(self.spec, self.sweep_runs, first, strict=True)
        return next(r for r in self.slot if r.name == chosen)

    def __call__(self) -> str:
        run = self.pick()
        if has_record(run.out):
            return str(run.out)  # finished before a requeue took effect
        resolve_needs(run)
        resume = run.out.is_dir() and any(run.out.glob("checkpoint-*"))
        cmd = [*launcher(self.spec), *run.args(), *(["--resume", "true"] if resume else [])]
        log = train_log(run)
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"{run.label()}{' (resuming)' if resume else ''}: {shlex.join(cmd)}\n  log: {log}", flush=True)
        with open(log, "a") as fh:
            # SLURM's --signal reaches every process of the step; train.py must not die of SIGUSR2 (its default
            # action): this process turns it into SIGTERM for train.py (see checkpoint). SIG_IGN survives exec.
            self._proc = subprocess.Popen(
                cmd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                preexec_fn=lambda: signal.signal(signal.SIGUSR2, signal.SIG_IGN),
            )
            rc = self._proc.wait()
        if rc == EX_TEMPFAIL:
            raise RuntimeError(
                f"{run.label()}: interrupted (train.py saved a checkpoint and exited {rc}); "
                "a requeued or resubmitted job resumes it"
            )
        if rc != 0 or not has_record(run.out):
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-LOG_TAIL:])
            raise RuntimeError(f"{run.label()}: train.py exited {rc}; the end of {log}:\n{tail}")
        return str(run.out)

    def checkpoint(self):
        """Called by submitit on SIGUSR2 (time limit or preemption): stop train.py with SIGTERM, let it save a
        complete checkpoint, and return this job for submitit to requeue (it resumes with --resume)."""
        import submitit

        if self._proc is not None and self._proc.returncode is None:
            print("SIGUSR2: stopping train.py (SIGTERM) so that it saves a checkpoint; then requeue", flush=True)
            self._proc.send_signal(signal.SIGTERM)
            # Not Popen.wait: this handler interrupted __call__'s wait, which holds the Popen's wait lock, so a
            # wait here could only time out. Watch for the exit without reaping it (WNOWAIT); __call__ reaps it.
            deadline = time.monotonic() + max(1, self.signal_seconds - 15)  # leave time to requeue
            while time.monotonic() < deadline and not _exited(self._proc.pid):
                time.sleep(0.5)
        return submitit.helpers.DelayedSubmission(self)


def _exited(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped
        return True


# ------------------------------------------------------------------------------------------------ ledger


def ledger_path(spec: dict) -> Path:
    return runs_dir_of(spec) / ".slurm" / "ledger.json"


def read_ledger(spec: dict) -> dict:
    path = ledger_path(spec)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RuntimeError(
            f"{path} is not valid JSON ({err}); it lists the SLURM jobs of this grid: restore it, or "
            "cancel the grid's jobs (squeue) and delete it to resubmit what is not done"
        ) from None


def write_ledger(spec: dict, ledger: dict) -> None:
    """Atomically: a killed submitter leaves the previous ledger or the new one, never half of one."""
    path = ledger_path(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(ledger, indent=1, sort_keys=True))
    os.replace(tmp, path)


def squeue_states(env: dict | None = None) -> dict[str, str]:
    """SLURM job id (`123`, or `123_4` for an array element) -> its state, for every job SLURM still queues or
    runs. Jobs that ended are not listed: a run's record, not SLURM's memory, says whether it finished."""
    try:
        proc = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i|%T"], capture_output=True, text=True, env=env, timeout=120
        )
    except FileNotFoundError:
        raise RuntimeError(
            "squeue is not installed here: run --executor slurm on a machine with SLURM's commands (a login node)"
        ) from None
    if proc.returncode != 0:
        raise RuntimeError(f"squeue failed: {(proc.stderr or proc.stdout).strip()}; is SLURM reachable from here?")
    return dict(line.strip().split("|", 1) for line in proc.stdout.splitlines() if "|" in line)


def run_states(runs: list[Run], ledger: dict, queued: dict[str, str]) -> dict[str, str]:
    """Slot key -> done / pending / running / failed / todo (never submitted)."""
    groups: dict[str, list[Run]] = {}
    for r in runs:
        groups.setdefault(slot_key(r), []).append(r)
    out = {}
    for key, group in groups.items():
        if any(r.done for r in group):
            out[key] = "done"
        elif key not in ledger:
            out[key] = "todo"
        else:
            out[key] = LIVE.get(queued.get(ledger[key]["job_id"], ""), "failed")
    return out


def failure_tail(runs: list[Run], entry: dict) -> list[str]:
    """The last lines of a failed run's logs: train.py's, else the job's own (submitit's stderr)."""
    for r in runs:
        if train_log(r).is_file() and train_log(r).stat().st_size:
            return [f"({train_log(r)})", *train_log(r).read_text(errors="replace").splitlines()[-LOG_TAIL:]]
    for name in ("stderr", "stdout"):
        path = Path(entry.get(name, ""))
        if path.is_file() and path.stat().st_size:
            return [f"({path})", *path.read_text(errors="replace").splitlines()[-LOG_TAIL:]]
    return ["(no log: the job never started; a job it depends on failed, or it was cancelled while pending)"]


# ------------------------------------------------------------------------------------------------ submission


def dependencies(spec: dict, run: Run, runs: list[Run], job_of: dict[str, str]) -> list[str]:
    """The SLURM jobs this run must wait for: its pretraining runs, and for a conditional slot the sweep-seed
    runs it is chosen from; only those not done (a done run has no job to wait for)."""
    deps = list(run.needs.values()) + (sweep_runs_of(spec, run, runs) if run.chosen_by else [])
    return sorted({job_of[slot_key(d)] for d in deps if not d.done})


def sweep_runs_of(spec: dict, run: Run, runs: list[Run]) -> list[Run]:
    """The sweep-seed runs a conditional slot is chosen from: every member of its arm, on its task."""
    members, seeds = sweep_members(spec["arms"]), sweep_seeds(spec)
    return [
        r
        for r in runs
        if r.kind == "finetune"
        and r.task == run.task
        and r.seed in seeds
        and members.get(r.name, ("",))[0] == run.chosen_by
    ]


def make_executor(spec: dict, res: dict, folder: Path, dependency: list[str]):
    import submitit

    ex = submitit.SlurmExecutor(folder=str(folder), max_num_timeout=res.get("max_requeues", 10))
    extra = {"kill-on-invalid-dep": "yes", "requeue": True}
    if dependency:
        extra["dependency"] = "afterok:" + ":".join(dependency)
    for flag in res.get("extra") or []:
        key, _, value = flag.lstrip("-").partition("=")
        extra[key] = value if value else True
    ex.update_parameters(
        job_name=f"{spec['name']}",
        time=slurm_minutes(res.get("time", "1:00:00")),
        nodes=1,
        ntasks_per_node=1,
        cpus_per_task=res.get("cpus", 1),
        signal_delay_s=res.get("signal_seconds", 300),
        stderr_to_stdout=False,
        setup=[
            f"cd {shlex.quote(str(ROOT))}",  # this checkout's code, whatever the environment installs
            f"export PYTHONPATH={shlex.quote(str(ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}",
        ],
        additional_parameters=extra,
        **({"partition": res["partition"]} if res.get("partition") else {}),
        **({"account": res["account"]} if res.get("account") else {}),
        **({"mem": str(res["mem"])} if res.get("mem") else {}),
        **({"gpus_per_node": res["gpus"]} if res.get("gpus") else {}),
    )
    return ex


def submit(spec: dict, runs: list[Run], out=None) -> list[str]:
    """Submit every run that is neither done nor queued nor running, in three waves (pretraining, the runs that
    need no choice, the conditional slots) so that each job's dependencies are submitted before it. Returns
    the slot keys submitted. Holds the ledger's lock throughout: two submitters of one grid cannot both submit."""
    out = out or sys.stdout
    folder = runs_dir_of(spec) / ".slurm"
    groups: dict[str, list[Run]] = {}
    for r in runs:
        groups.setdefault(slot_key(r), []).append(r)
    submitted = []
    with _lock(folder / "submit.lock"):
        ledger = read_ledger(spec)
        states = run_states(runs, ledger, squeue_states())
        job_of = {k: e["job_id"] for k, e in ledger.items() if states.get(k) in ("pending", "running")}
        missing = [k for k, st in states.items() if st in ("todo", "failed")]
        waves = (
            [k for k in missing if groups[k][0].kind == "pretrain"],
            [k for k in missing if groups[k][0].kind != "pretrain" and not groups[k][0].chosen_by],
            [k for k in missing if groups[k][0].chosen_by],
        )
        for wave in waves:
            arrays: dict[tuple, list[str]] = {}
            for key in wave:
                first = groups[key][0]
                res = slurm_resources(spec, first.kind)
                deps = dependencies(spec, first, runs, job_of)
                if int(res.get("nodes", 1)) > 1:
                    job_of[key] = submit_multinode(spec, first, res, deps)
                    _enter(ledger, key, job_of[key], {"stdout": str(folder / "jobs" / f"{job_of[key]}.out")})
                    write_ledger(spec, ledger)
                    submitted.append(key)
                    continue
                arrays.setdefault((json.dumps(res, sort_keys=True), tuple(deps)), []).append(key)
            for (res_json, deps), keys in arrays.items():
                res = json.loads(res_json)
                ex = make_executor(spec, res, folder / "jobs", list(deps))
                with ex.batch():
                    jobs = [
                        ex.submit(
                            GridJob(
                                spec,
                                groups[k],
                                sweep_runs_of(spec, groups[k][0], runs) if groups[k][0].chosen_by else [],
                                int(res.get("signal_seconds", 300)),
                            )
                        )
                        for k in keys
                    ]
                for key, job in zip(keys, jobs):
                    job_of[key] = job.job_id
                    _enter(ledger, key, job.job_id, {"stdout": str(job.paths.stdout), "stderr": str(job.paths.stderr)})
                write_ledger(spec, ledger)  # after each sbatch: a killed submitter forgets at most one array
                submitted += keys
                print(
                    f"submitted {len(keys)} run{'s' * (len(keys) != 1)} as job {jobs[0].job_id.split('_')[0]}"
                    + (f" (after {', '.join(deps)})" if deps else ""),
                    file=out,
                    flush=True,
                )
    return submitted


def _enter(ledger: dict, key: str, job_id: str, logs: dict) -> None:
    before = ledger.get(key)
    previous = [*before.get("previous", []), before["job_id"]] if before else []
    ledger[key] = {
        "job_id": job_id,
        "submitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **logs,
        **({"previous": previous} if previous else {}),
    }


# ------------------------------------------------------------------------------------------------ multi-node


def multinode_script(spec: dict, run: Run, res: dict, deps: list[str], log_dir: Path) -> str:
    """The batch script of a run over `nodes` nodes: the batch part (on the first node) starts one task per node
    with `srun`; each task (`--node`) runs `accelerate launch` with its node's rank. On SIGUSR2 (time limit or
    preemption) the batch part sends SIGTERM through srun to train.py, which saves a complete checkpoint, then
    requeues the job; the requeued job resumes from the newest complete checkpoint."""
    nodes, gpus = int(res["nodes"]), int(res.get("gpus") or 0)
    head = {
        "job-name": f"{spec['name']}",
        "nodes": nodes,
        "ntasks-per-node": 1,
        "cpus-per-task": res.get("cpus", 1),
        "time": slurm_minutes(res.get("time", "1:00:00")),
        "signal": f"B:USR2@{res.get('signal_seconds', 300)}",
        "output": str(log_dir / "%j.out"),
        "open-mode": "append",
        "kill-on-invalid-dep": "yes",
    }
    head.update(
        {
            k: v
            for k, v in (
                ("partition", res.get("partition")),
                ("account", res.get("account")),
                ("mem", res.get("mem")),
                ("gpus-per-node", gpus or None),
            )
            if v
        }
    )
    if deps:
        head["dependency"] = "afterok:" + ":".join(deps)
    lines = [
        "#!/bin/bash",
        *(f"#SBATCH --{k}={v}" for k, v in head.items()),
        "#SBATCH --requeue",
        *(f"#SBATCH {flag}" for flag in res.get("extra") or []),
    ]
    train = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "$MULTI",  # on CPU: gloo, one process a node
        "--num_machines",
        "$SLURM_NNODES",
        "--machine_rank",
        "$SLURM_NODEID",
        "--main_process_ip",
        "$MAIN",
        "--main_process_port",
        "$PORT",
        "--num_processes",
        "$NPROC",
        "--rdzv_backend",
        "static",
        "--same_network",
        str(ROOT / "train.py"),
        *run.args(),
    ]
    cmd = " ".join(a if a.startswith("$") else shlex.quote(a) for a in train)
    out = shlex.quote(str(run.out))
    return "\n".join(
        [
            *lines,
            f"""
# {run.label()}: written by assess/slurm.py (see docs/cluster.md)
set -uo pipefail
cd {shlex.quote(str(ROOT))}
export PYTHONPATH={shlex.quote(str(ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}
if [ "${{1:-}}" = "--node" ]; then
  # one task per node: rank, main address and number of machines from SLURM's variables
  MAIN=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
  PORT=$((29500 + ${{SLURM_JOB_ID:-0}} % 1000))
  NPROC=$((SLURM_NNODES * {max(gpus, 1)}))
  MULTI=--multi_gpu  # one process per GPU (on CPU, per node) over every node; accelerate wants >= 2 for it
  if [ "$NPROC" -lt 2 ]; then MULTI=--num_cpu_threads_per_process=${{SLURM_CPUS_PER_TASK:-1}}; fi
  RESUME=()
  if compgen -G {out}/checkpoint-\\* > /dev/null; then RESUME=(--resume true); fi
  echo "node $SLURM_NODEID of $SLURM_NNODES, main $MAIN:$PORT ${{RESUME[*]}}"
  exec {cmd} "${{RESUME[@]}}"
fi
srun --kill-on-bad-exit=1 --ntasks-per-node=1 bash "{log_dir}/{safe(slot_key(run))}.sbatch" --node &
STEP=$!
# time limit or preemption: train.py saves a complete checkpoint on SIGTERM (exit 75); then requeue
requeue() {{
  echo "SIGUSR2: checkpoint, then requeue"; kill -TERM $STEP; wait $STEP; scontrol requeue "$SLURM_JOB_ID"; exit 0
}}
trap requeue USR2
wait $STEP
RC=$?
wait $STEP 2> /dev/null
exit $RC
""",
        ]
    )


def submit_multinode(spec: dict, run: Run, res: dict, deps: list[str]) -> str:
    """Write the run's batch script beside its job logs and `sbatch` it; the job id."""
    resolve_needs(run)
    log_dir = runs_dir_of(spec) / ".slurm" / "jobs"
    log_dir.mkdir(parents=True, exist_ok=True)
    script = log_dir / f"{safe(slot_key(run))}.sbatch"
    script.write_text(multinode_script(spec, run, res, deps, log_dir))
    proc = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"sbatch {script} failed: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout.strip().split(";")[0]


# ------------------------------------------------------------------------------------------------ waiting


def gather(spec: dict, runs: list[Run], commit: bool) -> list[Run]:
    """Copy every finished run's record into the archive and, with `commit`, commit each one as the local
    executor does (same lock, same message)."""
    archive = archive_dir(spec)
    copied = []
    with _lock(runs_dir_of(spec) / ".grid-locks" / "archive.lock"):
        for run in runs:
            if archive_run(run):
                copied.append(run)
                if commit:
                    commit_archive(
                        archive,
                        f"{spec['name']}: {run.name}" + (f" {run.task}" if run.task else "") + f" seed {run.seed}",
                    )
    return copied


def wait(
    spec: dict, runs: list[Run], commit: bool, poll_seconds: float = 30.0, out=None, show_failures: bool = True
) -> int:
    """Until no job of the grid is queued or running: gather finished runs, print the count of each state when
    it changes. Then list the failed runs with their log tails; 1 if any failed."""
    out = out or sys.stdout
    t0, last = time.perf_counter(), None
    while True:
        for run in gather(spec, runs, commit):
            print(f"    finished: {run.label()}; archived" + (" and committed" if commit else ""), file=out, flush=True)
        states = run_states(runs, read_ledger(spec), squeue_states())
        counts = {s: sum(v == s for v in states.values()) for s in ("done", "running", "pending", "failed", "todo")}
        line = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        if line != last:
            print(f"grid {spec['name']} [{fmt_duration(time.perf_counter() - t0)}]: {line}", file=out, flush=True)
            last = line
        if not counts["running"] + counts["pending"]:
            break
        time.sleep(poll_seconds)
    gather(spec, runs, commit)
    if show_failures:
        print_failures(spec, runs, states, out)
    return 1 if counts["failed"] else 0


def print_failures(spec: dict, runs: list[Run], states: dict[str, str], out) -> None:
    ledger = read_ledger(spec)
    for key, state in states.items():
        if state == "failed":
            group = [r for r in runs if slot_key(r) == key]
            print(
                f"FAILED {key} (job {ledger[key]['job_id']}):\n    " + "\n    ".join(failure_tail(group, ledger[key])),
                file=out,
                flush=True,
            )


def list_runs(spec: dict, runs: list[Run], out=None) -> int:
    """`--list --executor slurm`: each run's state (done, running, pending, failed, todo) and SLURM job; the log
    tail of each failed run."""
    out = out or sys.stdout
    ledger = read_ledger(spec)
    states = run_states(runs, ledger, squeue_states())
    seen = set()
    for r in runs:
        key = slot_key(r)
        if key in seen:
            continue
        seen.add(key)
        job = ledger.get(key, {}).get("job_id", "-")
        name = r.chosen_by + " (chosen on validation)" if r.chosen_by else r.name
        print(f"{states[key]:8s} {r.kind:8s} {name:40s} {r.task or '-':24s} seed {r.seed:<3} job {job}", file=out)
    counts = {s: sum(v == s for v in states.values()) for s in ("done", "running", "pending", "failed", "todo")}
    print(", ".join(f"{n} {s}" for s, n in counts.items() if n), file=out)
    print_failures(spec, runs, states, out)
    return 0


def run_slurm(spec: dict, commit: bool, poll_seconds: float = 30.0, out=None) -> int:
    """`--executor slurm`: archive what finished, submit what is missing, wait for the grid's jobs."""
    out = out or sys.stdout
    runs = expand(spec)
    if commit:
        if archive_dir(spec) is None:
            raise ValueError(f"--commit needs an `archive:` folder in the spec {spec['name']!r}")
        check_committable(archive_dir(spec))
    gather(spec, runs, commit)
    keys = submit(spec, runs, out)
    print(
        f"grid {spec['name']}: submitted {len(keys)} run{'s' * (len(keys) != 1)}; waiting for the grid's jobs "
        "(Ctrl-C stops waiting; the jobs go on, and a rerun gathers them)",
        file=out,
        flush=True,
    )
    return wait(spec, runs, commit, poll_seconds, out)


# ------------------------------------------------------------------------------------------------ entry points


def apply_overrides(section: dict | None, items: list[str]) -> dict:
    """`--slurm KEY=VALUE` on top of the spec's `slurm:` section (`pretrain.KEY=VALUE`: pretraining runs only;
    `KEY=null` removes the key). Values are YAML (`gpus=2` is a number, `extra=[--qos=high]` a list)."""
    import yaml

    out = json.loads(json.dumps(section or {}))
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--slurm {item!r}: expected KEY=VALUE, e.g. --slurm partition=debug")
        value = yaml.safe_load(raw) if raw else None
        target = out
        if key.startswith("pretrain."):
            target, key = out.setdefault("pretrain", {}), key[len("pretrain.") :]
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    validate_slurm(out, "--slurm overrides on the spec's slurm: section")
    return out


def smoke_resources(spec: dict, overrides: list[str]) -> dict:
    """A smoke run's resources: one CPU and 30 minutes, no GPU and one node, on the spec's partition and account
    with its extra flags (where the cluster wants them), then the command line's overrides."""
    section = spec.get("slurm") or {}
    keep = {k: section[k] for k in ("partition", "account", "extra") if section.get(k) is not None}
    return apply_overrides({**keep, "cpus": 1, "time": 30}, overrides)


def smoke_jobs(spec: dict, runs: list[Run], out, poll_seconds: float) -> int:
    """`--smoke --executor slurm`: submit every smoke run as a SLURM job, wait for all of them, then one line per
    run (ok, or FAIL with its log tail). 1 when any failed."""
    submit(spec, runs, out)
    wait(spec, runs, commit=False, poll_seconds=poll_seconds, out=out, show_failures=False)
    ledger, failed = read_ledger(spec), 0
    for run in runs:
        job = ledger.get(slot_key(run), {}).get("job_id", "-")
        if has_record(run.out):
            print(f"ok   {run.kind:8s} {run.name} (SLURM job {job})", file=out, flush=True)
        else:
            failed += 1
            tail = failure_tail([run], ledger.get(slot_key(run), {}))
            print(
                f"FAIL {run.kind} arm {run.name} (SLURM job {job}):\n    " + "\n    ".join(tail), file=out, flush=True
            )
    return 1 if failed else 0


def main(
    spec: dict, overrides: list[str], list_only: bool = False, commit: bool = False, poll_seconds: float = 30.0
) -> int:
    """`python -m assess.grid SPEC --executor slurm [--list] [--commit] [--slurm KEY=VALUE ...]`."""
    try:
        spec["slurm"] = apply_overrides(spec.get("slurm"), overrides)
        if list_only:
            return list_runs(spec, expand(spec))
        return run_slurm(spec, commit, poll_seconds)
    except (RuntimeError, ValueError) as err:
        print(f"grid: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"\ngrid {spec['name']}: stopped waiting; the submitted jobs go on (squeue). Rerun the same command to "
            "gather them and submit what is missing.",
            file=sys.stderr,
        )
        return 130
