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

import argparse
import difflib
import json
import math
import resource
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional

import yaml

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
    HfArgumentParser,
    TrainingArguments,
)

import data_scripts  # noqa: E402,F401  (registers tasks and corpora)
import modeling  # noqa: E402,F401  (registers models and tokenizers)
from data_scripts.corpora import corpus_from_fasta, corpus_from_task, draw_windows  # noqa: E402
from data_scripts.fasta import content_hash  # noqa: E402
from data_scripts.tasks import HUB_REPOS, load_task  # noqa: E402
from dnalm_core.policy import normalize_sequence  # noqa: E402
from dnalm_core.registry import CORPORA, MODELS, TASKS, TOKENIZERS  # noqa: E402
from modeling import tokenization  # noqa: E402
from training import run_folder  # noqa: E402
from training.cards import render_model_card  # noqa: E402
from training.collator import DNAMaskingCollator  # noqa: E402
from training.flops import train_flops  # noqa: E402
from training.hub import HubUnreachableError, check_hub_reachable, push_folder  # noqa: E402
from training.records import RECORD_NAME, build_record, write_record  # noqa: E402
from training.trainer import DNATrainer, TrainClock, metric_function, public_training_args  # noqa: E402

logger = transformers.logging.get_logger("dnalm_assess.train")
# pin_memory is on by default for GPU runs; on a CPU-only machine torch warns at every evaluation
warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true but no accelerator.*")

STAGES = ("finetune", "pretrain")
INITS = ("random", "pretrained")
MODES = ("full", "lora", "probe")
# Settings that may differ on --resume without changing what the run computes.
RESUME_MAY_CHANGE = {"resume", "resume_with_changes", "keep_checkpoints", "disable_tqdm", "report_to", "output_dir",
                     "logging_steps", "logging_first_step", "push_to_hub", "hub_model_id", "hub_private_repo",
                     "dataloader_num_workers", "local_rank"}
# Attention memory grows with the square of the length: one 12-head layer's fp32 scores for 8,192 tokens
# take 3 GiB per sequence. Longer inputs are refused with advice rather than crashing the allocator.
TRANSFORMER_MAX_TOKENS = 8192


class ConfigError(ValueError):
    """A bad configuration, found before any training starts."""


