"""train.py end to end: every model x tokenizer family x mode, pretrain -> fine-tune, records,
kill-and-resume, two-process DDP, and bad configs. Small models and few steps keep it quick."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sklearn.metrics import matthews_corrcoef

import train
from training.records import RECORD_FIELDS

ROOT = Path(__file__).resolve().parents[1]
TASK = "gue/prom_core_tata"  # shipped in data/ (built from the shared GUE CSVs)
FAST = [
    "--max_train_samples",
    "96",
    "--max_eval_samples",
    "64",
    "--max_steps",
    "3",
    "--eval_strategy",
    "steps",
    "--eval_steps",
    "3",
    "--save_strategy",
    "steps",
    "--save_steps",
    "3",
    "--logging_steps",
    "1",
    "--per_device_train_batch_size",
    "16",
    "--learning_rate",
    "1e-3",
    "--disable_tqdm",
    "true",
]
PRESET = {"convnova": "tiny", "dnabert2": "tiny", "unet": "small"}


def run_main(args, tmp_path, name):
    out = tmp_path / name
    rc = train.main([*args, "--output_dir", str(out)])
    assert rc == 0, f"train.py failed for {args}"
    return out, json.loads((out / "results.json").read_text())


def tokenizer_args(family, shared):
    return {
        "char": ["--tokenizer", "char"],
        "kmer": ["--tokenizer", "kmer", "--kmer_k", "3", "--kmer_overlapping", "false"],
        "bpe": ["--tokenizer", "bpe", "--bpe_path", str(shared / "dnabert2")],
    }[family]


CASES = (
    [("convnova", "char", m) for m in ("full", "lora", "probe")]
    + [("unet", "char", m) for m in ("full", "lora", "probe")]
    + [("dnabert2", t, m) for t in ("bpe", "kmer", "char") for m in ("full", "lora", "probe")]
)


@pytest.mark.slow
@pytest.mark.parametrize("model,family,mode", CASES)
def test_finetune_matrix(model, family, mode, tmp_path, shared_data):
    args = [
        "--model",
        model,
        "--preset",
        PRESET[model],
        "--task",
        TASK,
        "--mode",
        mode,
        "--seed",
        "3",
        *tokenizer_args(family, shared_data),
        *FAST,
    ]
    out, rec = run_main(args, tmp_path, f"{model}-{family}-{mode}")
    assert set(RECORD_FIELDS) <= set(rec)
    assert rec["model"] == model and rec["mode"] == mode and rec["tokenizer"]["family"] == family
    assert rec["cost"]["global_steps"] == 3 and rec["cost"]["train_flops"] > 0
    total, trainable = rec["cost"]["total_params"], rec["cost"]["trainable_params"]
    if mode == "full":
        assert trainable == total
    else:
        assert 0 < trainable < total
    if mode == "lora":
        assert (out / "model" / "adapter_model.safetensors").is_file()
        assert not (out / "model" / "model.safetensors").exists()
    else:
        assert (out / "model" / "model.safetensors").is_file()
    assert (out / "model" / "README.md").read_text().count("model-index") == 1
    for split in ("validation", "test"):
        assert -1.0 <= rec["metrics"][split]["mcc"] <= 1.0


def test_record_metrics_match_the_saved_model(tmp_path, shared_data):
    """The test MCC in the record is what the saved checkpoint really scores (recomputed here)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from data_scripts.tasks import load_task

    out, rec = run_main(["--model", "convnova", "--preset", "tiny", "--task", TASK, *FAST], tmp_path, "rec")
    model = AutoModelForSequenceClassification.from_pretrained(out / "model").eval()
    tok = AutoTokenizer.from_pretrained(out / "model")
    test = load_task(TASK)["test"]  # the whole test split: max_eval_samples caps validation only
    with torch.no_grad():
        enc = tok(test["sequence"], padding=True, return_tensors="pt")
        preds = model(**enc).logits.argmax(-1).numpy()
    assert rec["metrics"]["test"]["mcc"] == pytest.approx(matthews_corrcoef(test["label"], preds), abs=1e-6)
    assert rec["dataset"]["fingerprint"]["test"]["rows"] == len(test) == 613 == rec["dataset"]["n"]["test"]
    assert rec["dataset"]["fingerprint"]["validation"]["rows"] == 64 == rec["config"]["run"]["max_eval_samples"]
    assert rec["dataset"]["truncated"] == {"train": 0, "validation": 0, "test": 0}
    # never silently overwritten: the same output_dir again is refused before training
    assert train.main(["--model", "convnova", "--preset", "tiny", "--task", TASK, *FAST, "--output_dir", str(out)]) == 2
    assert json.loads((out / "results.json").read_text()) == rec


