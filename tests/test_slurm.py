"""`python -m assess.grid SPEC --executor slurm` against a real one-node SLURM cluster (tests/slurm_cluster.py):
every run a SLURM job, the grid's order as job dependencies, requeue and resume, failures with their log tails,
resubmission of only what is missing, and the multi-node batch script run as two gloo processes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from slurm_cluster import slurm_cluster  # noqa: F401  (the session fixture)
from standins import make_published_standin

from assess import grid, slurm
from assess import spec as specmod
from training.records import RECORD_NAME, read_record

ROOT = Path(__file__).resolve().parents[1]
TASK = "gue/prom_core_tata"  # ships in data/
FASTA = "human_GRCh38_fragments_biopython.fa"  # in the shared data's genomes/
FAST = dict(
    max_train_samples=64,
    max_eval_samples=32,
    per_device_train_batch_size=8,
    per_device_eval_batch_size=64,
    logging_steps=1,
    warmup_steps=0,
    disable_tqdm=True,
    report_to="none",
    dataloader_num_workers=0,
    data_dir=str(ROOT / "data"),
)
# what differs between two executions of the same run: timings (every `*seconds` key, the Trainer's runtime,
# clock times), the machine (peak memory, host), the job, the folder it ran in (replaced by <runs>)
VOLATILE = {
    "train_runtime_trainer",
    "peak_memory_bytes",
    "started_at",
    "finished_at",
    "created_at",
    "host",
    "hostname",
    "slurm_job_id",
}


@pytest.fixture
def cluster_env(slurm_cluster, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    return slurm_cluster


def _spec(tmp_path: Path, **spec) -> dict:
    spec.setdefault("runs_dir", str(tmp_path / "runs"))
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return specmod.load_spec(path)


def _comparable(rec: dict, *folders: Path) -> dict:
    """The record without timings and host, with the run's folder written as <runs>."""
    text = json.dumps(rec, sort_keys=True)
    for f in folders:
        text = text.replace(str(f), "<runs>")
    return _drop(json.loads(text))


def _drop(value):
    if isinstance(value, dict):
        return {k: _drop(v) for k, v in value.items() if k not in VOLATILE and not k.endswith("seconds")}
    if isinstance(value, list):
        return [_drop(v) for v in value]
    return value


