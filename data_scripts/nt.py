"""Nucleotide Transformer downstream tasks, revised set (Dalla-Torre et al. 2025), from the files of the
Hub dataset `InstaDeepAI/nucleotide_transformer_downstream_tasks_revised` (train and test only).

Accepted layouts under `--source` (the Hub repo, or any copy of its data):
- split tables: files named by split, `train.*` / `test.*` (also shards such as
  `train-00000-of-00002.parquet`), in parquet, csv or tsv (optionally .gz), holding the columns
  `sequence`, `label`, `task` (and `name`, kept as the row id), e.g. the Hub's parquet conversion or
  the shared sample `nt_sample/train_mixed_toy.tsv`;
- per-task folders `<task>/{train,test}.<ext>`: FASTA (`.fna`/`.fa`/`.fasta`, as in the Hub repo), whose
  header is `<name>|<label>`, or tables with `sequence` and `label` columns.
Validation is carved from train (seeded, stratified; see `common.stratified_holdout`).
"""

from __future__ import annotations

import re
from pathlib import Path

from dnalm_core.registry import TaskEntry
from dnalm_core.tasks import tasks_of

from .common import BuildError, BuildOptions, Rows, SourceFile, SourceFileError, TaskBuild, finish_task, sha256_file
from .fasta import text_lines

TABLE_RE = re.compile(r"^(train|test)(?:[-_.][^/]*)?\.(parquet|csv|tsv)(\.gz)?$")
FASTA_EXT = (".fna", ".fa", ".fasta", ".fna.gz", ".fa.gz", ".fasta.gz")
TABLE_EXT = (".parquet", ".csv", ".tsv", ".csv.gz", ".tsv.gz")
CITATION = (
    """@article{dallatorre2024nucleotide,
  title={Nucleotide Transformer: building and evaluating robust foundation models for human genomics},
  author={Dalla-Torre, Hugo and Gonzalez, Liam and Mendoza-Revilla, Javier and Lopez Carranza, Nicolas and """
    """Grzywaczewski, Adam Henryk and Oteri, Francesco and Dallago, Christian and Trop, Evan and """
    """de Almeida, Bernardo P. and Sirelkhatim, Hassan and Richard, Guillaume and Skwark, Marcin and """
    """Beguir, Karim and Lopez, Marie and Pierrot, Thomas},
  journal={Nature Methods},
  volume={22},
  number={2},
  pages={287--297},
  year={2025},
  doi={10.1038/s41592-024-02523-z}
}"""
)


def read_table(path: Path):
    import pandas as pd

    name = path.name.lower()
    if name.endswith(".parquet"):
        df = pd.read_parquet(path)
    else:
        sep = "\t" if ".tsv" in name else ","
        df = pd.read_csv(path, sep=sep, dtype=str, na_filter=False)
    return df


def _labels(values, where: str) -> list[int]:
    out = []
    for i, v in enumerate(values):
        try:
            f = float(v)
            if f != int(f):
                raise ValueError
            out.append(int(f))
        except (TypeError, ValueError):
            raise BuildError(f"{where}, row {i}: label {v!r} is not an integer class index") from None
    return out


def read_fasta_task_file(path: Path, rel: str) -> Rows:
    """The rows of a FASTA whose headers are `<name>|<label>` (id = the header, origin = its line)."""
    rows = Rows()
    chunks: list[str] = []

    def flush():
        if len(rows.sequences) < len(rows.ids):
            rows.sequences.append("".join(chunks))

    for lineno, line in text_lines(path):
        if line.startswith(">"):
            flush()
            chunks = []
            header = line[1:].strip()
            _, sep, lab = header.rpartition("|")
            if not sep:
                raise SourceFileError(
                    f"{path}, line {lineno}: header {header!r} has no `|<label>` suffix "
                    "(the NT task files use `>name|label`)"
                )
            rows.ids.append(header)
            rows.labels.extend(_labels([lab], f"{path}, line {lineno}"))
            rows.origins.append(f"{rel} line {lineno}")
        elif line:
            if not rows.ids:
                raise SourceFileError(
                    f"{path}, line {lineno}: sequence before the first `>` header; check that this is a FASTA file"
                )
            chunks.append(line)
    flush()
    return rows


def _split_of(p: Path) -> str | None:
    m = TABLE_RE.match(p.name)
    if m:
        return m.group(1)
    stem = p.name.split(".")[0]
    if stem in ("train", "test"):
        return stem
    # shards of the Hub's parquet conversion: <config>/<split>/0000.parquet
    if p.parent.name in ("train", "test") and p.name.endswith(TABLE_EXT):
        return p.parent.name
    return None


