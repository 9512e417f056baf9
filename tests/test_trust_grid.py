"""A grid spec is checked whole at load time, and a grid stops, is killed and restarts without losing a run.

Spec (issue 23 item 5): a misspelt train.py field, an arm name that would leave runs_dir, and an environment
variable outside a path field are errors when the spec is loaded, before `--list`, `--dry-run` or any run.
Runner (issue 23 item 4): SIGTERM/SIGINT reach the running train.py, exit 75 means "interrupted, resumable",
and a restart after `kill -9` neither fails on nor duplicates a train.py the killed grid left running.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from assess import grid
from assess import spec as specmod
from training.records import RECORD_NAME, has_record
from training.run_folder import LOCK_NAME

ROOT = Path(__file__).resolve().parents[1]


def _spec(tmp_path, **over) -> Path:
    path = tmp_path / "g.yaml"
    spec = {
        "name": "g",
        "seeds": [1],
        "tasks": ["gue/prom_core_tata"],
        "runs_dir": str(tmp_path / "runs"),
        "arms": {"a": {"model": "convnova"}},
        **over,
    }
    path.write_text(yaml.safe_dump(spec))
    return path


# ------------------------------------------------------------------------------------------ spec at load time


def test_spec_field_list_is_train_py_s():
    """The field list read from the source files (no torch import) is exactly the one train.py checks with."""
    from training.arguments import _valid_keys

    assert specmod.train_fields() == _valid_keys()


@pytest.mark.parametrize("where", ["arm", "common", "pretrain", "task_overrides", "sweep"])
def test_misspelt_field_fails_at_load_with_a_suggestion(tmp_path, where, capsys):
    bad = {"learnin_rate": 1e-3}
    over = {
        "arm": {"arms": {"a": {"model": "convnova", **bad}}},
        "common": {"common": bad},
        "pretrain": {"pretrain": {"p": {"model": "convnova", "corpus": "human", **bad}}},
        "task_overrides": {"task_overrides": {"gue/*": bad}},
        "sweep": {"arms": {"a": {"model": "convnova", "sweep": {"learnin_rate": [1e-3, 3e-3]}}}},
    }[where]
    path = _spec(tmp_path, **over)
    with pytest.raises(ValueError, match=r"unknown train.py field 'learnin_rate'; did you mean 'learning_rate'\?"):
        specmod.load_spec(path)
    for flag in ("--list", "--dry-run"):  # before: both passed, and the run failed only when reached
        with pytest.raises(ValueError, match="learnin_rate"):
            grid.main([str(path), flag])
    assert not (tmp_path / "runs").exists()


def test_valid_fields_and_sweeps_still_load(tmp_path):
    spec = specmod.load_spec(
        _spec(
            tmp_path,
            common={"weight_decay": 0.01, "eval_strategy": "steps"},
            arms={"a": {"model": "basset", "sweep": {"learning_rate": [1e-3, 3e-3]}}},
        )
    )
    assert spec["arms"]["a"]["model"] == "basset"  # models are the registry's business, not the spec's


@pytest.mark.parametrize("name", ["../../../x", "a/b", ".hidden", "-flag", "a b", "..", "a\\b"])
def test_arm_and_pretrain_names_cannot_leave_runs_dir(tmp_path, name):
    with pytest.raises(ValueError, match="names become folders under runs_dir"):
        specmod.load_spec(_spec(tmp_path, arms={name: {"model": "convnova"}}))
    with pytest.raises(ValueError, match="names become folders under runs_dir"):
        specmod.load_spec(_spec(tmp_path, pretrain={name: {"model": "convnova", "corpus": "human"}}))


def test_sweep_values_cannot_make_member_names_that_leave_runs_dir(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"sweep value '../../x' makes the member name 'a-lr_scheduler_type=../../x' "
        r"is not allowed",
    ):
        specmod.load_spec(_spec(tmp_path, arms={"a": {"sweep": {"lr_scheduler_type": ["linear", "../../x"]}}}))
    ok = specmod.load_spec(_spec(tmp_path, arms={"a": {"sweep": {"learning_rate": [1.0e-5, 3.0e-4]}}}))
    assert [r.out.name for r in grid.expand(ok)] == ["seed1", "seed1"]


def test_env_vars_expand_in_path_fields_only(tmp_path, monkeypatch):
    monkeypatch.setenv("GT_GENOMES", "/data/genomes")
    monkeypatch.setenv("GT_SECRET", "hf_not_a_real_token")
    fasta = ["$GT_GENOMES/hg38.fa", "${GT_GENOMES}/b.fa"]
    pre = {"p": {"model": "convnova", "corpus": "human", "corpus_fasta": fasta}}
    spec = specmod.load_spec(_spec(tmp_path, pretrain=pre, common={"data_dir": "$GT_GENOMES/gue"}))
    assert spec["pretrain"]["p"]["corpus_fasta"] == ["/data/genomes/hg38.fa", "/data/genomes/b.fa"]
    assert spec["common"]["data_dir"] == "/data/genomes/gue"
    assert specmod.load_spec(_spec(tmp_path, description="costs $5"))["description"] == "costs $5"  # no variable
    for over in (
        {"arms": {"a": {"model": "convnova", "hub_model_id": "$GT_SECRET"}}},
        {"common": {"run_name": "x-${GT_SECRET}"}},
        {"description": "costs $GT_SECRET"},
    ):
        with pytest.raises(
            ValueError,
            match=r"field '(hub_model_id|run_name|description)' names an environment "
            r"variable \(\$\{?GT_SECRET\}?\); only the path fields",
        ):
            specmod.load_spec(_spec(tmp_path, **over))


# ------------------------------------------------------------------------------------------ stop and restart

# A real train.py run, tiny but long (5,000 steps: a minute or more on a 2-core machine), so that a train.py
# outliving a killed grid would still hold its folder when the grid restarts.
LONG_TINY = {
    "model": "convnova",
    "preset": "tiny",
    "tokenizer": "char",
    "data_dir": str(ROOT / "data"),
    "max_steps": 5000,
    "max_train_samples": 64,
    "max_eval_samples": 32,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 64,
    "eval_strategy": "steps",
    "eval_steps": 2500,
    "save_strategy": "steps",
    "save_steps": 2500,
    "logging_steps": 100,
    "warmup_steps": 0,
    "disable_tqdm": True,
    "report_to": "none",
    "dataloader_num_workers": 0,
}
RUN = Path("finetune") / "gue__prom_core_tata" / "a" / "seed1"


def _holder(folder: Path) -> int | None:
    """The pid holding a run folder's train.py lock, or None when nobody holds it."""
    path = folder / LOCK_NAME
    if not path.is_file():
        return None
    with open(path) as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = path.read_text()
            return json.loads(text)["pid"] if text.strip() else -1
        fcntl.flock(fh, fcntl.LOCK_UN)
    return None