@dataclass
class RunArguments:
    """What to run. The Trainer's own knobs (learning_rate, num_train_epochs, seed, ...) sit beside these."""

    stage: str = field(default="finetune", metadata={"help": "finetune | pretrain (masked-LM)", "choices": STAGES})
    model: str = field(default="convnova", metadata={"help": "registered model: " + ", ".join(MODELS.names())})
    preset: Optional[str] = field(default=None, metadata={"help": "size preset of the model (default: the model's default)"})
    model_config: Optional[str] = field(
        default=None, metadata={"help": 'JSON dict of config overrides, e.g. \'{"num_hidden_layers": 2}\''}
    )
    init: str = field(default="random", metadata={"help": "random | pretrained", "choices": INITS})
    pretrained: Optional[str] = field(
        default=None,
        metadata={"help": "init=pretrained: a folder saved by train.py, the published DNABERT-2 layout, or a Hub id"},
    )
    tokenizer: str = field(default="char", metadata={"help": "char | kmer | bpe"})
    kmer_k: int = field(default=6, metadata={"help": "tokenizer=kmer: k (1-8)"})
    kmer_overlapping: bool = field(default=True, metadata={"help": "tokenizer=kmer: stride 1 (True) or stride k (False)"})
    bpe_path: Optional[str] = field(
        default=None, metadata={"help": "tokenizer=bpe: a tokenizer folder (e.g. the published DNABERT-2 one); "
                                "when pretraining without it, a BPE is trained on the corpus"}
    )
    bpe_vocab_size: int = field(default=4096, metadata={"help": "vocabulary size of a BPE trained on the corpus"})
    mode: str = field(default="full", metadata={"help": "full | lora | probe (frozen backbone)", "choices": MODES})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    task: Optional[str] = field(
        default=None, metadata={"help": "finetune: a registered task (e.g. gue/prom_core_tata) or a dataset folder"}
    )
    data_dir: Optional[str] = field(default=None, metadata={"help": "folder holding built benchmark datasets"})
    max_train_samples: Optional[int] = field(
        default=None, metadata={"help": "use a fixed random subset of this many training examples (smoke tests)"}
    )
    max_eval_samples: Optional[int] = field(
        default=None, metadata={"help": "use a fixed random subset of this many validation examples (the test "
                                "split is always used whole)"}
    )
    max_length: Optional[int] = field(
        default=None, metadata={"help": "max tokens per sequence; longer ones are truncated and counted in the record "
                                "(default: the longest sequence of the task with this tokenizer, so none is truncated)"}
    )
    pretrain_fasta: Optional[list[str]] = field(
        default=None, metadata={"help": "pretrain: FASTA files (plain or .gz) to draw windows from"}
    )
    pretrain_task: Optional[str] = field(
        default=None, metadata={"help": "pretrain: draw windows from a task's train split instead of FASTA"}
    )
    corpus: Optional[str] = field(
        default=None, metadata={"help": "pretrain: a registered corpus (" + ", ".join(CORPORA.names()) + "), see modeling/corpora.py"}
    )
    corpus_scale: str = field(default="cpu", metadata={"help": "corpus: cpu (built from ../shared/data) | paper (corpus_fasta)",
                                                        "choices": ("cpu", "paper")})
    corpus_fasta: Optional[list[str]] = field(default=None, metadata={"help": "corpus at paper scale: the genome FASTA files"})
    shared_data: Optional[str] = field(
        default=None, metadata={"help": "the shared real-data folder for CPU-scale corpora (default ../shared/data)"}
    )
    corpus_name: Optional[str] = field(default=None, metadata={"help": "pretrain: name recorded for the corpus"})
    leakage_tasks: Optional[list[str]] = field(
        default=None, metadata={"help": "pretrain: tasks whose dev and test sequences no pretraining (or BPE) sequence may "
                                "share a 32-mer with, either strand (default: every GUE task in the shared data; "
                                "an empty list switches the filter off, which the record says)"}
    )
    eval_fraction: float = field(default=0.05, metadata={"help": "pretrain: fraction of the corpus set aside for the "
                                                         "held-out windows (disjoint from the training windows)"})
    window_length: int = field(default=1024, metadata={"help": "pretrain: window length in bp"})
    num_windows: int = field(default=20000, metadata={"help": "pretrain: training windows per epoch"})
    eval_windows: int = field(default=512, metadata={"help": "pretrain: held-out windows for the eval loss"})
    mlm_probability: float = field(default=0.15, metadata={"help": "pretrain: fraction of tokens masked"})
    early_stopping_patience: Optional[int] = field(
        default=None, metadata={"help": "stop after this many evaluations without improvement (None: off)"}
    )
    onecycle: bool = field(
        default=False,
        metadata={"help": "the paper's recipe: AdamW with a one-cycle schedule (Smith 2017; torch OneCycleLR) peaking "
                          "at learning_rate after warmup_steps (fraction or count; default 0.3 of the steps), instead of lr_scheduler_type"},
    )
    arm: Optional[str] = field(
        default=None, metadata={"help": "label of the experiment arm this run belongs to (grids set it; the report groups by it)"}
    )
    resume: bool = field(default=False, metadata={"help": "continue from the newest complete checkpoint in output_dir"})
    resume_with_changes: bool = field(
        default=False, metadata={"help": "with --resume: accept settings that differ from the first launch (each change "
                                 "is listed in the log and recorded); without it a changed setting is an error"}
    )
    keep_checkpoints: bool = field(
        default=False, metadata={"help": "keep the Trainer's checkpoint-* folders after a finished run"}
    )


