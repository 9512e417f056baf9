"""GUE (Zhou et al. 2023): every task is a folder with `train.csv`, `dev.csv`, `test.csv` (header
`sequence,label`), in the official layout `GUE/<group>/<task>/` (e.g. `GUE/prom/prom_core_tata`,
`GUE/EMP/H3`, `GUE/tf/2`, `GUE/mouse/0`). `dev` becomes `validation`.

`--source` may be the `GUE` folder itself, its parent, or a flat folder of task folders named like the
registry's task names (`prom_core_tata`, `tf_2`, `mouse_0`, `H3`, `covid`, `splice_reconstructed`),
which is how `../shared/data/gue` is laid out. The official path is looked up first.

`read_task_csv` is the one reader of GUE-layout CSV files: the builder, `data_scripts.tasks.load_task`
and the corpora (`data_scripts.corpora`) all read them with it, so a malformed file gets the same error,
naming the file and the line, wherever it is read.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from dnalm_core.registry import TaskEntry

from .common import (
    BuildError,
    BuildOptions,
    Rows,
    SourceFile,
    SourceFileError,
    TaskBuild,
    finish_task,
    normalize_located,
    sha256_file,
)

SPLIT_FILES = {"train": "train.csv", "validation": "dev.csv", "test": "test.csv"}
HEADER = ["sequence", "label"]
CITATION = """@misc{zhou2023dnabert2,
      title={DNABERT-2: Efficient Foundation Model and Benchmark For Multi-Species Genome},
      author={Zhihan Zhou and Yanrong Ji and Weijian Li and Pratik Dutta and Ramana Davuluri and Han Liu},
      year={2023},
      eprint={2306.15006},
      archivePrefix={arXiv},
      primaryClass={q-bio.GN}
}"""


@dataclass
class TaskCsv:
    """The rows of one task CSV as written (sequences verbatim), with the line each row is on."""

    path: Path
    sequences: list[str]
    labels: list[int]
    lines: list[int]  # 1-based line of each row (the header is line 1; blank lines are skipped)
    quoted: list[bool]  # the row's sequence field is in quotes (its text starts one column later)

    def where(self, i: int, position: int | None = None) -> str:
        """`path, line L[, column C]` of row i (and of character `position` of its sequence)."""
        column = "" if position is None else f", column {position + 1 + self.quoted[i]}"
        return f"{self.path}, line {self.lines[i]}{column}"

    def normalized(self) -> list[str]:
        """The sequences under the input policy; a refused one raises SourceFileError naming file, line, column."""
        return normalize_located(self.sequences, self.where)


def read_task_csv(path: Path) -> TaskCsv:
    """Read a GUE-layout CSV: header `sequence,label`, one row per example, integer labels.

    The `csv` module, not pandas: it gives the line of every row and reads every cell verbatim (no "NA"
    turned into a missing value). A UTF-8 byte-order mark is accepted, as spreadsheet programs write one.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise SourceFileError(f"{path}: byte {err.start} is not UTF-8 text; save the file as UTF-8 CSV") from None
    raw_lines = text.splitlines()
    # a cell is a whole sequence, and genomic sequences exceed the csv module's default 131,072-character limit
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise SourceFileError(f"{path} is empty; expected a header line `sequence,label` and one row per example")
    if header != HEADER:
        raise SourceFileError(
            f"{path}, line 1: the columns are {header}; a GUE task file has the header "
            "`sequence,label` (pair tasks with 3 columns are not part of GUE's 28 tasks)"
        )
    out = TaskCsv(path, [], [], [], [])
    for row in reader:
        if not row:
            continue  # a blank line
        line = reader.line_num
        if len(row) != 2:
            raise SourceFileError(f"{path}, line {line}: {len(row)} fields; every row is `sequence,label`")
        seq, label = row
        try:
            out.labels.append(int(label))
        except ValueError:
            raise SourceFileError(
                f"{path}, line {line}: label {label!r} is not an integer; labels are the class indices 0..k-1"
            ) from None
        out.sequences.append(seq)
        out.lines.append(line)
        out.quoted.append(raw_lines[line - 1].startswith('"'))
    if not out.sequences:
        raise SourceFileError(f"{path} has a header but no rows; every split needs at least one example")
    return out


def candidate_dirs(source: Path, entry: TaskEntry) -> list[Path]:
    # official nested path first, then flat names: the registry's (`tf_2`) and the path joined (`EMP_H3`)
    return [
        source / entry.source_path,
        source / "GUE" / entry.source_path,
        source / entry.config_name,
        source / entry.source_path.replace("/", "_"),
    ]


def find_task_dir(source: Path, entry: TaskEntry) -> Path | None:
    for d in candidate_dirs(source, entry):
        if d.is_dir() and any((d / f).is_file() for f in SPLIT_FILES.values()):
            return d
    return None


def read_split(path: Path, split: str, rel: str) -> Rows:
    table = read_task_csv(path)
    src = "dev" if split == "validation" else split
    # id = original split file and 0-based data row, so every row can be traced back to the CSV
    return Rows(
        ids=[f"{src}_{i}" for i in range(len(table.sequences))],
        sequences=table.sequences,
        labels=table.labels,
        origins=[f"{rel} line {n}" for n in table.lines],
    )


def build_task(source: Path, entry: TaskEntry, options: BuildOptions) -> TaskBuild:
    d = find_task_dir(source, entry)
    if d is None:
        tried = ", ".join(str(p) for p in candidate_dirs(source, entry))
        raise BuildError(f"{entry.name}: no task folder found (tried {tried})")
    raw, sources, where = {}, [], {}
    for split, fname in SPLIT_FILES.items():
        f = d / fname
        if not f.is_file():
            raise BuildError(f"{entry.name}: {f} is missing; a GUE task folder holds {', '.join(SPLIT_FILES.values())}")
        rel = f.relative_to(source).as_posix()
        raw[split] = read_split(f, split, rel)
        sources.append(SourceFile(rel, sha256_file(f), len(raw[split])))
        where[split] = rel
    nested = d in candidate_dirs(source, entry)[:2]
    layout = "official (GUE/<group>/<task>)" if nested else "flat folder of task folders"
    return finish_task(entry, raw, sources=sources, source_layout=layout, where=where, options=options)


def build_tasks(source: Path, entries: list[TaskEntry], options: BuildOptions) -> tuple[list[TaskBuild], list[str]]:
    builds, skipped = [], []
    for e in entries:
        if options.skip_missing and find_task_dir(source, e) is None:
            skipped.append(e.name)
            continue
        builds.append(build_task(source, e, options))
    return builds, skipped
