"""What every benchmark builder shares: the errors, the builder protocol, the input policy, the build-time
checks, the seeded validation split, deterministic parquet files and the atomic write of the Hub-shaped
folder (which adds to an earlier build of the same benchmark and never deletes what it did not make).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from dnalm_core.policy import IUPAC_AMBIGUITY, normalize_sequence
from dnalm_core.registry import TaskEntry

SPLITS = ("train", "validation", "test")
MANIFEST = "dnalm_build.json"
# Bumped whenever a change to the builders changes the bytes they write
# (2: every dropped row listed with its file and row; builds add to a folder of the same benchmark).
BUILDER_VERSION = 2
DEFAULT_SEED = 42
DEFAULT_VALIDATION_FRACTION = 0.1
EVAL_SPLITS = ("validation", "test")

# Fixed writer options: together with rows in source order and a fixed schema they make a rebuild
# byte-identical (parquet stores no timestamps; `created_by` names the pyarrow version, so files
# written by another pyarrow release may differ in those bytes only).
PARQUET_OPTIONS = dict(
    compression="zstd",
    compression_level=9,
    use_dictionary=True,
    write_statistics=True,
    row_group_size=50_000,
    data_page_version="1.0",
    version="2.6",
)


class BuildError(ValueError):
    """The source data cannot be built as asked; the message names the problem and the fix."""


class TaskDataError(ValueError):
    """The data of a task is missing or does not fit the task (split, columns, labels)."""


class SourceFileError(BuildError, TaskDataError):
    """A source file (task CSV, FASTA) cannot be read as it is; the message names the file, the line and the fix.

    The readers are shared by the builders (which raise BuildError), `load_task` (TaskDataError) and the
    corpora, so their one error is both."""


def locate_error(where: str, err: Exception) -> SourceFileError:
    """`err` from the input policy, as a SourceFileError that starts with `where` (file, line, column)."""
    return SourceFileError(f"{where}: {err}")


def normalize_located(sequences, where: Callable[[int, int | None], str]) -> list[str]:
    """The input policy over `sequences`; a refused one raises SourceFileError naming `where(i, position)`
    (the file, line and column of character `position` of sequence `i`; position None: the whole row)."""
    out = []
    for i, seq in enumerate(sequences):
        try:
            out.append(normalize_sequence(seq))
        except (TypeError, ValueError) as err:
            raise locate_error(where(i, getattr(err, "position", None)), err) from None
    return out


@dataclass
class Rows:
    """One split of one task: parallel lists, in source order. `origins` says where each row comes from
    (file and line or row), for messages and the card; it is not written to the parquet files."""

    ids: list[str] = field(default_factory=list)
    sequences: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index) -> Rows:
        return Rows(*([col[i] for i in index] for col in (self.ids, self.sequences, self.labels, self.origins)))

    def extend(self, other: Rows) -> None:
        for mine, theirs in zip(
            (self.ids, self.sequences, self.labels, self.origins),
            (other.ids, other.sequences, other.labels, other.origins),
        ):
            mine += theirs


@dataclass
class PolicyReport:
    rows_in: int = 0
    uppercased: int = 0  # rows with lowercase (soft-masked) bases, written uppercase
    iupac_to_n: int = 0  # rows with IUPAC ambiguity codes, written as N
    stripped: int = 0  # rows with surrounding whitespace, stripped
    dropped: list[tuple[str, str, str]] = field(default_factory=list)  # (id, reason, origin) of rows removed

    def as_dict(self) -> dict:
        return {
            "rows_in": self.rows_in,
            "uppercased": self.uppercased,
            "iupac_to_n": self.iupac_to_n,
            "stripped": self.stripped,
            "dropped": len(self.dropped),
            "dropped_listed": [list(d) for d in self.dropped],
        }


@dataclass
class SourceFile:
    what: str  # e.g. "train.csv" or "prom_core_tata/train.csv": a path relative to --source
    sha256: str
    rows: int


@dataclass
class TaskBuild:
    """A task ready to be written: clean splits plus everything the card reports about them."""

    entry: TaskEntry
    splits: dict[str, Rows]
    policy: dict[str, PolicyReport]
    validation_note: str
    sources: list[SourceFile]
    source_layout: str
    duplicates: dict = field(default_factory=dict)
    extra_notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BuildOptions:
    """The settings of one build, the same for every benchmark (`genomes` serves gb only)."""

    seed: int = DEFAULT_SEED
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION
    skip_missing: bool = False
    allow_dropped_eval_rows: bool = False
    genomes: tuple[str, ...] = ()


class Builder(Protocol):
    """What `data_scripts.build` needs of a benchmark: the modules `gue`, `nt` and `genomic_benchmarks`
    each implement it (a module-level CITATION and build_tasks)."""

    CITATION: str

    def build_tasks(
        self, source: Path, entries: list[TaskEntry], options: BuildOptions
    ) -> tuple[list[TaskBuild], list[str]]:
        """The builds of `entries` found under `source`, and the names skipped (with options.skip_missing)."""
        ...


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_labels(entry: TaskEntry, split: str, rows: Rows, where: str) -> None:
    """Labels must be integers 0..num_labels-1 of the task; anything else is a source/task mismatch."""
    for rid, lab in zip(rows.ids, rows.labels):
        if isinstance(lab, bool) or not isinstance(lab, (int, np.integer)) or not 0 <= lab < entry.num_labels:
            raise BuildError(
                f"{entry.name}: label {lab!r} of row {rid!r} ({split}, {where}) "
                f"is not one of 0..{entry.num_labels - 1} "
                f"({', '.join(entry.label_names)}); check that the source folder holds this task"
            )


def apply_policy(rows: Rows) -> tuple[Rows, PolicyReport]:
    """Clean every sequence with the tokenizers' input policy (`normalize_sequence`).

    Rows the policy accepts are kept, written in their normalized form (uppercase, IUPAC codes as N),
    and counted by what changed; rows it rejects (other characters, RNA U, empty) are dropped and
    listed, so that a tokenizer never sees a sequence it would refuse at training time.
    """
    report = PolicyReport(rows_in=len(rows))
    keep: list[int] = []
    out = []
    for i, seq in enumerate(rows.sequences):
        try:
            clean = normalize_sequence(seq)
        except (ValueError, TypeError) as err:
            report.dropped.append((rows.ids[i], str(err).split(";")[0], rows.origins[i]))
            continue
        keep.append(i)
        out.append(clean)
        stripped = seq.strip()
        if stripped != seq:
            report.stripped += 1
        if stripped != stripped.upper():
            report.uppercased += 1
        if any(c in IUPAC_AMBIGUITY for c in stripped.upper()):
            report.iupac_to_n += 1
    kept = rows.take(keep)
    kept.sequences = out
    return kept, report


def stratified_holdout(labels: list[int], fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the rows that go to validation: `fraction` of each class, chosen with `seed`.

    Per class, round(fraction * n) rows are drawn with numpy's PCG64 generator (whose streams numpy
    keeps stable across releases), classes in increasing label order, so the same input and seed
    always give the same split. Written out rather than `Dataset.train_test_split(stratify_by_column=)`
    because that one refuses classes smaller than the test share (tiny tasks) and reorders rows; here
    both splits keep their rows in source order.
    """
    if not 0 < fraction < 1:
        raise BuildError(f"the validation fraction must be between 0 and 1, got {fraction}")
    labels = np.asarray(labels)
    mask = np.zeros(len(labels), dtype=bool)
    rng = np.random.default_rng(seed)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = int(np.floor(fraction * len(idx) + 0.5))
        mask[rng.permutation(idx)[:k]] = True
    if not mask.any() and len(labels) >= 2:  # a very small train split still gets one validation row
        mask[rng.integers(len(labels))] = True
    return mask


