#!/usr/bin/env python
"""The one entry point: fine-tune or pretrain any model x init x tokenizer x mode x task x seed.

    accelerate launch --config_file accelerate_configs/cpu.yaml train.py --config configs/quickstart.yaml
    accelerate launch train.py --config configs/quickstart.yaml --seed 2 --learning_rate 5e-4
    python train.py --help          # every field, ours and transformers.TrainingArguments'

A YAML config (`--config`) sets any field; the command line overrides it. Unknown keys and flags are
errors (no abbreviations). The recipe: parse and check the settings, claim the run folder (one run per
folder), prepare fine-tuning or pretraining (data, tokenizer, model), train, evaluate, record.
The run leaves, in its output_dir: `results.json` (the record), `settings.json` (the settings of the
first launch), `model/` (safetensors weights, the tokenizer, `training_args.json` and a model card whose
metadata carries the results) and the Trainer's checkpoints while it runs (`--resume` continues from the
newest complete one after a crash). SIGTERM or SIGINT stops a run with a complete checkpoint of the current
step, no record, the `--resume` command line, and exit code 75. See docs/training.md.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import signal
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import datasets
import torch
import transformers
from transformers import (
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
)

from dnalm_core.hub import HubUnreachableError, check_hub_reachable, push_folder
from dnalm_core.registry import MODELS, TOKENIZERS
from modeling import tokenization
from training import run_folder
from training.arguments import (
    ConfigError,
    DNATrainingArguments,
    RunArguments,
    default_output_dir,
    parse_args,
    settings_of,
    validate,
)
from training.cards import render_model_card
from training.collator import DNAMaskingCollator
from training.data import (
    check_loadable,
    choose_max_length,
    content_hash,
    dataset_fingerprint,
    dataset_info,
    load_finetune_data,
    overlap_warnings,
    pretraining_corpus,
    token_lengths,
    tokenize_splits,
    truncation_counts,
)
from training.flops import train_flops
from training.mlm_baselines import heldout_losses
from training.records import RECORD_NAME, build_record, write_record
from training.run_folder import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Claim
from training.trainer import (
    DNATrainer,
    StopOnSignal,
    TrainClock,
    TrainingInterrupted,
    metric_function,
    public_training_args,
)

logger = transformers.logging.get_logger("dnalm_assess.train")
# pin_memory is on by default for GPU runs; on a CPU-only machine torch warns at every evaluation
warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true but no accelerator.*")

# ------------------------------------------------------------------------------------------ settings


def check_settings(argv: list[str]) -> tuple[RunArguments, DNATrainingArguments, set[str]]:
    """The run's settings from the config file and the command line, checked before anything is loaded."""
    run, targs, given = parse_args(argv)
    try:
        validate(run, targs)
    except ValueError as err:  # registry lookups name the valid choices
        raise ConfigError(str(err)) from None
    check_push_target(targs)
    targs.output_dir = targs.output_dir or default_output_dir(run, targs.seed)
    return run, targs, given


def check_push_target(targs: DNATrainingArguments) -> None:
    if not targs.push_after_training:
        return
    if not targs.hub_model_id:
        raise ConfigError("--push_to_hub needs --hub_model_id <user>/<repo>")
    try:
        check_hub_reachable()
    except HubUnreachableError as err:
        later = f"hf upload {targs.hub_model_id} <output_dir>/model"
        raise ConfigError(
            f"--push_to_hub: the Hub is unreachable ({err}); train without --push_to_hub and push "
            f"the run's model/ folder later with `{later}`"
        ) from None


def claim_folder(run: RunArguments, targs: DNATrainingArguments) -> Claim:
    """Lock the run folder (main process), pick the checkpoint to resume from, check settings on resume."""
    return run_folder.claim_run_folder(
        targs.output_dir,
        settings_of(run, targs),
        resume=run.resume,
        accept_changes=run.resume_with_changes,
        main_process=targs.process_index == 0,
    )


# --------------------------------------------------------------------------------------- tokenizer


