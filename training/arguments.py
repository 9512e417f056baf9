"""`train.py`'s settings: what to run (`RunArguments`) beside the Trainer's own (`DNATrainingArguments`),
read from a YAML file and the command line, and checked before anything touches the disk, the data or a model.

Unknown keys and flags are errors naming the closest valid one, and flags are never abbreviated.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import yaml
from transformers import HfArgumentParser, TrainingArguments

import data_scripts.corpora  # noqa: F401  (the corpora a run may name; the tasks are in dnalm_core)
import modeling  # noqa: F401  (registers models and tokenizers)
from dnalm_core.registry import CORPORA, MODELS, TOKENIZERS

from .trainer import public_training_args

ROOT = Path(__file__).resolve().parents[1]

STAGES = ("finetune", "pretrain")
INITS = ("random", "pretrained")
MODES = ("full", "lora", "probe")


class ConfigError(ValueError):
    """A bad configuration, found before any training starts."""


@dataclass
class RunArguments:
    """What to run. The Trainer's own knobs (learning_rate, num_train_epochs, seed, ...) sit beside these."""

    stage: str = field(default="finetune", metadata={"help": "finetune | pretrain (masked-LM)", "choices": STAGES})
    model: str = field(default="convnova", metadata={"help": "registered model: " + ", ".join(MODELS.names())})
    preset: str | None = field(
        default=None, metadata={"help": "size preset of the model (default: the model's default)"}
    )
    model_config: str | None = field(
        default=None, metadata={"help": "JSON dict of config overrides, e.g. '{\"num_hidden_layers\": 2}'"}
    )
    init: str = field(default="random", metadata={"help": "random | pretrained", "choices": INITS})
    pretrained: str | None = field(
        default=None,
        metadata={"help": "init=pretrained: a folder saved by train.py, the published DNABERT-2 layout, or a Hub id"},
    )
    tokenizer: str = field(default="char", metadata={"help": "char | kmer | bpe"})
    kmer_k: int = field(default=6, metadata={"help": "tokenizer=kmer: k (1-8)"})
    kmer_overlapping: bool = field(
        default=True, metadata={"help": "tokenizer=kmer: stride 1 (True) or stride k (False)"}
    )
    bpe_path: str | None = field(
        default=None,
        metadata={
            "help": "tokenizer=bpe: a tokenizer folder (e.g. the published DNABERT-2 one); "
            "when pretraining without it, a BPE is trained on the corpus"
        },
    )
    bpe_vocab_size: int = field(default=4096, metadata={"help": "vocabulary size of a BPE trained on the corpus"})
    mode: str = field(default="full", metadata={"help": "full | lora | probe (frozen backbone)", "choices": MODES})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    task: str | None = field(
        default=None, metadata={"help": "finetune: a registered task (e.g. gue/prom_core_tata) or a dataset folder"}
    )
    data_dir: str | None = field(default=None, metadata={"help": "folder holding built benchmark datasets"})
    max_train_samples: int | None = field(
        default=None, metadata={"help": "use a fixed random subset of this many training examples (smoke tests)"}
    )
    max_eval_samples: int | None = field(
        default=None,
        metadata={
            "help": "use a fixed random subset of this many validation examples (the test split is always used whole)"
        },
    )
    max_length: int | None = field(
        default=None,
        metadata={
            "help": "max tokens per sequence; longer ones are truncated and counted in the record "
            "(default: the longest sequence of the task with this tokenizer, so none is truncated)"
        },
    )
    pretrain_fasta: list[str] | None = field(
        default=None, metadata={"help": "pretrain: FASTA files (plain or .gz) to draw windows from"}
    )
    pretrain_task: str | None = field(
        default=None, metadata={"help": "pretrain: draw windows from a task's train split instead of FASTA"}
    )
    corpus: str | None = field(
        default=None,
        metadata={
            "help": "pretrain: a registered corpus (" + ", ".join(CORPORA.names()) + "), see modeling/corpora.py"
        },
    )
    corpus_scale: str = field(
        default="cpu",
        metadata={
            "help": "corpus: cpu (built from ../shared/data) | paper (corpus_fasta)",
            "choices": ("cpu", "paper"),
        },
    )
    corpus_fasta: list[str] | None = field(
        default=None, metadata={"help": "corpus at paper scale: the genome FASTA files"}
    )
    shared_data: str | None = field(
        default=None, metadata={"help": "the shared real-data folder for CPU-scale corpora (default ../shared/data)"}
    )
    corpus_name: str | None = field(default=None, metadata={"help": "pretrain: name recorded for the corpus"})
    leakage_tasks: list[str] | None = field(
        default=None,
        metadata={
            "help": "pretrain: tasks whose dev and test sequences no pretraining (or BPE) sequence may "
            "share a 32-mer with, either strand (default: every GUE task in the shared data; "
            "an empty list switches the filter off, which the record says)"
        },
    )
    eval_fraction: float = field(
        default=0.05,
        metadata={
            "help": "pretrain: fraction of the corpus set aside for the "
            "held-out windows (disjoint from the training windows)"
        },
    )
    window_length: int = field(default=1024, metadata={"help": "pretrain: window length in bp"})
    num_windows: int = field(default=20000, metadata={"help": "pretrain: training windows per epoch"})
    eval_windows: int = field(default=512, metadata={"help": "pretrain: held-out windows for the eval loss"})
    mlm_probability: float = field(default=0.15, metadata={"help": "pretrain: fraction of tokens masked"})
    early_stopping_patience: int | None = field(
        default=None, metadata={"help": "stop after this many evaluations without improvement (None: off)"}
    )
    onecycle: bool = field(
        default=False,
        metadata={
            "help": "the paper's recipe: AdamW with a one-cycle schedule (Smith 2017; torch OneCycleLR) peaking "
            "at learning_rate after warmup_steps (fraction or count; default 0.3 of the steps), "
            "instead of lr_scheduler_type"
        },
    )
    arm: str | None = field(
        default=None,
        metadata={"help": "label of the experiment arm this run belongs to (grids set it; the report groups by it)"},
    )
    resume: bool = field(default=False, metadata={"help": "continue from the newest complete checkpoint in output_dir"})
    resume_with_changes: bool = field(
        default=False,
        metadata={
            "help": "with --resume: accept settings that differ from the first launch (each change "
            "is listed in the log and recorded); without it a changed setting is an error"
        },
    )
    keep_checkpoints: bool = field(
        default=False, metadata={"help": "keep the Trainer's checkpoint-* folders after a finished run"}
    )


