"""The leaderboard's numbers, from a leaderboard folder. Plain Python: no gradio, no torch.

A leaderboard folder is what `python -m assess.leaderboard <spec> --out DIR` writes:
`results/<arm>/<task>__seed<k>.json` (one run each) and `datasets/<benchmark>/eval.yaml`. Beside it (in the
folder or its parent, where `python -m assess.report` writes report.md) the Space also reads:
  - `summary.json` (assess.report): per arm x task n_seeds, mean, 95% CI, one-class seeds and per-seed
    scores. A cell uses the summary's numbers when its per-seed scores are exactly the runs in the folder;
    otherwise (no summary, or runs added since) the cell is computed by the report's own code
    (`assess.results.cell_of`): the primary test metric x 100, mean over learning seeds, 95% t interval
    mean ± t(n-1, 0.975)·s/√n, a cell with more one-class seeds than the report's limit (default 1) "did not learn";
  - published reference scores: `references.json` / `references.yaml` ({source, scores: {model: {task:
    score x 100}}}, a grid spec's `references:` block), a `references` key in summary.json, or the
    "Published scores for context" table of report.md; `--spec` reads a grid spec's block directly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from assess.results import PUBLISHED, RANDOM, Cell, cell_from_summary, cell_of, mean_over_cells, task_group
from assess.stats import T_METHOD

from .submission import Run, SubmissionError, read_results_file, validate_submission

CELL_METHOD = f"95% {T_METHOD}"
MEAN_METHOD = (
    "mean of the shown tasks' means (measured cells), 95% t interval over seeds with tasks fixed "
    "(Welch-Satterthwaite df)"
)
NOT_RESULTS = {"summary.json", "references.json"}
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]+$")
HUB_PATTERNS = [
    "results/**",
    "datasets/**",
    "summary.json",
    "report.md",
    "references.json",
    "references.yaml",
    "*.json",
    "**/*.json",
    "**/*.yaml",
]
ONE_CLASS_LIMIT = re.compile(r"more than (\d+) one-class seed")


class SourceError(ValueError):
    """The leaderboard folder cannot be found, downloaded or read."""


# ----------------------------------------------------------------------------------------- where from


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it, looked up now (the env may change after import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def resolve_source(source: str, *, timeout: float = 10.0, cache_dir: str | None = None) -> Path:
    """A local leaderboard folder, or a Hub dataset repo id downloaded with snapshot_download.

    Offline (HF_HUB_OFFLINE=1), a Hub id fails at once; online, an unreachable Hub fails within `timeout`
    seconds. Either way the message says to pass a local folder."""
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise SourceError(
                f"{source}: not a folder; pass the leaderboard folder (the --out of "
                "`python -m assess.leaderboard`, e.g. reports/cpu/leaderboard)"
            )
        return path
    local_hint = "pass a local leaderboard folder instead, e.g. --results reports/cpu/leaderboard"
    if not HUB_ID.match(source):
        raise SourceError(
            f"{source!r} is neither an existing folder nor a Hub dataset repo id (owner/name); {local_hint}"
        )
    if hub_offline():
        raise SourceError(
            f"{source!r} is not a local folder, and the Hub is offline (HF_HUB_OFFLINE is set), so it "
            f"cannot be downloaded as a Hub dataset repo: {local_hint}"
        )
    from huggingface_hub import HfApi, snapshot_download

    try:
        HfApi().dataset_info(source, timeout=timeout)  # one request: fails in seconds when the Hub is unreachable
        got = snapshot_download(
            source, repo_type="dataset", allow_patterns=HUB_PATTERNS, etag_timeout=timeout, cache_dir=cache_dir
        )
    except Exception as err:  # connection errors, missing or private repos: all end the same way
        raise SourceError(
            f"could not download the Hub dataset repo {source!r} ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else 'no detail'}); {local_hint}"
        ) from None
    return Path(got)


# ------------------------------------------------------------------------------------------- side files


def _beside(folder: Path, names: tuple[str, ...]) -> Path | None:
    """The first of `names` in the folder, then in its parent (report.md and summary.json sit one level up)."""
    for where in (folder, folder.parent):
        for name in names:
            if (where / name).is_file():
                return where / name
    return None


def read_summary(folder: Path) -> tuple[dict | None, Path | None]:
    path = _beside(folder, ("summary.json",))
    if path is None:
        return None, None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise SourceError(f"{path}: not readable JSON ({err})") from None
    return (data if isinstance(data, dict) and isinstance(data.get("cells"), dict) else None), path


def _valid_refs(refs, where: str) -> dict | None:
    if not refs:
        return None
    if not (isinstance(refs, dict) and isinstance(refs.get("scores"), dict)):
        raise SourceError(f"{where}: references need `source` and `scores: {{model: {{task: score x 100}}}}`")
    scores = {
        str(m): {str(t): float(v) for t, v in (by or {}).items() if isinstance(v, (int, float))}
        for m, by in refs["scores"].items()
    }
    return {"source": str(refs.get("source") or where), "scores": scores, "from": where}


def references_from_report(path: Path) -> dict | None:
    """The "Published scores for context" table of an assess.report report.md."""
    text = path.read_text()
    m = re.search(r"^## Published scores for context\s*$(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not m:
        return None
    block = m.group(1)
    src = re.search(r"Source:\s*(.+?)\.(?:\s+These models|\s*$)", block, re.M)
    rows = [ln.strip() for ln in block.splitlines() if ln.strip().startswith("|")]
    if len(rows) < 3:
        return None
    cells = lambda ln: [c.strip() for c in ln.strip().strip("|").split("|")]  # noqa: E731
    header = cells(rows[0])
    models = header[2:]  # | task | best arm here (mean) | model ... |
    scores = {mdl: {} for mdl in models}
    for ln in rows[2:]:
        row = cells(ln)
        for mdl, v in zip(models, row[2:]):
            try:
                scores[mdl][row[0]] = float(v)
            except ValueError:
                pass  # "-": no published number for that task
    return {"source": src.group(1) if src else str(path), "scores": scores, "from": str(path)}


def read_references(folder: Path, summary: dict | None = None, spec: str | Path | None = None) -> dict | None:
    if spec is not None:
        data = yaml.safe_load(Path(spec).read_text()) or {}
        return _valid_refs(data.get("references"), str(spec))
    for name in ("references.json", "references.yaml"):
        path = _beside(folder, (name,))
        if path is not None:
            data = yaml.safe_load(path.read_text())  # JSON is YAML
            return _valid_refs(data.get("references", data) if isinstance(data, dict) else data, str(path))
    if summary and summary.get("references"):
        return _valid_refs(summary["references"], "summary.json")
    report = _beside(folder, ("report.md",))
    return references_from_report(report) if report else None


def read_benchmarks(folder: Path) -> dict[str, dict]:
    """datasets/<benchmark>/eval.yaml: the benchmark dataset repos the results evaluate."""
    out = {}
    for path in sorted(folder.glob("datasets/*/eval.yaml")):
        try:
            out[path.parent.name] = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise SourceError(f"{path}: not valid YAML ({err})") from None
    return out


def result_files(folder: Path) -> list[Path]:
    """The results files under `folder` (or its results/ subfolder); hidden files and folders (an unfinished
    atomic write's temp file) are not results."""
    root = folder / "results" if (folder / "results").is_dir() else folder
    return sorted(
        p
        for p in root.rglob("*.json")
        if p.name not in NOT_RESULTS and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def submission_name(data: bytes, run: Run) -> str:
    """A saved submission's file name: an ASCII slug of its first run (for people listing the folder) and the
    sha256 of its bytes (the key: two accepted files never share it, as identical bytes are a duplicate run)."""
    ascii_ = unicodedata.normalize("NFKD", f"{run.arm}__{run.task}").encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_.lower()).strip("-_")[:60] or "run"
    return f"{slug}__seed{run.seed}__{hashlib.sha256(data).hexdigest()[:32]}.json"


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves no file or the whole file, never part of it: a hidden temp
    file beside it, fsync, rename, fsync the folder (the rename itself is then on disk). On any error the new
    file is removed again, so a refused save never reappears at the next start. (Python's own library and
    huggingface_hub have no durable atomic write; this is the POSIX recipe.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # mkstemp's 0600 would hide the file from the folder's other readers
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        path.unlink(missing_ok=True)  # its name holds the hash of these bytes: no other accepted file has it
        raise


# ------------------------------------------------------------------------------------------------ cells


def _summary_cell(arm: str, task: str, runs: list[Run], entry: dict) -> Cell | None:
    """The summary's numbers for this cell, if its per-seed scores are exactly these runs'."""
    mine = {r.seed: r.score for r in runs}
    theirs = entry.get("scores")
    if not isinstance(theirs, dict):
        return None
    try:
        theirs = {int(s): float(v) for s, v in theirs.items()}
    except (TypeError, ValueError):
        return None
    if set(theirs) != set(mine) or any(abs(theirs[s] - mine[s]) > 1e-6 for s in mine):
        return None
    return cell_from_summary(task, arm, mine, entry)


def fmt_flops(x: float | None) -> str:
    return "not recorded" if x is None else "0" if not x else f"{x:.2e}"


@dataclass
class Table:
    """What a gr.Dataframe shows: raw values (sorting uses them), display strings and per-cell CSS."""

    headers: list[str]
    datatypes: list[str]
    data: list[list] = field(default_factory=list)
    display: list[list[str]] = field(default_factory=list)
    styling: list[list[str]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # grid | submitted | published, per row

    def value(self) -> dict:
        """The gr.Dataframe value: headers, data, and metadata.display_value / styling."""
        return {
            "headers": self.headers,
            "data": self.data,
            "metadata": {"display_value": self.display, "styling": self.styling} if self.data else None,
        }


MISSING = -1000.0  # the sort value of a cell with no runs: below any score x 100, so it sorts last
ROW_STYLE = {
    "grid": "",
    "submitted": "background-color: #e6f4ea;",
    "published": "background-color: #fdf3d8; font-style: italic;",
}


# ------------------------------------------------------------------------------------------------ board


class Board:
    """Every run shown (the folder's, then accepted submissions) and the numbers made from them.

    Sweeps: when summary.json says which sweep member stands for an arm on a task (`cells.<arm>.<task>.selected`,
    chosen by the report on validation), the members' runs are that arm's and each cell shows the chosen member's
    runs, as the report does. `members=True` in the views shows every member as its own row instead. Without a
    summary, each member is its own arm (the results files hold test scores only, and test scores must not
    choose)."""

    def __init__(
        self,
        runs: list[Run],
        *,
        summary: dict | None = None,
        references: dict | None = None,
        benchmarks: dict | None = None,
        label: str = "",
        max_one_class: int | None = None,
        submissions_dir: Path | None = None,
    ):
        self.runs = list(runs)
        self.summary = summary
        self.references = references
        self.benchmarks = benchmarks or {}
        self.label = label
        self.submissions_dir = submissions_dir
        if max_one_class is None:
            rule = ((summary or {}).get("methods") or {}).get("one_class_rule") or ""
            m = ONE_CLASS_LIMIT.search(rule)
            max_one_class = int(m.group(1)) if m else 1
        self.max_one_class = max_one_class
        self._lock = threading.Lock()
        self._cells: dict = {}
        self._pre = self._pretraining_from_summary()
        self.member_of, self.selected = self._sweeps_from_summary()

    # ---- loading

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        *,
        spec: str | Path | None = None,
        label: str | None = None,
        submissions_dir: str | Path | None = None,
    ) -> Board:
        folder = Path(folder)
        files = result_files(folder)
        if not files:
            raise SourceError(
                f"{folder}: no results files (expected results/<arm>/<task>__seed<k>.json, as "
                "`python -m assess.leaderboard <spec> --out DIR` writes)"
            )
        runs = []
        for path in files:
            try:
                runs.extend(read_results_file(path))
            except SubmissionError as err:
                raise SourceError(f"results file refused: {err}") from None
        summary, _ = read_summary(folder)
        board = cls(
            runs,
            summary=summary,
            references=read_references(folder, summary, spec),
            benchmarks=read_benchmarks(folder),
            label=label or str(folder),
            submissions_dir=Path(submissions_dir) if submissions_dir else None,
        )
        dups = board._duplicates()
        if dups:
            raise SourceError(f"{folder}: the same arm, task and seed in more than one file: {dups[:3]}")
        if board.submissions_dir and board.submissions_dir.is_dir():
            for path in result_files(board.submissions_dir):
                try:
                    board.add(path.read_bytes(), origin=str(path), persist=False)
                except SubmissionError as err:  # e.g. the run has since joined the leaderboard folder itself
                    print(f"space: skipping saved submission {path}: {err}", file=sys.stderr)
        return board

    def _duplicates(self) -> list:
        seen, dups = set(), []
        for r in self.runs:
            key = (r.arm, r.task, r.seed)
            if key in seen:
                dups.append(key)
            seen.add(key)
        return dups

    def _pretraining_from_summary(self) -> dict[str, float | None]:
        """Pretraining FLOPs per arm from summary.json (its comparisons' costs and compute curves)."""
        out = {}
        s = self.summary or {}
        for c in s.get("comparisons") or []:
            cost = c.get("cost") or {}
            for side in ("a", "b"):
                p = cost.get(f"pretraining_{side}") or {}
                if c.get(side) and p.get("kind") in ("none", "ours"):
                    out[c[side]] = 0.0 if p["kind"] == "none" else p.get("flops")
        for cur in (s.get("compute_curves") or {}).values():
            for p in cur.get("points") or []:
                if p.get("arm") and p.get("pretraining_flops") is not None:
                    out.setdefault(p["arm"], p["pretraining_flops"])
        return out

    def _sweeps_from_summary(self) -> tuple[dict[str, str], dict[tuple[str, str], dict]]:
        """(sweep member -> arm, (arm, task) -> the report's selection) from summary.json's cells."""
        member_of, selected = {}, {}
        for arm, by_task in ((self.summary or {}).get("cells") or {}).items():
            for task, entry in (by_task or {}).items():
                sel = (entry or {}).get("selected") if isinstance(entry, dict) else None
                if not (isinstance(sel, dict) and sel.get("member")):
                    continue
                selected[(arm, task)] = sel
                for cand in [sel, *(sel.get("candidates") or [])]:
                    if isinstance(cand, dict) and cand.get("member"):
                        member_of[cand["member"]] = arm
        return member_of, selected

    # ---- submissions

    def add(self, raw: bytes | str, origin: str = "upload", persist: bool = True) -> list[Run]:
        """Validate a submitted file against everything shown, save it (with a submissions folder) and only then
        add its runs; SubmissionError if refused or if it could not be saved."""
        with self._lock:  # held while saving too: a second upload of the same run waits and is then a duplicate
            runs = validate_submission(raw, self.runs, origin=origin)
            swept = set(self.member_of.values())
            for r in runs:
                if r.arm in swept:
                    members = sorted(m for m, a in self.member_of.items() if a == r.arm)
                    raise SubmissionError(
                        r.field_name("arm"),
                        f"{r.arm!r} is a swept arm here: its runs belong to one of its members ({', '.join(members)})",
                    )
            if persist and self.submissions_dir is not None:
                self._persist(raw, runs)
            self.runs.extend(runs)
            self._cells.clear()
        return runs

    def _persist(self, raw: bytes | str, runs: list[Run]) -> Path:
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        path = self.submissions_dir / "results" / submission_name(data, runs[0])
        try:
            atomic_write(path, data)
        except OSError as err:  # a full disk or a read-only folder: the user must hear that nothing was added
            raise SubmissionError(
                "file",
                f"was valid but the Space could not save it ({err.strerror or err}); "
                "nothing was added: try again later",
            ) from None
        return path

    # ---- what there is

    def snapshot(self) -> list[Run]:
        with self._lock:
            return list(self.runs)

    def arm_of(self, run: Run, members: bool = False) -> str:
        """The row a run belongs to: its sweep's arm (when the summary says so), or its own arm name."""
        return run.arm if members else self.member_of.get(run.arm, run.arm)

    def arms(self, members: bool = False) -> dict[str, Run]:
        """row name -> one of its runs (all runs of an arm share model, init, corpus, tokenizer and mode)."""
        out = {}
        for r in self.snapshot():
            out.setdefault(self.arm_of(r, members), r)
        return dict(sorted(out.items()))

    def tasks(self) -> list[str]:
        return sorted({r.task for r in self.snapshot()})

    def groups(self) -> dict[str, list[str]]:
        out = defaultdict(list)
        for t in self.tasks():
            out[task_group(t)].append(t)
        return dict(sorted(out.items()))

    def architectures(self) -> list[str]:
        return sorted({r.model for r in self.snapshot()})

    def regimes(self) -> list[str]:
        return sorted({r.regime for r in self.snapshot()}, key=lambda x: (x != RANDOM, x))

    def cell_runs(self, arm: str, task: str, members: bool = False) -> list[Run]:
        """The runs a cell shows: a swept arm's chosen member on that task, else the arm's own runs."""
        runs = self.snapshot()
        if not members and (arm, task) in self.selected:
            chosen = self.selected[(arm, task)]["member"]
            return [r for r in runs if r.arm == chosen and r.task == task]
        return [
            r
            for r in runs
            if r.task == task and self.arm_of(r, members) == arm and (members or r.arm not in self.member_of)
        ]

    def cell(self, arm: str, task: str, members: bool = False) -> Cell | None:
        runs = self.cell_runs(arm, task, members)
        if not runs:
            return None
        key = (arm, task, members, len(runs))
        if key not in self._cells:
            entry = None if members else (((self.summary or {}).get("cells") or {}).get(arm) or {}).get(task)
            cell = _summary_cell(arm, task, runs, entry) if isinstance(entry, dict) else None
            self._cells[key] = cell or cell_of(task, arm, runs, self.max_one_class)
        return self._cells[key]

    def mean_over(self, arm: str, tasks: list[str], members: bool = False):
        """(CI of the mean over the measured tasks, n measured, n tasks with runs): the report's group mean."""
        cells = [c for t in tasks if (c := self.cell(arm, t, members))]
        return (*mean_over_cells(cells), len(cells))

    def finetune_flops(self, arm: str, tasks: list[str], members: bool = False) -> float | None:
        vals = [r.finetune_flops for t in tasks for r in self.cell_runs(arm, t, members)]
        vals = [v for v in vals if v is not None]
        return float(np.mean(vals)) if vals else None

    def pretraining_flops(self, arm: str, members: bool = False) -> float | None:
        runs = [r for r in self.snapshot() if self.arm_of(r, members) == arm]
        if not runs:
            return None
        if runs[0].init == "random":
            return 0.0
        recorded = [r.pretrain_flops for r in runs if r.pretrain_flops is not None]
        return recorded[0] if recorded else self._pre.get(self.member_of.get(arm, arm))

    # ---- views

    def _select(self, archs, regimes, groups, members=False) -> tuple[list[str], list[str]]:
        """(rows, tasks) passing the filters; None means no filter."""
        tasks = [t for g, ts in self.groups().items() if groups is None or g in groups for t in ts]
        arms = [
            a
            for a, r in self.arms(members).items()
            if (archs is None or r.model in archs)
            and (regimes is None or r.regime in regimes)
            and any(self.cell(a, t, members) for t in tasks)
        ]
        return arms, tasks

    def table(
        self, archs=None, regimes=None, groups=None, show_references: bool = True, members: bool = False
    ) -> Table:
        """One row per arm (and per published reference model), one column per task plus the mean."""
        arms, tasks = self._select(archs, regimes, groups, members)
        reps = self.arms(members)
        headers = ["arm", "source", "model", "regime", "tokenizer", "mode", *tasks, "mean", "seeds"]
        types = ["str"] * 6 + ["number"] * (len(tasks) + 1) + ["str"]
        rows = []
        for arm in arms:
            rep = reps[arm]
            cells = [self.cell(arm, t, members) for t in tasks]
            values = [c.sort_value if c else MISSING for c in cells]
            shown = [c.text() if c else "–" for c in cells]
            ci, k, n = self.mean_over(arm, tasks, members)
            if ci is None:  # no task learned: sort by what it scored over all its seeds
                mean = float(np.mean([c.sort_value for c in cells if c])) if n else MISSING
                mean_text = "did not learn" if n else "–"
            else:
                half = None if ci.low is None else (ci.high - ci.low) / 2
                mean = ci.difference
                mean_text = (
                    f"{mean:.2f}"
                    + (f" ± {half:.2f}" if half is not None else " (no CI)")
                    + (f" ({k}/{len(tasks)} tasks)" if k < len(tasks) else "")
                )
            seeds = sorted({len(c.scores) for c in cells if c})
            seeds_text = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
            rows.append(
                (
                    rep.source,
                    [arm, rep.source, rep.model, rep.regime, rep.tokens, rep.mode, *values, mean, seeds_text],
                    [arm, rep.source, rep.model, rep.regime, rep.tokens, rep.mode, *shown, mean_text, seeds_text],
                )
            )
        if show_references and self.references:
            for model, by_task in self.references["scores"].items():
                vals = [by_task.get(t) for t in tasks]
                have = [v for v in vals if v is not None]
                shown = [f"{v:.2f}" if v is not None else "–" for v in vals]
                vals = [MISSING if v is None else v for v in vals]
                if not have:
                    continue
                mean = float(np.mean(have))
                mean_text = f"{mean:.2f}" + (f" ({len(have)}/{len(tasks)} tasks)" if len(have) < len(tasks) else "")
                name = f"{model} (published)"
                rows.append(
                    (
                        "published",
                        [name, "published", "-", PUBLISHED, "-", "-", *vals, mean, "-"],
                        [name, "published", "-", PUBLISHED, "-", "-", *shown, mean_text, "-"],
                    )
                )
        rows.sort(key=lambda r: (-r[1][-2], r[1][0]))
        return Table(
            headers,
            types,
            [r[1] for r in rows],
            [r[2] for r in rows],
            [[ROW_STYLE[r[0]]] * len(headers) for r in rows],
            [r[0] for r in rows],
        )

    def selection_table(self, archs=None, regimes=None, groups=None) -> Table:
        """Per swept arm and task: the value the report chose on validation (summary.json)."""
        arms, tasks = self._select(archs, regimes, groups)
        swept = [a for a in arms if any((a, t) in self.selected for t in tasks)]
        table = Table(["arm", "swept field", *tasks], ["str"] * (2 + len(tasks)))
        for arm in swept:
            sels = [self.selected.get((arm, t)) for t in tasks]
            fld = next((s.get("field") for s in sels if s and s.get("field")), "?")
            table.data.append(
                [
                    arm,
                    fld,
                    *[
                        (
                            "–"
                            if s is None
                            else f"{s.get('value')}" + ("" if s.get("complete", True) else " (incomplete sweep)")
                        )
                        for s in sels
                    ],
                ]
            )
        table.display = [list(r) for r in table.data]
        table.styling = [[""] * len(table.headers) for _ in table.data]
        table.kinds = ["grid"] * len(table.data)
        return table

    def regime_view(self, archs=None, regimes=None, groups=None) -> Table:
        """The report's architecture x pretraining regime table: per task group, mean over its tasks."""
        arms, tasks = self._select(archs, regimes, groups)
        reps = self.arms()
        at = defaultdict(list)
        for arm in arms:
            rep = reps[arm]
            at[(rep.architecture, rep.regime)].append(arm)
        cols = sorted({r for _, r in at}, key=lambda x: (x != RANDOM, x))
        table = Table(["task group", "architecture", *cols], ["str"] * (2 + len(cols)))
        for group, gtasks in self.groups().items():
            gtasks = [t for t in gtasks if t in tasks]
            if not gtasks:
                continue
            for arch in sorted({a for a, _ in at}):
                row = []
                for reg in cols:
                    parts = []
                    for arm in at.get((arch, reg), []):
                        ci, k, n = self.mean_over(arm, gtasks)
                        if not n:
                            continue
                        label = f"{arm}: " if len(at[(arch, reg)]) > 1 else ""
                        if ci is None:
                            parts.append(f"{label}did not learn")
                        else:
                            half = "" if ci.low is None else f" ± {(ci.high - ci.low) / 2:.2f}"
                            parts.append(
                                f"{label}{ci.difference:.2f}{half}"
                                + (f" ({k} of {len(gtasks)} tasks)" if k < len(gtasks) else "")
                            )
                    row.append("; ".join(parts) or "–")
                if any(c != "–" for c in row):
                    table.data.append([group, arch, *row])
        table.display = [list(r) for r in table.data]
        table.styling = [[""] * len(table.headers) for _ in table.data]
        table.kinds = ["grid"] * len(table.data)
        return table

    def compute_points(self, archs=None, regimes=None, groups=None) -> list[dict]:
        """Per arm: mean score over the shown tasks against training compute (pretraining + fine-tuning)."""
        arms, tasks = self._select(archs, regimes, groups)
        reps = self.arms()
        out = []
        for arm in arms:
            ci, k, _ = self.mean_over(arm, tasks)
            if ci is None:
                continue
            rep = reps[arm]
            ft, pre = self.finetune_flops(arm, tasks), self.pretraining_flops(arm)
            total = None if ft is None or pre is None else ft + pre
            out.append(
                {
                    "arm": arm,
                    "architecture": rep.architecture,
                    "regime": rep.regime,
                    "source": rep.source,
                    "mean": ci.difference,
                    "half": None if ci.low is None else (ci.high - ci.low) / 2,
                    "tasks": k,
                    "finetune_flops": ft,
                    "pretraining_flops": pre,
                    "total_flops": total,
                }
            )
        return out

    def describe(self) -> dict:
        runs = self.snapshot()
        n_cells = defaultdict(int)
        for arm in self.arms():
            for t in self.tasks():
                c = self.cell(arm, t)
                if c:
                    n_cells[c.source] += 1
        return {
            "label": self.label,
            "runs": len(runs),
            "arms": len(self.arms()),
            "tasks": len(self.tasks()),
            "submitted": sum(r.source == "submitted" for r in runs),
            "cells": dict(n_cells),
            "references": self.references,
            "benchmarks": self.benchmarks,
            "max_one_class": self.max_one_class,
            "swept_arms": len(set(self.member_of.values())),
            "members": len(self.member_of),
        }
