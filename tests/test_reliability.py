"""Faults and bad input, as a user or an operator meets them: each test names the outcome a user relies on.

Runs are tiny (ConvNova `tiny` on the shipped gue/prom_core_tata) so that kills, races and resumes are
real processes and still quick.
"""

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import train
from training import run_folder

ROOT = Path(__file__).resolve().parents[1]
TASK = "gue/prom_core_tata"
ENV = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
SMALL = [
    "--model",
    "convnova",
    "--preset",
    "tiny",
    "--task",
    TASK,
    "--max_train_samples",
    "256",
    "--max_eval_samples",
    "64",
    "--per_device_train_batch_size",
    "16",
    "--eval_strategy",
    "steps",
    "--eval_steps",
    "4",
    "--save_strategy",
    "steps",
    "--save_steps",
    "4",
    "--logging_steps",
    "4",
    "--seed",
    "11",
    "--disable_tqdm",
    "true",
    "--learning_rate",
    "1e-3",
]


def cmd(out, *extra, steps=12):
    return [sys.executable, str(ROOT / "train.py"), *SMALL, "--max_steps", str(steps), "--output_dir", str(out), *extra]


def finished(out) -> dict:
    return json.loads((out / "results.json").read_text())


def wait_for(pred, proc, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        if proc is not None and proc.poll() is not None:
            return pred()
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run: what every interrupted run must end up equal to."""
    out = tmp_path_factory.mktemp("ref") / "run"
    r = subprocess.run(cmd(out, "--keep_checkpoints", "true"), env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return out, finished(out)


def same_result(got: dict, ref: dict):
    assert got["metrics"]["test"] == pytest.approx(ref["metrics"]["test"], abs=1e-6)
    assert got["cost"]["global_steps"] == ref["cost"]["global_steps"]
    assert got["cost"]["flops"] == pytest.approx(ref["cost"]["flops"], rel=1e-12)


# ---------------------------------------------------------------------------------- one run per folder


@pytest.mark.slow
def test_second_run_on_a_busy_folder_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "run"
    slow = ["--eval_steps", "100", "--save_steps", "100", "--logging_steps", "100"]
    a = subprocess.Popen(
        cmd(out, *slow, steps=300), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lock = out / run_folder.LOCK_NAME
    assert wait_for(lambda: lock.is_file() and lock.read_text().strip(), a), "run A never took its folder"
    # run B, same folder, started while A trains: refused at once, naming A
    assert train.main([*SMALL, "--max_steps", "300", "--seed", "7", "--output_dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"is in use by another run (pid {a.pid}" in err
    assert a.wait(timeout=600) == 0, a.stderr.read()[-3000:]
    rec = finished(out)  # run A's record, model and card belong together: nothing of B's is there
    assert rec["seed"] == 11 and rec["cost"]["global_steps"] == 300
    assert json.loads((out / "model" / "training_args.json").read_text())["seed"] == 11
    assert "(seed 11)" in (out / "model" / "README.md").read_text()


def test_lock_is_exclusive_and_a_killed_holders_lock_is_taken_over(tmp_path):
    first = run_folder.claim(tmp_path / "f")
    with pytest.raises(run_folder.RunFolderError, match=f"pid {os.getpid()}"):
        run_folder.claim(tmp_path / "f")
    first.release()
    # a holder killed with -9 leaves its lock file (with its pid) but the kernel has dropped the lock
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; sys.path.insert(0, sys.argv[1]);"
            "from training import run_folder; run_folder.claim(sys.argv[2]); print('held', flush=True);"
            "time.sleep(60)",
            str(ROOT),
            str(tmp_path / "f"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "held"
    with pytest.raises(run_folder.RunFolderError, match=f"pid {child.pid}"):
        run_folder.claim(tmp_path / "f")
    child.send_signal(signal.SIGKILL)
    child.wait()
    lock = run_folder.claim(tmp_path / "f")
    assert lock.took_over is not None and f"pid {child.pid}" in lock.took_over
    lock.release()


# ------------------------------------------------------------------------------------ resume from any crash


def start_and_kill(out, step, *extra):
    """Start a run and kill -9 it as soon as its checkpoint at `step` is complete."""
    proc = subprocess.Popen(cmd(out, *extra), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = out / f"checkpoint-{step}" / run_folder.CHECKPOINT_MARKER
    assert wait_for(marker.exists, proc), f"{marker} never appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "results.json").exists(), "the run finished before it could be killed"


def resume(out, *extra):
    r = subprocess.run(cmd(out, "--resume", "true", *extra), env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.mark.slow
@pytest.mark.parametrize("step", [4, 8])
def test_kill_minus_9_then_resume_gives_the_uninterrupted_result(tmp_path, reference, step):
    """Killed while training on after the step-4 (or step-8) checkpoint."""
    _, ref = reference
    out = tmp_path / "run"
    start_and_kill(out, step)
    resume(out)
    same_result(finished(out), ref)


@pytest.mark.slow
def test_half_written_checkpoint_is_skipped_and_kept_aside(tmp_path, reference):
    """A kill during a save (or a full disk) leaves the newest checkpoint without its completion marker."""
    _, ref = reference
    out = tmp_path / "run"
    start_and_kill(out, 8)
    # what a kill between the weights and the optimizer state of checkpoint-8 leaves behind
    (out / "checkpoint-8" / run_folder.CHECKPOINT_MARKER).unlink()
    opt = out / "checkpoint-8" / "optimizer.pt"
    opt.write_bytes(opt.read_bytes()[:100])
    r = resume(out)
    assert "half-written checkpoint(s) (checkpoint-8) cannot be resumed" in r.stderr
    assert "delete" not in r.stderr.lower()
    kept = list((out / run_folder.INCOMPLETE_DIR).iterdir())
    assert len(kept) == 1 and kept[0].name.startswith("checkpoint-8-") and (kept[0] / "model.safetensors").is_file()
    rec = finished(out)
    same_result(rec, ref)
    assert rec["resume"]["incomplete_checkpoints_set_aside"] == [str(kept[0])]


@pytest.mark.slow
def test_full_disk_during_a_save_then_resume(tmp_path, reference):
    """A file-size limit makes the first checkpoint's optimizer state fail to write (EFBIG, as a full disk
    gives ENOSPC): the run stops with a clear message, no record, and a resume finishes it correctly."""
    _, ref = reference
    out = tmp_path / "run"
    weights = (reference[0] / "model" / "model.safetensors").stat().st_size

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(weights * 1.5), int(weights * 1.5)))

    r = subprocess.run(cmd(out), env=ENV, capture_output=True, text=True, preexec_fn=small_disk)
    assert r.returncode == 1
    assert "no space left to write" in r.stderr and "--resume" in r.stderr
    assert not (out / "results.json").exists()
    resume(out)
    same_result(finished(out), ref)


@pytest.mark.slow
def test_resume_from_the_final_checkpoint_trains_no_extra_step(tmp_path, reference):
    """Killed after the last checkpoint but before the record: resuming evaluates, it does not train on."""
    ref_out, ref = reference
    out = tmp_path / "run"
    start_and_kill(out, 12, "--keep_checkpoints", "true")
    resume(out)
    rec = finished(out)
    assert rec["cost"]["global_steps"] == 12
    same_result(rec, ref)


@pytest.mark.slow
def test_resume_refuses_changed_settings_unless_told(tmp_path, reference):
    out = tmp_path / "run"
    start_and_kill(out, 4)
    r = subprocess.run(cmd(out, "--resume", "true", "--learning_rate", "5e-4"), env=ENV, capture_output=True, text=True)
    assert r.returncode == 2
    assert "training.learning_rate: 0.001 -> 0.0005" in r.stderr and "--resume_with_changes" in r.stderr
    assert (out / "checkpoint-4").is_dir()  # nothing was lost by the refusal
    resume(out, "--learning_rate", "5e-4", "--resume_with_changes", "true")
    rec = finished(out)
    assert rec["resume"]["changed_settings"] == {"training.learning_rate": [0.001, 0.0005]}
    assert rec["config"]["training"]["learning_rate"] == 0.0005


# ------------------------------------------------------------------------------------------ secrets


def test_hub_token_is_never_written_and_model_folder_has_no_pickle(tmp_path):
    secret = "hf_" + "x7" * 17
    out = tmp_path / "run"
    assert train.main([*SMALL, "--max_steps", "4", "--hub_token", secret, "--output_dir", str(out)]) == 0
    for path in out.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"the token was written to {path}"
    model_files = {p.name for p in (out / "model").iterdir()}
    assert "training_args.bin" not in model_files and not any(n.endswith((".bin", ".pt", ".pkl")) for n in model_files)
    args = json.loads((out / "model" / "training_args.json").read_text())
    assert args["learning_rate"] == 1e-3 and not any(k.endswith("token") for k in args)


# --------------------------------------------------------------------------------------- bad input


def write_task(folder, splits):
    folder.mkdir(parents=True)
    for name, rows in splits.items():
        text = rows if isinstance(rows, str) else "sequence,label\n" + "".join(f"{s},{l}\n" for s, l in rows)
        (folder / f"{name}.csv").write_text(text)
    return folder


ROWS = [("ACGTACGTAA", 0), ("TTGACCATGA", 1), ("GGGCCCATAT", 0), ("ACACACGTGT", 1)]


def fails(argv, capsys, *needles, folder=None):
    assert train.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # progress bars may stand before it
    assert err.startswith("train.py: error: "), err
    for needle in needles:
        assert needle in err, err
    if folder is not None:
        assert not folder.exists(), "a refused run left its folder behind"
    return err


def test_a_stray_label_is_refused_naming_file_row_and_value(tmp_path, capsys):
    task = write_task(tmp_path / "t", {"train": ROWS, "dev": ROWS, "test": ROWS[:2] + [("GGGCCCATAT", 5)] + ROWS[3:]})
    fails(
        ["--task", str(task), "--output_dir", str(tmp_path / "run")],
        capsys,
        "test.csv, line 4 (row 2): label 5 is not a class",
        "0..1",
        folder=tmp_path / "run",
    )


@pytest.mark.parametrize(
    "content,needle",
    [
        ("", "is empty"),
        ("sequence,label\n", "has a header but no rows"),
        ("sequence,label\nACGT,\n", "line 2: label '' is not an integer"),
    ],
)
def test_empty_and_header_only_csv(tmp_path, capsys, content, needle):
    task = write_task(tmp_path / "t", {"train": ROWS, "dev": ROWS, "test": content})
    fails(["--task", str(task), "--output_dir", str(tmp_path / "run")], capsys, "test.csv", needle)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--metric_for_best", "loss"], "unknown flag --metric_for_best; did you mean --metric_for_best_model?"),
        (["--learnig_rate", "1e-3"], "unknown flag --learnig_rate; did you mean --learning_rate?"),
        (["--learning_rate=-1e-3"], "learning_rate must be a number > 0, got -0.001"),
        (["--num_train_epochs", "0"], "num_train_epochs must be a number > 0"),
        (["--mlm_probability", "1.5"], "mlm_probability must be a number > 0 and <= 1"),
    ],
)
def test_bad_flags_and_ranges_fail_before_anything_is_written(tmp_path, capsys, argv, needle):
    t0 = time.time()
    fails(["--task", TASK, *argv, "--output_dir", str(tmp_path / "run")], capsys, needle, folder=tmp_path / "run")
    assert time.time() - t0 < 10  # before any data or model is loaded


def test_unwritable_output_folder_is_found_before_loading_anything(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    fails(["--task", TASK, "--output_dir", str(blocker / "run")], capsys, "cannot write to the output folder")


def test_truncated_weights_and_tokenizer_name_the_file(tmp_path, capsys, reference):
    ref_out, _ = reference
    for name in ("model.safetensors", "tokenizer.json"):
        broken = tmp_path / f"broken-{name}"
        broken.mkdir()
        for f in (ref_out / "model").iterdir():
            data = f.read_bytes()
            (broken / f.name).write_bytes(data[: len(data) // 3] if f.name == name else data)
        err = fails(
            [
                "--task",
                TASK,
                "--init",
                "pretrained",
                "--pretrained",
                str(broken),
                "--output_dir",
                str(tmp_path / f"run-{name}"),
            ],
            capsys,
            name,
        )
        assert str(broken) in err


def test_duplicates_and_nan_metrics(tmp_path, capsys):
    """Exact train/test duplicates are warned about and counted; a NaN metric (AUROC of a one-class test
    split) is written as null, so results.json is strict JSON."""
    rows = [(s, i % 2) for i, s in enumerate(["ACGTACGTAA", "TTGACCATGA", "GGGCCCATAT", "ACACACGTGT"] * 4)]
    task = write_task(tmp_path / "t", {"train": rows, "dev": rows, "test": [("ACGTACGTAA", 0), ("CCCCGGGGAA", 0)]})
    out = tmp_path / "run"
    assert (
        train.main(
            [
                "--task",
                str(task),
                "--model",
                "convnova",
                "--preset",
                "tiny",
                "--max_steps",
                "2",
                "--eval_strategy",
                "no",
                "--save_strategy",
                "no",
                "--load_best_model_at_end",
                "false",
                "--disable_tqdm",
                "true",
                "--output_dir",
                str(out),
            ]
        )
        == 0
    )
    text = (out / "results.json").read_text()
    rec = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in results.json"))
    assert rec["metrics"]["test"]["auroc"] is None
    assert rec["dataset"]["duplicates_of_train"] == {"validation": 16, "test": 1}


def test_long_sequences_are_counted_or_refused(tmp_path, capsys):
    long_row = "ACGT" * 250_000  # 1 Mbp
    rows = [("ACGTACGTAA" * 3, i % 2) for i in range(8)]
    task = write_task(tmp_path / "t", {"train": rows, "dev": rows[:3] + [(long_row, 1)], "test": rows})
    base = [
        "--task",
        str(task),
        "--model",
        "dnabert2",
        "--preset",
        "tiny",
        "--tokenizer",
        "char",
        "--max_steps",
        "2",
        "--eval_strategy",
        "no",
        "--save_strategy",
        "no",
        "--load_best_model_at_end",
        "false",
        "--disable_tqdm",
        "true",
    ]
    fails(
        [*base, "--output_dir", str(tmp_path / "a")],
        capsys,
        "(validation row 3) is 1,000,002 tokens",
        "--max_length",
        folder=tmp_path / "a",
    )
    out = tmp_path / "b"
    assert train.main([*base, "--max_length", "64", "--output_dir", str(out)]) == 0
    rec = finished(out)
    assert rec["dataset"]["truncated"] == {"train": 0, "validation": 1, "test": 0}
    assert rec["dataset"]["max_length"] == 64
