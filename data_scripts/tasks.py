"""Loading the fine-tuning tasks: `load_task(name_or_path)` returns a `DatasetDict` with the splits
`train` / `validation` / `test` and the columns `id`, `sequence`, `label`; `train.py` and the tests call it,
and `data_scripts/build.py` writes the folders it reads. The catalogue of tasks (labels, metrics, lengths,
published numbers) is `dnalm_core.tasks`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from dnalm_core.hub import HubUnreachableError, check_hub_reachable
from dnalm_core.registry import TASKS, TaskEntry
from dnalm_core.tasks import HUB_REPOS, SPLITS, build_command

from .common import TaskDataError
from .gue import TaskCsv, read_task_csv

if TYPE_CHECKING:  # datasets is imported lazily so that `import modeling` stays fast
    from datasets import DatasetDict

ROOT = Path(__file__).resolve().parents[1]
# The quick-start data shipped in the repository (`data/gue/`), found without any configuration.
SHIPPED_DATA = ROOT / "data"
DATA_ENV = "DNALM_DATA"  # a folder holding built benchmark folders: $DNALM_DATA/<benchmark>/<task>/


def _data_roots(data_dir) -> list[Path]:
    roots = []
    if data_dir is not None:
        roots.append(Path(data_dir))
    if os.environ.get(DATA_ENV):
        roots.append(Path(os.environ[DATA_ENV]))
    roots.append(SHIPPED_DATA)
    return roots


def _built_benchmark(folder: Path) -> str | None:
    """The benchmark of a folder written by `data_scripts.build` (from its manifest), else None."""
    import json

    manifest = folder / "dnalm_build.json"
    if not manifest.is_file():
        return None
    try:
        return json.loads(manifest.read_text())["benchmark"]
    except (ValueError, KeyError):
        return None


def _find_local(entry: TaskEntry, data_dir) -> tuple[Path | None, list[Path]]:
    looked = []
    for root in _data_roots(data_dir):
        # <root>/<benchmark>/<task>/ (a folder of built benchmarks) or <root>/<task>/ when <root> is
        # itself the built folder of this benchmark (its manifest says which benchmark: GUE and NT
        # share config names such as H3K4me3).
        candidates = [root / entry.benchmark / entry.config_name]
        if _built_benchmark(root) == entry.benchmark:
            candidates.append(root / entry.config_name)
        for cand in candidates:
            looked.append(cand)
            if (cand / "train.parquet").is_file():
                return cand, looked
    return None, looked


def load_task(
    name_or_path: str | os.PathLike, data_dir: str | os.PathLike | None = None, config: str | None = None
) -> DatasetDict:
    """Load a task as a DatasetDict with splits train / validation / test and columns sequence, label.

    `name_or_path` is one of:
    - a registry name (`gue/prom_core_tata`): looked up in `data_dir`, then `$DNALM_DATA`, then the
      repository's shipped `data/`, as `<root>/<benchmark>/<task>/{train,validation,test}.parquet`;
      if absent, the Hub repo `HUB_REPOS[benchmark]` (config = task name);
    - a folder holding `{train,validation,test}.parquet`;
    - a folder holding the GUE CSV trio `train.csv`, `dev.csv`, `test.csv` (dev becomes validation);
    - a folder written by `data_scripts.build` (`README.md` + one sub-folder per task): pass `config`
      (the task name), or leave it out when the folder holds a single task.
    Labels are checked against the task's number of labels (registry names and built folders) or
    must be integers 0..k-1 (plain folders).
    """
    path = Path(name_or_path)
    if path.exists():
        if not path.is_dir():
            raise TaskDataError(f"{path} is a file; pass the folder that holds the split files")
        return _load_folder(path, config)
    name = str(name_or_path)
    if name not in TASKS:
        raise TaskDataError(
            f"{name!r} is neither an existing folder nor a registered task; registered tasks: "
            f"{', '.join(TASKS.names())}"
        )
    entry = TASKS.get(name)
    folder, looked = _find_local(entry, data_dir)
    if folder is not None:
        return _check_labels(_load_parquet_splits(folder), entry.num_labels, entry.label_names, folder)
    return _load_from_hub(entry, looked)


def _load_folder(path: Path, config: str | None) -> DatasetDict:
    if (path / "train.parquet").is_file() or (path / "validation.parquet").is_file():
        entry = _entry_for_folder(path)
        ds = _load_parquet_splits(path)
        if entry is not None:
            return _check_labels(ds, entry.num_labels, entry.label_names, path)
        from datasets import ClassLabel

        feat = ds["train"].features["label"]
        if isinstance(feat, ClassLabel):  # the parquet schema says how many classes there are
            return _check_labels(ds, feat.num_classes, feat.names, path)
        return _check_labels(ds, None, None, path)
    if (path / "train.csv").is_file() or (path / "dev.csv").is_file():
        return _load_gue_csv(path)
    benchmark = _built_benchmark(path)
    if benchmark is not None or (path / "README.md").is_file():
        subdirs = sorted(p.name for p in path.iterdir() if (p / "train.parquet").is_file())
        if config is None:
            if len(subdirs) != 1:
                raise TaskDataError(f"{path} holds the tasks {subdirs}; pass config=<task> to choose one")
            config = subdirs[0]
        if config not in subdirs:
            raise TaskDataError(f"no task {config!r} in {path}; it holds: {', '.join(subdirs) or 'none'}")
        return _load_folder(path / config, None)
    raise TaskDataError(
        f"{path} holds no task data: expected {{train,validation,test}}.parquet, the GUE CSV trio "
        "train.csv/dev.csv/test.csv, or a folder built by `python -m data_scripts.build`"
    )


def _entry_for_folder(path: Path) -> TaskEntry | None:
    """The registry entry of a task folder inside a built benchmark folder, if any."""
    benchmark = _built_benchmark(path.parent)
    name = f"{benchmark}/{path.name}"
    return TASKS.get(name) if benchmark and name in TASKS else None


def _load_parquet_splits(folder: Path) -> DatasetDict:
    from datasets import load_dataset

    files = {}
    for split in SPLITS:
        f = folder / f"{split}.parquet"
        if not f.is_file():
            raise TaskDataError(
                f"split {split!r} is missing: no {f.name} in {folder} (expected "
                f"{', '.join(s + '.parquet' for s in SPLITS)})"
            )
        files[split] = str(f)
    ds = load_dataset("parquet", data_files=files)
    _check_columns(ds, folder)
    return ds


def _load_gue_csv(folder: Path) -> DatasetDict:
    """A GUE-layout folder (train.csv, dev.csv, test.csv with header sequence,label), read with the one
    GUE CSV reader (`data_scripts.gue.read_task_csv`).

    The classes are those of the train split, 0..k-1; a validation or test label outside them is an
    error naming the file, the line and the value (a stray label must not silently add a class).
    """
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

    tables = {}
    for split, fname in (("train", "train.csv"), ("validation", "dev.csv"), ("test", "test.csv")):
        f = folder / fname
        if not f.is_file():
            raise TaskDataError(
                f"split {split!r} is missing: no {fname} in {folder} (a GUE task folder "
                "holds train.csv, dev.csv and test.csv)"
            )
        tables[split] = read_task_csv(f)
        empty = [i for i, s in enumerate(tables[split].sequences) if not s.strip()]
        if empty:
            raise TaskDataError(f"{tables[split].where(empty[0])}: empty sequence; drop the row or fill it in")
    train = tables["train"]
    _bad_label(train, 0, "labels must be integers >= 0")
    k = max(train.labels) + 1
    missing = sorted(set(range(k)) - set(train.labels))
    if missing:
        raise TaskDataError(
            f"{train.path}: the labels are not 0..{k - 1}: class(es) {missing} never "
            "occur in the train split; renumber the classes as 0..k-1"
        )
    feats = Features({"id": Value("string"), "sequence": Value("string"), "label": ClassLabel(num_classes=k)})
    ds = DatasetDict()
    for split, table in tables.items():
        src = {"validation": "dev"}.get(split, split)
        _bad_label(table, k, f"the train split has the classes 0..{k - 1}")
        ds[split] = Dataset.from_dict(
            {
                "id": [f"{src}_{i}" for i in range(len(table.labels))],
                "sequence": table.sequences,
                "label": table.labels,
            },
            features=feats,
        )
    return ds


def _bad_label(table: TaskCsv, k: int, why: str) -> None:
    """Raise for the first label of `table` outside 0..k-1 (k = 0: any negative label)."""
    bad = [i for i, lab in enumerate(table.labels) if lab < 0 or (k and lab >= k)]
    if bad:
        raise TaskDataError(
            f"{table.where(bad[0])} (row {bad[0]}): label {table.labels[bad[0]]} is not a class of "
            f"this task ({why}); {len(bad)} row(s) are affected: fix or drop them"
        )


def _check_columns(ds: DatasetDict, where: Path) -> None:
    for split, d in ds.items():
        missing = {"sequence", "label"} - set(d.column_names)
        if missing:
            raise TaskDataError(
                f"split {split!r} in {where} lacks the column(s) {sorted(missing)}; it has {d.column_names}"
            )


def _check_labels(ds: DatasetDict, num_labels: int | None, names, where) -> DatasetDict:
    import numpy as np

    for split, d in ds.items():
        # straight from the arrow column: indexing a Dataset column iterates rows in Python
        labels = d.data.column("label").to_numpy()
        if labels.size == 0:
            continue
        if num_labels is None and np.issubdtype(labels.dtype, np.floating):
            continue  # a folder of our own with float labels: a regression task, nothing to range-check
        if num_labels is None and split != "train" and "train" in ds:
            # a plain folder: its classes are those of the train split
            num_labels = int(ds["train"].data.column("label").to_numpy().max()) + 1
        if not np.issubdtype(labels.dtype, np.integer):
            raise TaskDataError(f"split {split!r} in {where}: labels must be integers, got {labels.dtype}")
        bad = labels < 0
        if num_labels is not None:
            bad |= labels >= num_labels
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            valid = f"0..{num_labels - 1}" if num_labels is not None else "integers >= 0"
            raise TaskDataError(
                f"split {split!r} in {where}: label {int(labels[row])} at row {row} is out of range for this "
                f"task (valid {valid}" + (f": {', '.join(names)}" if names else "") + "); "
                f"{int(bad.sum())} row(s) are affected: the data and the task do not match"
            )
    return ds


def _load_from_hub(entry: TaskEntry, looked: list[Path]) -> DatasetDict:
    repo = HUB_REPOS[entry.benchmark]
    where = "\n  ".join(str(p) for p in looked)
    hint = (
        f"Build it locally with\n  {build_command(entry.benchmark, entry.config_name, f'data/{entry.benchmark}')}\n"
        f"(or pass data_dir=..., or set ${DATA_ENV} to a folder holding {entry.benchmark}/{entry.config_name}/)."
    )
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise TaskDataError(
            f"task {entry.name!r} is not built locally (looked in:\n  {where}\n) and the Hub "
            f"dataset {repo!r} cannot be fetched: HF_HUB_OFFLINE is set. {hint}"
        )
    # Probe the endpoint first: a Hub call without network retries for ~20 s before failing.
    try:
        check_hub_reachable()
    except HubUnreachableError as err:
        raise TaskDataError(
            f"task {entry.name!r} is not built locally (looked in:\n  {where}\n) and the Hub "
            f"dataset {repo!r} is unreachable ({err}). {hint}"
        ) from None
    from datasets import load_dataset

    try:
        ds = load_dataset(repo, entry.config_name)
    except Exception as err:
        raise TaskDataError(
            f"task {entry.name!r} is not built locally (looked in:\n  {where}\n) and loading "
            f"the Hub dataset {repo!r} (config {entry.config_name!r}) failed: "
            f"{type(err).__name__}: {err}. {hint}"
        ) from err
    missing = [s for s in SPLITS if s not in ds]
    if missing:
        raise TaskDataError(f"the Hub dataset {repo!r} config {entry.config_name!r} lacks the split(s) {missing}")
    _check_columns(ds, Path(repo))
    return _check_labels(ds, entry.num_labels, entry.label_names, repo)