def tokenizer_spec(run: RunArguments) -> dict:
    spec = {"family": run.tokenizer}
    if run.tokenizer == "kmer":
        spec.update(k=run.kmer_k, overlapping=run.kmer_overlapping)
    return spec


def check_tokenizer_matches(run: RunArguments, tok, where: str) -> None:
    fam = tokenization.tokenizer_family(tok)
    want = tokenizer_spec(run)
    if run.tokenizer == "bpe" and run.bpe_path:  # a different BPE vocabulary is a different tokenizer
        want["fingerprint"] = tokenization.tokenizer_family(tokenization.load_tokenizer(run.bpe_path))["fingerprint"]
    if any(fam.get(k) != v for k, v in want.items()):
        raise ConfigError(
            f"tokenizer mismatch: the run asks for {want} but {where} was trained with {fam}; a pretrained model "
            "must keep its tokenizer (set the tokenizer fields to match, or use init=random)"
        )


def build_tokenizer(run: RunArguments, corpus: list[str] | None = None, corpus_name: str | None = None):
    """The run's tokenizer: the pretrained model's own, a registered family, or a BPE trained on the corpus."""
    if run.init == "pretrained":
        check_loadable(run.pretrained)
        tok = tokenization.load_tokenizer(run.pretrained)
        check_tokenizer_matches(run, tok, f"the pretrained model at {run.pretrained!r}")
        return tok
    family = TOKENIZERS.get(run.tokenizer)
    if run.tokenizer == "kmer":
        return family.build(k=run.kmer_k, overlapping=run.kmer_overlapping)
    if run.tokenizer == "char":
        return family.build()
    if run.bpe_path:
        return family.build(path=run.bpe_path)
    if corpus is None:
        raise ConfigError(
            "tokenizer=bpe needs `bpe_path` (e.g. ../shared/data/dnabert2, or a folder saved by a "
            "pretraining run); a new BPE is only trained when pretraining on a corpus"
        )
    logger.warning(f"training a BPE with vocab_size={run.bpe_vocab_size} on the pretraining corpus")
    return tokenization.train_bpe(corpus, vocab_size=run.bpe_vocab_size, corpus_name=corpus_name)


# ------------------------------------------------------------------------------------------- model


def build_model(run: RunArguments, tok, stage_kwargs: dict):
    entry = MODELS.get(run.model)
    overrides = json.loads(run.model_config) if run.model_config else {}
    auto = AutoModelForSequenceClassification if run.stage == "finetune" else AutoModelForMaskedLM
    if run.init == "random":
        config = entry.config(
            run.preset, vocab_size=len(tok), pad_token_id=tok.pad_token_id, **overrides, **stage_kwargs
        )
        return auto.from_config(config)
    config = entry.config_class.from_pretrained(run.pretrained, **overrides, **stage_kwargs)
    if getattr(config, "model_type", None) not in ("", None, entry.config_class.model_type):
        raise ConfigError(f"{run.pretrained!r} holds a {config.model_type!r} model, not {run.model!r}")
    if config.vocab_size != len(tok):
        raise ConfigError(f"{run.pretrained!r}: model vocab_size {config.vocab_size} != tokenizer size {len(tok)}")
    return auto.from_pretrained(run.pretrained, config=config)


def head_module_names(model) -> list[str]:
    """Modules that are trained even when the backbone is frozen (probe) or adapted (LoRA)."""
    prefix = model.base_model_prefix
    # only modules with weights: peft matches modules_to_save by name suffix, and a parameter-free
    # name such as "dropout" would also match modules deep inside the backbone
    names = [n for n, m in model.named_children() if n != prefix and any(True for _ in m.parameters())]
    base = getattr(model, prefix, None)
    if base is not None and getattr(base, "pooler", None) is not None:
        names.append(f"{prefix}.pooler")  # DNABERT-2's pooler is new when loading the MLM checkpoint
    return names