def carve_validation(train: Rows, fraction: float, seed: int) -> tuple[Rows, Rows]:
    mask = stratified_holdout(train.labels, fraction, seed)
    return train.take(np.flatnonzero(~mask)), train.take(np.flatnonzero(mask))


def duplicate_report(splits: dict[str, Rows]) -> dict:
    """Exact duplicate sequences within each split and across splits (leakage), counted in rows.

    within: rows whose sequence already occurred earlier in the same split; conflicting: distinct
    sequences of a split that occur with more than one label. across "a/b": rows of b whose sequence
    also occurs in a (e.g. "train/test" is the train-test leakage).
    """
    out = {"within": {}, "conflicting_labels": {}, "across": {}}
    seqsets = {}
    for name, rows in splits.items():
        counts = Counter(rows.sequences)
        out["within"][name] = sum(c - 1 for c in counts.values())
        labels_of: dict[str, set] = {}
        for s, lab in zip(rows.sequences, rows.labels):
            labels_of.setdefault(s, set()).add(lab)
        out["conflicting_labels"][name] = sum(1 for v in labels_of.values() if len(v) > 1)
        seqsets[name] = set(counts)
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        if a in splits and b in splits:
            out["across"][f"{a}/{b}"] = sum(1 for s in splits[b].sequences if s in seqsets[a])
    return out