@dataclass
class DNATrainingArguments(TrainingArguments):
    """TrainingArguments with defaults suited to these experiments; every field stays settable."""

    output_dir: Optional[str] = field(
        default=None, metadata={"help": "run folder (default: runs/<stage>/<task>/<model>-<init>-<tokenizer>-<mode>-seed<seed>)"}
    )
    eval_strategy: str = field(default="epoch", metadata={"help": "when to evaluate: no | steps | epoch"})
    save_strategy: str = field(default="epoch", metadata={"help": "when to checkpoint: no | steps | epoch | best"})
    logging_steps: float = field(default=50, metadata={"help": "log every N steps"})
    load_best_model_at_end: bool = field(default=True, metadata={"help": "select the best validation checkpoint"})
    save_total_limit: Optional[int] = field(default=2, metadata={"help": "checkpoints kept while running"})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "train batch size per device"})
    per_device_eval_batch_size: int = field(default=64, metadata={"help": "eval batch size per device"})
    report_to: Optional[str] = field(default="none", metadata={"help": "none | tensorboard | wandb | ..."})
    ddp_find_unused_parameters: Optional[bool] = field(
        default=False, metadata={"help": "DDP: search for unused parameters (every model here uses all of its own)"}
    )

    def __post_init__(self):
        # TrainingArguments(push_to_hub=True) contacts the Hub while the arguments are built, which fails
        # offline before training even starts (hf5-notes). We push ourselves after training instead.
        self.push_after_training = bool(self.push_to_hub)
        self.push_to_hub = False
        # The token stays in memory for our own push; the Trainer (and so nothing it writes) never sees it.
        self.push_token, self.hub_token = self.hub_token, None
        if not self.use_cpu and not torch.cuda.is_available() and not torch.backends.mps.is_available():
            # Without an accelerator, only use_cpu makes accelerate form a gloo process group when launched
            # with several processes (otherwise each rank silently trains alone); one process is unaffected.
            self.use_cpu = True
        super().__post_init__()


# ------------------------------------------------------------------------------------------ config


def _valid_keys() -> set[str]:
    return {f.name for dc in (RunArguments, DNATrainingArguments) for f in fields(dc) if f.init}


def _unknown(key: str, where: str) -> ConfigError:
    close = difflib.get_close_matches(key, _valid_keys(), n=1)
    hint = f"; did you mean {'--' if where == 'command line' else ''}{close[0]}?" if close else ""
    return ConfigError(f"unknown {'flag --' if where == 'command line' else 'config key '}{key}"
                       f"{' in ' + where if where != 'command line' else ''}{hint} (see `python train.py --help`)")