def _until(condition, seconds: float):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if (value := condition()) is not None and value != -1:
            return value
        time.sleep(0.2)
    return None


def _grid(path: Path, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "assess.grid", str(path), *args],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
    )


@pytest.mark.slow
def test_kill_9_leaves_no_train_py_behind_and_the_restart_finishes(tmp_path):
    """Before: the killed grid's train.py trained on as an orphan and the restart failed (train.py exit 2: its
    folder was in use). Now the child dies with the grid, and the restart runs the run to its record."""
    # the grid is killed as soon as its train.py holds the folder, long before 200 steps; the restart runs the
    # same settings (a changed setting would make the resumed run refuse, rightly, whenever the killed one got
    # as far as writing its settings.json)
    path = _spec(tmp_path, arms={"a": {**LONG_TINY, "max_steps": 200, "eval_steps": 100, "save_steps": 100}})
    out = tmp_path / "runs" / RUN
    first = _grid(path)
    child = _until(lambda: _holder(out), 120)
    assert child is not None and child != first.pid, first.communicate()[0] if first.poll() is not None else ""
    first.kill()  # SIGKILL: no handler runs
    first.communicate()
    assert _until(lambda: True if _holder(out) is None else None, 15), f"train.py {child} outlived its grid"
    assert not has_record(out), "the run finished before the grid was killed"
    second = _grid(path)
    log = second.communicate(timeout=240)[0]
    assert second.returncode == 0, log
    assert has_record(out) and "1 runs, 0 done, 1 to run" in log, log


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_reaches_train_py_and_the_grid_exits_75(tmp_path, sig):
    """SIGTERM or SIGINT (Ctrl-C) to the grid: its train.py gets SIGTERM (it checkpoints and exits 75), the grid
    waits for it and exits 75, "interrupted, resumable"; nothing is left holding the run folder, no record."""
    path = _spec(tmp_path, arms={"a": LONG_TINY})
    out = tmp_path / "runs" / RUN
    proc = _grid(path)
    assert _until(lambda: _holder(out), 120) is not None
    proc.send_signal(sig)
    log = proc.communicate(timeout=60)[0]
    assert proc.returncode == grid.INTERRUPTED, log
    assert "interrupted (exit 75): rerun the same command to continue" in log
    assert _holder(out) is None and not has_record(out)