def apply_mode(model, run: RunArguments):
    if run.mode == "full":
        return model
    heads = head_module_names(model)
    if run.mode == "probe":
        for name, p in model.named_parameters():
            p.requires_grad = any(name == h or name.startswith(h + ".") for h in heads)
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and not any(
                p.requires_grad for p in module.parameters()
            ):
                # a frozen backbone keeps its normalization statistics too: the Trainer switches every module
                # to training mode each step, so this hook puts frozen BatchNorms back to using (and keeping)
                # their running statistics just before they run
                module.register_forward_pre_hook(_use_running_statistics)
        return model
    from peft import LoraConfig, TaskType, get_peft_model

    cfg = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=run.lora_r,
        lora_alpha=run.lora_alpha,
        lora_dropout=run.lora_dropout,
        target_modules=list(MODELS.get(run.model).lora_target_modules),
        modules_to_save=heads,
    )
    return get_peft_model(model, cfg)


def _use_running_statistics(module, args) -> None:
    module.training = False


def count_params(model) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


# ------------------------------------------------------------------------------------------ prepare


@dataclass
class Job:
    """Everything `run_job` needs: built before anything is trained, by one of the two prepare_* recipes."""

    data: Any  # tokenized DatasetDict (train, validation[, test])
    tok: Any
    model: Any
    collator: Any
    compute_metrics: Callable | None
    problem_type: str
    metric: str
    dataset: dict  # what the record says about the data
    corpus: dict | None = None
    heldout_bp: int = 0  # base pairs of the held-out windows (pretraining): scales losses to bits per bp
    total_params: int = 0
    trainable_params: int = 0


def prepare_finetune(run: RunArguments, targs: DNATrainingArguments, given: set[str]) -> Job:
    raw, task = load_finetune_data(run)
    duplicates = overlap_warnings(raw)
    tok = build_tokenizer(run)
    lengths = token_lengths(raw, tok, targs)
    max_len = choose_max_length(run, lengths, run.model)
    data = tokenize_splits(raw, tok, max_len, targs)
    names = task["label_names"]
    model = build_model(
        run,
        tok,
        dict(
            num_labels=task["num_labels"],
            problem_type=task["problem_type"],
            id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)},
        ),
    )
    window = getattr(model.config, "sequence_length", None)  # Basset, DeepSEA: a fixed input window, in bp
    if window is not None and max_len - 2 > window:  # char tokens: one per base, plus [CLS] and [SEP]
        raise ConfigError(
            f"the task's longest sequence has {max_len - 2:,} bp, more than {run.model}'s fixed input "
            f'window sequence_length={window:,}; pass --model_config \'{{"sequence_length": '
            f"{max_len - 2}}}', or --max_length {window + 2} to truncate (the count is recorded)"
        )
    if "metric_for_best_model" not in given:
        targs.metric_for_best_model, targs.greater_is_better = task["metric"], True
    dataset = dataset_info(run, task["entry"], dataset_fingerprint(raw))
    dataset.update(
        max_length=max_len,
        truncated=truncation_counts(lengths, max_len),
        duplicates_of_train=duplicates,
        n={s: len(raw[s]) for s in raw},
        tokens={s: {"mean": sum(v) / len(v), "max": max(v)} for s, v in lengths.items() if v},
    )
    return Job(
        data=data,
        tok=tok,
        model=model,
        collator=DataCollatorWithPadding(tok),
        compute_metrics=metric_function(task["problem_type"]),
        problem_type=task["problem_type"],
        metric=task["metric"],
        dataset=dataset,
    )


