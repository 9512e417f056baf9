"""The grid's numbers, once: runs, their labels, cells, the learning rate chosen on validation, the comparisons,
and the one `Summary` that summary.json holds. Plain Python (numpy, scipy): no torch, no transformers.

Who renders it: `assess/report.py` (report.md), `assess/plots.py` (the PNGs), the Space (`space/board.py` reads
summary.json, and computes a cell the same way here when runs were added since). They only render.

- `Run`: one fine-tuning run of one seed, from a `train.py` record (`Run.from_record`) or from a leaderboard
  results file (`space/submission.py` checks every field of one and builds the Run). Its labels (tokens,
  regime, architecture, task group) are named here and nowhere else.
- `one_class(run)`: whether the run predicted a single class on the test split.
- `Cell` / `cell_of`: an arm on a task: the mean over its learning seeds with a t interval, its one-class seeds,
  "did not learn" when more seeds than the spec's `max_one_class_seeds` (default 1) predict one class.
- `Results`: the grid's runs by task and arm, a swept arm's member chosen per task on validation
  (`spec.select_member`), pretraining records linked to arms.
- `compare`, `run_comparisons`, `compute_curves`: the declared comparisons (Welch or paired per task, Wilcoxon
  and paired t across tasks, Holm over the family) and the compute curves.
- `build_summary(spec)` -> `Summary`; `Summary.to_json()` is summary.json (strict JSON: null, never NaN).
  A new number is one new `Summary` field, filled in `summarize`.
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dnalm_core.registry import TASKS
from training.records import iter_records, record_field

from .spec import (
    SELECTION_RULE,
    Selection,
    arm_pretraining,
    declared_comparisons,
    grid_records,
    runs_dir_of,
    select_member,
    selection_rule,
    sweep_members,
    sweep_seeds,
)
from .stats import (
    PAIRED_METHOD,
    T_METHOD,
    WELCH_METHOD,
    DiffCI,
    MeanCI,
    PairedT,
    PairedTest,
    combination_ci,
    holm,
    paired_ci,
    paired_t,
    paired_wilcoxon,
    t_ci,
    welch_ci,
)

ALPHA = 0.05
RANDOM, PUBLISHED = "random init", "published weights"  # the regimes that are not "pretrained: <corpus>"
# Training FLOPs: `cost.flops` (analytic count, attention included) when train.py writes it, else the
# Trainer's `cost.train_flops` (its 6 x parameters x tokens estimate, no attention term).
FLOPS_FIELDS = ("cost.flops", "cost.train_flops")
# Where pretraining records may keep the corpus's leakage counts and the drawn windows' species mix.
LEAKAGE_FIELDS = ("corpus.leakage", "dataset.leakage")
WINDOW_SPECIES_FIELDS = (
    "corpus.windows.train.species_share",
    "dataset.windows.train.species_share",
    "windows.train.species_share",
    "corpus.window_species_shares",
    "dataset.window_species",
)
# Older train.py cut the test split to max_eval_samples; the current one never cuts it.
TEST_CAP_FIELDS = ("config.run.max_test_samples", "config.run.max_eval_samples")
SAME_COMPUTE = 0.1  # pretraining FLOPs within 10% of each other count as the same budget


# ------------------------------------------------------------------------------------------ labels


def tokens_label(tokenizer: dict) -> str:
    """bpe | char | kmer-6o (overlapping) | kmer-6n (non-overlapping)."""
    if tokenizer.get("family") == "kmer":
        return f"kmer-{tokenizer.get('k')}{'o' if tokenizer.get('overlapping') else 'n'}"
    return str(tokenizer.get("family"))


def regime_label(init: str, corpus: str | None) -> str:
    """random init | pretrained: <corpus> | published weights. train.py records the corpus of every checkpoint
    this project pretrained, and the leaderboard files keep it, so a pretrained run naming no corpus started
    from weights made elsewhere."""
    if init == "random":
        return RANDOM
    return f"pretrained: {corpus}" if corpus else PUBLISHED


def architecture_label(model: str, tokens: str) -> str:
    """The model, plus its tokens where they vary (the convolutional models always read nucleotides)."""
    return model + ("" if tokens == "char" and model != "dnabert2" else f" ({tokens})")


def task_group(task: str) -> str:
    return TASKS.get(task).group if task in TASKS else task


def _numbers(metrics: dict) -> dict[str, float]:
    """The numeric metrics (a bool is not a score; lists such as predicted_class_counts are kept apart)."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _class_counts(metrics: dict) -> tuple | None:
    counts = metrics.get("predicted_class_counts")
    if isinstance(counts, dict):
        counts = list(counts.values())
    return tuple(counts) if isinstance(counts, list) else None


