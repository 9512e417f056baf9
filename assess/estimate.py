"""What a grid will cost before it runs: `python -m assess.grid SPEC --estimate`.

Per run (every pretraining run, every fine-tuning run the grid would start; a conditional sweep member counts
once per arm x task x seed, since one member fills that slot) it counts:
- FLOPs: training/flops.py's analytic count (attention and the U-Net's short levels included) of every
  training step, plus the forward passes of its evaluations (validation every `eval_steps`, the test split
  once). Steps are `max_steps`, or epochs x ceil(examples / batch): an upper bound where early stopping is on
  (grid_cpu's fine-tuning runs trained 96% of theirs). Sequence lengths are the task's `max_tokens` for the tokenizer
  (dnalm_core registry: batches pad to about the longest); training-set sizes are GUE's published ones
  (GUE_TRAIN_SIZES), validation and test 1/8 of that (GUE's 8:1:1 split), each capped by
  `max_train_samples` / `max_eval_samples`.
- time: on CPU, FLOPs / the single-thread training throughput measured per architecture (CPU_GFLOPS, see
  `measure_cpu`); on a GPU, FLOPs / (dense bf16 peak x an assumed MFU, GPU_KINDS).
- disk: each run's `model/` (fp32 weights: 4 bytes a parameter) and record, the checkpoints a running run holds
  (`save_total_limit` + the best one, each the weights and AdamW's two moments: 12 bytes a parameter), and the
  archive (records and pretraining `model/` folders).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from .spec import archive_dir, runs_dir_of

# Train split sizes of GUE (Zhou et al. 2024, DNABERT-2, ICLR; the GUE statistics table, appendix). The ten
# tasks in ../shared/data/gue match these counts (tests/test_estimate.py checks them).
GUE_TRAIN_SIZES = {
    "H3": 11971,
    "H3K14ac": 26438,
    "H3K36me3": 27904,
    "H3K4me1": 25341,
    "H3K4me2": 24545,
    "H3K4me3": 29439,
    "H3K79me3": 23069,
    "H3K9ac": 22224,
    "H4": 11679,
    "H4ac": 27275,
    "prom_300_all": 47356,
    "prom_300_notata": 42452,
    "prom_300_tata": 4904,
    "prom_core_all": 47356,
    "prom_core_notata": 42452,
    "prom_core_tata": 4904,
    "tf_0": 32378,
    "tf_1": 30672,
    "tf_2": 19000,
    "tf_3": 27294,
    "tf_4": 19000,
    "mouse_0": 6478,
    "mouse_1": 53952,
    "mouse_2": 2620,
    "mouse_3": 1904,
    "mouse_4": 15064,
    "covid": 77669,
    "splice_reconstructed": 36496,
}
EVAL_FRACTION = 1 / 8  # GUE splits 8:1:1: validation and test are each about 1/8 of train

# Single-thread CPU training throughput (forward, backward, AdamW), GFLOP/s of training/flops.py's count,
# measured with `python -m assess.estimate --measure-cpu --steps 30` (batch 16 x 103 tokens, the grid_cpu shape, one
# thread, process CPU time) on the 2-core development machine, 2026-12-05 (two runs: 68.0/68.2, 93.8/100.4,
# 17.8/22.2; basset and deepsea, measured the same way once: 55.7 and 62.8, in a run that gave 76.1, 111.6 and
# 25.4 for the first three). The grid_cpu records' own timings were not used: tests/test_estimate.py compares
# against them. CPU_PRESETS: the grid_cpu preset of each architecture, at which measure_cpu measures.
CPU_PRESETS = {
    "dnabert2": "small",
    "convnova": "genomic_benchmark",
    "unet": "small",
    "basset": "small",
    "deepsea": "small",
}
CPU_GFLOPS = {"dnabert2": 68.0, "convnova": 100.0, "unet": 22.0, "basset": 55.7, "deepsea": 62.8}


@dataclass(frozen=True)
class GPUKind:
    name: str
    peak_tflops: float  # dense bf16 tensor-core peak, no sparsity
    mfu: dict  # run class -> assumed model-FLOPs utilisation


# Peaks: NVIDIA data sheets (H100 SXM5: 989 TFLOP/s dense bf16; A100 SXM4: 312). MFU, assumed (no GPU was
# lent to measure it; benchmarks/gpu_check.py measures it: replace these with its numbers):
# - large-batch transformer pretraining reaches 40-55% on these GPUs (PaLM, Chowdhery et al. 2022, Table 3:
#   46% for 540B; Megatron-LM, Narayanan et al. 2021: 52% of A100 peak); a 117M model at batch 128 x ~256
#   tokens is smaller, so 35% (A100) / 30% (H100);
# - fine-tuning DNABERT-2-117M at batch 32 x 20-256 tokens: a step is ~0.2-3 TFLOP, i.e. 0.5-3 ms of H100
#   peak, while its ~1,000 kernel launches and the optimizer take several ms: 10% (H100) / 20% (A100, the
#   same wall time is a larger share of a 3x lower peak);
# - the CNNs (1.4-1.8M parameters, 128 channels, conv1d): memory- and launch-bound, 2% / 5%.
GPU_KINDS = {
    "H100": GPUKind("H100", 989.0, {"transformer-pretrain": 0.30, "transformer-finetune": 0.10, "cnn": 0.02}),
    "A100": GPUKind("A100", 312.0, {"transformer-pretrain": 0.35, "transformer-finetune": 0.20, "cnn": 0.05}),
}
RECORD_BYTES = 18_000  # mean size of a results.json in reports/cpu/records (972 records, 17.4 MB)
BPE_BP_PER_TOKEN = 4  # DNABERT-2's BPE shortens DNA ~4-5x (the registry's max_tokens rule of thumb)


@dataclass
class Cost:
    kind: str
    model: str
    label: str
    train_flops: float
    eval_flops: float
    params: int
    checkpoints: int  # held at once while it runs

    @property
    def flops(self) -> float:
        return self.train_flops + self.eval_flops

    @property
    def run_class(self) -> str:
        return "cnn" if self.model != "dnabert2" else f"transformer-{self.kind}"


@functools.cache
def _defaults() -> dict:
    """train.py's defaults (RunArguments, DNATrainingArguments): what a field the spec leaves out is."""
    from training.arguments import DNATrainingArguments, RunArguments

    return {
        f.name: f.default
        for dc in (RunArguments, DNATrainingArguments)
        for f in dataclasses.fields(dc)
        if f.init and f.default is not dataclasses.MISSING
    }