def _leaf_diff(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _leaf_diff(a.get(k), b.get(k), f"{path}.{k}")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _kept(text: str) -> Path:
    return Path(re.search(r"^kept (.+)$", text, re.M)[1])


def _jobcomp_until(cluster, job_ids: set[str], timeout: float = 60.0) -> dict[str, dict]:
    """The jobcomp records by job id ("<array>_<task>" for array tasks), once every id in `job_ids` is there:
    slurmctld appends a job's line shortly after the job leaves the queue, so the last one can lag."""
    t0 = time.monotonic()
    while True:
        finished = {
            f"{j['ArrayJobId']}_{j['ArrayTaskId']}" if "ArrayJobId" in j else j["JobId"]: j
            for j in cluster.jobcomp_records()
        }
        if job_ids <= set(finished) or time.monotonic() - t0 > timeout:
            return finished
        time.sleep(1)


def _show_job(cluster, job_id: str) -> dict:
    text = cluster.scontrol("show", "job", job_id).stdout
    return dict(kv.split("=", 1) for kv in text.split() if "=" in kv)


@pytest.mark.slow
def test_paper_grid_smoke_runs_as_slurm_jobs_with_the_local_records(cluster_env, shared_data, tmp_path, monkeypatch):
    """Every run of `grid_paper.yaml --smoke` is a SLURM job that COMPLETED (SLURM's jobcomp file), each fine-tune
    after its pretraining job; and the records equal the local executor's, field by field, except timings and host
    (compared on a pretraining run, a fine-tune from it, and the published and random-init arms, to keep the
    test short: the local executor runs those four again)."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    spec = specmod.load_spec(ROOT / "configs" / "grid_paper.yaml")
    pub = make_published_standin(tmp_path / "published", shared_data)
    out = io.StringIO()
    assert grid.smoke(spec, out=out, published=pub, executor="slurm", poll_seconds=2, keep=True) == 0, out.getvalue()
    text = out.getvalue()
    on_slurm = _kept(text)
    ledger = json.loads((on_slurm / "runs" / ".slurm" / "ledger.json").read_text())
    s, runs, skipped = grid.smoke_runs(spec, on_slurm, published=pub)
    # one run per pretraining run and per distinct fine-tuning arm of the spec (7 + 14 when this was written)
    n_arms = len(spec["pretrain"]) + len(spec["arms"])
    assert not skipped and {slurm.slot_key(r) for r in runs} == set(ledger) and len(runs) == n_arms >= 21
    assert "(each a SLURM job)" in text and "ok   report" in text and f"all {n_arms} runs passed" in text
    finished = _jobcomp_until(cluster_env, {entry["job_id"] for entry in ledger.values()})
    for key, entry in ledger.items():
        assert finished[entry["job_id"]]["JobState"] == "COMPLETED", key
    for r in runs:
        for pre in r.needs.values():
            pre_job = finished[ledger[slurm.slot_key(pre)]["job_id"]]
            assert pre_job["EndTime"] <= finished[ledger[slurm.slot_key(r)]["job_id"]]["StartTime"]

    local = tmp_path / "local"
    s_local, local_runs, _ = grid.smoke_runs(spec, local, published=pub)
    some = [
        r
        for r in local_runs
        if r.name.split("-learning_rate=")[0] in ("convnova-hg38", "dnabert2-published", "dnabert2-random")
    ]
    assert [r.kind for r in some] == ["pretrain", "finetune", "finetune", "finetune"]
    assert grid._smoke_local(s_local, some, local, io.StringIO()) == 0
    for r in some:
        rel = r.out.relative_to(local / "runs")
        a = _comparable(read_record(r.out / RECORD_NAME), local / "runs")
        b = _comparable(read_record(on_slurm / "runs" / rel / RECORD_NAME), on_slurm / "runs")
        assert a == b, (rel, _leaf_diff(a, b))


def test_grid_order_becomes_job_dependencies(cluster_env, tmp_path, capsys):
    """Pretraining before its fine-tunes; with `sweep_seeds: 1`, a later seed's job waits for the sweep-seed runs of
    its arm x task: read back from `scontrol show job`. Held jobs (`--hold`): nothing runs."""
    spec = _spec(
        tmp_path,
        name="deps",
        seeds=[1, 2],
        sweep_seeds=1,
        tasks=[TASK],
        pretrain={"pre": {"model": "convnova", "tokenizer": "char", "preset": "tiny"}},
        arms={
            "ft": {
                "model": "convnova",
                "tokenizer": "char",
                "pretrained": "@pre",
                "sweep": {"learning_rate": [0.001, 0.003]},
            },
            "rnd": {
                "model": "convnova",
                "tokenizer": "char",
                "preset": "tiny",
                "sweep": {"learning_rate": [0.001, 0.003]},
            },
        },
        slurm={"cpus": 1, "time": "0:10:00", "extra": ["--hold"], "pretrain": {"time": 20}},
    )
    runs = grid.expand(spec)
    try:
        keys = slurm.submit(spec, runs, out=io.StringIO())
        assert slurm.submit(spec, runs, out=io.StringIO()) == []  # queued: never submitted twice
        ledger = slurm.read_ledger(spec)
        job = {k: e["job_id"] for k, e in ledger.items()}
        assert set(keys) == set(job) and len(job) == 1 + 2 * 2 + 2 * 1  # pretrain, seed 1's sweep, a slot on seed 2
        shown = {k: _show_job(cluster_env, j) for k, j in job.items()}
        pre = job["pretrain/pre/-/seed0"]
        assert shown["pretrain/pre/-/seed0"]["TimeLimit"] == "00:20:00"
        for lr in ("0.001", "0.003"):
            assert shown[f"finetune/ft-learning_rate={lr}/{TASK}/seed1"]["Dependency"] == f"afterok:{pre}(unfulfilled)"
            assert shown[f"finetune/rnd-learning_rate={lr}/{TASK}/seed1"]["Dependency"] == "(null)"
        for arm in ("ft", "rnd"):
            deps = shown[f"finetune/{arm}/{TASK}/seed2"]["Dependency"]
            want = sorted(job[f"finetune/{arm}-learning_rate={lr}/{TASK}/seed1"] for lr in ("0.001", "0.003"))
            assert sorted(re.findall(r"afterok:(\d+_\d+)", deps)) == want, deps
        assert all(s["TimeLimit"] == "00:10:00" for k, s in shown.items() if k.startswith("finetune"))
        listing = io.StringIO()
        slurm.list_runs(spec, runs, out=listing)
        assert "7 pending" in listing.getvalue()
        assert "pending  finetune ft (chosen on validation)" in listing.getvalue()
        capsys.readouterr()
        assert grid.main([str(tmp_path / "deps.yaml"), "--executor", "slurm", "--list"]) == 0  # the command line
        assert capsys.readouterr().out == listing.getvalue()
    finally:
        subprocess.run(["scancel", *job.values()], env=cluster_env.env, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("interrupt", ["scontrol requeue", "SIGUSR2"])
def test_requeued_job_resumes_with_the_uninterrupted_metrics(cluster_env, tmp_path, interrupt):
    """`scontrol requeue` (SLURM kills and requeues the job), or SIGUSR2 as before a time limit (submitit calls
    GridJob.checkpoint, which stops train.py, and requeues): either way the job resumes from the newest complete
    checkpoint and its record holds the metrics of the same run done without interruption."""
    fields = dict(
        FAST,
        model="convnova",
        tokenizer="char",
        preset="tiny",
        # long enough (~10 s on an idle core) that the interrupt lands mid-training after the first checkpoint
        max_steps=400,
        save_strategy="steps",
        save_steps=20,
        eval_strategy="steps",
        eval_steps=20,
    )
    ref = _spec(tmp_path / "ref", name="ref", seeds=[1], tasks=[TASK], launcher="inprocess", arms={"a": fields})
    grid.run_all(ref)
    spec = _spec(
        tmp_path / "slurm", name="requeue", seeds=[1], tasks=[TASK], arms={"a": fields}, slurm={"cpus": 1, "time": 20}
    )
    runs = grid.expand(spec)
    run = runs[0]
    slurm.submit(spec, runs, out=io.StringIO())
    job = slurm.read_ledger(spec)[slurm.slot_key(run)]["job_id"]
    t0 = time.monotonic()
    while not list(run.out.glob("checkpoint-*/trainer_state.json")):  # a complete checkpoint: training is underway
        assert time.monotonic() - t0 < 120, "no checkpoint after 120 s"
        assert not (run.out / RECORD_NAME).exists(), "finished before it could be interrupted; raise max_steps"
        time.sleep(0.5)
    if interrupt == "SIGUSR2":
        subprocess.run(["scancel", "--signal=USR2", job], env=cluster_env.env, check=True)
    else:
        assert cluster_env.scontrol("requeue", job).returncode == 0
    assert slurm.wait(spec, runs, commit=False, poll_seconds=2, out=io.StringIO()) == 0
    assert _show_job(cluster_env, job)["Restarts"] == "1"
    if interrupt == "SIGUSR2":  # submitit caught it and called GridJob.checkpoint, which stopped train.py
        entry = slurm.read_ledger(spec)[slurm.slot_key(run)]
        err, stdout = Path(entry["stderr"]).read_text(), Path(entry["stdout"]).read_text()
        assert "Caught signal SIGUSR2" in err and "SIGUSR2: stopping train.py (SIGTERM)" in stdout, err[-2000:]
        assert time.monotonic() - t0 < 150, "the requeue waited for a timeout: train.py's exit went unnoticed"
    assert slurm.read_ledger(spec)[slurm.slot_key(run)]["job_id"] == job  # requeued, not resubmitted
    rec = read_record(run.out / RECORD_NAME)
    want = read_record(grid.expand(ref)[0].out / RECORD_NAME)
    assert len(rec["cost"]["train_segments_seconds"]) == 2  # the job was interrupted and resumed
    assert rec["cost"]["global_steps"] == want["cost"]["global_steps"] == fields["max_steps"]
    assert rec["metrics"] == want["metrics"]


@pytest.mark.slow
def test_failed_job_shows_its_log_tail_and_a_rerun_submits_only_it(cluster_env, shared_data, tmp_path):
    """One run fails: its log tail is shown, the other run finishes and is archived and committed as the local
    executor does; a rerun submits the failed run only."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for args in (["init", "-q"], ["config", "user.name", "t"], ["config", "user.email", "t@example.org"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    spec = _spec(
        tmp_path,
        name="fails",
        seeds=[1],
        tasks=[TASK],
        archive=str(repo / "records"),
        common=dict(FAST, max_steps=2, eval_strategy="no", save_strategy="no"),
        arms={
            "good": {"model": "convnova", "tokenizer": "char", "preset": "tiny"},
            "bad": {"model": "unet", "tokenizer": "bpe", "bpe_path": str(shared_data / "dnabert2")},
        },
        slurm={"cpus": 1, "time": 10},
    )
    out = io.StringIO()
    assert slurm.run_slurm(spec, commit=True, poll_seconds=2, out=out) == 1
    text = out.getvalue()
    assert f"FAILED finetune/bad/{TASK}/seed1" in text and "takes tokenizers" in text
    runs = grid.expand(spec)
    good, bad = (next(r for r in runs if r.name == n) for n in ("good", "bad"))
    assert good.done and not bad.done  # the other run went on
    assert (good.archived / RECORD_NAME).read_bytes() == (good.out / RECORD_NAME).read_bytes()
    log = subprocess.run(["git", "log", "--format=%s", "--name-only"], cwd=repo, capture_output=True, text=True).stdout
    assert log.split() == [
        "fails:",
        "good",
        TASK,
        "seed",
        "1",
        f"records/finetune/{specmod.safe(TASK)}/good/seed1/{RECORD_NAME}",
    ], log
    listing = io.StringIO()
    slurm.list_runs(spec, runs, out=listing)
    lines = listing.getvalue()
    assert re.search(r"^done\s+finetune good", lines, re.M) and re.search(r"^failed\s+finetune bad", lines, re.M)
    assert "takes tokenizers" in lines and "1 done, 1 failed" in lines
    before = slurm.read_ledger(spec)
    rerun = io.StringIO()
    assert slurm.run_slurm(spec, commit=False, poll_seconds=2, out=rerun) == 1  # still fails: same spec
    after = slurm.read_ledger(spec)
    assert "submitted 1 run as job" in rerun.getvalue()
    assert after["finetune/good/gue/prom_core_tata/seed1"] == before["finetune/good/gue/prom_core_tata/seed1"]
    key = f"finetune/bad/{TASK}/seed1"
    assert after[key]["previous"] == [before[key]["job_id"]] and after[key]["job_id"] != before[key]["job_id"]