@dataclass(frozen=True)
class Run:
    """One fine-tuning run (one arm, one task, one seed): what the report scores and the leaderboard shows."""

    arm: str
    model: str
    init: str
    corpus: str | None  # the pretraining corpus, when the file says (None: random init or published weights)
    tokenizer: dict
    mode: str
    seed: int
    task: str
    metric: str  # the task's primary metric
    value: float  # its test value, in the metric's own units (MCC in [-1, 1])
    metrics: dict = field(default_factory=dict, compare=False)  # every numeric test metric
    finetune_flops: float | None = None
    pretrain_flops: float | None = None
    fmt: str = "results"  # "results" (assess.leaderboard file) | "record" (train.py results.json)
    source: str = "grid"  # "grid" (the grid or leaderboard folder) | "submitted" (uploaded to the Space)
    origin: str = ""  # the file it came from
    class_counts: tuple | None = field(default=None, compare=False)  # metrics.test.predicted_class_counts
    problem_type: str | None = None
    record: dict | None = field(default=None, compare=False, repr=False)  # the train.py record, when read from one

    @classmethod
    def from_record(cls, rec: dict, *, source: str = "grid", origin: str = "") -> Run:
        """A train.py record (read as written: the Space validates a submitted one before it gets here)."""
        test = record_field(rec, "metrics.test") or {}
        corpus = rec.get("corpus")
        corpus = corpus.get("name") if isinstance(corpus, dict) else corpus
        return cls(
            arm=rec["arm"] if rec.get("arm") is not None else rec["run_name"],
            model=rec["model"],
            init=rec["init"],
            corpus=corpus if rec["init"] == "pretrained" else None,
            tokenizer=rec["tokenizer"],
            mode=rec["mode"],
            seed=rec["seed"],
            task=rec["task"],
            metric=rec["primary_metric"],
            value=float(test[rec["primary_metric"]]),
            metrics=_numbers(test),
            finetune_flops=flops(rec)[0],
            pretrain_flops=0.0 if rec["init"] == "random" else (rec.get("cost") or {}).get("pretraining_flops"),
            fmt="record",
            source=source,
            origin=origin,
            class_counts=_class_counts(test),
            problem_type=rec.get("problem_type"),
            record=rec,
        )

    @property
    def score(self) -> float:
        """The primary metric x 100 (the papers' units: MCC, F1, accuracy x 100)."""
        return 100.0 * self.value

    @property
    def tokens(self) -> str:
        return tokens_label(self.tokenizer)

    @property
    def regime(self) -> str:
        return regime_label(self.init, self.corpus)

    @property
    def architecture(self) -> str:
        return architecture_label(self.model, self.tokens)

    @property
    def group(self) -> str:
        return task_group(self.task)

    @property
    def signature(self) -> tuple:
        """What makes an arm: two files with one arm name must agree on all of it."""
        return (self.model, self.init, self.corpus, self.tokens, self.mode)

    @property
    def content_hash(self) -> str:
        """sha256 of the task and its numeric test metrics: the same run exported twice, or renamed, hashes alike."""
        body = {"task": self.task, "metrics": {k: v for k, v in self.metrics.items() if isinstance(v, float)}}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def field_name(self, what: str) -> str:
        """The dotted name of a field in this run's own file format (for error messages)."""
        if self.fmt == "record":
            return {
                "arm": "arm",
                "seed": "seed",
                "task": "task",
                "metrics": "metrics.test",
                "model": "model",
                "init": "init",
                "corpus": "corpus",
                "tokenizer": "tokenizer",
                "mode": "mode",
            }[what]
        return {
            "arm": "config.model_name",
            "seed": "config.seed",
            "task": f"results.{self.task}",
            "metrics": f"results.{self.task}",
            "model": "config.model_arch",
            "init": "config.init",
            "corpus": "config.corpus",
            "tokenizer": "config.tokenizer",
            "mode": "config.mode",
        }[what]


# ------------------------------------------------------------------------------------------ the one-class rule


def one_class(run: Run) -> bool | None:
    """Whether the run predicted a single class on the test split (None: its metrics cannot tell).

    From `n_predicted_classes` or `predicted_class_counts` when train.py records them. Older records have
    neither; then a single-label run with k classes counts as one-class when its macro recall is exactly 1/k
    (recall 1 on the predicted class, 0 on the others: 0.5 for the binary tasks) and its macro precision exactly
    accuracy/k (the metric module scores an unpredicted class's precision as 0), two equalities a run predicting
    several classes essentially never meets at once. k is the registered task's, else 1/recall."""
    m = run.metrics
    if m.get("n_predicted_classes") is not None:
        return m["n_predicted_classes"] <= 1
    if run.class_counts is not None:
        return sum(1 for c in run.class_counts if c) <= 1
    entry = TASKS.get(run.task) if run.task in TASKS else None
    problem = run.problem_type or (entry.problem_type if entry else None)
    if problem not in (None, "single_label_classification"):
        return False  # regression and multi-label runs: the notion does not apply
    recall = m.get("recall_macro")
    if recall is None:
        return None
    k = (entry.num_labels if entry else None) or (round(1 / recall) if recall > 0 else None)
    if not k or abs(recall - 1 / k) > 1e-9:
        return False
    precision, accuracy = m.get("precision_macro"), m.get("accuracy")
    return precision is None or accuracy is None or abs(precision - accuracy / k) < 1e-9


# ------------------------------------------------------------------------------------------ cells


