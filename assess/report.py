"""Read every run record of a grid and write report.md, summary.json and PNG plots.

    python -m assess.report configs/grid_cpu.yaml --out reports/cpu

Everything in the report is computed from the run records under the grid's runs_dir (read through
training/records.py):
- the learning rate (any swept field) chosen on validation: an arm swept over values (`sweep:` in the spec) is
  one arm; per task its member with the best mean validation primary metric over seeds is selected (ties: the
  value listed first in the spec), and that member's test scores are the arm's (`SELECTION_RULE`; with
  `sweep_seeds`, only the sweep seeds choose: `spec.selection_rule`);
- per arm x task: mean over seeds with a t interval (mean ± t_{n-1,0.975}·s/√n); runs that predict a
  single class are counted, and a cell with more such seeds than the spec's `max_one_class_seeds` (default 1)
  is reported as "did not learn" and kept out of means and tests; a measured cell's mean is over its
  learning seeds, with n stated;
- per comparison the spec declares, per task: the difference of means with Welch's t interval (or the
  paired-by-seed interval when the spec sets `paired_seeds: true`); across tasks: Wilcoxon signed-rank
  (exact, zeros dropped, with the n used and the smallest attainable p) and a paired t-test, each corrected
  with Holm's method over the whole family of declared comparisons;
- the test split's size per task, flagged when it is a subsample;
- cost: the pretraining compute the better-funded arm of a comparison added over the other arm;
- optionally (`compute_curve:` in the spec) the score gained over random init against pretraining FLOPs.
summary.json holds the same numbers, machine-readable (strict JSON: null, never NaN).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.records import iter_records, record_field

from .spec import (ROOT, SELECTION_RULE, Selection, arm_pretraining, declared_comparisons,  # noqa: F401  (ROOT: tests)
                   grid_records, load_spec, runs_dir_of, select_member, selection_rule, sweep_members, sweep_seeds,
                   validation_score)
from .stats import (PAIRED_METHOD, T_METHOD, WELCH_METHOD, DiffCI, PairedT, PairedTest, combination_ci, holm,
                    paired_ci, paired_t, paired_wilcoxon, t_ci, welch_ci)

ALPHA = 0.05
QUESTION_TITLES = {
    "architecture": "(i) Do pretrained transformers beat a convolutional baseline by enough to justify their pretraining cost?",
    "pretraining": "(ii) What does pretraining contribute (same architecture, pretrained vs random init)?",
    "tokenizer": "(iii) What does the tokenizer do (BPE vs k-mer vs single nucleotide, all else equal)?",
    "corpus": "Pretraining corpus: multi-species vs human-only",
}
# Training FLOPs: `cost.flops` (analytic count, attention included) when train.py writes it, else the
# Trainer's `cost.train_flops` (its 6 x parameters x tokens estimate, no attention term).
FLOPS_FIELDS = ("cost.flops", "cost.train_flops")
# Where pretraining records may keep the corpus's leakage counts and the drawn windows' species mix.
LEAKAGE_FIELDS = ("corpus.leakage", "dataset.leakage")
WINDOW_SPECIES_FIELDS = ("corpus.windows.train.species_share", "dataset.windows.train.species_share",
                         "windows.train.species_share", "corpus.window_species_shares", "dataset.window_species")
# Older train.py cut the test split to max_eval_samples; the current one never cuts it.
TEST_CAP_FIELDS = ("config.run.max_test_samples", "config.run.max_eval_samples")


def load_records(runs_dir: Path) -> tuple[list[dict], list[dict]]:
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


def score(rec: dict) -> float:
    """The primary test metric, in the papers' units (MCC, F1, accuracy x 100)."""
    return 100.0 * rec["metrics"]["test"][rec["primary_metric"]]


def flops(rec: dict) -> tuple[float | None, str | None]:
    """(training FLOPs, the record field they came from)."""
    for name in FLOPS_FIELDS:
        value = record_field(rec, name)
        if value is not None:
            return float(value), name
    return None, None


def _num_labels(rec: dict) -> int | None:
    from dnalm_core.registry import TASKS

    task = rec.get("task")
    return TASKS.get(task).num_labels if task in TASKS else None


def one_class(rec: dict) -> bool | None:
    """Whether the run predicted a single class on the test split (None: the record cannot tell).

    Read from `metrics.test.n_predicted_classes` or `metrics.test.predicted_class_counts` when train.py
    records them. Older records have neither; then a single-label run with k classes counts as one-class
    when its macro recall is exactly 1/k (recall 1 on the predicted class, 0 on the others: 0.5 for the
    binary tasks) and its macro precision exactly accuracy/k (the metric module scores an unpredicted
    class's precision as 0), two equalities a run predicting several classes essentially never meets at once.
    """
    m = record_field(rec, "metrics.test") or {}
    if m.get("n_predicted_classes") is not None:
        return m["n_predicted_classes"] <= 1
    counts = m.get("predicted_class_counts")
    if isinstance(counts, (list, dict)):
        return sum(1 for c in (counts.values() if isinstance(counts, dict) else counts) if c) <= 1
    if rec.get("problem_type") not in (None, "single_label_classification"):
        return False  # regression and multi-label runs: the notion does not apply
    recall = m.get("recall_macro")
    if recall is None:
        return None
    k = _num_labels(rec) or (round(1 / recall) if recall > 0 else None)
    if not k or abs(recall - 1 / k) > 1e-9:
        return False
    precision, accuracy = m.get("precision_macro"), m.get("accuracy")
    return precision is None or accuracy is None or abs(precision - accuracy / k) < 1e-9


def test_split(rec: dict) -> dict:
    """n rows of each split, and whether the test split is a subsample (then it is not "the test set").

    In order: an explicit `dataset.test_subsampled` or `dataset.full_rows.test`; records that carry
    `dataset.n` come from the train.py that always scores the whole test split; older records cut the test
    split with `max_eval_samples` (seed 0), so n == that cap means a subsample.
    """
    n_rec = record_field(rec, "dataset.n") or {}
    rows = {s: n_rec.get(s, record_field(rec, f"dataset.fingerprint.{s}.rows")) for s in ("train", "validation", "test")}
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
    return {"n_train": rows["train"], "n_validation": rows["validation"], "n_test": n, "n_test_full": full,
            "test_cap": cap if subsampled else None, "test_subsampled": subsampled}


@dataclass
class Cell:
    """The runs of one arm on one task."""

    task: str
    arm: str
    scores: dict[int, float]  # seed -> score (all seeds)
    one_class_seeds: list[int]
    unknown_seeds: list[int]  # records that cannot tell whether they predicted one class
    max_one_class: int
    truncated_test: int | None = None
    ci: object = None  # MeanCI over the learning seeds

    def __post_init__(self):
        self.ci = t_ci(list(self.learning.values()))

    @property
    def measured(self) -> bool:
        return len(self.one_class_seeds) <= self.max_one_class and bool(self.learning)

    @property
    def learning(self) -> dict[int, float]:
        return {s: v for s, v in sorted(self.scores.items()) if s not in self.one_class_seeds}

    def values(self) -> np.ndarray:
        return np.array(list(self.learning.values()))