@pytest.mark.slow
def test_multinode_script_runs_as_two_gloo_processes(cluster_env, shared_data, tmp_path):
    """The batch script of a pretraining run with `nodes: 2`, its per-node part started twice on this machine with
    the variables srun sets on two nodes: one run of two processes, one record."""
    spec = _spec(
        tmp_path,
        name="multi",
        seeds=[1],
        tasks=[TASK],
        pretrain={
            "pre": {
                "model": "convnova",
                "tokenizer": "char",
                "preset": "tiny",
                "max_steps": 2,
                "window_length": 128,
                "num_windows": 32,
                "eval_windows": 8,
                "per_device_train_batch_size": 4,
                "disable_tqdm": True,
                "report_to": "none",
                "save_strategy": "no",
                "eval_strategy": "no",
                "leakage_tasks": [TASK],
                "pretrain_fasta": [str(shared_data / "genomes" / FASTA)],
            }
        },
        arms={"ft": {"model": "convnova", "tokenizer": "char", "pretrained": "@pre"}},
        slurm={"cpus": 2, "time": 30, "pretrain": {"nodes": 2, "gpus": 0}},
    )
    pre = grid.expand(spec)[0]
    log_dir = tmp_path / "jobs"
    log_dir.mkdir()
    script = log_dir / f"{specmod.safe(slurm.slot_key(pre))}.sbatch"
    script.write_text(slurm.multinode_script(spec, pre, specmod.slurm_resources(spec, "pretrain"), ["5"], log_dir))
    text = script.read_text()
    assert "#SBATCH --nodes=2" in text and "#SBATCH --dependency=afterok:5" in text and "#SBATCH --requeue" in text
    assert "#SBATCH --signal=B:USR2@300" in text and "srun --kill-on-bad-exit=1" in text
    job_id = next(j for j in range(1, 1000) if _port_free(29500 + j))  # the script's port: 29500 + job id % 1000
    env = {
        **cluster_env.env,
        "SLURM_NNODES": "2",
        "SLURM_JOB_NODELIST": "localhost",
        "SLURM_JOB_ID": str(job_id),
        "OMP_NUM_THREADS": "1",
    }
    procs = [
        subprocess.Popen(
            ["bash", str(script), "--node"],
            env={**env, "SLURM_NODEID": str(rank)},
            stdout=open(tmp_path / f"node{rank}.log", "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for rank in (0, 1)
    ]
    try:
        rcs = [p.wait(timeout=300) for p in procs]
    finally:
        for p in procs:  # a rank left waiting for the other must not outlive the test
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
    logs = [(tmp_path / f"node{rank}.log").read_text() for rank in (0, 1)]
    assert rcs == [0, 0], "\n".join(log[-3000:] for log in logs)
    assert "node 0 of 2, main localhost:" in logs[0] and "node 1 of 2, main localhost:" in logs[1]
    both = "".join(logs)
    assert "[rank 0/2]" in both and "[rank 1/2]" in both
    rec = read_record(pre.out / RECORD_NAME)
    assert rec["cost"]["num_processes"] == 2 and rec["cost"]["global_steps"] == 2

    # the whole script through sbatch (the test cluster has one node: nodes=1), as submit writes and submits it
    spec["pretrain"]["pre2"] = spec["pretrain"].pop("pre")
    spec["arms"]["ft"]["pretrained"] = "@pre2"
    pre2 = grid.expand(spec)[0]
    job = slurm.submit_multinode(spec, pre2, {**specmod.slurm_resources(spec, "pretrain"), "nodes": 1}, [])
    t0 = time.monotonic()
    while job in slurm.squeue_states():
        assert time.monotonic() - t0 < 240, "the batch script's job did not finish in 240 s"
        time.sleep(2)
    done = {j["JobId"]: j for j in cluster_env.jobcomp_records()}
    out = (runs_dir := Path(spec["runs_dir"])) / ".slurm" / "jobs" / f"{job}.out"
    assert done[job]["JobState"] == "COMPLETED", out.read_text()[-3000:]
    assert "node 0 of 1, main localhost:" in out.read_text()
    assert read_record(runs_dir / "pretrain" / "pre2" / RECORD_NAME)["cost"]["num_processes"] == 1


def test_slurm_section_is_validated(tmp_path):
    base = dict(name="v", seeds=[1], tasks=[TASK], arms={"a": {"model": "convnova", "tokenizer": "char"}})
    for bad, msg in (
        ({"gpu": 1}, "unknown keys ['gpu']"),
        ({"nodes": 2}, "`nodes` goes under `slurm: pretrain:`"),
        ({"time": "soon"}, "time limit 'soon'"),
        ({"mem": "lots"}, "`mem` must be a size"),
        ({"gpus": -1}, "`gpus` must be a whole number >= 0"),
        ({"extra": "--qos=x"}, "`extra` must be"),
        ({"pretrain": {"nodes": 0}}, "slurm.pretrain: `nodes` must be a whole number >= 1"),
    ):
        with pytest.raises(ValueError, match=re.escape(msg)):
            _spec(tmp_path, **base, slurm=bad)
    spec = _spec(
        tmp_path,
        **base,
        slurm={"partition": "gpu", "gpus": 1, "time": "1-00:00:00", "pretrain": {"nodes": 4, "gpus": 8}},
    )
    want = {"partition": "gpu", "gpus": 8, "time": "1-00:00:00", "nodes": 4}
    assert specmod.slurm_resources(spec, "pretrain") == want
    assert specmod.slurm_resources(spec, "finetune") == {"partition": "gpu", "gpus": 1, "time": "1-00:00:00"}
    assert specmod.slurm_minutes("1-00:00:00") == 1440 and specmod.slurm_minutes("0:30") == 1
    got = slurm.apply_overrides(spec["slurm"], ["partition=debug", "gpus=null", "pretrain.nodes=2", "time=45"])
    assert got == {"partition": "debug", "time": 45, "pretrain": {"nodes": 2, "gpus": 8}}
    with pytest.raises(ValueError, match="unknown keys"):
        slurm.apply_overrides(spec["slurm"], ["gpu=2"])
    assert spec["slurm"]["partition"] == "gpu"  # overrides never change the spec's own section
