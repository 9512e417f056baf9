#!/usr/bin/env python
"""The one entry point: fine-tune or pretrain any model x init x tokenizer x mode x task x seed.

    accelerate launch --config_file accelerate_configs/cpu.yaml train.py --config configs/quickstart.yaml
    accelerate launch train.py --config configs/quickstart.yaml --seed 2 --learning_rate 5e-4
    python train.py --help          # every field, ours and transformers.TrainingArguments'

A YAML config (`--config`) sets any field; the command line overrides it. Unknown keys are errors.
The run leaves, in its output_dir: `results.json` (the record), `model/` (safetensors weights, the
tokenizer and a model card whose metadata carries the results) and the Trainer's checkpoints while
it runs (`--resume` continues from the last one after a crash).
"""

from __future__ import annotations

import argparse
import difflib
import json
import resource
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import yaml

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))  # run from a clone without `pip install -e .` too

import datasets  # noqa: E402
import evaluate  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    HfArgumentParser,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.trainer_utils import get_last_checkpoint  # noqa: E402

import data_scripts  # noqa: E402,F401  (registers tasks and corpora)
import modeling  # noqa: E402,F401  (registers models and tokenizers)
from data_scripts.fasta import content_hash, read_fasta, sample_windows  # noqa: E402
from data_scripts.tasks import HUB_REPOS, load_task  # noqa: E402
from dnalm_core.policy import normalize_sequence  # noqa: E402
from dnalm_core.registry import CORPORA, MODELS, TASKS  # noqa: E402
from modeling import tokenization  # noqa: E402
from training.cards import render_model_card  # noqa: E402
from training.collator import DNAMaskingCollator  # noqa: E402
from training.hub import HubUnreachableError, check_hub_reachable, push_folder  # noqa: E402
from training.records import RECORD_NAME, versions, write_record  # noqa: E402

logger = transformers.logging.get_logger("dnalm_assess.train")
# pin_memory is on by default for GPU runs; on a CPU-only machine torch warns at every evaluation
warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true but no accelerator.*")

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
        default=None, metadata={"help": "use a fixed random subset of this many validation and test examples"}
    )
    max_length: Optional[int] = field(
        default=None, metadata={"help": "max tokens per sequence (default: the task's value for the tokenizer)"}
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
                          "at learning_rate after warmup_steps (fraction or count; default 30%), instead of lr_scheduler_type"},
    )
    arm: Optional[str] = field(
        default=None, metadata={"help": "label of the experiment arm this run belongs to (grids set it; the report groups by it)"}
    )
    resume: bool = field(default=False, metadata={"help": "continue from the last checkpoint in output_dir"})
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
        if not self.use_cpu and not torch.cuda.is_available() and not torch.backends.mps.is_available():
            # Without an accelerator, only use_cpu makes accelerate form a gloo process group when launched
            # with several processes (otherwise each rank silently trains alone); one process is unaffected.
            self.use_cpu = True
        super().__post_init__()


# ------------------------------------------------------------------------------------------ config