def prepare_pretrain(run: RunArguments, targs: DNATrainingArguments, given: set[str]) -> Job:
    corpus_seqs, train_windows, eval_windows, corpus = pretraining_corpus(run, targs.seed)
    tok = build_tokenizer(run, corpus=corpus_seqs, corpus_name=corpus["name"])
    raw = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"sequence": train_windows}),
            "validation": datasets.Dataset.from_dict({"sequence": eval_windows}),
        }
    )
    max_len = run.window_length + 2  # every family yields at most one token per base (+ [CLS], [SEP])
    data = tokenize_splits(raw, tok, max_len, targs, keep_label=False)
    model = build_model(run, tok, {})
    model.config.dnalm_pretraining = {"corpus": corpus, "tokenizer": tokenization.tokenizer_family(tok)}
    if "metric_for_best_model" not in given:
        targs.metric_for_best_model = "loss"
    if "greater_is_better" not in given:
        targs.greater_is_better = False
    fingerprint = {
        "train_windows": {"rows": len(train_windows), "sha256": content_hash(train_windows)},
        "validation_windows": {"rows": len(eval_windows), "sha256": content_hash(eval_windows)},
    }
    collator = DNAMaskingCollator(tok, mlm_probability=run.mlm_probability)
    dataset = dataset_info(run, None, fingerprint)
    dataset.update(
        max_length=max_len,
        n={"train": len(train_windows), "validation": len(eval_windows)},
        masking=collator.describe(),
    )
    return Job(
        data=data,
        tok=tok,
        model=model,
        collator=collator,
        compute_metrics=None,
        problem_type="masked_lm",
        metric="loss",
        dataset=dataset,
        corpus=corpus,
        heldout_bp=sum(len(w) for w in eval_windows),
    )


def prepare(run: RunArguments, targs: DNATrainingArguments, given: set[str]) -> Job:
    """Data, tokenizer and model for the run's stage; the model in its mode (full, LoRA, probe)."""
    transformers.set_seed(targs.seed)
    try:
        job = (prepare_finetune if run.stage == "finetune" else prepare_pretrain)(run, targs, given)
    except (ValueError, FileNotFoundError, KeyError, OSError) as err:
        # bad input found before training: one clear line, and the folder left as it was
        raise ConfigError(str(err).strip('"')) from err
    job.model = apply_mode(job.model, run)
    job.total_params, job.trainable_params = count_params(job.model)
    logger.warning(
        f"[rank {targs.process_index}/{targs.world_size}] {run.stage} {run.model} ({run.init} init, "
        f"{run.tokenizer} tokens, {run.mode}): {job.total_params:,} parameters, "
        f"{job.trainable_params:,} trainable"
    )
    return job


# -------------------------------------------------------------------------------------------- train


@dataclass
class Trained:
    """What training left: the Trainer (holding the final weights, or the best with load_best_model_at_end)."""

    trainer: DNATrainer
    state: Any  # the TrainerState at the end of training
    runtime: float | None  # the Trainer's train_runtime of this launch (None: the checkpoint had finished)
    segments: list[float]  # seconds of training of every launch of the run, resumes included


def train(run: RunArguments, targs: DNATrainingArguments, claim: Claim, job: Job, stop: StopOnSignal) -> Trained:
    """Train from scratch or from the claimed checkpoint; a signal ends it with a complete checkpoint."""
    clock = TrainClock(claim.resume_from)
    # the clock before `stop`: its marker completes the checkpoint that `stop` then ends the run with
    callbacks = [clock, stop]
    if run.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(run.early_stopping_patience))
    trainer = DNATrainer(
        model=job.model,
        args=targs,
        train_dataset=job.data["train"],
        eval_dataset=job.data["validation"],
        data_collator=job.collator,
        processing_class=job.tok,
        compute_metrics=job.compute_metrics,
        callbacks=callbacks,
        onecycle=run.onecycle,
    )
    if finished_checkpoint(claim.resume_from):
        state, runtime = finish_from_checkpoint(trainer, claim.resume_from), None
    else:
        runtime = trainer.train(resume_from_checkpoint=claim.resume_from).metrics.get("train_runtime")
        state = trainer.state
    # early stopping watches validation evaluations only; on the final ones it would warn that test_* lacks its metric
    trainer.remove_callback(EarlyStoppingCallback)
    return Trained(trainer, state, runtime, clock.segments())


