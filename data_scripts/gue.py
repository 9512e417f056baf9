"""GUE (Zhou et al. 2023): every task is a folder with `train.csv`, `dev.csv`, `test.csv` (header
`sequence,label`), in the official layout `GUE/<group>/<task>/` (e.g. `GUE/prom/prom_core_tata`,
`GUE/EMP/H3`, `GUE/tf/2`, `GUE/mouse/0`). `dev` becomes `validation`.

`--source` may be the `GUE` folder itself, its parent, or a flat folder of task folders named like the
registry's task names (`prom_core_tata`, `tf_2`, `mouse_0`, `H3`, `covid`, `splice_reconstructed`),
which is how `../shared/data/gue` is laid out. The official path is looked up first.
"""

from __future__ import annotations

from pathlib import Path

from dnalm_core.registry import TaskEntry

from .common import BuildError, Rows, SourceFile, TaskBuild, finish_task, sha256_file

SPLIT_FILES = {"train": "train.csv", "validation": "dev.csv", "test": "test.csv"}
CITATION = """@misc{zhou2023dnabert2,
      title={DNABERT-2: Efficient Foundation Model and Benchmark For Multi-Species Genome},
      author={Zhihan Zhou and Yanrong Ji and Weijian Li and Pratik Dutta and Ramana Davuluri and Han Liu},
      year={2023},
      eprint={2306.15006},
      archivePrefix={arXiv},
      primaryClass={q-bio.GN}
}"""


def candidate_dirs(source: Path, entry: TaskEntry) -> list[Path]:
    # official nested path first, then flat names: the registry's (`tf_2`) and the path joined (`EMP_H3`)
    return [source / entry.source_path, source / "GUE" / entry.source_path, source / entry.config_name,
            source / entry.source_path.replace("/", "_")]


def find_task_dir(source: Path, entry: TaskEntry) -> Path | None:
    for d in candidate_dirs(source, entry):
        if d.is_dir() and any((d / f).is_file() for f in SPLIT_FILES.values()):
            return d
    return None


def read_csv(path: Path, split: str, entry: TaskEntry) -> Rows:
    import pandas as pd

    # dtype=str + na_filter=False: every cell is read verbatim (no "NA" -> NaN, no float labels)
    df = pd.read_csv(path, dtype=str, na_filter=False)
    if list(df.columns) != ["sequence", "label"]:
        raise BuildError(f"{path} has the columns {list(df.columns)}; a GUE task file has the header "
                         "`sequence,label` (pair tasks with 3 columns are not part of GUE's 28 tasks)")
    labels = []
    for i, v in enumerate(df["label"].tolist()):
        try:
            labels.append(int(v))
        except ValueError:
            raise BuildError(f"{path}, data row {i + 1}: label {v!r} is not an integer") from None
    src = "dev" if split == "validation" else split
    # id = original split file and 0-based data row, so every row can be traced back to the CSV
    return Rows(ids=[f"{src}_{i}" for i in range(len(df))], sequences=df["sequence"].tolist(), labels=labels)


def build_task(source: Path, entry: TaskEntry, seed: int, fraction: float) -> TaskBuild:
    d = find_task_dir(source, entry)
    if d is None:
        tried = ", ".join(str(p) for p in candidate_dirs(source, entry))
        raise BuildError(f"{entry.name}: no task folder found (tried {tried})")
    raw, sources, where = {}, [], {}
    for split, fname in SPLIT_FILES.items():
        f = d / fname
        if not f.is_file():
            raise BuildError(f"{entry.name}: {f} is missing; a GUE task folder holds "
                             f"{', '.join(SPLIT_FILES.values())}")
        raw[split] = read_csv(f, split, entry)
        rel = f.relative_to(source).as_posix()
        sources.append(SourceFile(rel, sha256_file(f), len(raw[split])))
        where[split] = rel
    nested = d in candidate_dirs(source, entry)[:2]
    layout = "official (GUE/<group>/<task>)" if nested else "flat folder of task folders"
    return finish_task(entry, raw, sources=sources, source_layout=layout, where=where, seed=seed, fraction=fraction)