class Results:
    """The fine-tuning records by (task, arm). With `members` (sweep member -> (arm, field, value, order), from
    `spec.sweep_members`), the records of a sweep's members are one arm: per task the member chosen on
    validation (`select_member`) supplies the arm's records, and `selection` says which. `arm_pretrain` (arm ->
    pretraining run name, `spec.arm_pretraining`) links arms to their pretraining records by name, which holds
    wherever the runs were made; without it, by the path of the pretrained model folder."""

    def __init__(self, fine: list[dict], pre: list[dict], max_one_class: int = 1, members: dict | None = None,
                 arm_pretrain: dict | None = None, sweep_seeds: list | None = None, rule: str = SELECTION_RULE):
        members = members or {}
        self.sweep_seeds, self.rule = sweep_seeds, rule
        self.by = defaultdict(dict)  # (task, arm) -> {seed: record}
        swept = defaultdict(lambda: defaultdict(dict))  # (task, arm) -> member -> {seed: record}
        order = []
        self.members = members
        for r in fine:
            arm = self.arm_of(r)
            if r["arm"] in members:
                swept[(r["task"], arm)][r["arm"]][r["seed"]] = r
            else:
                self.by[(r["task"], arm)][r["seed"]] = r
            order.append(arm)
        self.selection: dict[tuple[str, str], Selection] = {}
        for (task, arm), by_member in swept.items():
            sel = select_member(arm, task, by_member, members, seeds=sweep_seeds)
            if sel is not None:
                self.selection[(task, arm)] = sel
                self.by[(task, arm)] = dict(by_member[sel.member])
        self.swept_arms = list(dict.fromkeys(arm for _, arm in swept))
        self.tasks = sorted({t for t, _ in self.by})
        self.arms = [a for a in dict.fromkeys(order) if any(arm == a for _, arm in self.by)]
        self.pre_by_model_dir = {str(Path(r["output_dir"]) / "model"): r for r in pre}
        self.pre_by_name = {r.get("arm"): r for r in pre if r.get("arm")}
        self.arm_pretrain = arm_pretrain or {}
        self.pre = pre
        self.fine = fine
        self.max_one_class = max_one_class
        self._cells = {}

    def arm_of(self, rec: dict) -> str:
        """The arm a record belongs to: a sweep member's arm, or the record's own."""
        return self.members[rec["arm"]][0] if rec["arm"] in self.members else rec["arm"]

    def cell(self, task: str, arm: str) -> Cell | None:
        runs = self.by.get((task, arm))
        if not runs:
            return None
        if (task, arm) not in self._cells:
            flags = {s: one_class(r) for s, r in runs.items()}
            trunc = [record_field(r, "dataset.truncated.test") for r in runs.values()]
            trunc = [t for t in trunc if t is not None]
            self._cells[(task, arm)] = Cell(task, arm, {s: score(r) for s, r in runs.items()},
                                            sorted(s for s, f in flags.items() if f),
                                            sorted(s for s, f in flags.items() if f is None), self.max_one_class,
                                            max(trunc) if trunc else None)
        return self._cells[(task, arm)]

    def cells(self):
        return [c for t in self.tasks for a in self.arms if (c := self.cell(t, a))]

    def one_class_all_runs(self) -> dict[str, tuple[int, int]]:
        """Arm -> (one-class runs, runs) over every fine-tuning record, the sweep members not chosen included:
        how often an arm fails to learn at some learning rate, which the scored cells alone hide."""
        out = defaultdict(lambda: [0, 0])
        for r in self.fine:
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
                return next(iter(runs.values()))["primary_metric"]
        return "?"

    def split_info(self, task: str) -> dict:
        """Split sizes of a task from its records; `n_test` is None when the records disagree or lack it."""
        infos = [test_split(r) for (t, _), runs in self.by.items() if t == task for r in runs.values()]
        out = {}
        for key in infos[0]:
            vals = {i[key] for i in infos}
            out[key] = vals.pop() if len(vals) == 1 else None
        out["n_test_values"] = sorted({i["n_test"] for i in infos if i["n_test"] is not None})
        return out

    def record(self, arm: str) -> dict | None:
        """Any one fine-tuning record of an arm (they share model, init, tokenizer and corpus)."""
        for (_, a), runs in self.by.items():
            if a == arm and runs:
                return next(iter(runs.values()))
        return None

    def pretraining_of(self, arm: str) -> dict | None:
        name = self.arm_pretrain.get(arm)
        if name in self.pre_by_name:
            return self.pre_by_name[name]
        src = (self.record(arm) or {}).get("pretrained_from")
        return self.pre_by_model_dir.get(str(Path(src))) if src else None

    def pretraining(self, arm: str) -> dict:
        """kind: none (random init) | ours (a pretraining record) | published (weights from elsewhere: cost unknown)."""
        rec = self.record(arm) or {}
        pre = self.pretraining_of(arm)
        if pre is not None:
            value, name = flops(pre)
            return {"kind": "ours", "flops": value, "field": name, "seconds": record_field(pre, "cost.train_seconds"),
                    "device": record_field(pre, "cost.device"), "steps": record_field(pre, "cost.global_steps")}
        if rec.get("init") == "random" or not rec.get("pretrained_from"):
            return {"kind": "none", "flops": 0.0, "field": None}
        return {"kind": "published", "flops": None, "field": None}

    def sweep_size(self, arm: str) -> int:
        """How many values the arm's sweep has (1: not swept): the fine-tuning cost of choosing them all."""
        return sum(1 for a, *_ in self.members.values() if a == arm) or 1

    def finetune_cost(self, arm: str) -> tuple[float, float]:
        """Mean FLOPs and seconds of one fine-tuning run of the arm (the selected members' runs)."""
        recs = [r for (_, a), runs in self.by.items() if a == arm for r in runs.values()]
        return (float(np.mean([flops(r)[0] or 0.0 for r in recs])),
                float(np.mean([r["cost"]["train_seconds"] for r in recs])))

    def flops_fields(self) -> dict[str, int]:
        counts = defaultdict(int)
        for r in self.fine + self.pre:
            counts[flops(r)[1] or "none"] += 1
        return dict(counts)

    def arm_desc(self, arm: str) -> str:
        r = self.record(arm)
        if r is None:
            return arm
        return f"{r['model']} ({r['preset']}), {r['init']}, {tokens(r)}, {r['mode']}"


def regime(rec: dict) -> str:
    """random | published | pretrained on <corpus>: the pretraining regime of a fine-tuning run."""
    if rec["init"] == "random":
        return "random init"
    corpus = (rec.get("corpus") or {}).get("name")
    return f"pretrained: {corpus}" if corpus else "published weights"


def tokens(rec: dict) -> str:
    """bpe | char | kmer-6o (overlapping) | kmer-6n (non-overlapping)."""
    tok = rec["tokenizer"]
    if tok["family"] == "kmer":
        return f"kmer-{tok.get('k')}{'o' if tok.get('overlapping') else 'n'}"
    return tok["family"]