@dataclass
class DNATrainingArguments(TrainingArguments):
    """TrainingArguments with defaults suited to these experiments; every field stays settable."""

    output_dir: str | None = field(
        default=None,
        metadata={"help": "run folder (default: runs/<stage>/<task>/<model>-<init>-<tokenizer>-<mode>-seed<seed>)"},
    )
    eval_strategy: str = field(default="epoch", metadata={"help": "when to evaluate: no | steps | epoch"})
    save_strategy: str = field(default="epoch", metadata={"help": "when to checkpoint: no | steps | epoch | best"})
    logging_steps: float = field(default=50, metadata={"help": "log every N steps"})
    load_best_model_at_end: bool = field(default=True, metadata={"help": "select the best validation checkpoint"})
    save_total_limit: int | None = field(default=2, metadata={"help": "checkpoints kept while running"})
    per_device_train_batch_size: int = field(default=32, metadata={"help": "train batch size per device"})
    per_device_eval_batch_size: int = field(default=64, metadata={"help": "eval batch size per device"})
    report_to: str | None = field(default="none", metadata={"help": "none | tensorboard | wandb | ..."})
    ddp_find_unused_parameters: bool | None = field(
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
    return ConfigError(
        f"unknown {'flag --' if where == 'command line' else 'config key '}{key}"
        f"{' in ' + where if where != 'command line' else ''}{hint} (see `python train.py --help`)"
    )


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
        raise ConfigError(
            "init=pretrained needs `pretrained`: a folder saved by train.py, the DNABERT-2 layout, or a Hub id"
        )
    if run.init == "random" and run.pretrained:
        raise ConfigError("`pretrained` is set but init=random; set init: pretrained or drop `pretrained`")
    if run.stage == "finetune" and not run.task:
        raise ConfigError(
            "stage=finetune needs `task` (a registered task such as gue/prom_core_tata, or a dataset folder)"
        )
    if run.stage == "pretrain" and not entry.pretrainable:
        raise ConfigError(
            f"model {run.model!r} has no masked-LM head and is not pretrained in this suite; fine-tune "
            "it from random init (stage=finetune, init=random)"
        )
    if run.stage == "pretrain":
        if sum(map(bool, (run.pretrain_fasta, run.pretrain_task, run.corpus))) != 1:
            raise ConfigError(
                "stage=pretrain needs exactly one of `corpus` (a registered corpus), `pretrain_fasta` "
                "(FASTA files) or `pretrain_task` (a task's train split)"
            )
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
    where = (
        (run.task or "").replace("/", "_") if run.stage == "finetune" else (run.corpus_name or run.corpus or "corpus")
    )
    init = "random" if run.init == "random" else "pre-" + Path(run.pretrained.rstrip("/")).name
    tok = run.tokenizer + (f"{run.kmer_k}{'o' if run.kmer_overlapping else 'n'}" if run.tokenizer == "kmer" else "")
    return str(
        ROOT / "runs" / run.stage / where / f"{run.model}-{run.preset or 'default'}-{init}-{tok}-{run.mode}-seed{seed}"
    )


def settings_of(run: RunArguments, targs: DNATrainingArguments) -> dict:
    """What the run was asked to do (no secrets): compared on --resume, kept in the record."""
    return {"run": asdict(run), "training": public_training_args(targs)}