def parse_args(argv: list[str] | None = None) -> tuple[RunArguments, DNATrainingArguments, set[str]]:
    """YAML (--config) then command line; returns the dataclasses and the set of keys the user set."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser((RunArguments, DNATrainingArguments))
    parser.add_argument("--config", default=None, help="YAML file with any of the fields below")
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    given: set[str] = set()
    if known.config:
        cfg = yaml.safe_load(Path(known.config).read_text()) or {}
        if not isinstance(cfg, dict):
            raise ConfigError(f"{known.config}: expected a mapping of field: value, got {type(cfg).__name__}")
        valid = {f.name for dc in (RunArguments, DNATrainingArguments) for f in fields(dc) if f.init}
        for key in cfg:
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=3)
                ours = ", ".join(f.name for f in fields(RunArguments))
                raise ConfigError(
                    f"unknown config key {key!r} in {known.config}"
                    + (f" (did you mean {' or '.join(close)}?)" if close else "")
                    + f"; valid keys are this suite's ({ours}) and any transformers.TrainingArguments field "
                    "(see `python train.py --help`)"
                )
        parser.set_defaults(**cfg)
        given |= set(cfg)
    given |= {a[2:].split("=")[0] for a in argv if a.startswith("--")} - {"config"}
    out = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
    run, targs = out[0], out[1]
    return run, targs, given


def validate(run: RunArguments) -> None:
    """Everything that can be checked before loading data or models."""
    entry = MODELS.get(run.model)  # an unknown model is an error that lists the valid ones
    if run.tokenizer not in ("char", "kmer", "bpe"):
        raise ConfigError(f"unknown tokenizer {run.tokenizer!r}; valid: char, kmer, bpe")
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


def default_output_dir(run: RunArguments, seed: int) -> str:
    where = (run.task or "").replace("/", "_") if run.stage == "finetune" else (run.corpus_name or run.corpus or "corpus")
    init = "random" if run.init == "random" else "pre-" + Path(run.pretrained.rstrip("/")).name
    tok = run.tokenizer + (f"{run.kmer_k}{'o' if run.kmer_overlapping else 'n'}" if run.tokenizer == "kmer" else "")
    return str(ROOT / "runs" / run.stage / where / f"{run.model}-{run.preset or 'default'}-{init}-{tok}-{run.mode}-seed{seed}")


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
    if run.init == "pretrained":
        tok = tokenization.load_tokenizer(run.pretrained)
        check_tokenizer_matches(run, tok, f"the pretrained model at {run.pretrained!r}")
        return tok
    if run.tokenizer == "char":
        return tokenization.char_tokenizer()
    if run.tokenizer == "kmer":
        return tokenization.kmer_tokenizer(run.kmer_k, run.kmer_overlapping)
    if run.bpe_path:
        return tokenization.load_tokenizer(run.bpe_path)
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

    entry = MODELS.get(run.model)
    cfg = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=run.lora_r,
        lora_alpha=run.lora_alpha,
        lora_dropout=run.lora_dropout,
        target_modules=list(entry.lora_target_modules),
        modules_to_save=heads,
    )
    return get_peft_model(model, cfg)


def count_params(model) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


# -------------------------------------------------------------------------------------------- data


def load_finetune_data(run: RunArguments):
    ds = load_task(run.task, data_dir=run.data_dir)
    for split, limit in (("train", run.max_train_samples), ("validation", run.max_eval_samples), ("test", run.max_eval_samples)):
        if limit is not None and limit < len(ds[split]):
            # seed 0, not the run's seed: every seed of an experiment sees the same subset
            ds[split] = ds[split].shuffle(seed=0).select(range(limit))
    entry = TASKS.get(run.task) if run.task in TASKS else None
    if entry is not None:
        num_labels, problem_type, metric = entry.num_labels, entry.problem_type, entry.metric
        label_names = list(entry.label_names)
    else:
        feat = ds["train"].features["label"]
        if isinstance(feat, datasets.ClassLabel):
            num_labels, problem_type, label_names = feat.num_classes, "single_label_classification", feat.names
        elif isinstance(feat, datasets.Value) and feat.dtype.startswith("float"):
            num_labels, problem_type, label_names = 1, "regression", ["value"]
        else:
            n = int(max(max(ds[s]["label"]) for s in ds)) + 1
            num_labels, problem_type, label_names = n, "single_label_classification", [str(i) for i in range(n)]
        metric = "pearson" if problem_type == "regression" else "mcc"
    return ds, dict(num_labels=num_labels, problem_type=problem_type, metric=metric, label_names=label_names,
                    task_entry=entry)


def dataset_fingerprint(ds) -> dict:
    out = {}
    for split in ds:
        rows = (f"{s}\t{l}" for s, l in zip(ds[split]["sequence"], ds[split]["label"]))
        out[split] = {"rows": len(ds[split]), "sha256": content_hash(rows)}
    return out


def max_tokens(run: RunArguments, task_entry, tok, seq_len: int) -> int:
    if run.max_length:
        return run.max_length
    if task_entry is not None and task_entry.max_tokens.get(run.tokenizer):
        return task_entry.max_tokens[run.tokenizer]
    # no registry value: long enough for the longest sequence in any family (char is the longest)
    return seq_len + 2


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
    """The corpus sequences, seeded training and held-out windows drawn from them, and the corpus record."""
    if run.corpus:
        corpus = CORPORA.get(run.corpus).build(run.corpus_scale, run.shared_data, run.corpus_fasta, seed=0)
        seqs, info = corpus.sequences, {**corpus.record, "name": run.corpus_name or corpus.name}
    else:
        if run.pretrain_fasta:
            seqs = [s for path in run.pretrain_fasta for _, s in read_fasta(path)]
            sources = [str(p) for p in run.pretrain_fasta]
        else:
            train_split = load_task(run.pretrain_task, data_dir=run.data_dir)["train"]["sequence"]
            seqs = [normalize_sequence(s) for s in train_split]
            sources = [f"{run.pretrain_task}:train"]
        info = {"name": run.corpus_name or "+".join(Path(s).name for s in sources), "sources": sources,
                "bp": int(sum(len(s) for s in seqs)), "sha256": content_hash(seqs)}
    # held-out windows come from the same sequences (another seed): the eval loss monitors fit, it is no test
    train = sample_windows(seqs, run.window_length, run.num_windows, seed=seed)
    held_out = sample_windows(seqs, run.window_length, run.eval_windows, seed=seed + 7919)
    return seqs, train, held_out, info


# ------------------------------------------------------------------------------------------ trainer


class OneCycleTrainer(Trainer):
    """Trainer whose scheduler is torch's OneCycleLR (Smith 2017), the paper's fine-tuning recipe.

    The Trainer's scheduler choices do not include one-cycle, so we override its scheduler hook; the
    optimizer stays the Trainer's AdamW, and checkpoints save and restore the scheduler as usual.
    """

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            warm = self.args.get_warmup_steps(num_training_steps)  # handles a fraction or a count
            pct = warm / max(num_training_steps, 1) if warm else 0.3  # 0.3: torch's default rise
            self.lr_scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer or self.optimizer, max_lr=self.args.learning_rate, total_steps=max(num_training_steps, 1),
                pct_start=min(max(pct, 1e-3), 0.99), anneal_strategy="cos",
            )
            self._created_lr_scheduler = True
        return self.lr_scheduler


class TrainClock(TrainerCallback):
    """Training wall time summed over a run's resumes.

    The Trainer's `train_runtime` restarts at every resume, so a resumed run would record only its last
    segment. Each checkpoint therefore stores the seconds of every segment up to it, and a resumed run
    starts from the segments of the checkpoint it resumes from (time after that checkpoint was lost work).
    """

    FILE = "dnalm_train_seconds.json"

    def __init__(self, resume_from: str | None):
        self.done, self.t0 = [], None
        if resume_from:
            path = Path(resume_from) / self.FILE
            if not path.is_file():  # a checkpoint from before this clock existed
                raise ConfigError(f"{resume_from} has no {self.FILE}, so the run's training time cannot be "
                                  "summed over the resume; delete the run's folder and run it again")
            self.done = json.loads(path.read_text())["segments_seconds"]

    def on_train_begin(self, args, state, control, **kwargs):
        self.t0 = time.perf_counter()

    def segments(self) -> list[float]:
        return [*self.done, time.perf_counter() - self.t0]

    def on_save(self, args, state, control, **kwargs):
        ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and ckpt.is_dir():
            (ckpt / self.FILE).write_text(json.dumps({"segments_seconds": self.segments()}))


# ------------------------------------------------------------------------------------------ metrics


def classification_metrics(problem_type: str):
    name = "dna_regression" if problem_type == "regression" else "dna_classification"
    config = "multi_label" if problem_type == "multi_label_classification" else None
    # keep_in_memory: no cache files, so several ranks (DDP) never fight over one lock file
    metric = evaluate.load(str(ROOT / "metrics" / name), config, keep_in_memory=True)

    def compute(p):
        logits = p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions
        if problem_type == "regression":
            return metric.compute(predictions=np.asarray(logits).reshape(-1), references=np.asarray(p.label_ids).reshape(-1))
        return metric.compute(predictions=logits, references=p.label_ids)

    return compute


# --------------------------------------------------------------------------------------------- main


def peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def run_training(run: RunArguments, targs: DNATrainingArguments, given: set[str]) -> dict | None:
    try:
        s = prepare(run, targs, given)
    except (ValueError, FileNotFoundError, KeyError) as err:
        # bad input found before training: one clear line, nothing written
        raise ConfigError(str(err).strip('"')) from err
    return execute(run, targs, s)


def prepare(run: RunArguments, targs: DNATrainingArguments, given: set[str]) -> SimpleNamespace:
    """Everything before training: checks, data, tokenizer, model. Raises before writing anything."""
    validate(run)
    targs.output_dir = targs.output_dir or default_output_dir(run, targs.seed)
    out = Path(targs.output_dir)
    record_path = out / RECORD_NAME
    if record_path.exists():
        raise ConfigError(f"{record_path} exists: this run already finished. Its record is never overwritten; "
                          "pick another output_dir (or delete that folder to redo the run)")
    last_ckpt = get_last_checkpoint(str(out)) if out.is_dir() else None
    if last_ckpt and not run.resume:
        raise ConfigError(f"{out} holds checkpoints of an unfinished run ({Path(last_ckpt).name}); "
                          "pass --resume to continue it, or choose another output_dir")
    if targs.push_after_training:
        if not targs.hub_model_id:
            raise ConfigError("--push_to_hub needs --hub_model_id <user>/<repo>")
        try:
            check_hub_reachable()
        except HubUnreachableError as err:
            raise ConfigError(f"--push_to_hub: the Hub is unreachable ({err}); train without --push_to_hub and push "
                              f"the run's model/ folder later with `hf upload {targs.hub_model_id} <output_dir>/model`") from None
    transformers.set_seed(targs.seed)

    corpus_info = None
    if run.stage == "finetune":
        raw, task = load_finetune_data(run)
        tok = build_tokenizer(run)
        seq_len = max(len(s) for s in raw["validation"]["sequence"][:2000])
        max_len = max_tokens(run, task["task_entry"], tok, seq_len)
        data = tokenize_splits(raw, tok, max_len, targs)
        stage_kwargs = dict(num_labels=task["num_labels"], problem_type=task["problem_type"],
                            id2label=dict(enumerate(task["label_names"])),
                            label2id={n: i for i, n in enumerate(task["label_names"])})
        collator = DataCollatorWithPadding(tok)
        metric_name = task["metric"]
        compute_metrics = classification_metrics(task["problem_type"])
        eval_split = data["validation"]
        if "metric_for_best_model" not in given:
            targs.metric_for_best_model = metric_name
            targs.greater_is_better = True
        fingerprint = dataset_fingerprint(raw)
    else:
        corpus_seqs, train_windows, eval_windows, corpus_info = pretraining_corpus(run, targs.seed)
        tok = build_tokenizer(run, corpus=corpus_seqs, corpus_name=corpus_info["name"])
        max_len = run.window_length + 2  # every family yields at most one token per base (+ [CLS], [SEP])
        raw = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"sequence": train_windows}),
                                    "validation": datasets.Dataset.from_dict({"sequence": eval_windows})})
        data = tokenize_splits(raw, tok, max_len, targs, keep_label=False)
        stage_kwargs = {}
        collator = DNAMaskingCollator(tok, mlm_probability=run.mlm_probability)
        metric_name, compute_metrics, eval_split, task = "loss", None, data["validation"], None
        targs.metric_for_best_model = targs.metric_for_best_model if "metric_for_best_model" in given else "loss"
        targs.greater_is_better = targs.greater_is_better if "greater_is_better" in given else False
        fingerprint = {"train_windows": {"rows": len(train_windows), "sha256": content_hash(train_windows)},
                       "validation_windows": {"rows": len(eval_windows), "sha256": content_hash(eval_windows)}}

    model = build_model(run, tok, stage_kwargs)
    if corpus_info is not None:
        model.config.dnalm_pretraining = {"corpus": corpus_info, "tokenizer": tokenization.tokenizer_family(tok)}
    model = apply_mode(model, run)
    total_params, trainable_params = count_params(model)
    logger.warning(f"[rank {targs.process_index}/{targs.world_size}] {run.stage} {run.model} ({run.init} init, "
                   f"{run.tokenizer} tokens, {run.mode}): {total_params:,} parameters, {trainable_params:,} trainable")

    return SimpleNamespace(**{k: v for k, v in locals().items() if k not in ("run", "targs", "given")})


def execute(run: RunArguments, targs: DNATrainingArguments, s: SimpleNamespace) -> dict | None:
    out, record_path, data, eval_split, task, tok = s.out, s.record_path, s.data, s.eval_split, s.task, s.tok
    model, corpus_info, metric_name, last_ckpt = s.model, s.corpus_info, s.metric_name, s.last_ckpt
    total_params, trainable_params, fingerprint = s.total_params, s.trainable_params, s.fingerprint
    resume_from = last_ckpt if run.resume else None
    clock = TrainClock(resume_from)
    callbacks = [clock] + ([EarlyStoppingCallback(run.early_stopping_patience)] if run.early_stopping_patience else [])
    trainer = (OneCycleTrainer if run.onecycle else Trainer)(model=model, args=targs, train_dataset=data["train"], eval_dataset=eval_split,
                      data_collator=s.collator, processing_class=tok, compute_metrics=s.compute_metrics, callbacks=callbacks)
    train_result = trainer.train(resume_from_checkpoint=resume_from)
    train_segments = clock.segments()

    t0 = time.perf_counter()
    metrics = {"validation": _strip(trainer.evaluate(eval_split, metric_key_prefix="validation"), "validation")}
    if run.stage == "finetune":
        metrics["test"] = _strip(trainer.evaluate(data["test"], metric_key_prefix="test"), "test")
    eval_seconds = time.perf_counter() - t0

    if not trainer.is_world_process_zero():
        return None
    model_dir = out / "model"
    trainer.save_model(str(model_dir))  # safetensors + tokenizer (processing_class); adapters only for LoRA
    record = {
        "stage": run.stage,
        "task": run.task,
        "model": run.model,
        "preset": run.preset or MODELS.get(run.model).default_preset,
        "init": run.init,
        "pretrained_from": run.pretrained,
        "tokenizer": tokenization.tokenizer_family(tok),
        "mode": run.mode,
        "seed": targs.seed,
        "corpus": corpus_info if corpus_info else _pretraining_corpus_of(run),
        "problem_type": task["problem_type"] if task else "masked_lm",
        "primary_metric": metric_name,
        "metrics": metrics,
        "cost": {
            "train_flops": float(trainer.state.total_flos),
            "train_seconds": sum(train_segments),
            "train_segments_seconds": train_segments,  # one entry per resume
            "eval_seconds": eval_seconds,
            "train_runtime_trainer": train_result.metrics.get("train_runtime"),
            "global_steps": trainer.state.global_step,
            "peak_memory_bytes": peak_memory_bytes(targs.device),
            "total_params": total_params,
            "trainable_params": trainable_params,
            "device": str(targs.device.type) + (f" ({torch.cuda.get_device_name(targs.device)})" if targs.device.type == "cuda" else ""),
            "num_processes": targs.world_size,
        },
        "versions": versions(),
        "dataset": _dataset_info(run, task, fingerprint),
        "config": {"run": asdict(run), "training": _training_config(targs)},
        "run_name": out.name,
        "arm": run.arm,
        "output_dir": str(out),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "best_checkpoint": trainer.state.best_model_checkpoint,
    }
    card = render_model_card(record, repo_id=targs.hub_model_id)
    card.save(str(model_dir / "README.md"))
    write_record(record_path, record)
    if not run.keep_checkpoints:
        for ckpt in out.glob("checkpoint-*"):
            shutil.rmtree(ckpt, ignore_errors=True)
    print(f"\n{run.stage} finished in {sum(train_segments):.1f} s of training")
    for split, vals in metrics.items():
        shown = {k: round(v, 4) for k, v in vals.items() if isinstance(v, float)}
        print(f"  {split}: {shown}")
    print(f"  record:     {record_path}\n  checkpoint: {model_dir}\n  model card: {model_dir / 'README.md'}")
    if targs.push_after_training:
        print(f"  pushed:     {push_folder(model_dir, targs.hub_model_id)}")
    return record


TIMING_KEYS = ("runtime", "samples_per_second", "steps_per_second")  # timings live in record["cost"]


def _strip(metrics: dict, prefix: str) -> dict:
    return {k[len(prefix) + 1:]: v for k, v in metrics.items()
            if k.startswith(prefix + "_") and k[len(prefix) + 1:] not in TIMING_KEYS}


def _pretraining_corpus_of(run: RunArguments):
    """For fine-tuning from one of our pretrained checkpoints: the corpus it was pretrained on."""
    if run.init != "pretrained":
        return None
    cfg_path = Path(run.pretrained) / "config.json"
    if cfg_path.is_file():
        return (json.loads(cfg_path.read_text()).get("dnalm_pretraining") or {}).get("corpus")
    return None


def _dataset_info(run: RunArguments, task: dict | None, fingerprint: dict) -> dict:
    info = {"name": run.task or run.pretrain_task or "fasta", "fingerprint": fingerprint}
    entry = task["task_entry"] if task else None
    if entry is not None:
        info.update(hub_id=HUB_REPOS[entry.benchmark], config=entry.config_name, benchmark=entry.benchmark,
                    pretty_name=f"{entry.benchmark.upper()} {entry.config_name}")
    return info


def _training_config(targs: TrainingArguments) -> dict:
    d = targs.to_dict()
    d.pop("push_to_hub_token", None)
    d["push_to_hub"] = targs.push_after_training
    return d


def main(argv: list[str] | None = None) -> int:
    transformers.logging.set_verbosity_warning()
    try:
        run, targs, given = parse_args(argv)
        run_training(run, targs, given)
    except ConfigError as err:
        print(f"train.py: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
