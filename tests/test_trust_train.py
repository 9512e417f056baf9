"""What a user of train.py can trust when a run is stopped or its data cannot train a classifier.

- SIGTERM (what SLURM and Kubernetes send before they kill) and SIGINT (Ctrl-C) stop a run with a complete
  checkpoint of the current step, no record, the `--resume` command line and exit code 75; that command
  then ends with the result of an uninterrupted run. The same holds for `train.main` called in-process.
- A train split of a single class is refused before any model is built.

The runs are those of tests/test_reliability.py (ConvNova `tiny`, 12 steps); its helpers are reused.
"""

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import test_reliability
import torch
from safetensors.torch import load_file
from test_reliability import ENV, SMALL, TASK, cmd, finished, same_result, wait_for, write_task

import train
from training import run_folder

ROOT = Path(__file__).resolve().parents[1]
reference = test_reliability.reference  # the fixture: one uninterrupted run, what a stopped run must end as


def stopped_step(err: str, sig_name: str) -> int:
    found = re.search(rf"stopped by {sig_name} at step (\d+): (\S+) is complete", err)
    assert found, err[-3000:]
    return int(found.group(1))


def resume_line(err: str) -> list[str]:
    """The command train.py printed to continue the run, ready to run here."""
    line = err.split("Continue the run with:\n", 1)[1].splitlines()[0]
    argv = shlex.split(line)
    assert argv[0] == "python" and argv[-2:] == ["--resume", "true"], line
    return [sys.executable, *argv[1:]]


