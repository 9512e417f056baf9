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
newest complete one after a crash).
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # run from a clone without `pip install -e .` too

import datasets  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
)

from dnalm_core.registry import MODELS, TOKENIZERS  # noqa: E402
from modeling import tokenization  # noqa: E402
from training import run_folder  # noqa: E402
from training.arguments import (  # noqa: E402
    ConfigError, DNATrainingArguments, RunArguments, default_output_dir, parse_args, settings_of, validate,
)
from training.cards import render_model_card  # noqa: E402
from training.collator import DNAMaskingCollator  # noqa: E402
from training.data import (  # noqa: E402
    check_loadable, choose_max_length, content_hash, dataset_fingerprint, dataset_info, load_finetune_data,
    overlap_warnings, pretraining_corpus, token_lengths, tokenize_splits, truncation_counts,
)
from training.flops import train_flops  # noqa: E402
from dnalm_core.hub import HubUnreachableError, check_hub_reachable, push_folder  # noqa: E402
from training.records import RECORD_NAME, build_record, write_record  # noqa: E402
from training.trainer import DNATrainer, TrainClock, metric_function, public_training_args  # noqa: E402

logger = transformers.logging.get_logger("dnalm_assess.train")
# pin_memory is on by default for GPU runs; on a CPU-only machine torch warns at every evaluation
warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true but no accelerator.*")

# Settings that may differ on --resume without changing what the run computes.
RESUME_MAY_CHANGE = {"resume", "resume_with_changes", "keep_checkpoints", "disable_tqdm", "report_to", "output_dir",
                     "logging_steps", "logging_first_step", "push_to_hub", "hub_model_id", "hub_private_repo",
                     "dataloader_num_workers", "local_rank"}

# ----------------------------------------------------------------------------------------- run folder


@dataclass
class Claim:
    """The run folder, locked for this run, and the checkpoint to resume from (if any)."""

    out: Path
    lock: Optional[run_folder.RunLock]
    resume_from: Optional[str]
    settings_changes: dict
    set_aside: list
    # when this process took the folder: the record's started_at (with finished_at, the run's span in wall time,
    # from which the report sums a grid's wall time across workers and sessions)
    claimed_at: float = field(default_factory=time.time)


def claim_run_folder(run: RunArguments, targs: DNATrainingArguments) -> Claim:
    """Lock the folder (main process), pick the newest complete checkpoint, and check settings on resume."""
    out = Path(targs.output_dir)
    record_path = out / RECORD_NAME
    if record_path.exists():
        raise ConfigError(f"{record_path} exists: this run already finished. Its record is never overwritten; "
                          "pick another output_dir (or move that folder away to redo the run)")
    lock = run_folder.claim(out) if targs.process_index == 0 else None
    try:
        if lock is not None and lock.took_over:
            logger.warning(f"{out}: took over the lock of a run that no longer holds it ({lock.took_over})")
        complete, incomplete = run_folder.split_checkpoints(out)
        moved = []
        if incomplete and targs.process_index == 0:
            moved = run_folder.set_aside(incomplete)
            logger.warning(f"{out}: {len(moved)} half-written checkpoint(s) ({', '.join(c.name for c in incomplete)}) "
                           f"cannot be resumed and were moved to {out / run_folder.INCOMPLETE_DIR}")
        if complete and not run.resume:
            raise ConfigError(f"{out} holds checkpoints of an unfinished run (newest complete: {complete[-1].name}); "
                              "pass --resume to continue it, or choose another output_dir")
        now = settings_of(run, targs)
        before = run_folder.read_settings(out)
        changes = {}
        if run.resume and complete and before is not None:
            changes = run_folder.changed_settings(before, now, RESUME_MAY_CHANGE)
            if changes and not run.resume_with_changes:
                listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changes.items())
                raise ConfigError(f"--resume with settings that differ from the run's first launch ({listed}); "
                                  "resume with the original settings, or add --resume_with_changes to continue with "
                                  "the new ones (the changes are then recorded)")
            for k, (a, b) in changes.items():
                logger.warning(f"resuming with a changed setting (recorded): {k}: {a!r} -> {b!r}")
        elif targs.process_index == 0:
            run_folder.write_settings(out, now)
        resume_from = str(complete[-1]) if (run.resume and complete) else None
        if run.resume and not complete:
            logger.warning(f"--resume: {out} holds no complete checkpoint; starting from the beginning")
        return Claim(out, lock, resume_from, changes, [str(m) for m in moved])
    except BaseException:
        if lock is not None:
            lock.abandon()
        raise


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
        raise ConfigError("tokenizer=bpe needs `bpe_path` (e.g. ../shared/data/dnabert2, or a folder saved by a "
                          "pretraining run); a new BPE is only trained when pretraining on a corpus")
    logger.warning(f"training a BPE with vocab_size={run.bpe_vocab_size} on the pretraining corpus")
    return tokenization.train_bpe(corpus, vocab_size=run.bpe_vocab_size, corpus_name=corpus_name)