def discover(source: Path, wanted: set[str]):
    """Files of the tasks in `wanted`: ({task: {split: [(file, kind)]}}, [(table file, split)]).

    A data file below a folder named like a task is that task's (per-task layout); any other split
    table must carry a `task` column. Shards of one split are read in sorted path order.
    """
    per_task: dict[str, dict[str, list]] = {}
    tables = []
    for p in sorted(source.rglob("*")):
        if not p.is_file() or not p.name.endswith(FASTA_EXT + TABLE_EXT):
            continue
        split = _split_of(p)
        if split is None:
            continue
        task = next((d for d in p.relative_to(source).parts[:-1] if d in wanted), None)
        if task is not None:
            kind = "fasta" if p.name.endswith(FASTA_EXT) else "task_table"
            per_task.setdefault(task, {}).setdefault(split, []).append((p, kind))
        elif p.name.endswith(TABLE_EXT):
            tables.append((p, split))
    return per_task, tables


def table_origins(path: Path, rel: str, index) -> list[str]:
    """Where each row of a split table is: the line of a csv/tsv file, the 0-based row of a parquet file."""
    if path.name.lower().endswith(".parquet"):
        return [f"{rel} row {i}" for i in index]
    return [f"{rel} line {i + 2}" for i in index]  # line 1 is the header


def build_tasks(source: Path, entries: list[TaskEntry], options: BuildOptions) -> tuple[list[TaskBuild], list[str]]:
    wanted = {e.config_name for e in entries}
    # folders of every NT task count as per-task data (also those not asked for, which are then ignored)
    per_task, table_files = discover(source, {e.config_name for e in tasks_of("nt")})
    per_task = {t: v for t, v in per_task.items() if t in wanted}
    raw: dict[str, dict[str, Rows]] = {}
    files_of: dict[str, list[SourceFile]] = {}
    layout_of: dict[str, str] = {}
    where_of: dict[str, dict[str, str]] = {}

    # split tables with a task column: rows are grouped per task, in file order
    for p, split in table_files:
        df = read_table(p)
        rel = p.relative_to(source).as_posix()
        missing = {"sequence", "label", "task"} - set(df.columns)
        if missing:
            raise BuildError(
                f"{p} lacks the column(s) {sorted(missing)} (has {list(df.columns)}); a split table "
                "of the NT tasks needs sequence, label and task"
            )
        tasks_here = df["task"].astype(str)
        digest = sha256_file(p)
        for task in sorted(set(tasks_here) & wanted):
            sub = df[tasks_here == task]
            ids = sub["name"].astype(str).tolist() if "name" in sub.columns else [f"{rel}:{i}" for i in sub.index]
            rows = Rows(
                ids,
                sub["sequence"].astype(str).tolist(),
                _labels(sub["label"].tolist(), rel),
                table_origins(p, rel, sub.index),
            )
            raw.setdefault(task, {}).setdefault(split, Rows()).extend(rows)
            files_of.setdefault(task, []).append(SourceFile(rel, digest, len(rows)))
            layout_of[task] = "split tables with a `task` column"
            where_of.setdefault(task, {})[split] = rel

    for task, splits in per_task.items():
        if task in raw:
            raise BuildError(
                f"nt/{task} is in both a split table and a per-task folder under {source}; "
                "point --source at one copy of the data"
            )
        for split, items in sorted(splits.items()):
            kinds = {k for _, k in items}
            if len(kinds) > 1:
                raise BuildError(
                    f"nt/{task}: {split} data both as FASTA and as tables ({[str(p) for p, _ in items]}); "
                    "keep one format"
                )
            rows = Rows()
            for p, kind in items:  # shards in sorted path order
                rel = p.relative_to(source).as_posix()
                if kind == "fasta":
                    part = read_fasta_task_file(p, rel)
                else:
                    df = read_table(p)
                    if {"sequence", "label"} - set(df.columns):
                        raise BuildError(f"{p} needs the columns sequence and label (has {list(df.columns)})")
                    ids = (
                        df["name"].astype(str).tolist()
                        if "name" in df.columns
                        else [f"{rel}:{i}" for i in range(len(df))]
                    )
                    part = Rows(
                        ids,
                        df["sequence"].astype(str).tolist(),
                        _labels(df["label"].tolist(), rel),
                        table_origins(p, rel, range(len(df))),
                    )
                rows.extend(part)
                files_of.setdefault(task, []).append(SourceFile(rel, sha256_file(p), len(part)))
                where_of.setdefault(task, {})[split] = rel
            raw.setdefault(task, {})[split] = rows
            layout_of[task] = "per-task folders (<task>/{train,test})"

    builds, skipped = [], []
    for e in entries:
        splits = raw.get(e.config_name, {})
        missing = [s for s in ("train", "test") if s not in splits or len(splits[s]) == 0]
        if missing:
            if options.skip_missing:
                skipped.append(f"{e.name} (no {', '.join(missing)} rows)")
                continue
            raise BuildError(
                f"{e.name}: no {' or '.join(missing)} rows found under {source} (looked for split "
                f"tables train.*/test.* with a `task` column and for {e.config_name}/train.*, "
                f"{e.config_name}/test.*); pass --skip-missing to build the tasks that are there"
            )
        builds.append(
            finish_task(
                e,
                {"train": splits["train"], "test": splits["test"]},
                sources=files_of[e.config_name],
                source_layout=layout_of[e.config_name],
                where=where_of[e.config_name],
                options=options,
            )
        )
    return builds, skipped