def finished_checkpoint(resume_from: str | None) -> bool:
    """True when the checkpoint to resume from already holds the end of training (a kill after the last
    save): resuming would run the Trainer's loop once more and train a step past max_steps."""
    if resume_from is None:
        return False
    state = json.loads((Path(resume_from) / "trainer_state.json").read_text())
    return bool(state.get("max_steps")) and state.get("global_step", 0) >= state["max_steps"]


def finish_from_checkpoint(trainer: DNATrainer, ckpt: str):
    """Training ended at `ckpt`: load its state and, as load_best_model_at_end would, the best weights."""
    from transformers import TrainerState

    state = TrainerState.load_from_json(str(Path(ckpt) / "trainer_state.json"))
    best = state.best_model_checkpoint if trainer.args.load_best_model_at_end and state.best_model_checkpoint else ckpt
    trainer._load_from_checkpoint(best)
    trainer.state = state
    return state


# ----------------------------------------------------------------------------------------- evaluate


# the count baselines learn from at most this many training windows (16,384 x 512 bp: the CPU grid's whole set;
# at paper scale a sample of the 2M windows, named in the record)
MAX_BASELINE_WINDOWS = 16384
TIMING_KEYS = ("runtime", "samples_per_second", "steps_per_second", "model_preparation_time")  # timings: record["cost"]


def evaluate(run: RunArguments, trained: Trained, job: Job, stop: StopOnSignal) -> tuple[dict, float]:
    """The final metrics of every evaluation split (test only when fine-tuning), and the seconds they took."""
    t0 = time.perf_counter()
    metrics = {}
    for split in ("validation", "test") if run.stage == "finetune" else ("validation",):
        stop.check()  # a signal after training: stop before the next evaluation (a resume evaluates again)
        found = trained.trainer.evaluate(job.data[split], metric_key_prefix=split)
        metrics[split] = {
            k[len(split) + 1 :]: v
            for k, v in found.items()
            if k.startswith(split + "_") and k[len(split) + 1 :] not in TIMING_KEYS
        }
    if run.stage == "pretrain":
        stop.check()
        metrics["heldout_mlm"] = heldout_mlm(trained, job, trained.trainer.args.seed)
    stop.check()  # nothing is written after a stop: the record always comes from a run that was not stopped
    return metrics, time.perf_counter() - t0


def heldout_mlm(trained: Trained, job: Job, seed: int) -> dict:
    """Held-out masked-LM loss beside the unigram and context-count baselines (training/mlm_baselines.py)."""
    train_ids = job.data["train"]["input_ids"]
    if len(train_ids) > MAX_BASELINE_WINDOWS:  # the windows are drawn in random order: the first N are a sample
        train_ids = train_ids[:MAX_BASELINE_WINDOWS]
    out = heldout_losses(
        trained.trainer.model,
        job.tok,
        job.collator,
        train_ids,
        job.data["validation"]["input_ids"],
        job.heldout_bp,
        seed,
    )
    out["baseline_train_windows"] = len(train_ids)
    logger.warning(
        f"held-out masked-LM loss {out['heldout_loss']:.4f} nats/token; unigram {out['unigram_loss']:.4f}, "
        f"context model (k={out['context_model']['radius']}) {out['context_model_loss']:.4f}"
        + ("  -> nominal pretraining" if out["nominal"] else "")
    )
    return out


# ------------------------------------------------------------------------------------------- record