def architecture(rec: dict) -> str:
    """The model, plus its tokens where they vary (the convolutional models always read nucleotides)."""
    tok = tokens(rec)
    return rec["model"] + ("" if tok == "char" and rec["model"] != "dnabert2" else f" ({tok})")


def task_group(task: str) -> str:
    from dnalm_core.registry import TASKS

    return TASKS.get(task).group if task in TASKS else task


def fmt_flops(x: float | None) -> str:
    return "unknown" if x is None else "0" if not x else f"{x:.2e}"


def fmt_ci(low, high, signed: bool = False) -> str:
    if low is None:
        return "n/a (n < 2)"
    f = "{:+.2f}" if signed else "{:.2f}"
    return f"[{f.format(low)}, {f.format(high)}]"


def group_mean(res: Results, arm: str, tasks: list[str]) -> tuple[DiffCI | None, int]:
    """Mean over tasks of an arm's cell means (measured cells only), with a Welch-Satterthwaite t interval
    over seeds (tasks fixed). Returns (CI or None, number of measured tasks)."""
    vals = [res.scores(t, arm) for t in tasks]
    vals = [v for v in vals if v.size]
    if not vals:
        return None, 0
    return combination_ci(vals, [1.0 / len(vals)] * len(vals), method=T_METHOD), len(vals)


def regime_table(res: Results) -> list[str]:
    """Architecture x pretraining regime: mean score over each task group's tasks, 95% t interval over seeds."""
    groups = defaultdict(list)
    for t in res.tasks:
        groups[task_group(t)].append(t)
    arms_at = defaultdict(list)  # (architecture, regime) -> arms
    for arm in res.arms:
        rec = res.record(arm)
        arms_at[(architecture(rec), regime(rec))].append(arm)
    archs = sorted({a for a, _ in arms_at})
    regimes = sorted({r for _, r in arms_at}, key=lambda r: (r != "random init", r))
    lines = ["| task group | architecture | " + " | ".join(regimes) + " |", "|---|---|" + "---|" * len(regimes)]
    for g, tasks in sorted(groups.items()):
        for a in archs:
            row = []
            for r in regimes:
                parts = []
                for arm in arms_at.get((a, r), []):
                    if not any(res.cell(t, arm) for t in tasks):
                        continue
                    ci, k = group_mean(res, arm, tasks)
                    name = f"`{arm}`: " if len(arms_at[(a, r)]) > 1 else ""
                    if ci is None:
                        parts.append(f"{name}did not learn")
                    else:
                        parts.append(f"{name}{ci.difference:.2f} {fmt_ci(ci.low, ci.high)}"
                                     + (f" ({k} of {len(tasks)} tasks; did not learn on the rest)" if k < len(tasks) else ""))
                row.append("<br>".join(parts) or "-")
            if any(c != "-" for c in row):
                lines.append(f"| {g} | {a} | " + " | ".join(row) + " |")
    return lines


def reference_table(res: Results, refs: dict, subsampled: bool) -> list[str]:
    """Published scores beside the best arm here: context for the scale of the grid, not a comparison."""
    if not refs:
        return []
    models = list(refs["scores"])
    lines = ["", "## Published scores for context", "", f"Source: {refs['source']}. These models were trained "
             "on the full training sets at their own scale, so the gap to them measures this grid's budget, not the "
             "architectures."]
    if subsampled:
        lines += ["", "Our scores on the flagged tasks are on a subsample of the test split, not on the published "
                  "test set: the comparison with published numbers is rougher still there."]
    lines += ["", "| task | best arm here (mean) | " + " | ".join(models) + " |", "|---|---|" + "---|" * len(models)]
    for task in res.tasks:
        means = {arm: s.mean() for arm in res.arms if (s := res.scores(task, arm)).size}
        if not means:
            continue
        best = max(means, key=means.get)
        cells = [f"{refs['scores'][m][task]:.2f}" if task in refs["scores"][m] else "-" for m in models]
        lines.append(f"| {task} | `{best}` {means[best]:.2f} | " + " | ".join(cells) + " |")
    return lines


# ------------------------------------------------------------------------------------------- comparisons


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


SAME_COMPUTE = 0.1  # pretraining FLOPs within 10% of each other count as the same budget


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
        out["note"] = "no pretraining on either side" if pa["kind"] == "none" else "the same pretraining compute on both sides"
        out["added_flops"] = 0.0
        return out
    by, gain = (a, diff) if extra > 0 else (b, -diff if diff is not None else None)
    out.update(added_flops=abs(extra), added_by=by)
    if abs(extra) < SAME_COMPUTE * max(pa["flops"], pb["flops"]):
        # same steps on two corpora: their token counts differ a little, and a score difference divided by
        # that sliver would be a huge, meaningless rate
        out["note"] = (f"about the same pretraining compute on both sides ({fmt_flops(pa['flops'])} vs "
                       f"{fmt_flops(pb['flops'])} FLOPs, {abs(extra) / max(pa['flops'], pb['flops']):.1%} apart), "
                       "so no points-per-PFLOP rate")
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
            return (f"the data cannot decide: with {w.n_used} non-zero task difference{'s' * (w.n_used != 1)} the "
                    f"smallest attainable two-sided Wilcoxon p is {w.min_attainable_p:.3g} > {ALPHA}")
        p, ph = w.p_value, c.p_holm_wilcoxon
    else:
        p, ph = c.ttest.p_value, c.p_holm_t
        if c.ttest.n_used < 2:
            return "the data cannot decide: a t-test needs at least 2 tasks"
    if ph <= ALPHA:
        return f"significant after Holm's correction over {family} comparisons (p = {p:.3g}, adjusted {ph:.3g})"
    return f"not significant after Holm's correction over {family} comparisons (p = {p:.3g}, adjusted {ph:.3g})"