@dataclass
class Cell:
    """The runs of one arm on one task: scores x 100 by seed, and the t interval over the learning seeds."""

    task: str
    arm: str
    scores: dict[int, float]  # seed -> score (all seeds)
    one_class_seeds: list[int]
    unknown_seeds: list[int]  # runs whose metrics cannot tell whether they predicted one class
    measured: bool  # at most max_one_class one-class seeds, and at least one learning seed
    ci: MeanCI  # over the learning seeds
    truncated_test: int | None = None
    source: str = "computed"  # "computed" | "summary.json" (the Space, when the summary describes these runs)

    @property
    def learning(self) -> dict[int, float]:
        return {s: v for s, v in sorted(self.scores.items()) if s not in self.one_class_seeds}

    def values(self) -> np.ndarray:
        return np.array(list(self.learning.values()))

    @property
    def mean(self) -> float | None:
        return self.ci.mean if self.measured else None

    @property
    def sd(self) -> float | None:
        return self.ci.sd if self.measured else None

    @property
    def low(self) -> float | None:
        return self.ci.low if self.measured else None

    @property
    def high(self) -> float | None:
        return self.ci.high if self.measured else None

    @property
    def half(self) -> float | None:
        return None if self.low is None or self.high is None else (self.high - self.low) / 2

    @property
    def mean_all_seeds(self) -> float:
        """What the cell scored over every seed (MCC 0 for one-class runs)."""
        return float(np.mean(list(self.scores.values())))

    @property
    def sort_value(self) -> float:
        """What a table ranks the cell by: its mean, or, when it did not learn, what it scored over all seeds."""
        return self.mean if self.measured else self.mean_all_seeds

    def text(self) -> str:
        """The cell in a few characters: "43.21 ± 1.20", "43.21 ± 1.20 (n=2)" (of more seeds), "did not learn (2/4)"."""
        n = len(self.scores)
        if not self.measured:
            return f"did not learn ({len(self.one_class_seeds)}/{n})"
        k = len(self.learning)
        if self.half is None:
            return f"{self.mean:.2f} (n={k}, no CI)"
        return f"{self.mean:.2f} ± {self.half:.2f}" + (f" (n={k})" if k != n else "")


def cell_of(task: str, arm: str, runs: list[Run], max_one_class: int, truncated_test: int | None = None) -> Cell:
    scores = {r.seed: r.score for r in runs}
    flags = {r.seed: one_class(r) for r in runs}
    oc = sorted(s for s, f in flags.items() if f)
    learning = [v for s, v in sorted(scores.items()) if s not in oc]
    return Cell(
        task,
        arm,
        scores,
        oc,
        sorted(s for s, f in flags.items() if f is None),
        len(oc) <= max_one_class and bool(learning),
        t_ci(learning),
        truncated_test,
    )


def cell_from_summary(task: str, arm: str, scores: dict[int, float], entry: dict) -> Cell:
    """A cell with summary.json's numbers (`cells.<arm>.<task>`), for the runs whose scores it lists."""
    measured = entry.get("status") == "measured"
    ci = entry.get("ci") or {}
    n = entry.get("n_learning_seeds") or 0
    return Cell(
        task,
        arm,
        scores,
        sorted(int(s) for s in entry.get("one_class_seeds") or []),
        [],
        measured,
        MeanCI(n, entry.get("mean"), entry.get("sd"), ci.get("low"), ci.get("high")),
        entry.get("truncated_test"),
        "summary.json",
    )


def mean_over_cells(cells: list[Cell]) -> tuple[DiffCI | None, int]:
    """Mean over tasks of the measured cells' means, with a Welch-Satterthwaite t interval over seeds (tasks
    fixed). Returns (CI or None, number of measured cells)."""
    vals = [c.values() for c in cells if c.measured]
    if not vals:
        return None, 0
    return combination_ci(vals, [1.0 / len(vals)] * len(vals), method=T_METHOD), len(vals)


# ------------------------------------------------------------------------------------------ record fields


def flops(rec: dict) -> tuple[float | None, str | None]:
    """(training FLOPs, the record field they came from)."""
    for name in FLOPS_FIELDS:
        value = record_field(rec, name)
        if value is not None:
            return float(value), name
    return None, None


def test_split(rec: dict) -> dict:
    """n rows of each split, and whether the test split is a subsample (then it is not "the test set").

    In order: an explicit `dataset.test_subsampled` or `dataset.full_rows.test`; records that carry
    `dataset.n` come from the train.py that always scores the whole test split; older records cut the test
    split with `max_eval_samples` (seed 0), so n == that cap means a subsample.
    """
    n_rec = record_field(rec, "dataset.n") or {}
    rows = {
        s: n_rec.get(s, record_field(rec, f"dataset.fingerprint.{s}.rows")) for s in ("train", "validation", "test")
    }
    full = record_field(rec, "dataset.full_rows.test")
    flag = record_field(rec, "dataset.test_subsampled")
    cap = next((record_field(rec, f) for f in TEST_CAP_FIELDS if record_field(rec, f) is not None), None)
    n = rows["test"]
    if flag is not None:
        subsampled = bool(flag)
    elif n is None:
        subsampled = None
    elif full is not None:
        subsampled = n < full
    elif n_rec:
        subsampled = False
    else:
        subsampled = cap is not None and n >= cap
    return {
        "n_train": rows["train"],
        "n_validation": rows["validation"],
        "n_test": n,
        "n_test_full": full,
        "test_cap": cap if subsampled else None,
        "test_subsampled": subsampled,
    }