FASTA_ARGS = [
    "--stage",
    "pretrain",
    "--window_length",
    "128",
    "--num_windows",
    "64",
    "--eval_windows",
    "16",
    "--max_steps",
    "4",
    "--eval_strategy",
    "steps",
    "--eval_steps",
    "4",
    "--save_strategy",
    "steps",
    "--save_steps",
    "4",
    "--per_device_train_batch_size",
    "16",
    "--disable_tqdm",
    "true",
    "--corpus_name",
    "chloroplast",
]


@pytest.mark.slow
@pytest.mark.parametrize("model,family", [("convnova", "char"), ("unet", "char"), ("dnabert2", "bpe")])
def test_pretrain_then_finetune_uses_the_checkpoint(model, family, tmp_path, shared_data):
    fasta = shared_data / "genomes" / "A_thaliana_chloroplast_NC_000932.fa"
    tok = ["--tokenizer", family] + (["--bpe_vocab_size", "64"] if family == "bpe" else [])
    pre, prec = run_main(
        ["--model", model, "--preset", PRESET[model], "--pretrain_fasta", str(fasta), *tok, *FASTA_ARGS],
        tmp_path,
        f"pre-{model}",
    )
    assert prec["stage"] == "pretrain" and prec["corpus"]["bp"] == 154478
    assert prec["dataset"]["masking"]["span_tokens"] == 1 and prec["dataset"]["masking"]["mlm_probability"] == 0.15
    assert prec["metrics"]["validation"]["loss"] > 0
    # the held-out loss beside both baselines, on the 16 held-out windows (training/mlm_baselines.py)
    held = prec["metrics"]["heldout_mlm"]
    assert held["windows"] == 16 and held["masked_tokens"] > 0 and held["baseline_train_windows"] == 64
    assert all(math.isfinite(held[k]) and held[k] > 0 for k in ("heldout_loss", "unigram_loss", "context_model_loss"))
    assert held["gap_to_context_model"] == pytest.approx(held["heldout_loss"] - held["context_model_loss"])
    assert held["nominal"] == (held["heldout_loss"] >= held["context_model_loss"])
    saved_cfg = json.loads((pre / "model" / "config.json").read_text())
    assert saved_cfg["dnalm_pretraining"]["corpus"]["sha256"] == prec["corpus"]["sha256"]

    # probe mode freezes the backbone: the fine-tuned backbone must equal the pretrained one exactly
    ft, frec = run_main(
        [
            "--model",
            model,
            "--init",
            "pretrained",
            "--pretrained",
            str(pre / "model"),
            *tok[:2],
            "--task",
            TASK,
            "--mode",
            "probe",
            *FAST,
        ],
        tmp_path,
        f"ft-{model}",
    )
    assert frec["corpus"]["sha256"] == prec["corpus"]["sha256"]
    mlm, clf = load_file(pre / "model" / "model.safetensors"), load_file(ft / "model" / "model.safetensors")
    prefix = {"convnova": "convnova.", "unet": "unet.", "dnabert2": "bert."}[model]
    backbone = [k for k in clf if k.startswith(prefix) and k in mlm]
    assert len(backbone) > 5
    for k in backbone:
        torch.testing.assert_close(clf[k], mlm[k], rtol=0, atol=0)

    # random init of the same architecture differs from the pretrained weights
    rnd, _ = run_main(
        [
            "--model",
            model,
            "--preset",
            PRESET[model],
            "--task",
            TASK,
            "--mode",
            "probe",
            *tok[:2],
            *(["--bpe_path", str(pre / "model")] if family == "bpe" else []),
            *FAST,
        ],
        tmp_path,
        f"rnd-{model}",
    )
    rclf = load_file(rnd / "model" / "model.safetensors")
    assert any(not torch.equal(rclf[k], mlm[k]) for k in backbone if rclf[k].numel() > 10)