def answer(c: Comparison, primary: str, family: int) -> str:
    """One plain-language paragraph per comparison, built only from the computed numbers."""
    a, b = c.a, c.b
    left_out = "; ".join(f"{t}: {why}" for t, why in c.excluded)
    only = "".join(f" Only `{arm}` learned on {', '.join(ts)}." for arm, ts in c.only_learned.items() if ts)
    if c.wilcoxon is None:
        return f"`{a}` vs `{b}`: no task has measured runs of both arms" + (f" ({left_out})." if left_out else ".") + only
    w, t = c.wilcoxon, c.ttest
    sig_tasks = sum(1 for _, ci in c.rows if ci.low is not None and (ci.low > 0 or ci.high < 0))
    direction = "higher" if w.mean_difference > 0 else "lower"
    zeros = w.n_tasks - w.n_used
    text = (f"`{a}` scores {abs(w.mean_difference):.2f} points {direction} than `{b}` on average over "
            f"{w.n_tasks} task{'s' * (w.n_tasks != 1)} ({w.wins} win{'s' * (w.wins != 1)}, {w.losses} "
            f"loss{'es' * (w.losses != 1)}; the per-task 95% CI excludes 0 on {sig_tasks} of {len(c.rows)})"
            + (f", leaving out {left_out}" if left_out else "") + ". "
            + "".join(f"Only `{arm}` learned on {', '.join(ts)} (an outcome the across-task tests do not see). "
                      for arm, ts in c.only_learned.items() if ts) +
            f"Wilcoxon signed-rank on n = {w.n_used}" + (f" ({zeros} zero difference{'s' * (zeros != 1)} dropped)" if zeros else "")
            + f": p = {w.p_value:.3g}, Holm {c.p_holm_wilcoxon:.3g}; paired t across tasks: p = {t.p_value:.3g}, "
            f"Holm {c.p_holm_t:.3g}. Verdict ({'Wilcoxon' if primary == 'wilcoxon' else 'paired t'}, the spec's "
            f"primary test): {verdict(c, primary, family)}.")
    cost = c.cost
    if cost.get("points_per_pflop") is not None:
        a_added = cost["added_by"] == a
        mine, theirs = (cost["pretraining_a"], cost["pretraining_b"]) if a_added else (cost["pretraining_b"], cost["pretraining_a"])
        other = b if a_added else a
        secs = (f" ({mine['seconds']:.0f} s on {mine['device']})"
                if theirs["kind"] == "none" and mine.get("seconds") is not None else "")
        text += (f" `{cost['added_by']}` had {fmt_flops(cost['added_flops'])} more pretraining FLOPs than `{other}`{secs}: "
                 f"{cost['points_per_pflop']:+.3g} points per PFLOP of added pretraining.")
    elif cost.get("note") and cost["note"] != "no pretraining on either side":
        text += f" Cost: {cost['note']}."
    return text


def compute_curves(res: Results, spec: dict) -> dict:
    """For each `compute_curve` entry: gain over the random-init arm at each pretraining budget (mean over the
    tasks where every arm of the curve is measured), its Welch-Satterthwaite t interval over seeds, points per
    PFLOP at each budget, and the least-squares slope through the random-init zero point."""
    out = {}
    for label, entry in (spec.get("compute_curve") or {}).items():
        rnd, pres = entry["random"], entry["pretrained"]
        tasks = [t for t in res.tasks if all(res.scores(t, arm).size for arm in [rnd, *pres])]
        points = [{"arm": rnd, "pretraining_flops": 0.0, "pretraining_steps": 0, "gain": 0.0, "low": None,
                   "high": None, "points_per_pflop": None}]
        for arm in pres:
            p = res.pretraining(arm)
            point = {"arm": arm, "pretraining_flops": p["flops"], "pretraining_steps": p.get("steps"),
                     "gain": None, "low": None, "high": None, "points_per_pflop": None}
            if tasks:
                k = 1.0 / len(tasks)
                groups = [g for t in tasks for g in (res.scores(t, arm), res.scores(t, rnd))]
                ci = combination_ci(groups, [k, -k] * len(tasks))
                point.update(gain=ci.difference, low=ci.low, high=ci.high)
                if p["flops"]:
                    point["points_per_pflop"] = ci.difference / (p["flops"] / 1e15)
            points.append(point)
        xs = np.array([q["pretraining_flops"] / 1e15 for q in points[1:] if q["gain"] is not None and q["pretraining_flops"]])
        ys = np.array([q["gain"] for q in points[1:] if q["gain"] is not None and q["pretraining_flops"]])
        slope = float((xs * ys).sum() / (xs * xs).sum()) if xs.size else None
        out[label] = {"random": rnd, "tasks": tasks, "points": points, "slope_points_per_pflop": slope,
                      "interval": WELCH_METHOD + ", tasks fixed"}
    return out