def _epoch(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def grid_wall_time(records: list[dict]) -> dict:
    """The grid's wall time from its records: the length of the union of the runs' [started_at, finished_at]
    spans, so runs of parallel workers overlap once and the gaps between sessions do not count. A record without
    `started_at` (written before it existed) spans finished_at minus its training and evaluation seconds,
    which leaves out its start-up (a second or two per run)."""
    spans, estimated = [], 0
    for r in records:
        if not r.get("finished_at"):
            continue
        end = _epoch(r["finished_at"])
        if r.get("started_at"):
            start = _epoch(r["started_at"])
        else:
            cost = r.get("cost") or {}
            start = end - float(cost.get("train_seconds") or 0) - float(cost.get("eval_seconds") or 0)
            estimated += 1
        spans.append((start, end))
    total, reach = 0.0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return {
        "seconds": total,
        "runs": len(spans),
        "estimated_starts": estimated,
        "first": min((s for s, _ in spans), default=None),
        "last": max((e for _, e in spans), default=None),
    }


def record_commits(recs: list[dict]) -> dict:
    """The commits the records say made them: a '-dirty' one ran uncommitted code and is not evidence."""
    commits = [record_field(r, "versions.dnalm_assess_commit") for r in recs]
    return {
        "distinct": len({c for c in commits if c}),
        "dirty": sum(1 for c in commits if c and c.endswith("-dirty")),
        "unknown": sum(1 for c in commits if not c),
    }


# ------------------------------------------------------------------------------------------ the grid


def load_records(runs_dir: Path) -> tuple[list[dict], list[dict]]:
    """(fine-tuning, pretraining) records under a folder."""
    fine, pre = [], []
    for _, rec in iter_records(runs_dir):
        (pre if rec["stage"] == "pretrain" else fine).append(rec)
    return fine, pre


def load_grid_records(spec: dict) -> tuple[list[dict], list[dict]]:
    """The grid's records from runs_dir and its archive (each run once)."""
    fine, pre = [], []
    for _, rec in grid_records(spec):
        (pre if rec["stage"] == "pretrain" else fine).append(rec)
    return fine, pre


class Results:
    """The fine-tuning runs by (task, arm). With `members` (sweep member -> (arm, field, value, order), from
    `spec.sweep_members`), the runs of a sweep's members are one arm: per task the member chosen on
    validation (`select_member`) supplies the arm's runs, and `selection` says which. `arm_pretrain` (arm ->
    pretraining run name, `spec.arm_pretraining`) links arms to their pretraining records by name, which holds
    wherever the runs were made; without it, by the path of the pretrained model folder."""

    def __init__(
        self,
        fine: list[dict],
        pre: list[dict],
        max_one_class: int = 1,
        members: dict | None = None,
        arm_pretrain: dict | None = None,
        sweep_seeds: list | None = None,
        rule: str = SELECTION_RULE,
    ):
        self.members = members or {}
        self.sweep_seeds, self.rule = sweep_seeds, rule
        self.runs = [Run.from_record(r) for r in fine]
        self.by = defaultdict(dict)  # (task, arm) -> {seed: Run}
        swept = defaultdict(lambda: defaultdict(dict))  # (task, arm) -> member -> {seed: record}
        order = []
        for run in self.runs:
            arm = self.arm_of(run)
            if run.arm in self.members:
                swept[(run.task, arm)][run.arm][run.seed] = run
            else:
                self.by[(run.task, arm)][run.seed] = run
            order.append(arm)
        self.selection: dict[tuple[str, str], Selection] = {}
        for (task, arm), by_member in swept.items():
            records = {m: {s: r.record for s, r in runs.items()} for m, runs in by_member.items()}
            sel = select_member(arm, task, records, self.members, seeds=sweep_seeds)
            if sel is not None:
                self.selection[(task, arm)] = sel
                self.by[(task, arm)] = dict(by_member[sel.member])
        self.swept_arms = list(dict.fromkeys(arm for _, arm in swept))
        self.tasks = sorted({t for t, _ in self.by})
        self.arms = [a for a in dict.fromkeys(order) if any(arm == a for _, arm in self.by)]
        self.pre_by_model_dir = {str(Path(r["output_dir"]) / "model"): r for r in pre}
        self.pre_by_name = {r.get("arm"): r for r in pre if r.get("arm")}
        self.arm_pretrain = arm_pretrain or {}
        self.pre, self.fine = pre, fine
        self.max_one_class = max_one_class
        self._cells = {}

    def arm_of(self, run: Run) -> str:
        """The arm a run belongs to: a sweep member's arm, or the run's own."""
        return self.members[run.arm][0] if run.arm in self.members else run.arm

    def cell(self, task: str, arm: str) -> Cell | None:
        runs = self.by.get((task, arm))
        if not runs:
            return None
        if (task, arm) not in self._cells:
            trunc = [t for r in runs.values() if (t := record_field(r.record, "dataset.truncated.test")) is not None]
            self._cells[(task, arm)] = cell_of(
                task, arm, list(runs.values()), self.max_one_class, max(trunc) if trunc else None
            )
        return self._cells[(task, arm)]

    def cells(self) -> list[Cell]:
        return [c for t in self.tasks for a in self.arms if (c := self.cell(t, a))]

    def one_class_all_runs(self) -> dict[str, tuple[int, int]]:
        """Arm -> (one-class runs, runs) over every fine-tuning run, the sweep members not chosen included:
        how often an arm fails to learn at some learning rate, which the scored cells alone hide."""
        out = defaultdict(lambda: [0, 0])
        for r in self.runs:
            arm = self.arm_of(r)
            out[arm][0] += bool(one_class(r))
            out[arm][1] += 1
        return {arm: tuple(out[arm]) for arm in self.arms if arm in out}

    def scores(self, task: str, arm: str) -> np.ndarray:
        """Scores of the learning seeds of a measured cell; empty otherwise."""
        c = self.cell(task, arm)
        return c.values() if c and c.measured else np.array([])

    def metric_name(self, task: str) -> str:
        for (t, _), runs in self.by.items():
            if t == task and runs:
                return next(iter(runs.values())).metric
        return "?"

    def split_info(self, task: str) -> dict:
        """Split sizes of a task from its records; `n_test` is None when the records disagree or lack it."""
        infos = [test_split(r.record) for (t, _), runs in self.by.items() if t == task for r in runs.values()]
        out = {}
        for key in infos[0]:
            vals = {i[key] for i in infos}
            out[key] = vals.pop() if len(vals) == 1 else None
        out["n_test_values"] = sorted({i["n_test"] for i in infos if i["n_test"] is not None})
        return out

    def run(self, arm: str) -> Run | None:
        """Any one scored run of an arm (they share model, init, tokenizer and corpus)."""
        for (_, a), runs in self.by.items():
            if a == arm and runs:
                return next(iter(runs.values()))
        return None

    def pretraining_of(self, arm: str) -> dict | None:
        name = self.arm_pretrain.get(arm)
        if name in self.pre_by_name:
            return self.pre_by_name[name]
        run = self.run(arm)
        src = run.record.get("pretrained_from") if run else None
        return self.pre_by_model_dir.get(str(Path(src))) if src else None

    def pretraining(self, arm: str) -> dict:
        """kind: none (random init) | ours (a pretraining record) | published (weights from elsewhere: cost unknown)."""
        rec = (r.record if (r := self.run(arm)) else None) or {}
        pre = self.pretraining_of(arm)
        if pre is not None:
            value, name = flops(pre)
            return {
                "kind": "ours",
                "flops": value,
                "field": name,
                "seconds": record_field(pre, "cost.train_seconds"),
                "device": record_field(pre, "cost.device"),
                "steps": record_field(pre, "cost.global_steps"),
            }
        if rec.get("init") == "random" or not rec.get("pretrained_from"):
            return {"kind": "none", "flops": 0.0, "field": None}
        return {"kind": "published", "flops": None, "field": None}

    def finetune_cost(self, arm: str) -> tuple[float, float]:
        """Mean FLOPs and seconds of one fine-tuning run of the arm (the selected members' runs)."""
        runs = [r for (_, a), by_seed in self.by.items() if a == arm for r in by_seed.values()]
        return (
            float(np.mean([r.finetune_flops or 0.0 for r in runs])),
            float(np.mean([r.record["cost"]["train_seconds"] for r in runs])),
        )

    def flops_fields(self) -> dict[str, int]:
        counts = defaultdict(int)
        for r in self.fine + self.pre:
            counts[flops(r)[1] or "none"] += 1
        return dict(counts)


# ------------------------------------------------------------------------------------------ comparisons


@dataclass
class Comparison:
    question: str
    a: str
    b: str
    rows: list[tuple[str, DiffCI]] = field(default_factory=list)  # (task, per-task difference and CI)
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (task, why)
    only_learned: dict[str, list[str]] = field(default_factory=dict)  # arm -> tasks where only that arm learned
    wilcoxon: PairedTest | None = None
    ttest: PairedT | None = None
    p_holm_wilcoxon: float = 1.0
    p_holm_t: float = 1.0
    cost: dict = field(default_factory=dict)


def compare(res: Results, question: str, a: str, b: str, paired: bool = False) -> Comparison:
    cmp = Comparison(question, a, b, only_learned={a: [], b: []})
    for task in res.tasks:
        ca, cb = res.cell(task, a), res.cell(task, b)
        if ca is None or cb is None:
            missing = [x for x, c in ((a, ca), (b, cb)) if c is None]
            if len(missing) < 2:
                cmp.excluded.append((task, " and ".join(f"`{m}`" for m in missing) + " has no runs"))
            continue
        not_learned = [x for x, c in ((a, ca), (b, cb)) if not c.measured]
        if len(not_learned) == 1:  # one arm learned, the other did not: an outcome, but no difference to test
            cmp.only_learned[b if not_learned == [a] else a].append(task)
        if not_learned:
            cmp.excluded.append((task, " and ".join(f"`{m}`" for m in not_learned) + " did not learn"))
            continue
        if paired:
            seeds = sorted(set(ca.learning) & set(cb.learning))
            ci = paired_ci([ca.learning[s] for s in seeds], [cb.learning[s] for s in seeds])
        else:
            ci = welch_ci(ca.values(), cb.values())
        cmp.rows.append((task, ci))
    if cmp.rows:
        diffs = [ci.difference for _, ci in cmp.rows]
        cmp.wilcoxon, cmp.ttest = paired_wilcoxon(diffs), paired_t(diffs)
    cmp.cost = comparison_cost(res, a, b, cmp.wilcoxon.mean_difference if cmp.wilcoxon else None)
    return cmp


def fmt_flops(x: float | None) -> str:
    return "unknown" if x is None else "0" if not x else f"{x:.2e}"


def comparison_cost(res: Results, a: str, b: str, diff: float | None) -> dict:
    """The pretraining compute the better-funded arm added over the other, and the points it bought per PFLOP
    (pretrained vs random init: the pretrained arm's pretraining FLOPs)."""
    pa, pb = res.pretraining(a), res.pretraining(b)
    out = {"pretraining_a": pa, "pretraining_b": pb, "added_flops": None, "added_by": None, "points_per_pflop": None}
    if pa["kind"] == "published" or pb["kind"] == "published":
        out["note"] = "pretraining compute not recorded (published weights, or the pretraining record is missing)"
        return out
    if pa["flops"] is None or pb["flops"] is None:
        out["note"] = "a pretraining record lacks FLOPs"
        return out
    extra = pa["flops"] - pb["flops"]
    if extra == 0:
        out["note"] = (
            "no pretraining on either side" if pa["kind"] == "none" else "the same pretraining compute on both sides"
        )
        out["added_flops"] = 0.0
        return out
    by, gain = (a, diff) if extra > 0 else (b, -diff if diff is not None else None)
    out.update(added_flops=abs(extra), added_by=by)
    if abs(extra) < SAME_COMPUTE * max(pa["flops"], pb["flops"]):
        # same steps on two corpora: their token counts differ a little, and a score difference divided by
        # that sliver would be a huge, meaningless rate
        out["note"] = (
            f"about the same pretraining compute on both sides ({fmt_flops(pa['flops'])} vs "
            f"{fmt_flops(pb['flops'])} FLOPs, {abs(extra) / max(pa['flops'], pb['flops']):.1%} apart), "
            "so no points-per-PFLOP rate"
        )
        return out
    out["points_per_pflop"] = gain / (abs(extra) / 1e15) if gain is not None else None
    return out


def run_comparisons(res: Results, spec: dict) -> list[Comparison]:
    """Every declared comparison, with Holm's correction over the whole family (both tests, separately).
    A comparison with no task to test enters the family with p = 1."""
    comps = [compare(res, q, a, b, bool(spec.get("paired_seeds"))) for q, a, b in declared_comparisons(spec)]
    if comps:
        for c, p in zip(comps, holm([c.wilcoxon.p_value if c.wilcoxon else 1.0 for c in comps])):
            c.p_holm_wilcoxon = p
        for c, p in zip(comps, holm([c.ttest.p_value if c.ttest else 1.0 for c in comps])):
            c.p_holm_t = p
    return comps


def verdict(c: Comparison, primary: str, family: int) -> str:
    if c.wilcoxon is None:
        return "no task has measured runs of both arms: nothing to test"
    if primary == "wilcoxon":
        w = c.wilcoxon
        if not w.can_decide:
            return (
                f"the data cannot decide: with {w.n_used} non-zero task difference{'s' * (w.n_used != 1)} the "
                f"smallest attainable two-sided Wilcoxon p is {w.min_attainable_p:.3g} > {ALPHA}"
            )
        p, ph = w.p_value, c.p_holm_wilcoxon
    else:
        p, ph = c.ttest.p_value, c.p_holm_t
        if c.ttest.n_used < 2:
            return "the data cannot decide: a t-test needs at least 2 tasks"
    if ph <= ALPHA:
        return f"significant after Holm's correction over {family} comparisons (p = {p:.3g}, adjusted {ph:.3g})"
    return f"not significant after Holm's correction over {family} comparisons (p = {p:.3g}, adjusted {ph:.3g})"


def compute_curves(res: Results, spec: dict) -> dict:
    """For each `compute_curve` entry: gain over the random-init arm at each pretraining budget (mean over the
    tasks where every arm of the curve is measured), its Welch-Satterthwaite t interval over seeds, points per
    PFLOP at each budget, and the least-squares slope through the random-init zero point."""
    out = {}
    for label, entry in (spec.get("compute_curve") or {}).items():
        rnd, pres = entry["random"], entry["pretrained"]
        tasks = [t for t in res.tasks if all(res.scores(t, arm).size for arm in [rnd, *pres])]
        points = [
            {
                "arm": rnd,
                "pretraining_flops": 0.0,
                "pretraining_steps": 0,
                "gain": 0.0,
                "low": None,
                "high": None,
                "points_per_pflop": None,
            }
        ]
        for arm in pres:
            p = res.pretraining(arm)
            point = {
                "arm": arm,
                "pretraining_flops": p["flops"],
                "pretraining_steps": p.get("steps"),
                "gain": None,
                "low": None,
                "high": None,
                "points_per_pflop": None,
            }
            if tasks:
                k = 1.0 / len(tasks)
                groups = [g for t in tasks for g in (res.scores(t, arm), res.scores(t, rnd))]
                ci = combination_ci(groups, [k, -k] * len(tasks))
                point.update(gain=ci.difference, low=ci.low, high=ci.high)
                if p["flops"]:
                    point["points_per_pflop"] = ci.difference / (p["flops"] / 1e15)
            points.append(point)
        used = [q for q in points[1:] if q["gain"] is not None and q["pretraining_flops"]]
        xs = np.array([q["pretraining_flops"] / 1e15 for q in used])
        ys = np.array([q["gain"] for q in used])
        slope = float((xs * ys).sum() / (xs * xs).sum()) if xs.size else None
        out[label] = {
            "random": rnd,
            "tasks": tasks,
            "points": points,
            "slope_points_per_pflop": slope,
            "interval": WELCH_METHOD + ", tasks fixed",
        }
    return out


# ------------------------------------------------------------------------------------------ the summary


def one_class_rule(k: int) -> str:
    return (
        f"a run is one-class when it predicts a single class on the test split; an arm x task cell with more than "
        f"{k} one-class seed{'s' * (k != 1)} did not learn and is left out of means and tests; a measured cell's "
        "mean is over its learning seeds (n stated)"
    )


METHODS = {
    "cell_ci": T_METHOD + ", over the cell's learning seeds",
    "task_difference_ci": None,  # filled per spec: Welch or paired
    "cross_task": "Wilcoxon signed-rank on per-task mean differences (exact, zero differences dropped; smallest "
    "attainable two-sided p = 2/2^n) and paired t-test across tasks",
    "multiplicity": "Holm step-down over all comparisons declared in the spec, each test separately",
    "one_class_rule": None,
}


@dataclass
class Summary:
    """Everything the report, the plots and the Space show; `to_json()` is summary.json, in field order."""

    name: str
    methods: dict
    family_size: int
    tasks: dict  # task -> split sizes, subsample flag, metric
    cells: dict  # arm -> task -> status, mean, sd, ci, seeds, one-class seeds, scores, selected member
    comparisons: list[dict]
    corpora: dict
    compute_curves: dict
    selection: dict
    n_finetune_runs: int
    n_pretrain_runs: int
    grid_wall_time: dict
    record_commits: dict
    n_one_class_runs: int
    n_scored_runs: int
    one_class_all_runs: dict
    arms: dict = field(default_factory=dict)  # arm -> labels, description, costs, pretraining, sweep (arm order)
    group_means: list[dict] = field(default_factory=list)  # per task group x arm: mean over its tasks, t interval
    run_seconds: float = 0.0  # training + evaluation seconds summed over every run
    seeds: list = field(default_factory=list)
    description: str | None = None
    references: dict | None = None  # published scores for context: {source, scores: {model: {task: x 100}}}

    def to_json(self) -> dict:
        return _clean(dataclasses.asdict(self))


def _clean(obj):
    """Strict JSON: NaN and inf become null; numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _window_shares(rec: dict):
    for name in WINDOW_SPECIES_FIELDS:
        value = record_field(rec, name)
        if isinstance(value, dict) and value:
            total = sum(value.values())
            return {k: v / total for k, v in value.items()} if total else value
    return None


def corpora_summary(pre: list[dict]) -> dict:
    out = {}
    for p in pre:
        c = p.get("corpus") or {}
        name = c.get("name") or p.get("arm") or p.get("run_name")
        entry = out.setdefault(
            name,
            {
                "bp": c.get("bp"),
                "species_bp": c.get("species"),
                "sha256": c.get("sha256"),
                "leakage": next((v for f in LEAKAGE_FIELDS if (v := record_field(p, f)) is not None), None),
                "pretraining_runs": {},
            },
        )
        value, fld = flops(p)
        entry["pretraining_runs"][p.get("arm") or p.get("run_name")] = {
            "window_species_shares": _window_shares(p),
            "flops": value,
            "flops_field": fld,
            "steps": record_field(p, "cost.global_steps"),
        }
    return out


def cell_json(c: Cell, info: dict, selected: Selection | None) -> dict:
    return {
        "status": "measured" if c.measured else "did not learn",
        "n_seeds": len(c.scores),
        "n_learning_seeds": len(c.learning),
        "n_test": info["n_test"],
        "test_subsampled": info["test_subsampled"],
        "mean": c.mean,
        "sd": c.sd,
        "ci": {"low": c.low, "high": c.high, "method": T_METHOD},
        "mean_all_seeds": c.mean_all_seeds,
        "one_class_runs": len(c.one_class_seeds),
        "one_class_seeds": c.one_class_seeds,
        "one_class_unknown_runs": len(c.unknown_seeds),
        "truncated_test": c.truncated_test,
        "scores": {str(s): v for s, v in sorted(c.scores.items())},
        "selected": selected.as_dict() if selected is not None else None,
    }


def comparison_json(c: Comparison, primary: str, family: int) -> dict:
    w, t = c.wilcoxon, c.ttest
    return {
        "question": c.question,
        "a": c.a,
        "b": c.b,
        "difference": w.mean_difference if w else None,
        "tasks": [
            {
                "task": task,
                "difference": ci.difference,
                "low": ci.low,
                "high": ci.high,
                "df": ci.df,
                "n_a": ci.n_a,
                "n_b": ci.n_b,
                "method": ci.method,
            }
            for task, ci in c.rows
        ],
        "excluded_tasks": [{"task": task, "why": why} for task, why in c.excluded],
        "only_a_learned": c.only_learned.get(c.a, []),
        "only_b_learned": c.only_learned.get(c.b, []),
        "wilcoxon": None
        if w is None
        else {
            "n_tasks": w.n_tasks,
            "n_used": w.n_used,
            "wins": w.wins,
            "losses": w.losses,
            "statistic": w.statistic,
            "p": w.p_value,
            "p_holm": c.p_holm_wilcoxon,
            "min_attainable_p": w.min_attainable_p,
            "can_decide": w.can_decide,
            "rank_biserial": w.rank_biserial,
            "method": w.method,
        },
        "paired_t": None
        if t is None
        else {
            "n_used": t.n_used,
            "mean_difference": t.mean_difference,
            "low": t.low,
            "high": t.high,
            "statistic": t.statistic,
            "p": t.p_value,
            "p_holm": c.p_holm_t,
        },
        "p": (w.p_value if primary == "wilcoxon" else t.p_value) if w else None,
        "p_holm": (c.p_holm_wilcoxon if primary == "wilcoxon" else c.p_holm_t) if w else None,
        "n_used": (w.n_used if primary == "wilcoxon" else t.n_used) if w else 0,
        "min_attainable_p": (w.min_attainable_p if primary == "wilcoxon" else 0.0) if w else None,
        "verdict": verdict(c, primary, family),
        "cost": c.cost,
    }


def sweep_values(spec: dict) -> dict[str, tuple[str, list]]:
    """Arm -> (swept field, values in spec order)."""
    out = {}
    for arm, fields_ in (spec.get("arms") or {}).items():
        sweep = (fields_ or {}).get("sweep")
        if sweep:
            ((key, values),) = sweep.items()
            out[arm] = (key, list(values))
    return out


def arms_json(res: Results, spec: dict) -> dict:
    """Per arm, in the records' order: its labels, what it is, its fine-tuning cost per run, its pretraining."""
    sweeps = sweep_values(spec)
    out = {}
    for arm in res.arms:
        r = res.run(arm)
        ft_flops, ft_seconds = res.finetune_cost(arm)
        out[arm] = {
            "model": r.model,
            "preset": r.record.get("preset"),
            "init": r.init,
            "mode": r.mode,
            "tokens": r.tokens,
            "regime": r.regime,
            "architecture": r.architecture,
            "finetune_flops": ft_flops,
            "finetune_seconds": ft_seconds,
            "pretraining": res.pretraining(arm),
            "sweep": {"field": sweeps[arm][0], "values": sweeps[arm][1]} if arm in sweeps else None,
        }
    return out


def group_means(res: Results) -> list[dict]:
    """Per task group x arm with runs there: the mean over the group's tasks of the measured cells' means."""
    groups = defaultdict(list)
    for t in res.tasks:
        groups[task_group(t)].append(t)
    out = []
    for g, tasks in sorted(groups.items()):
        for arm in res.arms:
            cells = [c for t in tasks if (c := res.cell(t, arm))]
            if not cells:
                continue
            ci, k = mean_over_cells(cells)
            out.append(
                {
                    "group": g,
                    "arm": arm,
                    "n_tasks": len(tasks),
                    "n_measured": k,
                    "mean": ci.difference if ci else None,
                    "low": ci.low if ci else None,
                    "high": ci.high if ci else None,
                    "method": ci.method if ci else None,
                }
            )
    return out


def summarize(res: Results, spec: dict) -> Summary:
    primary = spec.get("primary_test", "wilcoxon")
    comps = run_comparisons(res, spec)
    methods = {
        **METHODS,
        "task_difference_ci": PAIRED_METHOD if spec.get("paired_seeds") else WELCH_METHOD,
        "one_class_rule": one_class_rule(res.max_one_class),
        "primary_test": primary,
        "alpha": ALPHA,
        "flops_fields_used": res.flops_fields(),
    }
    cells = defaultdict(dict)
    for c in res.cells():
        cells[c.arm][c.task] = cell_json(c, res.split_info(c.task), res.selection.get((c.task, c.arm)))
    records = res.fine + res.pre
    return Summary(
        name=spec["name"],
        methods=methods,
        family_size=len(comps),
        tasks={t: res.split_info(t) | {"metric": res.metric_name(t)} for t in res.tasks},
        cells=dict(cells),
        comparisons=[comparison_json(c, primary, len(comps)) for c in comps],
        corpora=corpora_summary(res.pre),
        compute_curves=compute_curves(res, spec),
        selection={
            "rule": res.rule,
            "sweep_seeds": res.sweep_seeds,
            "arms": {
                arm: {task: res.selection[(task, arm)].as_dict() for task in res.tasks if (task, arm) in res.selection}
                for arm in res.swept_arms
            },
        },
        n_finetune_runs=len(res.fine),
        n_pretrain_runs=len(res.pre),
        grid_wall_time=grid_wall_time(records),
        record_commits=record_commits(records),
        n_one_class_runs=sum(len(c.one_class_seeds) for c in res.cells()),
        n_scored_runs=sum(len(c.scores) for c in res.cells()),
        one_class_all_runs={arm: {"one_class": k, "runs": n} for arm, (k, n) in res.one_class_all_runs().items()},
        arms=arms_json(res, spec),
        group_means=group_means(res),
        run_seconds=sum(r["cost"]["train_seconds"] + r["cost"].get("eval_seconds", 0) for r in records),
        seeds=list(spec["seeds"]),
        description=spec.get("description"),
        references=spec.get("references") or None,
    )


def grid_results(spec: dict) -> Results:
    """The grid's records (runs_dir and archive) as Results, with the spec's sweeps, links and one-class limit."""
    fine, pre = load_grid_records(spec)
    if not fine:
        where = f"{runs_dir_of(spec)}" + (f" or in the archive {spec['archive']}" if spec.get("archive") else "")
        raise ValueError(f"no fine-tuning records under {where}; run `python -m assess.grid` first")
    partial = sweep_seeds(spec) != list(spec["seeds"])
    return Results(
        fine,
        pre,
        spec.get("max_one_class_seeds", 1),
        members=sweep_members(spec["arms"]),
        arm_pretrain=arm_pretraining(spec),
        sweep_seeds=sweep_seeds(spec) if partial else None,
        rule=selection_rule(spec),
    )


def build_summary(spec: dict) -> Summary:
    return summarize(grid_results(spec), spec)