def test_train_py_exit_75_is_interrupted_not_failed(tmp_path, capsys):
    # `sh -c 'exit 75' train.py ...`: a launcher standing in for a train.py that checkpointed on SIGTERM
    path = _spec(tmp_path, launcher="sh -c 'exit 75'")
    assert grid.main([str(path)]) == grid.INTERRUPTED
    err = capsys.readouterr().err
    assert "finetune a gue/prom_core_tata seed 1 was interrupted (exit 75)" in err and "failed" not in err
    assert not has_record(tmp_path / "runs" / RUN)


@pytest.mark.slow
def test_restart_waits_for_a_train_py_still_holding_its_folder_and_adopts_its_record(tmp_path, capsys):
    """A train.py left by a killed grid (one PR_SET_PDEATHSIG did not reach) still holds its folder: the restart
    waits for it instead of starting a second train.py (refused, exit 2), then takes its record as the run's."""
    record = next((ROOT / "reports" / "cpu" / "records" / "finetune").rglob(RECORD_NAME))
    out = tmp_path / "runs" / RUN
    out.mkdir(parents=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"""
import fcntl, json, os, shutil, sys, time
fh = open({str(out / LOCK_NAME)!r}, "a+")
fcntl.flock(fh, fcntl.LOCK_EX)
fh.truncate(0); fh.write(json.dumps({{"pid": os.getpid(), "started": "earlier"}})); fh.flush()
print("held", flush=True)
time.sleep(3)
shutil.copy({str(record)!r}, {str(out / RECORD_NAME)!r})
""",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    path = _spec(tmp_path, launcher="sh -c 'exit 3'")  # had the grid started its own train.py, it would fail
    assert grid.main([str(path)]) == 0
    holder.wait(timeout=30)
    text = capsys.readouterr().out
    assert f"pid {holder.pid}, started earlier), perhaps left by a grid that was killed; waiting for it" in text
    assert "(finished by the train.py waited for)" in text
    assert (out / RECORD_NAME).read_bytes() == record.read_bytes()


@pytest.mark.slow
def test_workers_pass_sigterm_on_and_die_with_the_grid(tmp_path):
    """--workers 2: SIGTERM to the grid reaches both workers and their train.py; all exit, the grid with 75."""
    path = _spec(tmp_path, arms={"a": LONG_TINY}, tasks=["gue/prom_core_tata", "gue/prom_300_tata"])
    outs = [
        tmp_path / "runs" / "finetune" / task / "a" / "seed1" for task in ("gue__prom_core_tata", "gue__prom_300_tata")
    ]
    proc = _grid(path, "--workers", "2")
    assert all(_until(lambda out=out: _holder(out), 120) is not None for out in outs)
    proc.send_signal(signal.SIGTERM)
    log = proc.communicate(timeout=60)[0]
    assert proc.returncode == grid.INTERRUPTED, log
    assert "grid g: 2 workers interrupted (exit 75)" in log
    assert all(_holder(out) is None for out in outs)