def dropped_lines(entry: TaskEntry, split: str, report: PolicyReport) -> list[str]:
    return [f"{entry.name} {split}: dropped row {rid!r} ({origin}): {reason}" for rid, reason, origin in report.dropped]


def finish_task(
    entry: TaskEntry,
    raw: dict[str, Rows],
    *,
    sources: list[SourceFile],
    source_layout: str,
    where: dict[str, str],
    options: BuildOptions,
    extra_notes=(),
) -> TaskBuild:
    """Labels checked, input policy applied, validation carved when the source has none, checks run.

    A row the policy drops from a validation or test split fails the build unless
    `options.allow_dropped_eval_rows`: a score on a silently smaller test set is not the benchmark's score.
    """
    seed, fraction = options.seed, options.validation_fraction
    for split, rows in raw.items():
        check_labels(entry, split, rows, where.get(split, "source"))
    clean, policy = {}, {}
    for split, rows in raw.items():
        clean[split], policy[split] = apply_policy(rows)
    eval_drops = [line for s in EVAL_SPLITS if s in policy for line in dropped_lines(entry, s, policy[s])]
    if eval_drops and not options.allow_dropped_eval_rows:
        raise BuildError(
            f"{entry.name}: {len(eval_drops)} row(s) of an evaluation split break the input policy:\n  "
            + "\n  ".join(eval_drops)
            + "\nfix them in the source, or pass --allow-dropped-eval-rows to "
            "build without them (the card then lists them)"
        )
    if "validation" in clean:
        note = f"the source's own validation split (`{Path(where.get('validation', 'source')).name}`)"
    else:
        clean["train"], clean["validation"] = carve_validation(clean["train"], fraction, seed)
        policy["validation"] = PolicyReport()  # its rows were counted under train
        note = (
            f"a seeded, stratified {fraction:.0%} of the source's train split (seed {seed}; per class "
            f"round({fraction} x n) rows drawn with numpy's PCG64; train and validation keep source order)"
        )
    for split in SPLITS:
        if split not in clean:
            raise BuildError(f"{entry.name}: the source has no {split!r} split")
        if len(clean[split]) == 0:
            raise BuildError(
                f"{entry.name}: the {split!r} split is empty after the input policy "
                f"({len(policy[split].dropped)} rows dropped)"
            )
    splits = {s: clean[s] for s in SPLITS}
    return TaskBuild(
        entry=entry,
        splits=splits,
        policy=policy,
        validation_note=note,
        sources=sources,
        source_layout=source_layout,
        duplicates=duplicate_report(splits),
        extra_notes=list(extra_notes),
    )


def features_for(entry: TaskEntry):
    from datasets import ClassLabel, Features, Value

    return Features(
        {"id": Value("string"), "sequence": Value("string"), "label": ClassLabel(names=list(entry.label_names))}
    )


def write_parquet(path: Path, rows: Rows, features) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # The schema carries the `datasets` features (ClassLabel names) in its metadata, so
    # `load_dataset` gives `label` as a ClassLabel without reading the card.
    table = pa.Table.from_pydict(
        {"id": rows.ids, "sequence": rows.sequences, "label": [int(x) for x in rows.labels]},
        schema=features.arrow_schema,
    )
    pq.write_table(table, path, **PARQUET_OPTIONS)


def label_counts(rows: Rows, num_labels: int) -> list[int]:
    c = Counter(rows.labels)
    return [int(c.get(i, 0)) for i in range(num_labels)]