# ------------------------------------------------------------------------------------------- model


def build_model(run: RunArguments, tok, stage_kwargs: dict):
    entry = MODELS.get(run.model)
    overrides = json.loads(run.model_config) if run.model_config else {}
    auto = AutoModelForSequenceClassification if run.stage == "finetune" else AutoModelForMaskedLM
    if run.init == "random":
        config = entry.config(run.preset, vocab_size=len(tok), pad_token_id=tok.pad_token_id, **overrides, **stage_kwargs)
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
                    p.requires_grad for p in module.parameters()):
                # a frozen backbone keeps its normalization statistics too: the Trainer switches every module
                # to training mode each step, so this hook puts frozen BatchNorms back to using (and keeping)
                # their running statistics just before they run
                module.register_forward_pre_hook(_use_running_statistics)
        return model
    from peft import LoraConfig, TaskType, get_peft_model

    cfg = LoraConfig(task_type=TaskType.SEQ_CLS, r=run.lora_r, lora_alpha=run.lora_alpha, lora_dropout=run.lora_dropout,
                     target_modules=list(MODELS.get(run.model).lora_target_modules), modules_to_save=heads)
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
    compute_metrics: Optional[Callable]
    problem_type: str
    metric: str
    dataset: dict  # what the record says about the data
    corpus: Optional[dict] = None
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
    model = build_model(run, tok, dict(num_labels=task["num_labels"], problem_type=task["problem_type"],
                                       id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}))
    window = getattr(model.config, "sequence_length", None)  # Basset, DeepSEA: a fixed input window, in bp
    if window is not None and max_len - 2 > window:  # char tokens: one per base, plus [CLS] and [SEP]
        raise ConfigError(f"the task's longest sequence has {max_len - 2:,} bp, more than {run.model}'s fixed input "
                          f"window sequence_length={window:,}; pass --model_config '{{\"sequence_length\": "
                          f"{max_len - 2}}}', or --max_length {window + 2} to truncate (the count is recorded)")
    if "metric_for_best_model" not in given:
        targs.metric_for_best_model, targs.greater_is_better = task["metric"], True
    dataset = dataset_info(run, task["entry"], dataset_fingerprint(raw))
    dataset.update(max_length=max_len, truncated=truncation_counts(lengths, max_len),
                   duplicates_of_train=duplicates, n={s: len(raw[s]) for s in raw},
                   tokens={s: {"mean": sum(v) / len(v), "max": max(v)} for s, v in lengths.items() if v})
    return Job(data=data, tok=tok, model=model, collator=DataCollatorWithPadding(tok),
               compute_metrics=metric_function(task["problem_type"]), problem_type=task["problem_type"],
               metric=task["metric"], dataset=dataset)


def prepare_pretrain(run: RunArguments, targs: DNATrainingArguments, given: set[str]) -> Job:
    corpus_seqs, train_windows, eval_windows, corpus = pretraining_corpus(run, targs.seed)
    tok = build_tokenizer(run, corpus=corpus_seqs, corpus_name=corpus["name"])
    raw = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"sequence": train_windows}),
                                "validation": datasets.Dataset.from_dict({"sequence": eval_windows})})
    max_len = run.window_length + 2  # every family yields at most one token per base (+ [CLS], [SEP])
    data = tokenize_splits(raw, tok, max_len, targs, keep_label=False)
    model = build_model(run, tok, {})
    model.config.dnalm_pretraining = {"corpus": corpus, "tokenizer": tokenization.tokenizer_family(tok)}
    if "metric_for_best_model" not in given:
        targs.metric_for_best_model = "loss"
    if "greater_is_better" not in given:
        targs.greater_is_better = False
    fingerprint = {"train_windows": {"rows": len(train_windows), "sha256": content_hash(train_windows)},
                   "validation_windows": {"rows": len(eval_windows), "sha256": content_hash(eval_windows)}}
    collator = DNAMaskingCollator(tok, mlm_probability=run.mlm_probability)
    dataset = dataset_info(run, None, fingerprint)
    dataset.update(max_length=max_len, n={"train": len(train_windows), "validation": len(eval_windows)},
                   masking=collator.describe())
    return Job(data=data, tok=tok, model=model, collator=collator,
               compute_metrics=None, problem_type="masked_lm", metric="loss", dataset=dataset, corpus=corpus)