def record(
    run: RunArguments,
    targs: DNATrainingArguments,
    claim: Claim,
    job: Job,
    trained: Trained,
    metrics: dict,
    eval_seconds: float,
) -> dict:
    """On the main process: save the model with its card, write the record (once), drop the checkpoints."""
    out, model_dir = claim.out, claim.out / "model"
    trained.trainer.save_model(str(model_dir))  # safetensors + tokenizer + training_args.json; adapters only for LoRA
    state = trained.state
    result = build_record(
        run=asdict(run),
        training=public_training_args(targs),
        seed=targs.seed,
        stage=run.stage,
        preset=run.preset or MODELS.get(run.model).default_preset,
        tokenizer=tokenization.tokenizer_family(job.tok),
        corpus=job.corpus if job.corpus else pretraining_corpus_of(run),
        problem_type=job.problem_type,
        primary_metric=job.metric,
        metrics=metrics,
        dataset=job.dataset,
        output_dir=out,
        started_at=claim.claimed_at,
        cost=cost_of(run, targs, job, trained, eval_seconds),
        best_checkpoint=state.best_model_checkpoint,
        resume={
            "changed_settings": {k: list(v) for k, v in claim.settings_changes.items()},
            "incomplete_checkpoints_set_aside": claim.set_aside,
        },
    )
    render_model_card(result, repo_id=targs.hub_model_id).save(str(model_dir / "README.md"))
    write_record(out / RECORD_NAME, result)
    if not run.keep_checkpoints:
        for ckpt in out.glob("checkpoint-*"):
            shutil.rmtree(ckpt, ignore_errors=True)
    print(f"\n{run.stage} finished in {sum(trained.segments):.1f} s of training")
    for split, vals in metrics.items():
        shown = {k: round(v, 4) for k, v in vals.items() if isinstance(v, float)}
        print(f"  {split}: {shown}")
    print(f"  record:     {out / RECORD_NAME}\n  checkpoint: {model_dir}\n  model card: {model_dir / 'README.md'}")
    if targs.push_after_training:
        print(f"  pushed:     {push_folder(model_dir, targs.hub_model_id, token=targs.push_token)}")
    return result


def cost_of(run: RunArguments, targs: DNATrainingArguments, job: Job, trained: Trained, eval_seconds: float) -> dict:
    device = targs.device
    return {
        "train_flops": float(trained.state.total_flos),  # the Trainer's 6 x params x tokens
        "flops": analytic_train_flops(run, targs, job, trained.state.global_step),
        "train_seconds": sum(trained.segments),
        "train_segments_seconds": trained.segments,  # one entry per resume
        "eval_seconds": eval_seconds,
        "train_runtime_trainer": trained.runtime,
        "global_steps": trained.state.global_step,
        "peak_memory_bytes": peak_memory_bytes(device),
        "total_params": job.total_params,
        "trainable_params": job.trainable_params,
        "device": device.type + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "num_processes": targs.world_size,
    }


def peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def analytic_train_flops(run: RunArguments, targs: DNATrainingArguments, job: Job, steps: int) -> float:
    """Training FLOPs counted per architecture (attention and the U-Net's shrinking levels included), for the
    examples the run actually drew: steps x global batch, at the tokenized lengths of the train split."""
    train = job.data["train"]
    lengths = [len(ids) for ids in train["input_ids"]]
    per_step = targs.per_device_train_batch_size * targs.gradient_accumulation_steps * targs.world_size
    # backward costs ~2x forward when every weight trains; with LoRA the frozen weights need input
    # gradients only (~1x); a probe back-propagates through the head alone (~0x)
    backward = {"full": 2.0, "lora": 1.0, "probe": 0.0}[run.mode]
    config = getattr(job.model, "get_base_model", lambda: job.model)().config
    return float(
        train_flops(
            config,
            lengths,
            "mlm" if run.stage == "pretrain" else "classification",
            epochs=steps * per_step / len(lengths),
            num_labels=getattr(config, "num_labels", None),
            mlm_probability=run.mlm_probability,
            batch_size=targs.per_device_train_batch_size,
            backward_factor=backward,
        )
    )


def pretraining_corpus_of(run: RunArguments):
    """For fine-tuning from one of our pretrained checkpoints: the corpus it was pretrained on."""
    if run.init != "pretrained":
        return None
    cfg_path = Path(run.pretrained) / "config.json"
    if cfg_path.is_file():
        return (json.loads(cfg_path.read_text()).get("dnalm_pretraining") or {}).get("corpus")
    return None