# ------------------------------------------------------------------------------------------------- plots


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_scores(res: Results, out: Path, refs: dict | None = None):
    plt = _plt()
    ncols = min(4, len(res.tasks))
    nrows = -(-len(res.tasks) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, (0.45 * len(res.arms) + 1.6) * nrows), squeeze=False)
    for ax in axes.flat[len(res.tasks):]:
        ax.axis("off")
    for j, (ax, task) in enumerate(zip(axes.flat, res.tasks)):
        for i, arm in enumerate(res.arms):
            c = res.cell(task, arm)
            if c is None:
                continue
            allv = np.array(list(c.scores.values()))
            ax.scatter(allv, [i] * allv.size, s=10, alpha=0.5, color="gray", zorder=1)
            if not c.measured:
                ax.scatter([allv.mean()], [i], marker="x", color="red", zorder=2)
            elif c.ci.low is not None:
                m = c.ci.mean
                ax.errorbar([m], [i], xerr=[[m - c.ci.low], [c.ci.high - m]], fmt="o", capsize=3, zorder=2)
            else:
                ax.scatter([c.ci.mean], [i], zorder=2)
        for k, (model, by_task) in enumerate(((refs or {}).get("scores") or {}).items()):
            if task in by_task:
                ax.axvline(by_task[task], ls="--", lw=1, color=f"C{(k + 3) % 10}", label=f"{model} (published)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="best")
        ax.set_yticks(range(len(res.arms)))
        ax.set_yticklabels(res.arms if j % ncols == 0 else [])
        ax.set_ylim(-0.6, len(res.arms) - 0.4)
        ax.set_title(task)
        ax.set_xlabel(f"test {res.metric_name(task).upper()} x 100")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Test score by arm: mean and 95% t interval over learning seeds (grey: seeds; red x: did not learn)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


REGIME_MARKERS = {"random init": "o", "published weights": "*"}


def plot_compute(res: Results, out: Path):
    """Mean score against total compute, one colour per architecture and one marker per regime; a line joins
    each random-init arm to the pretrained arms of the same architecture, so its slope is what pretraining bought."""
    plt = _plt()
    points = {}  # arm -> (architecture, regime, total FLOPs, mean score, measured tasks)
    for arm in res.arms:
        means = [s.mean() for t in res.tasks if (s := res.scores(t, arm)).size]
        if not means:
            continue
        rec = res.record(arm)
        pre = res.pretraining(arm)
        total = res.finetune_cost(arm)[0] + (pre["flops"] or 0.0)
        points[arm] = (architecture(rec), regime(rec), total, float(np.mean(means)), len(means))
    archs = sorted({a for a, *_ in points.values()})
    regimes = sorted({r for _, r, *_ in points.values()}, key=lambda r: (r != "random init", r))
    colors = {a: plt.get_cmap("tab10")(i % 10) for i, a in enumerate(archs)}
    extra = iter("s^DvP")
    markers = {r: REGIME_MARKERS.get(r) or next(extra, "X") for r in regimes}
    fig, ax = plt.subplots(figsize=(8, 5))
    for arm, (a, r, x, y, k) in points.items():
        ax.scatter([x], [y], s=55, color=colors[a], marker=markers[r], zorder=3)
        label = arm + (f" ({k}/{len(res.tasks)} tasks)" if k < len(res.tasks) else "")
        ax.annotate(label, (x, y), fontsize=7, xytext=(4, 2), textcoords="offset points")
        if r != "random init":
            for ba, br, bx, by, _ in points.values():
                if ba == a and br == "random init":
                    ax.plot([bx, x], [by, y], color=colors[a], lw=0.8, alpha=0.6, zorder=2)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colors[a], marker="o", ls="", label=a) for a in archs]
    handles += [Line2D([], [], color="gray", marker=markers[r], ls="", label=r) for r in regimes]
    ax.legend(handles=handles, fontsize=7, loc="best", title="architecture / regime", title_fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("total training compute per fine-tuned model: pretraining + fine-tuning (FLOPs, log scale)")
    ax.set_ylabel("mean test score over measured tasks (x 100)")
    ax.set_title("Score against compute, by architecture and pretraining regime")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_pairs(comps: list[Comparison], title: str, out: Path):
    plt = _plt()
    n = sum(len(c.rows) for c in comps)
    fig, ax = plt.subplots(figsize=(7, 0.5 * max(n, 1) + 1.5))
    y, labels = 0, []
    for c in comps:
        for task, ci in c.rows:
            if ci.low is not None:
                ax.errorbar([ci.difference], [y], xerr=[[ci.difference - ci.low], [ci.high - ci.difference]], fmt="o", capsize=3)
            else:
                ax.scatter([ci.difference], [y])
            labels.append(f"{c.a} - {c.b}\n{task}")
            y += 1
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("difference in mean test score (points), 95% t interval")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def plot_compute_curves(curves: dict, out: Path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, cur) in enumerate(curves.items()):
        pts = sorted((p for p in cur["points"] if p["gain"] is not None and p["pretraining_flops"] is not None),
                     key=lambda p: p["pretraining_flops"])
        xs = [p["pretraining_flops"] for p in pts]
        ys = [p["gain"] for p in pts]
        err = [[(p["gain"] - p["low"]) if p["low"] is not None else 0 for p in pts],
               [(p["high"] - p["gain"]) if p["high"] is not None else 0 for p in pts]]
        ax.errorbar(xs, ys, yerr=err, fmt="o-", capsize=3, color=f"C{i % 10}",
                    label=f"{label} ({len(cur['tasks'])} tasks)")
        if cur["slope_points_per_pflop"] is not None and xs:
            ax.plot([0, max(xs)], [0, cur["slope_points_per_pflop"] * max(xs) / 1e15], ls="--", lw=0.8,
                    color=f"C{i % 10}", label=f"{label}: slope {cur['slope_points_per_pflop']:+.3g} points / PFLOP")
        for p in pts:
            if p["pretraining_flops"]:  # every curve's random-init arm sits at (0, 0): the x label names it
                ax.annotate(p["arm"], (p["pretraining_flops"], p["gain"]), fontsize=7, xytext=(4, 2), textcoords="offset points")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("pretraining FLOPs (0: each curve's random-init arm)")
    ax.set_ylabel("score gained over random init (points, mean over tasks)")
    ax.set_title("Pretraining compute curve: gain over random init, 95% t interval over seeds")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


# -------------------------------------------------------------------------------------------- summary.json


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


def corpora_summary(res: Results) -> dict:
    out = {}
    for p in res.pre:
        c = p.get("corpus") or {}
        name = c.get("name") or p.get("arm") or p.get("run_name")
        entry = out.setdefault(name, {
            "bp": c.get("bp"), "species_bp": c.get("species"), "sha256": c.get("sha256"),
            "leakage": next((v for f in LEAKAGE_FIELDS if (v := record_field(p, f)) is not None), None),
            "pretraining_runs": {}})
        value, fld = flops(p)
        entry["pretraining_runs"][p.get("arm") or p.get("run_name")] = {
            "window_species_shares": _window_shares(p), "flops": value, "flops_field": fld,
            "steps": record_field(p, "cost.global_steps")}
    return out


METHODS = {
    "cell_ci": T_METHOD + ", over the cell's learning seeds",
    "task_difference_ci": None,  # filled per spec: Welch or paired
    "cross_task": "Wilcoxon signed-rank on per-task mean differences (exact, zero differences dropped; smallest "
                  "attainable two-sided p = 2/2^n) and paired t-test across tasks",
    "multiplicity": "Holm step-down over all comparisons declared in the spec, each test separately",
    "one_class_rule": None,
}


def summary(res: Results, spec: dict, comps: list[Comparison], curves: dict) -> dict:
    primary = spec.get("primary_test", "wilcoxon")
    methods = {**METHODS, "task_difference_ci": PAIRED_METHOD if spec.get("paired_seeds") else WELCH_METHOD,
               "one_class_rule": one_class_rule(res.max_one_class), "primary_test": primary, "alpha": ALPHA,
               "flops_fields_used": res.flops_fields()}
    tasks = {t: {k: v for k, v in res.split_info(t).items()} | {"metric": res.metric_name(t)} for t in res.tasks}
    cells = defaultdict(dict)
    for c in res.cells():
        info = res.split_info(c.task)
        cells[c.arm][c.task] = {
            "status": "measured" if c.measured else "did not learn", "n_seeds": len(c.scores),
            "n_learning_seeds": len(c.learning), "n_test": info["n_test"], "test_subsampled": info["test_subsampled"],
            "mean": c.ci.mean if c.measured else None, "sd": c.ci.sd if c.measured else None,
            "ci": {"low": c.ci.low if c.measured else None, "high": c.ci.high if c.measured else None, "method": T_METHOD},
            "mean_all_seeds": float(np.mean(list(c.scores.values()))),
            "one_class_runs": len(c.one_class_seeds), "one_class_seeds": c.one_class_seeds,
            "one_class_unknown_runs": len(c.unknown_seeds), "truncated_test": c.truncated_test,
            "scores": {str(s): v for s, v in sorted(c.scores.items())},
            "selected": res.selection[(c.task, c.arm)].as_dict() if (c.task, c.arm) in res.selection else None}
    comparisons = []
    for c in comps:
        w, t = c.wilcoxon, c.ttest
        comparisons.append({
            "question": c.question, "a": c.a, "b": c.b,
            "difference": w.mean_difference if w else None,
            "tasks": [{"task": task, "difference": ci.difference, "low": ci.low, "high": ci.high, "df": ci.df,
                       "n_a": ci.n_a, "n_b": ci.n_b, "method": ci.method} for task, ci in c.rows],
            "excluded_tasks": [{"task": task, "why": why} for task, why in c.excluded],
            "only_a_learned": c.only_learned.get(c.a, []), "only_b_learned": c.only_learned.get(c.b, []),
            "wilcoxon": None if w is None else {
                "n_tasks": w.n_tasks, "n_used": w.n_used, "wins": w.wins, "losses": w.losses, "statistic": w.statistic,
                "p": w.p_value, "p_holm": c.p_holm_wilcoxon, "min_attainable_p": w.min_attainable_p,
                "can_decide": w.can_decide, "rank_biserial": w.rank_biserial, "method": w.method},
            "paired_t": None if t is None else {
                "n_used": t.n_used, "mean_difference": t.mean_difference, "low": t.low, "high": t.high,
                "statistic": t.statistic, "p": t.p_value, "p_holm": c.p_holm_t},
            "p": (w.p_value if primary == "wilcoxon" else t.p_value) if w else None,
            "p_holm": (c.p_holm_wilcoxon if primary == "wilcoxon" else c.p_holm_t) if w else None,
            "n_used": (w.n_used if primary == "wilcoxon" else t.n_used) if w else 0,
            "min_attainable_p": (w.min_attainable_p if primary == "wilcoxon" else 0.0) if w else None,
            "verdict": verdict(c, primary, len(comps)),
            "cost": c.cost,
        })
    return _clean({
        "name": spec["name"], "methods": methods, "family_size": len(comps), "tasks": tasks, "cells": cells,
        "comparisons": comparisons, "corpora": corpora_summary(res), "compute_curves": curves,
        "selection": {"rule": res.rule, "sweep_seeds": res.sweep_seeds,
                      "arms": {arm: {task: res.selection[(task, arm)].as_dict() for task in res.tasks
                                     if (task, arm) in res.selection} for arm in res.swept_arms}},
        "n_finetune_runs": len(res.fine), "n_pretrain_runs": len(res.pre),
        "grid_wall_time": grid_wall_time(res.fine + res.pre),
        "record_commits": record_commits(res.fine + res.pre),
        "n_one_class_runs": sum(len(c.one_class_seeds) for c in res.cells()),
        "n_scored_runs": sum(len(c.scores) for c in res.cells()),
        "one_class_all_runs": {arm: {"one_class": k, "runs": n} for arm, (k, n) in res.one_class_all_runs().items()},
    })


def record_commits(recs: list[dict]) -> dict:
    """The commits the records say made them: a '-dirty' one ran uncommitted code and is not evidence."""
    commits = [record_field(r, "versions.dnalm_assess_commit") for r in recs]
    return {"distinct": len({c for c in commits if c}), "dirty": sum(1 for c in commits if c and c.endswith("-dirty")),
            "unknown": sum(1 for c in commits if not c)}


def record_commits_line(recs: list[dict]) -> str:
    c = record_commits(recs)
    return (f"Code: the records name {c['distinct']} commits (`versions.dnalm_assess_commit`); {c['dirty']} records ran "
            f"uncommitted code (`-dirty`)" + (f", {c['unknown']} name no commit" if c["unknown"] else "") + ".")


def fmt_value(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def sweep_values(spec: dict) -> dict[str, tuple[str, list]]:
    """Arm -> (swept field, values in spec order)."""
    out = {}
    for arm, fields_ in (spec.get("arms") or {}).items():
        sweep = (fields_ or {}).get("sweep")
        if sweep:
            (key, values), = sweep.items()
            out[arm] = (key, list(values))
    return out


def selection_sentence(res: Results) -> str:
    if not res.selection:
        return "no arm of this grid is swept."
    return res.rule + "; the chosen value per arm x task is in the table below the arms (and in summary.json)."


def selection_table(res: Results) -> list[str]:
    """Per swept arm x task: the chosen value and each member's mean validation score (n seeds)."""
    if not res.selection:
        return []
    lines = ["", "## Learning rate chosen on validation", "", f"Rule: {res.rule}. Each cell: the chosen value "
             "(bold) and every value's mean validation score x 100 over the seeds that choose (n). An incomplete sweep (a value "
             "without runs, or values with different seeds) is marked *incomplete*.", "",
             "| arm | " + " | ".join(res.tasks) + " |", "|---|" + "---|" * len(res.tasks)]
    for arm in res.swept_arms:
        row = []
        for task in res.tasks:
            sel = res.selection.get((task, arm))
            if sel is None:
                row.append("-")
                continue
            parts = []
            for c in sel.candidates:
                mean = f"{c['validation_mean']:.2f}" if c["validation_mean"] is not None else "n/a"
                text = f"{fmt_value(c['value'])}: {mean} ({c['n_scored']})"
                parts.append(f"**{text}**" if c["member"] == sel.member else text)
            row.append("<br>".join(parts) + ("" if sel.complete else "<br>*incomplete*")
                       + (f"<br>*{sel.edge} value*" if sel.edge else "")
                       + ("<br>*all values tie*" if sel.all_tie else ""))
        lines.append(f"| `{arm}` | " + " | ".join(row) + " |")
    edges = [sel for sel in res.selection.values() if sel.edge]
    ties = sum(sel.all_tie for sel in res.selection.values())
    if ties:
        at = sorted({f"{c['validation_mean']:.2f}" for sel in res.selection.values() if sel.all_tie
                     for c in sel.candidates if c["validation_mean"] is not None})
        lines += ["", f"{ties} of {len(res.selection)} choices had every value score the same on validation (*all values "
                  f"tie*, at {', '.join(at)}" + ("; 0.00 means no learning rate learned" if "0.00" in at else "")
                  + "): the value listed first was taken, and these are not counted as edge choices."]
    if edges:
        by = {e: sum(sel.edge == e for sel in edges) for e in ("lowest", "highest")}
        n_values = max(len(sel.candidates) for sel in res.selection.values())
        lines += ["", f"{len(edges)} of {len(res.selection) - ties} choices are the sweep's lowest ({by['lowest']}) or highest "
                  f"({by['highest']}) value (*lowest/highest value* above); {len(res.selection) - ties - len(edges)} are inside "
                  f"it. Values that scored alike would put about 2 in {n_values} choices at an edge by chance; a clear "
                  "excess at one end says a wider sweep there might find better values, so those arms may be "
                  "under-tuned."]
    return lines


def one_class_rule(k: int) -> str:
    return (f"a run is one-class when it predicts a single class on the test split; an arm x task cell with more than "
            f"{k} one-class seed{'s' * (k != 1)} did not learn and is left out of means and tests; a measured cell's "
            "mean is over its learning seeds (n stated)")


# ------------------------------------------------------------------------------------------------- report


def split_label(info: dict) -> str:
    if info["test_subsampled"] is None:
        return "test (size not recorded)"
    if not info["test_subsampled"]:
        return "test"
    of = f" of {info['n_test_full']:,}" if info.get("n_test_full") else ""
    return f"**test subsample** ({info['n_test']:,}{of} rows; not the benchmark's test set)"


def _epoch(stamp: str) -> float:
    import calendar
    import time

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
    return {"seconds": total, "runs": len(spans), "estimated_starts": estimated,
            "first": min((s for s, _ in spans), default=None), "last": max((e for _, e in spans), default=None)}


def build_report(spec: dict, out_dir: Path) -> Path:
    runs_dir = runs_dir_of(spec)
    fine, pre = load_grid_records(spec)
    if not fine:
        where = f"{runs_dir}" + (f" or in the archive {spec['archive']}" if spec.get("archive") else "")
        raise ValueError(f"no fine-tuning records under {where}; run `python -m assess.grid` first")
    partial = sweep_seeds(spec) != list(spec["seeds"])
    res = Results(fine, pre, spec.get("max_one_class_seeds", 1), members=sweep_members(spec["arms"]),
                  arm_pretrain=arm_pretraining(spec), sweep_seeds=sweep_seeds(spec) if partial else None,
                  rule=selection_rule(spec))
    primary = spec.get("primary_test", "wilcoxon")
    out_dir.mkdir(parents=True, exist_ok=True)
    L = [f"# Assessment report: {spec['name']}", ""]
    if spec.get("description"):
        L += [spec["description"].strip(), ""]
    total_secs = sum(r["cost"]["train_seconds"] + r["cost"].get("eval_seconds", 0) for r in fine + pre)
    wall = grid_wall_time(fine + pre)
    L += [f"{len(fine)} fine-tuning runs and {len(pre)} pretraining runs, {len(res.tasks)} tasks, "
          f"{len(res.arms)} arms. Training + evaluation time summed over runs: {total_secs / 3600:.2f} h"
          + f"; grid wall time {wall['seconds'] / 3600:.2f} h (the union of the runs' start-to-finish spans: parallel "
          "workers count once, the gaps between sessions not at all"
          + (f"; {wall['estimated_starts']} records without a start time span their training and evaluation only"
             if wall["estimated_starts"] else "") + ").", record_commits_line(fine + pre), ""]

    fields_used = res.flops_fields()
    L += ["## How the numbers are made", "",
          f"- Per arm x task: mean over seeds with a 95% {T_METHOD}.",
          f"- Per task, between two arms: {PAIRED_METHOD if spec.get('paired_seeds') else WELCH_METHOD}. "
          "Per-task intervals are 95% each, not simultaneous: they describe, the declared comparisons below decide.",
          "- Across tasks: Wilcoxon signed-rank on the per-task mean differences (exact; zero differences dropped, so "
          "the n used can be smaller than the number of tasks; with n differences the smallest attainable two-sided p "
          "is 2/2^n, so n <= 5 can never reach p < 0.05) and a paired t-test (any p is attainable, but it assumes "
          f"roughly normal per-task differences). Primary test (the verdicts): {'Wilcoxon' if primary == 'wilcoxon' else 'paired t'}.",
          f"- Multiplicity: Holm's step-down correction over the family of all {len(declared_comparisons(spec))} "
          "comparisons declared in the spec, for each test separately (a comparison with nothing to test enters with "
          "p = 1); raw and adjusted p are shown.",
          f"- Learning rate chosen on validation: {selection_sentence(res)}",
          f"- One-class runs: {one_class_rule(res.max_one_class)}.",
          "- FLOPs: " + ", ".join(f"`{k}` in {v} records" for k, v in sorted(fields_used.items()))
          + " (`cost.flops`: analytic count with attention; `cost.train_flops`: the Trainer's 6 x parameters x tokens "
          "estimate, no attention term). The cost of a comparison is the pretraining compute the better-funded arm "
          "added over the other (pretrained vs random init: the pretrained arm's pretraining FLOPs).", ""]

    L += ["## Tasks and splits", "", "n per split from the records (`dataset.fingerprint.<split>.rows`).", "",
          "| task | metric | n train | n validation | n test | scored on |", "|---|---|---|---|---|---|"]
    any_sub = False
    for task in res.tasks:
        info = res.split_info(task)
        any_sub |= bool(info["test_subsampled"])
        n_test = info["n_test"] if info["n_test"] is not None else "/".join(map(str, info["n_test_values"])) or "?"
        L.append(f"| {task} | {res.metric_name(task)} | {info['n_train'] or '?'} | {info['n_validation'] or '?'} | "
                 f"{n_test} | {split_label(info)} |")
    if any_sub:
        L += ["", "Flagged tasks are scored on a fixed subsample of the test split (the grid capped it); their scores are "
              "not test-set scores and are not comparable to published ones."]

    L += ["", "## Arms", "", "| arm | model, init, tokenizer, mode | swept (chosen on validation) | fine-tuning FLOPs per run "
          "(mean) | pretraining FLOPs | pretraining time |", "|---|---|---|---|---|---|"]
    sweeps = sweep_values(spec)
    for arm in res.arms:
        ff, _ = res.finetune_cost(arm)
        p = res.pretraining(arm)
        secs = f"{p['seconds']:.0f} s" if p.get("seconds") is not None else "-"
        swept = f"{sweeps[arm][0]}: {', '.join(map(fmt_value, sweeps[arm][1]))}" if arm in sweeps else "-"
        L.append(f"| `{arm}` | {res.arm_desc(arm)} | {swept} | {fmt_flops(ff)} | {fmt_flops(p['flops'])} | {secs} |")
    if sweeps:
        if res.sweep_seeds is None:
            L += ["", "A swept arm is fine-tuned once per value for every task and seed: its fine-tuning compute is the "
                  "sweep size times the per-run figure."]
        else:
            n_sweep, n_seeds = len(res.sweep_seeds), len(spec["seeds"])
            L += ["", f"A swept arm is fine-tuned once per value on the sweep seed{'s' * (n_sweep != 1)} "
                  f"({', '.join(map(str, res.sweep_seeds))}) and at the chosen value only on the other "
                  f"{n_seeds - n_sweep}: per task, sweep size x {n_sweep} + {n_seeds - n_sweep} runs of the per-run "
                  "figure."]
    L += selection_table(res)

    one_class_total = sum(len(c.one_class_seeds) for c in res.cells())
    n_scored = sum(len(c.scores) for c in res.cells())
    unknown_total = sum(len(c.unknown_seeds) for c in res.cells())
    all_runs = res.one_class_all_runs() if res.swept_arms else {}
    if all_runs:  # the scored runs are the chosen members' only; the others can fail at their learning rate too
        head = (f"{one_class_total} of {n_scored} scored runs (per arm x task x seed, the learning rate chosen on "
                f"validation) predict a single class on the test split (MCC 0); counting every sweep member, "
                f"{sum(k for k, _ in all_runs.values())} of {len(fine)} fine-tuning runs do (last column).")
    else:
        head = f"{one_class_total} of {len(fine)} fine-tuning runs predict a single class on the test split (MCC 0)."
    L += ["", "## Runs that predict one class", "",
          head + (f" {unknown_total} records cannot tell (no predicted-class count, no macro recall)." if unknown_total else ""),
          f"Rule: {one_class_rule(res.max_one_class)}.", "",
          "| arm | " + " | ".join(res.tasks) + " |" + (" all runs, every sweep member |" if all_runs else ""),
          "|---|" + "---|" * (len(res.tasks) + bool(all_runs))]
    for arm in res.arms:
        row = []
        for t in res.tasks:
            c = res.cell(t, arm)
            row.append("-" if c is None else f"{len(c.one_class_seeds)}/{len(c.scores)}" + ("" if c.measured else " **did not learn**"))
        if all_runs:
            k, n = all_runs.get(arm, (0, 0))
            row.append(f"{k}/{n}")
        L.append(f"| `{arm}` | " + " | ".join(row) + " |")

    has_trunc = any(c.truncated_test is not None for c in res.cells())
    L += ["", "## Scores per task", "",
          f"Checkpoint selected on validation; mean ± sd over learning seeds (n learning / n seeds), 95% {T_METHOD}."
          + ("" if has_trunc else " The records do not say how many test sequences were truncated (`dataset.truncated.test`)."), "",
          "| task | arm | metric | mean ± sd (n) | 95% CI | status |" + (" truncated test seqs |" if has_trunc else ""),
          "|---|---|---|---|---|---|" + ("---|" if has_trunc else "")]
    for c in res.cells():
        n = f"({len(c.learning)}/{len(c.scores)})"
        trunc = (f" {c.truncated_test if c.truncated_test is not None else '?'} |" if has_trunc else "")
        if c.measured:
            sd = f"{c.ci.sd:.2f}" if c.ci.sd is not None else "-"
            L.append(f"| {c.task} | `{c.arm}` | {res.metric_name(c.task)} | {c.ci.mean:.2f} ± {sd} {n} | "
                     f"{fmt_ci(c.ci.low, c.ci.high)} | measured |" + trunc)
        else:
            L.append(f"| {c.task} | `{c.arm}` | {res.metric_name(c.task)} | - {n} | - | did not learn "
                     f"({len(c.one_class_seeds)} one-class seeds) |" + trunc)

    L += ["", "## Architecture x pretraining regime", "",
          "Mean test score over the tasks of each group (measured cells), 95% t interval over seeds "
          "(Welch-Satterthwaite df when a group has several tasks).", ""]
    L += regime_table(res)
    refs = spec.get("references") or {}
    L += reference_table(res, refs, any_sub)
    plot_scores(res, out_dir / "scores_by_task.png", refs)
    plot_compute(res, out_dir / "score_vs_compute.png")
    L += ["", "![scores](scores_by_task.png)", "", "![compute](score_vs_compute.png)", ""]

    comps = run_comparisons(res, spec)
    family = len(comps)
    answers = []
    by_q = defaultdict(list)
    for c in comps:
        by_q[c.question].append(c)
    for question, qcomps in by_q.items():
        L += [f"## {QUESTION_TITLES[question]}", "", "| comparison | task | difference | 95% CI | seeds |", "|---|---|---|---|---|"]
        for c in qcomps:
            for task, ci in c.rows:
                L.append(f"| `{c.a}` - `{c.b}` | {task} | {ci.difference:+.2f} | {fmt_ci(ci.low, ci.high, True)} | {ci.n_a} vs {ci.n_b} |")
            for task, why in c.excluded:
                L.append(f"| `{c.a}` - `{c.b}` | {task} | left out: {why} | - | - |")
        L += ["", f"Across tasks (family of {family} declared comparisons, Holm-adjusted; min p: smallest attainable "
              "two-sided Wilcoxon p at that n):", "",
              "| comparison | tasks | n used | mean difference | wins / losses | Wilcoxon p | Holm | min p | paired t p | Holm | r | verdict |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for c in qcomps:
            w, t = c.wilcoxon, c.ttest
            if w is None:
                L.append(f"| `{c.a}` - `{c.b}` | 0 | 0 | - | - | - | - | - | - | - | - | nothing to test |")
                continue
            short = ("cannot decide" if primary == "wilcoxon" and not w.can_decide else
                     "significant" if (c.p_holm_wilcoxon if primary == "wilcoxon" else c.p_holm_t) <= ALPHA else "not significant")
            L.append(f"| `{c.a}` - `{c.b}` | {w.n_tasks} | {w.n_used} | {w.mean_difference:+.2f} | {w.wins} / {w.losses} | "
                     f"{w.p_value:.3g} | {c.p_holm_wilcoxon:.3g} | {w.min_attainable_p:.3g} | {t.p_value:.3g} | "
                     f"{c.p_holm_t:.3g} | {w.rank_biserial:+.2f} | {short} |")
        fig = out_dir / f"{question}.png"
        plot_pairs(qcomps, QUESTION_TITLES[question].split("?")[0].split(" (")[0] + ": per-task differences", fig)
        text = " ".join(answer(c, primary, family) for c in qcomps)
        answers.append((question, text))
        L += ["", f"![{question}]({fig.name})", "", f"**Answer.** {text}", ""]

    curves = compute_curves(res, spec)
    if curves:
        plot_compute_curves(curves, out_dir / "compute_curve.png")
        L += ["## Pretraining compute curve", "",
              "Score gained over the random-init arm (the zero point) at each pretraining budget: mean over the tasks "
              "where every arm of the curve is measured, 95% Welch-Satterthwaite t interval over seeds (tasks fixed). "
              "Points per PFLOP = gain / pretraining PFLOPs (score points = primary metric x 100, MCC for these tasks).", "",
              "| architecture | arm | pretraining steps | pretraining FLOPs | gain (points) | 95% CI | points per PFLOP |",
              "|---|---|---|---|---|---|---|"]
        for label, cur in curves.items():
            for p in cur["points"]:
                gain = f"{p['gain']:+.2f}" if p["gain"] is not None else "-"
                ppp = f"{p['points_per_pflop']:+.3g}" if p["points_per_pflop"] is not None else "-"
                L.append(f"| {label} | `{p['arm']}` | {p['pretraining_steps'] if p['pretraining_steps'] is not None else '?'} | "
                         f"{fmt_flops(p['pretraining_flops'])} | {gain} | {fmt_ci(p['low'], p['high'], True)} | {ppp} |")
        L += [""]
        for label, cur in curves.items():
            slope = cur["slope_points_per_pflop"]
            L.append(f"- **{label}** ({len(cur['tasks'])} task{'s' * (len(cur['tasks']) != 1)}: {', '.join(cur['tasks']) or 'none'}): "
                     + (f"least-squares slope through the random-init point: {slope:+.3g} points per PFLOP of pretraining."
                        if slope is not None else "no budget has a measured gain."))
        L += ["", "![compute curve](compute_curve.png)", ""]

    if answers:
        L += ["## The answers in short", ""] + [f"- **{QUESTION_TITLES[q]}** {t}" for q, t in answers] + [""]
    path = spec.get('_path', 'configs/<grid>.yaml')
    L += ["## Reproduce", "", f"```bash\npython -m assess.grid {path}" + (" --commit" if spec.get("archive") else "")
          + f"\npython -m assess.report {path} --out {out_dir}\n```", "",
          *([f"Finished runs are archived in `{spec['archive']}` (records, and the pretrained models); the report "
             "reads the archive as well as runs_dir.", ""] if spec.get("archive") else []),
          "The numbers above, machine-readable: `summary.json`.", ""]
    (out_dir / "summary.json").write_text(json.dumps(summary(res, spec, comps, curves), indent=2, allow_nan=False))
    report = out_dir / "report.md"
    report.write_text("\n".join(L))
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Write report.md, summary.json and plots from a grid's run records.")
    ap.add_argument("spec", help="grid YAML, e.g. configs/grid_cpu.yaml")
    ap.add_argument("--out", required=True, help="output folder, e.g. reports/cpu")
    args = ap.parse_args(argv)
    spec = load_spec(args.spec)
    spec["_path"] = args.spec
    try:
        path = build_report(spec, Path(args.out))
    except ValueError as err:
        print(f"report: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