def prepare(run: RunArguments, targs: DNATrainingArguments, given: set[str]) -> Job:
    """Data, tokenizer and model for the run's stage; the model in its mode (full, LoRA, probe)."""
    transformers.set_seed(targs.seed)
    job = (prepare_finetune if run.stage == "finetune" else prepare_pretrain)(run, targs, given)
    job.model = apply_mode(job.model, run)
    job.total_params, job.trainable_params = count_params(job.model)
    logger.warning(f"[rank {targs.process_index}/{targs.world_size}] {run.stage} {run.model} ({run.init} init, "
                   f"{run.tokenizer} tokens, {run.mode}): {job.total_params:,} parameters, "
                   f"{job.trainable_params:,} trainable")
    return job


# ------------------------------------------------------------------------------------------ run


TIMING_KEYS = ("runtime", "samples_per_second", "steps_per_second", "model_preparation_time")  # timings: record["cost"]


def _strip(metrics: dict, prefix: str) -> dict:
    return {k[len(prefix) + 1:]: v for k, v in metrics.items()
            if k.startswith(prefix + "_") and k[len(prefix) + 1:] not in TIMING_KEYS}


def peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def finished_checkpoint(resume_from: str | None) -> bool:
    """True when the checkpoint to resume from already holds the end of training (a kill after the last
    save): resuming would run the Trainer's loop once more and train a step past max_steps."""
    if resume_from is None:
        return False
    state = json.loads((Path(resume_from) / "trainer_state.json").read_text())
    return bool(state.get("max_steps")) and state.get("global_step", 0) >= state["max_steps"]


def run_job(run: RunArguments, targs: DNATrainingArguments, claim: Claim, job: Job) -> dict | None:
    clock = TrainClock(claim.resume_from)
    callbacks = [clock] + ([EarlyStoppingCallback(run.early_stopping_patience)] if run.early_stopping_patience else [])
    trainer = DNATrainer(model=job.model, args=targs, train_dataset=job.data["train"], eval_dataset=job.data["validation"],
                         data_collator=job.collator, processing_class=job.tok, compute_metrics=job.compute_metrics,
                         callbacks=callbacks, onecycle=run.onecycle)
    if finished_checkpoint(claim.resume_from):
        trainer_state = finish_from_checkpoint(trainer, claim.resume_from)
        train_runtime = None
    else:
        train_runtime = trainer.train(resume_from_checkpoint=claim.resume_from).metrics.get("train_runtime")
        trainer_state = trainer.state
    train_segments = clock.segments()
    # early stopping watches validation evaluations only; on the final ones it would warn that test_* lacks its metric
    trainer.remove_callback(EarlyStoppingCallback)

    t0 = time.perf_counter()
    metrics = {"validation": _strip(trainer.evaluate(job.data["validation"], metric_key_prefix="validation"), "validation")}
    if run.stage == "finetune":
        metrics["test"] = _strip(trainer.evaluate(job.data["test"], metric_key_prefix="test"), "test")
    eval_seconds = time.perf_counter() - t0
    if not trainer.is_world_process_zero():
        return None

    out = claim.out
    model_dir = out / "model"
    trainer.save_model(str(model_dir))  # safetensors + tokenizer + training_args.json; adapters only for LoRA
    record = build_record(
        run=asdict(run), training=public_training_args(targs), seed=targs.seed, stage=run.stage,
        preset=run.preset or MODELS.get(run.model).default_preset, tokenizer=tokenization.tokenizer_family(job.tok),
        corpus=job.corpus if job.corpus else pretraining_corpus_of(run), problem_type=job.problem_type,
        primary_metric=job.metric, metrics=metrics, dataset=job.dataset, output_dir=out, started_at=claim.claimed_at,
        cost={
            "train_flops": float(trainer_state.total_flos),  # the Trainer's 6 x params x tokens
            "flops": analytic_train_flops(run, targs, job, trainer_state.global_step),
            "train_seconds": sum(train_segments),
            "train_segments_seconds": train_segments,  # one entry per resume
            "eval_seconds": eval_seconds,
            "train_runtime_trainer": train_runtime,
            "global_steps": trainer_state.global_step,
            "peak_memory_bytes": peak_memory_bytes(targs.device),
            "total_params": job.total_params,
            "trainable_params": job.trainable_params,
            "device": str(targs.device.type) + (f" ({torch.cuda.get_device_name(targs.device)})" if targs.device.type == "cuda" else ""),
            "num_processes": targs.world_size,
        },
        best_checkpoint=trainer_state.best_model_checkpoint,
        resume={"changed_settings": {k: list(v) for k, v in claim.settings_changes.items()},
                "incomplete_checkpoints_set_aside": claim.set_aside},
    )
    render_model_card(record, repo_id=targs.hub_model_id).save(str(model_dir / "README.md"))
    write_record(out / RECORD_NAME, record)
    if not run.keep_checkpoints:
        for ckpt in out.glob("checkpoint-*"):
            shutil.rmtree(ckpt, ignore_errors=True)
    print(f"\n{run.stage} finished in {sum(train_segments):.1f} s of training")
    for split, vals in metrics.items():
        shown = {k: round(v, 4) for k, v in vals.items() if isinstance(v, float)}
        print(f"  {split}: {shown}")
    print(f"  record:     {out / RECORD_NAME}\n  checkpoint: {model_dir}\n  model card: {model_dir / 'README.md'}")
    if targs.push_after_training:
        print(f"  pushed:     {push_folder(model_dir, targs.hub_model_id, token=targs.push_token)}")
    return record


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
    return float(train_flops(config, lengths, "mlm" if run.stage == "pretrain" else "classification",
                             epochs=steps * per_step / len(lengths), num_labels=getattr(config, "num_labels", None),
                             mlm_probability=run.mlm_probability, batch_size=targs.per_device_train_batch_size,
                             backward_factor=backward))