def _config(fields: dict):
    import modeling  # noqa: F401  (registers the models; imports torch, which --estimate needs only here)
    from dnalm_core.registry import MODELS

    entry = MODELS.get(fields["model"])
    given = fields.get("model_config")  # a JSON string on the command line, a mapping in a spec
    overrides = (json.loads(given) if isinstance(given, str) else dict(given)) if given else {}
    return entry.config(fields.get("preset"), **overrides)


def _pretrained_config(fields: dict, label: str):
    """The architecture a fine-tuning run loads: its folder's (or the Hub cache's) config.json sizes."""
    from huggingface_hub import try_to_load_from_cache

    src = str(fields["pretrained"])
    path = Path(src) / "config.json"
    if not path.is_file():
        cached = try_to_load_from_cache(src, "config.json") if src.count("/") == 1 else None
        if not isinstance(cached, str):
            raise ValueError(
                f"{label}: the size of `pretrained: {src}` is unknown here (no {path}, not in the Hub "
                "cache); set `preset:` on the arm, or fetch its config.json "
                f"(`hf download {src} config.json`)"
            )
        path = Path(cached)
    saved = json.loads(path.read_text())
    base = _config({**fields, "model_config": None})
    return _config(
        {
            **fields,
            "model_config": json.dumps(
                {
                    k: v
                    for k, v in saved.items()
                    if k in base.to_dict()
                    and not k.startswith("_")
                    and k not in ("architectures", "auto_map", "model_type")
                }
            ),
        }
    )


def _tokens(fields: dict, bp: int, task_entry=None) -> int:
    """Tokens per sequence as fed to the model (special tokens included)."""
    family = fields["tokenizer"]
    if task_entry is not None and family in task_entry.max_tokens:
        return int(task_entry.max_tokens[family])
    if family == "bpe":
        return math.ceil(bp / BPE_BP_PER_TOKEN) + 2
    if family == "kmer" and not fields["kmer_overlapping"]:
        return math.ceil(bp / int(fields["kmer_k"])) + 2
    return bp + 2