def parse_args(argv: list[str] | None = None) -> tuple[RunArguments, DNATrainingArguments, set[str]]:
    """YAML (--config) then command line; returns the dataclasses and the set of keys the user set."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # allow_abbrev=False: `--metric_for_best` must not silently mean --metric_for_best_model
    parser = HfArgumentParser((RunArguments, DNATrainingArguments), allow_abbrev=False)
    parser.add_argument("--config", default=None, help="YAML file with any of the fields below")
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    given: set[str] = set()
    if known.config:
        cfg = yaml.safe_load(Path(known.config).read_text()) or {}
        if not isinstance(cfg, dict):
            raise ConfigError(f"{known.config}: expected a mapping of field: value, got {type(cfg).__name__}")
        for key in cfg:
            if key not in _valid_keys():
                raise _unknown(key, known.config)
        parser.set_defaults(**cfg)
        given |= set(cfg)
    flags = {a[2:].split("=")[0] for a in argv if a.startswith("--")} - {"config"}
    for flag in sorted(flags):
        if flag not in _valid_keys() and flag != "help":
            raise _unknown(flag, "command line")
    given |= flags
    try:
        run, targs = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)[:2]
    except ValueError as err:  # TrainingArguments' own checks (e.g. an unknown eval_strategy)
        raise ConfigError(str(err).splitlines()[0]) from None
    return run, targs, given


def _check_range(name: str, value, low=None, high=None, low_open=False) -> None:
    if value is None:
        return
    ok = isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (low is None or (value > low if low_open else value >= low)) and (high is None or value <= high)
    if not ok:
        lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
        hi = "" if high is None else f"<= {high}"
        raise ConfigError(f"{name} must be a number {' and '.join(x for x in (lo, hi) if x)}, got {value!r}")


def validate(run: RunArguments, targs: DNATrainingArguments) -> None:
    """Everything that can be checked before touching the disk, the data or a model."""
    entry = MODELS.get(run.model)  # an unknown model is an error that lists the valid ones
    TOKENIZERS.get(run.tokenizer)
    if run.tokenizer not in entry.tokenizers:
        raise ConfigError(
            f"model {run.model!r} takes tokenizers {list(entry.tokenizers)}, not {run.tokenizer!r} "
            f"(its input is {'one-hot single nucleotides' if entry.tokenizers == ('char',) else 'token ids'})"
        )
    if run.tokenizer == "kmer" and not 1 <= run.kmer_k <= 8:
        raise ConfigError(f"kmer_k must be 1..8, got {run.kmer_k}")
    if run.init == "pretrained" and not run.pretrained:
        raise ConfigError("init=pretrained needs `pretrained`: a folder saved by train.py, the DNABERT-2 layout, or a Hub id")
    if run.init == "random" and run.pretrained:
        raise ConfigError("`pretrained` is set but init=random; set init: pretrained or drop `pretrained`")
    if run.stage == "finetune" and not run.task:
        raise ConfigError("stage=finetune needs `task` (a registered task such as gue/prom_core_tata, or a dataset folder)")
    if run.stage == "pretrain":
        if sum(map(bool, (run.pretrain_fasta, run.pretrain_task, run.corpus))) != 1:
            raise ConfigError("stage=pretrain needs exactly one of `corpus` (a registered corpus), `pretrain_fasta` "
                              "(FASTA files) or `pretrain_task` (a task's train split)")
        if run.corpus:
            CORPORA.get(run.corpus)
        if run.mode != "full":
            raise ConfigError(f"stage=pretrain trains the whole model; mode={run.mode!r} applies to fine-tuning only")
    if run.model_config:
        try:
            if not isinstance(json.loads(run.model_config), dict):
                raise ValueError
        except ValueError:
            raise ConfigError(f"model_config must be a JSON object, got {run.model_config!r}") from None
    if run.resume_with_changes and not run.resume:
        raise ConfigError("resume_with_changes only applies together with --resume")
    _check_range("learning_rate", targs.learning_rate, 0, low_open=True)
    _check_range("weight_decay", targs.weight_decay, 0)
    _check_range("num_train_epochs", targs.num_train_epochs, 0, low_open=True)
    _check_range("per_device_train_batch_size", targs.per_device_train_batch_size, 1)
    _check_range("per_device_eval_batch_size", targs.per_device_eval_batch_size, 1)
    _check_range("gradient_accumulation_steps", targs.gradient_accumulation_steps, 1)
    _check_range("mlm_probability", run.mlm_probability, 0, 1, low_open=True)
    _check_range("eval_fraction", run.eval_fraction, 0, 0.5, low_open=True)
    for name in ("max_train_samples", "max_eval_samples", "window_length", "num_windows", "eval_windows", "lora_r"):
        _check_range(name, getattr(run, name), 1)
    _check_range("max_length", run.max_length, 3)  # [CLS] + one token + [SEP]
    if targs.max_steps is not None and targs.max_steps == 0:
        raise ConfigError("max_steps must be positive (or -1 to train num_train_epochs)")


def default_output_dir(run: RunArguments, seed: int) -> str:
    where = (run.task or "").replace("/", "_") if run.stage == "finetune" else (run.corpus_name or run.corpus or "corpus")
    init = "random" if run.init == "random" else "pre-" + Path(run.pretrained.rstrip("/")).name
    tok = run.tokenizer + (f"{run.kmer_k}{'o' if run.kmer_overlapping else 'n'}" if run.tokenizer == "kmer" else "")
    return str(ROOT / "runs" / run.stage / where / f"{run.model}-{run.preset or 'default'}-{init}-{tok}-{run.mode}-seed{seed}")


def settings_of(run: RunArguments, targs: DNATrainingArguments) -> dict:
    """What the run was asked to do (no secrets): compared on --resume, kept in the record."""
    return {"run": asdict(run), "training": public_training_args(targs)}


# ----------------------------------------------------------------------------------------- run folder


@dataclass
class Claim:
    """The run folder, locked for this run, and the checkpoint to resume from (if any)."""

    out: Path
    lock: Optional[run_folder.RunLock]
    resume_from: Optional[str]
    settings_changes: dict
    set_aside: list


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
        return model
    from peft import LoraConfig, TaskType, get_peft_model

    cfg = LoraConfig(task_type=TaskType.SEQ_CLS, r=run.lora_r, lora_alpha=run.lora_alpha, lora_dropout=run.lora_dropout,
                     target_modules=list(MODELS.get(run.model).lora_target_modules), modules_to_save=heads)
    return get_peft_model(model, cfg)


def count_params(model) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


# -------------------------------------------------------------------------------------------- data


def task_info(run: RunArguments, ds) -> dict:
    """Classes, problem type and primary metric: the registry's for a registered task, else from the data."""
    entry = TASKS.get(run.task) if run.task in TASKS else None
    if entry is not None:
        return dict(num_labels=entry.num_labels, problem_type=entry.problem_type, metric=entry.metric,
                    label_names=list(entry.label_names), entry=entry)
    feat = ds["train"].features["label"]
    if isinstance(feat, datasets.ClassLabel):
        num_labels, problem_type, names = feat.num_classes, "single_label_classification", feat.names
    elif isinstance(feat, datasets.Value) and feat.dtype.startswith("float"):
        num_labels, problem_type, names = 1, "regression", ["value"]
    else:  # integer labels of a plain folder: the classes of its train split (load_task checked the rest)
        n = int(max(ds["train"]["label"])) + 1
        num_labels, problem_type, names = n, "single_label_classification", [str(i) for i in range(n)]
    metric = "pearson" if problem_type == "regression" else "mcc"
    return dict(num_labels=num_labels, problem_type=problem_type, metric=metric, label_names=names, entry=None)