def finish_from_checkpoint(trainer: DNATrainer, ckpt: str):
    """Training ended at `ckpt`: load its state and, as load_best_model_at_end would, the best weights."""
    from transformers import TrainerState

    state = TrainerState.load_from_json(str(Path(ckpt) / "trainer_state.json"))
    best = state.best_model_checkpoint if trainer.args.load_best_model_at_end and state.best_model_checkpoint else ckpt
    trainer._load_from_checkpoint(best)
    trainer.state = state
    return state


def pretraining_corpus_of(run: RunArguments):
    """For fine-tuning from one of our pretrained checkpoints: the corpus it was pretrained on."""
    if run.init != "pretrained":
        return None
    cfg_path = Path(run.pretrained) / "config.json"
    if cfg_path.is_file():
        return (json.loads(cfg_path.read_text()).get("dnalm_pretraining") or {}).get("corpus")
    return None


# How a full disk (or a file-size limit) surfaces: OSError from Python writes, SafetensorError text from
# safetensors, and torch.save's zip writer reports a short write as "unexpected pos" without an errno.
_DISK_FULL_ERRNOS = {28, 27, 122}  # ENOSPC, EFBIG, EDQUOT
_DISK_FULL_TEXT = ("No space left", "File too large", "Disk quota", "file write failed", "unexpected pos")


def disk_full(err: BaseException) -> bool:
    while err is not None:
        if getattr(err, "errno", None) in _DISK_FULL_ERRNOS or any(t in str(err) for t in _DISK_FULL_TEXT):
            return True
        err = err.__cause__ or err.__context__
    return False


def check_push_target(targs: DNATrainingArguments) -> None:
    if not targs.push_after_training:
        return
    if not targs.hub_model_id:
        raise ConfigError("--push_to_hub needs --hub_model_id <user>/<repo>")
    try:
        check_hub_reachable()
    except HubUnreachableError as err:
        raise ConfigError(f"--push_to_hub: the Hub is unreachable ({err}); train without --push_to_hub and push "
                          f"the run's model/ folder later with `hf upload {targs.hub_model_id} <output_dir>/model`") from None


def main(argv: list[str] | None = None) -> int:
    transformers.logging.set_verbosity_warning()
    claim = None
    try:
        run, targs, given = parse_args(argv)
        try:
            validate(run, targs)
        except ValueError as err:  # registry lookups name the valid choices
            raise ConfigError(str(err)) from None
        check_push_target(targs)
        targs.output_dir = targs.output_dir or default_output_dir(run, targs.seed)
        claim = claim_run_folder(run, targs)
        try:
            job = prepare(run, targs, given)
        except (ValueError, FileNotFoundError, KeyError, OSError) as err:
            # bad input found before training: one clear line, and the folder left as it was
            raise ConfigError(str(err).strip('"')) from err
        try:
            run_job(run, targs, claim, job)
        except (OSError, RuntimeError) as err:
            if not disk_full(err):
                raise
            print(f"train.py: error: no space left to write the run ({err}). Nothing complete was lost: free "
                  f"space in {targs.output_dir} and rerun the same command with --resume", file=sys.stderr)
            return 1
    except (ConfigError, run_folder.RunFolderError) as err:
        if claim is not None and claim.lock is not None:
            claim.lock.abandon()  # removes the folder only if this run created it and wrote nothing into it
        print(f"train.py: error: {err}", file=sys.stderr)
        return 2
    finally:
        if claim is not None and claim.lock is not None:
            claim.lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