def _evals(fields: dict, steps: int, epochs: float) -> int:
    strategy = fields["eval_strategy"]
    if strategy == "no":
        return 0
    if strategy == "epoch":
        return math.ceil(epochs)
    every = float(fields["eval_steps"] or fields["logging_steps"])  # TrainingArguments' own default
    every = every * steps if every < 1 else every  # a fraction of the run's steps, as TrainingArguments reads it
    return math.ceil(steps / max(1.0, math.ceil(every)))


def _params(config, task: str) -> int:
    from training.flops import non_embedding_parameters

    n = non_embedding_parameters(config, task, num_labels=2 if task == "classification" else None)
    if config.model_type == "dnabert2":
        n += config.vocab_size * config.hidden_size  # the (tied) token embedding
    return int(n)


def run_cost(run, spec: dict, pre_fields: dict[str, dict]) -> Cost:
    """FLOPs and parameters of one grid run (`assess.grid.Run`)."""
    from dnalm_core.registry import TASKS
    from training.flops import architecture, forward_flops, train_flops

    f = {**_defaults(), **{k: v for k, v in run.fields.items() if v is not None}}
    label = run.label()
    batch = int(f["per_device_train_batch_size"]) * int(f["gradient_accumulation_steps"])
    if run.kind == "pretrain":
        config = _config(f)
        length = _tokens(f, int(f["window_length"]))
        n_train, task, n_eval_rows, n_test = int(f["num_windows"]), "mlm", int(f["eval_windows"]), 0
    else:
        ref = next((p for key, p in run.needs.items() if key == "pretrained"), None)
        if ref is not None:
            config = _config({**f, **{k: pre_fields[ref.name].get(k) for k in ("model", "preset", "model_config")}})
        elif f.get("pretrained"):
            config = _config(f) if f.get("preset") else _pretrained_config(f, label)
        else:
            config = _config(f)
        entry = TASKS.get(run.task)
        length = _tokens(f, entry.seq_len, entry)
        size = GUE_TRAIN_SIZES.get(entry.config_name)
        if size is None:
            raise ValueError(f"{label}: no training-set size known for {run.task} (GUE_TRAIN_SIZES)")
        n_train = min(size, int(f.get("max_train_samples") or size))
        n_eval_rows = min(round(size * EVAL_FRACTION), int(f.get("max_eval_samples") or size))
        n_test, task = round(size * EVAL_FRACTION), "classification"
    epochs = float(f["num_train_epochs"])
    max_steps = int(f["max_steps"])
    steps = max_steps if max_steps > 0 else math.ceil(epochs * math.ceil(n_train / batch))
    run_epochs = steps * batch / n_train
    kwargs = {"mlm_probability": float(f["mlm_probability"]), "batch_size": batch} if task == "mlm" else {}
    train = train_flops(config, length, task, epochs=steps * batch, **kwargs)
    fwd = (
        forward_flops(config, length, 1, task)
        if task != "mlm"
        else train_flops(config, length, task, backward_factor=0.0, **kwargs)
    )
    evals = _evals(f, steps, run_epochs)
    return Cost(
        run.kind,
        architecture(config),
        label,
        float(train),
        float(fwd) * (evals * n_eval_rows + n_test),
        _params(config, task),
        (f["save_total_limit"] or max(1, evals)) + 1,
    )  # +1: the best one is kept too


def estimate(spec: dict) -> dict:
    """Totals by (kind, model) and overall: runs, FLOPs, CPU hours, GPU hours per kind, disk."""
    from .grid import expand

    runs = expand(spec)
    pre_fields = {r.name: r.fields for r in runs if r.kind == "pretrain"}
    seen, costs = set(), []
    for run in runs:
        if run.slot in seen:  # one member of a conditional sweep fills each arm x task x seed
            continue
        seen.add(run.slot)
        costs.append(run_cost(run, spec, pre_fields))
    groups = defaultdict(list)
    for c in costs:
        groups[(c.kind, c.model)].append(c)

    def total(cs: list[Cost]) -> dict:
        flops = sum(c.flops for c in cs)
        return {
            "runs": len(cs),
            "flops": flops,
            "cpu_hours": sum(c.flops / (CPU_GFLOPS[c.model] * 1e9) for c in cs) / 3600,
            "gpu_hours": {
                k: sum(c.flops / (g.peak_tflops * 1e12 * g.mfu[c.run_class]) for c in cs) / 3600
                for k, g in GPU_KINDS.items()
            },
        }

    records = RECORD_BYTES * len(costs)
    archive = archive_dir(spec)
    return {
        "name": spec["name"],
        "groups": {k: total(v) for k, v in sorted(groups.items())},
        "total": total(costs),
        "disk": {
            "runs_dir": str(runs_dir_of(spec)),
            "models_and_records": sum(4 * c.params for c in costs) + records,
            "checkpoints_per_running_run": max(12 * c.params * c.checkpoints for c in costs),
            "archive": str(archive) if archive else None,
            "archive_bytes": (records + sum(4 * c.params for c in costs if c.kind == "pretrain") if archive else 0),
        },
    }