def load_finetune_data(run: RunArguments):
    ds = load_task(run.task, data_dir=run.data_dir)
    for split, limit in (("train", run.max_train_samples), ("validation", run.max_eval_samples)):
        if limit is not None and limit < len(ds[split]):
            # seed 0, not the run's seed: every seed of an experiment sees the same subset. Test is never cut.
            ds[split] = ds[split].shuffle(seed=0).select(range(limit))
    return ds, task_info(run, ds)


def overlap_warnings(ds) -> dict[str, int]:
    """Exact duplicates between the train split and the evaluation splits (after the input policy)."""
    train = {normalize_sequence(s) for s in ds["train"]["sequence"]}
    out = {}
    for split in ("validation", "test"):
        n = sum(normalize_sequence(s) in train for s in ds[split]["sequence"])
        out[split] = n
        if n:
            logger.warning(f"{n} of {len(ds[split])} {split} sequences also occur in the train split (exact "
                           "duplicates after upper-casing): the task's splits are not disjoint")
    return out


def dataset_fingerprint(ds, label: bool = True) -> dict:
    out = {}
    for split in ds:
        rows = (f"{s}\t{l}" for s, l in zip(ds[split]["sequence"], ds[split]["label"])) if label else ds[split]["sequence"]
        out[split] = {"rows": len(ds[split]), "sha256": content_hash(rows)}
    return out


def token_lengths(ds, tok, targs: TrainingArguments) -> dict[str, list[int]]:
    """Tokens per sequence ([CLS] and [SEP] included) of every split, untruncated."""
    with targs.main_process_first(desc="counting tokens"):
        counted = ds.map(lambda b: {"n_tokens": [len(x) for x in tok(b["sequence"])["input_ids"]]}, batched=True,
                         remove_columns=ds["train"].column_names, desc="Counting tokens")
    return {split: counted[split]["n_tokens"] for split in counted}


def choose_max_length(run: RunArguments, lengths: dict[str, list[int]], model_name: str) -> int:
    """The run's max_length, or the longest sequence of any split (nothing truncated); refused past the
    model's limit with advice."""
    longest = max(max(v) for v in lengths.values() if v)
    max_len = run.max_length or longest
    limit = TRANSFORMER_MAX_TOKENS if model_name == "dnabert2" else None
    if limit is not None and max_len > limit:
        split, row = next((s, i) for s, v in lengths.items() for i, n in enumerate(v) if n == longest)
        raise ConfigError(f"the longest sequence ({split} row {row}) is {longest:,} tokens; {model_name} accepts at "
                          f"most {limit:,} (attention memory grows with the square of the length). Set --max_length "
                          f"<= {limit} to truncate (the count of truncated sequences is recorded), or cut the "
                          "sequences into shorter windows before building the task")
    return max_len


def truncation_counts(lengths: dict[str, list[int]], max_len: int) -> dict[str, int]:
    out = {split: sum(n > max_len for n in v) for split, v in lengths.items()}
    for split, n in out.items():
        if n:
            logger.warning(f"{n} of {len(lengths[split])} {split} sequences are longer than max_length={max_len} "
                           "tokens and are truncated (recorded as dataset.truncated)")
    return out