def same_weights(out, ref_out):
    got, want = load_file(out / "model" / "model.safetensors"), load_file(ref_out / "model" / "model.safetensors")
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=0, atol=0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "sig,signals",
    [(signal.SIGTERM, 1), (signal.SIGINT, 1), (signal.SIGTERM, 2)],
    ids=["SIGTERM", "SIGINT", "SIGTERM-twice"],
)
def test_a_signal_mid_training_saves_the_step_and_resume_ends_as_uninterrupted(tmp_path, reference, sig, signals):
    """Stopped after the step-4 checkpoint: the step it stopped at is checkpointed completely (a second signal,
    sent as soon as that checkpoint's folder appears, does not break the save), nothing is recorded, the exit
    code is 75, and the printed --resume command ends with the uninterrupted run's metrics, FLOPs and weights."""
    ref_out, ref = reference
    out = tmp_path / "run"
    log = tmp_path / "stderr.txt"
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd(out), env=ENV, stdout=subprocess.DEVNULL, stderr=fh)
        assert wait_for((out / "checkpoint-4" / run_folder.CHECKPOINT_MARKER).exists, proc), "no checkpoint-4"
        proc.send_signal(sig)
        if signals == 2:
            wait_for(lambda: any(int(p.name.split("-")[1]) > 4 for p in run_folder.checkpoints(out)), proc)
            proc.send_signal(sig)
        rc = proc.wait(timeout=300)
    err = log.read_text()
    assert rc == 75, err[-3000:]  # training.run_folder.EXIT_INTERRUPTED: schedulers requeue on it
    assert run_folder.EXIT_INTERRUPTED == 75
    assert "Traceback" not in err
    step = stopped_step(err, signal.Signals(sig).name)
    assert 4 < step < 12, "the run was stopped before or after training, not mid-training"
    assert run_folder.is_complete(out / f"checkpoint-{step}")
    assert not (out / "results.json").exists()

    resumed = subprocess.run(resume_line(err), env=ENV, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    rec = finished(out)
    same_result(rec, ref)
    assert rec["cost"]["train_flops"] == pytest.approx(ref["cost"]["train_flops"], rel=1e-12)
    assert len(rec["cost"]["train_segments_seconds"]) == 2  # the stopped launch and the resume
    same_weights(out, ref_out)


@pytest.mark.slow
def test_train_main_in_process_stops_on_sigterm_and_restores_the_hosts_handler(tmp_path, reference):
    """The grid's `launcher: inprocess` calls train.main in its worker: the signal stops the run there too (main
    returns 75 instead of the host's handler seeing it), and the host's handler is back afterwards."""
    _, ref = reference
    seen = []

    def host_handler(signum, frame):
        seen.append(signum)

    previous = signal.signal(signal.SIGTERM, host_handler)
    try:
        out = tmp_path / "run"
        marker = out / "checkpoint-4" / run_folder.CHECKPOINT_MARKER

        def send_sigterm():
            if wait_for(marker.exists, None, timeout=300):
                os.kill(os.getpid(), signal.SIGTERM)

        sender = threading.Thread(target=send_sigterm, daemon=True)
        sender.start()
        argv = [*SMALL, "--max_steps", "12", "--output_dir", str(out)]
        assert train.main(argv) == 75
        sender.join()
        assert seen == [] and signal.getsignal(signal.SIGTERM) is host_handler
        assert not (out / "results.json").exists()
        assert train.main([*argv, "--resume", "true"]) == 0
        same_result(finished(out), ref)
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_train_split_of_one_class_is_refused_before_any_model(tmp_path, capsys):
    rows = [("ACGTACGTAA", 0), ("TTGACCATGA", 0), ("GGGCCCATAT", 0)]
    task = write_task(tmp_path / "t", {"train": rows, "dev": rows, "test": rows})
    t0 = time.time()
    assert (
        train.main(
            ["--task", str(task), "--model", "convnova", "--preset", "tiny", "--output_dir", str(tmp_path / "run")]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"train.py: error: {task / 'train.csv'}: all 3 training rows have label 0; a classifier needs at "
        "least two classes to learn from. Fix: add rows of the other class(es) to the train split"
    )
    assert not (tmp_path / "run").exists() and time.time() - t0 < 30


def test_a_one_class_sample_of_a_registered_task_names_max_train_samples(tmp_path, capsys):
    """gue/prom_core_tata has both classes, but 1 drawn row has one: the message names the draw and the fix."""
    from data_scripts.tasks import load_task

    label = load_task(TASK)["train"].shuffle(seed=0)[0]["label"]  # the row that --max_train_samples 1 draws
    assert train.main(["--task", TASK, "--max_train_samples", "1", "--output_dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert (
        f"the train split of task '{TASK}': all 1 training rows (the 1 drawn at random by --max_train_samples 1) "
        f"have label {label} ("
    ) in err
    assert "raise --max_train_samples" in err and not (tmp_path / "run").exists()


def child_with_rank(parent: int, rank: int) -> int | None:
    """The pid of the launcher's worker process of the given rank (from /proc), once it has started."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            environ = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue  # a process that ended meanwhile
        if ppid == parent and f"RANK={rank}".encode() in environ:
            return int(stat.parent.name)
    return None


@pytest.mark.slow
def test_a_signal_to_one_ddp_rank_stops_every_rank_at_the_same_step(tmp_path):
    """SIGTERM to rank 1 only (not the main process): both ranks stop at the same step, the checkpoint holds
    both ranks' RNG states and is complete, nothing is recorded, and --resume finishes the run."""
    out = tmp_path / "ddp"

    def launch():  # a free port each time: other test runs on this machine may hold a fixed one
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(ROOT / "accelerate_configs" / "cpu_ddp_2proc.yaml"),
            "--main_process_port",
            str(port),
        ]

    log = tmp_path / "stderr.txt"
    with open(log, "w") as fh:
        proc = subprocess.Popen([*launch(), *cmd(out)[1:]], env=ENV, stdout=subprocess.DEVNULL, stderr=fh)
        assert wait_for((out / "checkpoint-4" / run_folder.CHECKPOINT_MARKER).exists, proc, timeout=600)
        rank1 = child_with_rank(proc.pid, 1)
        assert rank1 is not None
        os.kill(rank1, signal.SIGTERM)
        proc.wait(timeout=600)
    err = log.read_text()
    # both ranks exited with 75 (the launcher itself reports a failure: torchrun treats any non-zero rank so)
    assert len(re.findall(r"exitcode +: 75 \(pid", err)) == 2, err[-3000:]  # torchrun's table of the ranks
    # rank 0 prints; it got no signal of its own, unless torchrun's SIGTERM to the ranks left (sent once rank 1
    # has exited) came before it had raised
    step = stopped_step(err, "(?:a signal on another rank|SIGTERM)")
    ckpt = out / f"checkpoint-{step}"
    assert 4 < step < 12 and run_folder.is_complete(ckpt)
    assert (ckpt / "rng_state_0.pth").is_file() and (ckpt / "rng_state_1.pth").is_file()
    assert not (out / "results.json").exists()
    assert "Continue the run with:\n  accelerate launch --num_processes=2 " in err
    r = subprocess.run(
        [*launch(), *cmd(out, "--resume", "true")[1:]], env=ENV, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-3000:]
    rec = finished(out)
    assert rec["cost"]["global_steps"] == 12 and rec["cost"]["num_processes"] == 2
    assert len(rec["cost"]["train_segments_seconds"]) == 2