# --------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    """The recipe, top to bottom. Returns the exit code (training.run_folder.EXIT_*): 0 finished, 2 refused
    before training, 1 failed while running (a full disk), 75 stopped by SIGTERM / SIGINT (resumable)."""
    transformers.logging.set_verbosity_warning()
    argv = sys.argv[1:] if argv is None else list(argv)
    targs = claim = None
    with StopOnSignal() as stop:  # restores the previous handlers on the way out (train.main in a worker)
        try:
            run, targs, given = check_settings(argv)
            claim = claim_folder(run, targs)
            job = prepare(run, targs, given)
            stop.check()
            trained = train(run, targs, claim, job, stop)
            metrics, eval_seconds = evaluate(run, trained, job, stop)
            if trained.trainer.is_world_process_zero():
                record(run, targs, claim, job, trained, metrics, eval_seconds)
        except (ConfigError, run_folder.RunFolderError) as err:
            if claim is not None:
                claim.release(nothing_written=True)  # a folder this run made and left empty is removed again
            print(f"train.py: error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except TrainingInterrupted as stopped:
            if targs is None or targs.process_index == 0:
                print(stopped_message(stopped, argv, targs), file=sys.stderr, flush=True)
            return EXIT_INTERRUPTED
        except (OSError, RuntimeError) as err:
            if not run_folder.disk_full(err):
                raise
            print(
                f"train.py: error: no space left to write the run ({err}). Nothing complete was lost: free space "
                f"in {targs.output_dir} and continue the run with:\n  {resume_command(argv, targs)}",
                file=sys.stderr,
            )
            return EXIT_FAILED
        finally:
            if claim is not None:
                claim.release()
    return EXIT_OK


def stopped_message(stopped: TrainingInterrupted, argv: list[str], targs: DNATrainingArguments | None) -> str:
    if stopped.checkpoint:
        where = f"at step {stopped.step}: {stopped.checkpoint} is complete"
    else:
        complete = run_folder.split_checkpoints(Path(targs.output_dir))[0] if targs is not None else []
        where = "outside a training step; " + (
            f"the newest complete checkpoint is {complete[-1]}"
            if complete
            else "no checkpoint yet (a resume starts from the beginning)"
        )
    return (
        f"train.py: stopped by {stopped.signal_name} {where}. No record was written (exit code "
        f"{EXIT_INTERRUPTED}: interrupted, resumable). Continue the run with:\n  {resume_command(argv, targs)}"
    )


def resume_command(argv: list[str], targs: DNATrainingArguments | None) -> str:
    """The command line that continues this run: the same arguments, its output_dir, and --resume true."""
    args, i = [], 0
    while i < len(argv):
        if argv[i] == "--resume":  # drop an earlier --resume and its value, if it has one
            i += 2 if i + 1 < len(argv) and not argv[i + 1].startswith("--") else 1
            continue
        if not argv[i].startswith("--resume="):
            args.append(argv[i])
        i += 1
    if targs is not None and not any(a == "--output_dir" or a.startswith("--output_dir=") for a in argv):
        args += ["--output_dir", str(targs.output_dir)]
    script = Path(__file__).resolve()
    if script.is_relative_to(Path.cwd()):
        script = script.relative_to(Path.cwd())
    if targs is not None and targs.world_size > 1:
        launcher = ["accelerate", "launch", f"--num_processes={targs.world_size}"]  # plus your launch options
    else:
        launcher = ["python"]
    return shlex.join([*launcher, str(script), *args, "--resume", "true"])


if __name__ == "__main__":
    # main() handles SIGTERM / SIGINT while it runs and restores the handlers it found: ignoring them here,
    # before and after, keeps a late second signal from turning the exit code (75 above all) into a kill
    for sig in StopOnSignal.SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    code = main()
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # A process group torn down by the interpreter's exit can abort a rank ("terminate called without an
        # active exception", SIGABRT) and fail the launch after the run succeeded. Everything this rank writes
        # is written by now: flush the streams and leave without that teardown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