def tokenize_splits(ds, tok, max_len: int, targs: TrainingArguments, keep_label: bool = True):
    def encode(batch):
        return tok(batch["sequence"], truncation=True, max_length=max_len)

    cols = [c for c in ds["train"].column_names if not (keep_label and c == "label")]
    with targs.main_process_first(desc="tokenizing"):
        out = ds.map(encode, batched=True, remove_columns=cols, desc=f"Tokenizing (max {max_len} tokens)")
    if keep_label:
        out = out.rename_column("label", "labels")
    return out


def pretraining_corpus(run: RunArguments, seed: int) -> tuple[list[str], list[str], list[str], dict]:
    """The corpus (leakage-filtered pieces), the training and held-out windows drawn from disjoint parts of
    it, and the corpus record with what the windows hold (`windows`: counts, distinct bp, passes, species)."""
    where = dict(evaluate=run.leakage_tasks, shared_data=run.shared_data, data_dir=run.data_dir)
    if run.corpus:
        corpus = CORPORA.get(run.corpus).build(run.corpus_scale, run.shared_data, run.corpus_fasta, seed=0,
                                               evaluate=run.leakage_tasks, data_dir=run.data_dir)
    elif run.pretrain_fasta:
        corpus = corpus_from_fasta(run.pretrain_fasta, name=run.corpus_name, **where)
    else:
        corpus = corpus_from_task(run.pretrain_task, name=run.corpus_name, **where)
    train, held_out, windows = draw_windows(corpus, run.window_length, run.num_windows, run.eval_windows,
                                            seed=seed, eval_fraction=run.eval_fraction)
    info = {**corpus.record, "name": run.corpus_name or corpus.name, "windows": windows}
    return corpus.sequences, train, held_out, info


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
    dataset = dataset_info(run, None, fingerprint)
    dataset.update(max_length=max_len, n={"train": len(train_windows), "validation": len(eval_windows)})
    return Job(data=data, tok=tok, model=model, collator=DNAMaskingCollator(tok, mlm_probability=run.mlm_probability),
               compute_metrics=None, problem_type="masked_lm", metric="loss", dataset=dataset, corpus=corpus)


def dataset_info(run: RunArguments, entry, fingerprint: dict) -> dict:
    info = {"name": run.task or run.pretrain_task or "fasta", "fingerprint": fingerprint}
    if entry is not None:
        info.update(hub_id=HUB_REPOS[entry.benchmark], config=entry.config_name, benchmark=entry.benchmark,
                    pretty_name=f"{entry.benchmark.upper()} {entry.config_name}")
    return info


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
        primary_metric=job.metric, metrics=metrics, dataset=job.dataset, output_dir=out,
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


def check_loadable(folder: str) -> None:
    """Name the damaged file of a pretrained folder (a truncated copy, an interrupted download) up front,
    instead of a deserializer's traceback later."""
    path = Path(folder)
    if not path.is_dir():
        return  # a Hub id: from_pretrained reports its own errors
    for name in ("model.safetensors", "adapter_model.safetensors"):
        if (path / name).is_file():
            try:
                _check_safetensors_length(path / name)
            except (OSError, ValueError) as err:
                raise ConfigError(f"{path / name} is damaged ({str(err).splitlines()[0]}); copy it again or point "
                                  "`pretrained` at an intact folder") from None
    for name in ("tokenizer.json", "config.json", "tokenizer_config.json"):
        if (path / name).is_file():
            try:
                json.loads((path / name).read_text())
            except ValueError as err:
                raise ConfigError(f"{path / name} is damaged (not valid JSON: {err}); copy it again or point "
                                  "`pretrained` at an intact folder") from None


def _check_safetensors_length(path: Path) -> None:
    """The header states where the last tensor ends: a shorter file was cut off."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        if n > size:
            raise ValueError(f"the header claims {n:,} bytes in a file of {size:,}")
        header = json.loads(fh.read(n))
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if size < 8 + n + end:
        raise ValueError(f"the file has {size:,} bytes, its header needs {8 + n + end:,}")


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