def task_summary(b: TaskBuild) -> dict:
    """The numbers of one task that go into the manifest and the card."""
    e = b.entry
    return {
        "task": e.name,
        "config": e.config_name,
        "group": e.group,
        "source_path": e.source_path,
        "num_labels": e.num_labels,
        "label_names": list(e.label_names),
        "problem_type": e.problem_type,
        "metric": e.metric,
        "also_report": list(e.also_report),
        "seq_len": e.seq_len,
        "rows": {s: len(b.splits[s]) for s in SPLITS},
        "label_counts": {s: label_counts(b.splits[s], e.num_labels) for s in SPLITS},
        "length_range": {
            s: (
                [min(map(len, b.splits[s].sequences)), max(map(len, b.splits[s].sequences))]
                if len(b.splits[s])
                else [0, 0]
            )
            for s in SPLITS
        },
        "policy": {s: b.policy[s].as_dict() for s in SPLITS},
        "duplicates": b.duplicates,
        "validation": b.validation_note,
        "source_layout": b.source_layout,
        "sources": [{"file": f.what, "sha256": f.sha256, "rows": f.rows} for f in b.sources],
        "notes": b.extra_notes,
        "published": dict(e.published),
        "published_source": e.published_source,
    }


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a folder written by this builder, or None when there is none."""
    f = folder / MANIFEST
    if not f.is_file():
        return None
    try:
        manifest = json.loads(f.read_text())
    except ValueError as err:
        raise BuildError(
            f"{f} is not valid JSON ({err}); the folder was changed by hand: rebuild it with "
            "--overwrite, or choose another --out"
        ) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("tasks"), list):
        raise BuildError(f"{f} has no task list; rebuild the folder with --overwrite, or choose another --out")
    return manifest


def previous_build(out: Path, benchmark: str, options: BuildOptions, overwrite: bool) -> dict | None:
    """The manifest of the earlier build in `out` that this build adds to, or None (new or replaced folder).

    Refuses, before any work, a folder it would have to delete something from without being told:
    a folder not written by this builder, one of another benchmark, of another builder version, or built
    with another seed or validation fraction (its tasks would not match the card's one command).
    `overwrite` replaces `out` whole instead.
    """
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {out} exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()) or overwrite:
        return None
    manifest = read_manifest(out)
    if manifest is None:
        raise BuildError(
            f"--out {out} is not empty and was not written by data_scripts.build (no {MANIFEST}); "
            "choose an empty or new folder, or pass --overwrite to replace it"
        )
    if manifest.get("benchmark") != benchmark:
        raise BuildError(
            f"--out {out} holds a {manifest.get('benchmark')!r} build and one folder holds one "
            f"benchmark; choose another folder for {benchmark}, or pass --overwrite to replace it"
        )
    if manifest.get("builder_version") != BUILDER_VERSION:
        raise BuildError(
            f"--out {out} was written by builder version {manifest.get('builder_version')} (this is "
            f"{BUILDER_VERSION}); rebuild all its tasks with --overwrite"
        )
    for key, value in (("seed", options.seed), ("validation_fraction", options.validation_fraction)):
        if manifest.get(key) != value:
            raise BuildError(
                f"--out {out} was built with {key} {manifest.get(key)}, this build uses {value}; use "
                f"the same --{key.replace('_', '-')}, or pass --overwrite to rebuild the folder whole"
            )
    return manifest


def merged_configs(previous: dict | None, builds: list[TaskBuild]) -> list[str]:
    """The tasks of the folder after this build: the earlier ones in their order (rebuilt ones in place),
    then the new ones in build order, so adding tasks one at a time gives the same folder as one build."""
    new = [b.entry.config_name for b in builds]
    old = [t["config"] for t in previous["tasks"]] if previous else []
    return old + [c for c in new if c not in old]


def write_repo(
    out: Path,
    benchmark: str,
    builds: list[TaskBuild],
    render_card,
    manifest_extra: dict,
    options: BuildOptions,
    overwrite: bool = False,
) -> Path:
    """Write the Hub-shaped folder `out` atomically, keeping the tasks of an earlier build of the same
    benchmark that this build does not rebuild (see `previous_build`).

    Everything is written to a temporary sibling folder first (the kept tasks are copied, byte for byte);
    only when all files are complete is it moved into place (the old folder is moved aside and deleted
    last), so an interrupted or failed build never leaves a half-written or emptied `out`.
    """
    out = Path(out).resolve()
    previous = previous_build(out, benchmark, options, overwrite)
    rebuilt = {b.entry.config_name: b for b in builds}
    kept = {t["config"]: t for t in previous["tasks"] if t["config"] not in rebuilt} if previous else {}
    for config in kept:
        missing = [s for s in SPLITS if not (out / config / f"{s}.parquet").is_file()]
        if missing:
            raise BuildError(
                f"--out {out}: the earlier task {config!r} lacks {', '.join(missing)}.parquet; rebuild "
                f"it too (--tasks ... {config}), or pass --overwrite"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        summaries = []
        for config in merged_configs(previous, builds):
            d = tmp / config
            if config in kept:
                shutil.copytree(out / config, d)
                summaries.append(kept[config])
                continue
            b = rebuilt[config]
            d.mkdir()
            feats = features_for(b.entry)
            for split in SPLITS:
                write_parquet(d / f"{split}.parquet", b.splits[split], feats)
            summaries.append(task_summary(b))
        manifest = {"benchmark": benchmark, "builder_version": BUILDER_VERSION, **manifest_extra, "tasks": summaries}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        (tmp / "README.md").write_text(render_card(manifest))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the published folder is an ordinary one
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "previous")
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