def _size(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


def format_estimate(est: dict) -> str:
    kinds = list(GPU_KINDS)
    head = f"{'':24s} {'runs':>6s} {'PFLOP':>10s} {'CPU h':>10s}" + "".join(f" {k + ' GPU-h':>11s}" for k in kinds)
    lines = [f"estimate for grid {est['name']} (upper bounds: early stopping ends runs sooner)", head]

    def row(label: str, t: dict) -> str:
        return f"{label:24s} {t['runs']:6d} {t['flops'] / 1e15:10.3g} {t['cpu_hours']:10.3g}" + "".join(
            f" {t['gpu_hours'][k]:11.3g}" for k in kinds
        )

    lines += [row(f"{kind} {model}", t) for (kind, model), t in est["groups"].items()]
    lines.append(row("total", est["total"]))
    d = est["disk"]
    lines.append(
        f"disk: {_size(d['models_and_records'])} in {d['runs_dir']} (model/ and record of every run; drop "
        f"model/ folders you do not need), up to {_size(d['checkpoints_per_running_run'])} of checkpoints "
        "per running run" + (f"; archive {_size(d['archive_bytes'])} in {d['archive']}" if d["archive"] else "")
    )
    gpus = "; ".join(
        f"{k} {g.peak_tflops:g} TFLOP/s bf16 x MFU " + ", ".join(f"{c} {100 * v:g}%" for c, v in g.mfu.items())
        for k, g in GPU_KINDS.items()
    )
    cpu = ", ".join(f"{m} {g:g} GFLOP/s" for m, g in CPU_GFLOPS.items())
    lines.append(f"assumes: CPU {cpu} per thread (measured); {gpus} (assumed: see assess/estimate.py)")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ measuring the CPU


def _cpu_seconds_per_step(net, inputs: dict, steps: int) -> float:
    """Process CPU time of one training step (forward, backward, AdamW) after one warm-up step: what one thread
    delivers, whatever else the machine runs."""
    import torch

    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    for i in range(steps + 1):
        if i == 1:
            t0 = time.process_time()
        net(**inputs).loss.backward()
        opt.step()
        opt.zero_grad()
    return (time.process_time() - t0) / steps


def measure_cpu(steps: int = 8, batch: int = 16, length: int = 103) -> dict[str, float]:
    """Single-thread training throughput (GFLOP/s of training/flops.py's count) of each architecture at its
    grid_cpu preset, on `batch` x `length` tokens: what CPU_GFLOPS holds."""
    import torch
    from transformers import AutoModelForSequenceClassification

    import modeling  # noqa: F401  (registers the models)
    from dnalm_core.registry import MODELS
    from training.flops import train_flops

    torch.set_num_threads(1)
    out = {}
    for model, preset in CPU_PRESETS.items():
        config = MODELS.get(model).config(preset, num_labels=2)
        torch.manual_seed(0)
        net = AutoModelForSequenceClassification.from_config(config)
        ids = torch.randint(5, 9, (batch, length))
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.randint(0, 2, (batch,))}
        seconds = _cpu_seconds_per_step(net, inputs, steps)
        out[model] = train_flops(config, [length] * batch, "classification") / seconds / 1e9
    return out


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="measure CPU_GFLOPS (see measure_cpu)")
    ap.add_argument("--measure-cpu", action="store_true", required=True)
    ap.add_argument("--steps", type=int, default=8)
    for name, value in measure_cpu(ap.parse_args().steps).items():
        print(f"{name}: {value:.1f} GFLOP/s")