def test_tokenizer_mismatch_with_pretrained_is_an_error(tmp_path, shared_data, capsys):
    fasta = shared_data / "genomes" / "A_thaliana_chloroplast_NC_000932.fa"
    pre, _ = run_main(
        [
            "--model",
            "dnabert2",
            "--preset",
            "tiny",
            "--pretrain_fasta",
            str(fasta),
            "--tokenizer",
            "kmer",
            "--kmer_k",
            "3",
            *FASTA_ARGS,
        ],
        tmp_path,
        "pre",
    )
    rc = train.main(
        [
            "--model",
            "dnabert2",
            "--init",
            "pretrained",
            "--pretrained",
            str(pre / "model"),
            "--tokenizer",
            "char",
            "--task",
            TASK,
            "--output_dir",
            str(tmp_path / "x"),
        ]
    )
    assert rc == 2
    assert "tokenizer mismatch" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--model", "transformerxl"], "unknown model 'transformerxl'"),
        (["--model", "convnova", "--tokenizer", "bpe"], "takes tokenizers ['char']"),
        (["--model", "convnova", "--init", "pretrained"], "needs `pretrained`"),
        (["--model", "convnova", "--task", "gue/not_a_task"], "neither an existing folder nor a registered task"),
    ],
)
def test_bad_configs_fail_before_training(args, message, tmp_path, capsys):
    argv = (
        ["--task", TASK, *args, "--output_dir", str(tmp_path / "run")]
        if "--task" not in args
        else [*args, "--output_dir", str(tmp_path / "run")]
    )
    assert train.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_unknown_yaml_key_names_it(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: convnova\ntask: gue/prom_core_tata\nlearning_rat: 0.1\n")
    assert train.main(["--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "learning_rat" in err and "learning_rate" in err


def _write_csv_task(folder, labels_test):
    folder.mkdir()
    seqs = ["ACGTACGTAA", "TTGACCATGA", "GGGCCCATAT", "ACACACGTGT"]
    for split, labels in (("train", [0, 1, 0, 1]), ("dev", [0, 1, 1, 0]), ("test", labels_test)):
        if labels is None:
            continue
        (folder / f"{split}.csv").write_text("sequence,label\n" + "".join(f"{s},{l}\n" for s, l in zip(seqs, labels)))


def test_missing_split_and_labels_out_of_range(tmp_path, capsys):
    _write_csv_task(tmp_path / "nosplit", None)
    assert train.main(["--task", str(tmp_path / "nosplit"), "--output_dir", str(tmp_path / "a")]) == 2
    assert "test" in capsys.readouterr().err
    _write_csv_task(tmp_path / "badlabel", [0, 1, -1, 0])
    assert train.main(["--task", str(tmp_path / "badlabel"), "--output_dir", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "test.csv, line 4 (row 2): label -1 is not a class" in err
    assert not (tmp_path / "b").exists()


def test_registered_task_with_labels_out_of_range(tmp_path, capsys):
    """A built copy of gue/prom_core_tata (2 classes) whose test split has a label 2 is refused."""
    import pyarrow.parquet as pq

    src = ROOT / "data" / "gue" / "prom_core_tata"
    dst = tmp_path / "gue" / "prom_core_tata"
    dst.mkdir(parents=True)
    for split in ("train", "validation", "test"):
        table = pq.read_table(src / f"{split}.parquet")
        if split == "test":
            labels = table.column("label").to_pylist()
            labels[3] = 2
            import pyarrow as pa

            table = table.set_column(table.schema.get_field_index("label"), "label", pa.array(labels, pa.int64()))
        pq.write_table(table, dst / f"{split}.parquet")
    rc = train.main(["--task", TASK, "--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert rc == 2 and "label 2 at row 3 is out of range" in err and "split 'test'" in err
    assert not (tmp_path / "run").exists()


def _train_cmd(out, extra=()):
    return [
        sys.executable,
        str(ROOT / "train.py"),
        "--model",
        "convnova",
        "--preset",
        "tiny",
        "--task",
        TASK,
        "--max_train_samples",
        "512",
        "--max_eval_samples",
        "64",
        "--num_train_epochs",
        "2",
        "--per_device_train_batch_size",
        "16",
        "--eval_strategy",
        "steps",
        "--eval_steps",
        "8",
        "--save_strategy",
        "steps",
        "--save_steps",
        "8",
        "--logging_steps",
        "8",
        "--seed",
        "5",
        "--disable_tqdm",
        "true",
        "--output_dir",
        str(out),
        *extra,
    ]


@pytest.mark.slow
def test_kill_and_resume_gives_the_same_test_metrics(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    full = tmp_path / "full"
    subprocess.run(_train_cmd(full), check=True, env=env, capture_output=True)
    ref = json.loads((full / "results.json").read_text())

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (killed / "checkpoint-24" / "trainer_state.json").exists():
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "results.json").exists(), "the run finished before it could be killed"
    assert any(killed.glob("checkpoint-*"))
    # without --resume the leftover checkpoints are not silently reused or discarded
    r = subprocess.run(_train_cmd(killed), env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "--resume" in r.stderr
    last = max(killed.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    before = json.loads((last / "dnalm_train_seconds.json").read_text())["segments_seconds"]
    subprocess.run(_train_cmd(killed, ["--resume", "true"]), check=True, env=env, capture_output=True)
    got = json.loads((killed / "results.json").read_text())
    assert got["metrics"]["test"] == pytest.approx(ref["metrics"]["test"], abs=1e-6)
    assert got["cost"]["global_steps"] == ref["cost"]["global_steps"]
    assert got["cost"]["train_flops"] == pytest.approx(ref["cost"]["train_flops"], rel=1e-9)
    # the recorded training time covers the segment before the kill (up to its last checkpoint) and the resume
    segments = got["cost"]["train_segments_seconds"]
    assert len(before) == 1 and before[0] > 0 and segments[:-1] == before and len(segments) == 2
    assert got["cost"]["train_seconds"] == pytest.approx(sum(segments))
    assert len(ref["cost"]["train_segments_seconds"]) == 1


@pytest.mark.slow
def test_two_process_ddp_writes_one_record(tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(ROOT / "accelerate_configs" / "cpu_ddp_2proc.yaml"),
        "--main_process_port",
        "29571",
        *_train_cmd(out)[1:],
    ]
    cmd[cmd.index("2")] = "1"  # one epoch is enough here
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "[rank 0/2]" in r.stderr and "[rank 1/2]" in r.stderr
    rec = json.loads((out / "results.json").read_text())
    assert rec["cost"]["num_processes"] == 2
    assert list(out.glob("results*.json")) == [out / "results.json"]
    assert np.isfinite(rec["metrics"]["test"]["mcc"])


@pytest.mark.slow
def test_pretrain_on_a_named_corpus_with_onecycle(tmp_path, shared_data):
    args = [a for a in FASTA_ARGS if a != "chloroplast"]
    args = args[: args.index("--corpus_name")]
    pre, rec = run_main(
        [
            "--model",
            "unet",
            "--preset",
            "small",
            "--corpus",
            "multispecies",
            "--shared_data",
            str(shared_data),
            "--onecycle",
            "true",
            *args,
        ],
        tmp_path,
        "pre-multi",
    )
    assert rec["corpus"]["name"] == "multispecies" and set(rec["corpus"]["species"]) == {
        "human",
        "mouse",
        "bacterium",
        "plant",
    }
    assert rec["config"]["run"]["onecycle"] is True
    cfg = json.loads((pre / "model" / "config.json").read_text())
    assert cfg["dnalm_pretraining"]["corpus"]["sha256"] == rec["corpus"]["sha256"]
    assert "multispecies" in (pre / "model" / "README.md").read_text()


def test_push_to_hub_fails_fast_offline_before_training(tmp_path, capsys):
    t0 = time.time()
    rc = train.main(
        [
            "--task",
            TASK,
            "--push_to_hub",
            "true",
            "--hub_model_id",
            "someone/model",
            "--output_dir",
            str(tmp_path / "run"),
        ]
    )
    assert rc == 2 and time.time() - t0 < 30
    err = capsys.readouterr().err
    assert "Hub is unreachable" in err and "hf upload someone/model" in err
    assert not (tmp_path / "run").exists()
