"""The data side of a run: a task's splits and classes, token counts and truncation, duplicates between
splits, the pretraining corpus and its windows, and checks of a pretrained folder's files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import datasets
import transformers
from transformers import TrainingArguments

from data_scripts.corpora import corpus_from_fasta, corpus_from_task, draw_windows
from data_scripts.fasta import content_hash
from data_scripts.tasks import HUB_REPOS, load_task
from dnalm_core.policy import normalize_sequence
from dnalm_core.registry import CORPORA, TASKS

from .arguments import ConfigError, RunArguments

logger = transformers.logging.get_logger("dnalm_assess.train")

# Attention memory grows with the square of the length: one 12-head layer's fp32 scores for 8,192 tokens
# take 3 GiB per sequence. Longer inputs are refused with advice rather than crashing the allocator.
TRANSFORMER_MAX_TOKENS = 8192


def task_info(run: RunArguments, ds) -> dict:
    """Classes, problem type and primary metric: the registry's for a registered task, else from the data."""
    entry = TASKS.get(run.task) if run.task in TASKS else None
    if entry is not None:
        return dict(
            num_labels=entry.num_labels,
            problem_type=entry.problem_type,
            metric=entry.metric,
            label_names=list(entry.label_names),
            entry=entry,
        )
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
    task = task_info(run, ds)
    if task["problem_type"] == "single_label_classification":
        check_two_classes(run, ds["train"]["label"], task["label_names"])
    return ds, task


def check_two_classes(run: RunArguments, labels: list[int], names: list[str]) -> None:
    """A classifier cannot learn from a train split of one class (the Trainer would fail deep inside, or train a
    constant predictor): refuse it before any model is built, naming the data, the label and its count."""
    counts = Counter(int(label) for label in labels)
    if len(counts) >= 2:
        return
    ((label, n),) = counts.items()
    name = f" ({names[label]!r})" if label < len(names) and names[label] != str(label) else ""
    where = _train_file(run.task) or f"the train split of task {run.task!r}"
    drawn = run.max_train_samples is not None
    cut = f" (the {n} drawn at random by --max_train_samples {run.max_train_samples})" if drawn else ""
    fix = "raise --max_train_samples (or leave it out) so that the sample holds more classes, or " if drawn else ""
    raise ConfigError(
        f"{where}: all {n} training rows{cut} have label {label}{name}; a classifier needs at least "
        f"two classes to learn from. Fix: {fix}add rows of the other class(es) to the train split"
    )


def _train_file(task: str) -> str | None:
    """The train split's file of a task given as a folder (registered tasks are named by their name)."""
    folder = Path(task)
    found = [folder / f for f in ("train.parquet", "train.csv") if (folder / f).is_file()]
    return str(found[0]) if found else None


def overlap_warnings(ds) -> dict[str, int]:
    """Exact duplicates between the train split and the evaluation splits (after the input policy)."""
    train = {normalize_sequence(s) for s in ds["train"]["sequence"]}
    out = {}
    for split in ("validation", "test"):
        n = sum(normalize_sequence(s) in train for s in ds[split]["sequence"])
        out[split] = n
        if n:
            logger.warning(
                f"{n} of {len(ds[split])} {split} sequences also occur in the train split (exact "
                "duplicates after upper-casing): the task's splits are not disjoint"
            )
    return out


def dataset_fingerprint(ds, label: bool = True) -> dict:
    out = {}
    for split in ds:
        rows = (
            (f"{s}\t{l}" for s, l in zip(ds[split]["sequence"], ds[split]["label"])) if label else ds[split]["sequence"]
        )
        out[split] = {"rows": len(ds[split]), "sha256": content_hash(rows)}
    return out


def token_lengths(ds, tok, targs: TrainingArguments) -> dict[str, list[int]]:
    """Tokens per sequence ([CLS] and [SEP] included) of every split, untruncated."""
    with targs.main_process_first(desc="counting tokens"):
        counted = ds.map(
            lambda b: {"n_tokens": [len(x) for x in tok(b["sequence"])["input_ids"]]},
            batched=True,
            remove_columns=ds["train"].column_names,
            desc="Counting tokens",
        )
    return {split: counted[split]["n_tokens"] for split in counted}


def choose_max_length(run: RunArguments, lengths: dict[str, list[int]], model_name: str) -> int:
    """The run's max_length, or the longest sequence of any split (nothing truncated); refused past the
    model's limit with advice."""
    longest = max(max(v) for v in lengths.values() if v)
    max_len = run.max_length or longest
    limit = TRANSFORMER_MAX_TOKENS if model_name == "dnabert2" else None
    if limit is not None and max_len > limit:
        split, row = next((s, i) for s, v in lengths.items() for i, n in enumerate(v) if n == longest)
        raise ConfigError(
            f"the longest sequence ({split} row {row}) is {longest:,} tokens; {model_name} accepts at "
            f"most {limit:,} (attention memory grows with the square of the length). Set --max_length "
            f"<= {limit} to truncate (the count of truncated sequences is recorded), or cut the "
            "sequences into shorter windows before building the task"
        )
    return max_len


def truncation_counts(lengths: dict[str, list[int]], max_len: int) -> dict[str, int]:
    out = {split: sum(n > max_len for n in v) for split, v in lengths.items()}
    for split, n in out.items():
        if n:
            logger.warning(
                f"{n} of {len(lengths[split])} {split} sequences are longer than max_length={max_len} "
                "tokens and are truncated (recorded as dataset.truncated)"
            )
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
        corpus = CORPORA.get(run.corpus).build(
            run.corpus_scale,
            run.shared_data,
            run.corpus_fasta,
            seed=0,
            evaluate=run.leakage_tasks,
            data_dir=run.data_dir,
        )
    elif run.pretrain_fasta:
        corpus = corpus_from_fasta(run.pretrain_fasta, name=run.corpus_name, **where)
    else:
        corpus = corpus_from_task(run.pretrain_task, name=run.corpus_name, **where)
    train, held_out, windows = draw_windows(
        corpus, run.window_length, run.num_windows, run.eval_windows, seed=seed, eval_fraction=run.eval_fraction
    )
    info = {**corpus.record, "name": run.corpus_name or corpus.name, "windows": windows}
    return corpus.sequences, train, held_out, info


def dataset_info(run: RunArguments, entry, fingerprint: dict) -> dict:
    info = {"name": run.task or run.pretrain_task or "fasta", "fingerprint": fingerprint}
    if entry is not None:
        info.update(
            hub_id=HUB_REPOS[entry.benchmark],
            config=entry.config_name,
            benchmark=entry.benchmark,
            pretty_name=f"{entry.benchmark.upper()} {entry.config_name}",
        )
    return info


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
                raise ConfigError(
                    f"{path / name} is damaged ({str(err).splitlines()[0]}); copy it again or point "
                    "`pretrained` at an intact folder"
                ) from None
    for name in ("tokenizer.json", "config.json", "tokenizer_config.json"):
        if (path / name).is_file():
            try:
                json.loads((path / name).read_text())
            except ValueError as err:
                raise ConfigError(
                    f"{path / name} is damaged (not valid JSON: {err}); copy it again or point "
                    "`pretrained` at an intact folder"
                ) from None


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
