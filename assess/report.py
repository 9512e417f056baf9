"""Read every run record of a grid and write report.md plus PNG plots.

    python -m assess.report configs/grid_cpu.yaml --out reports/cpu

Everything in the report is computed from the records (`results.json`) under the grid's runs_dir:
per-task scores with bootstrap CIs over seeds, the paired comparisons the grid spec names (Wilcoxon
signed-rank across tasks, with effect sizes), compute cost beside every score, and a plain-language
answer to each question generated from those numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from .grid import ROOT, load_spec
from .stats import bootstrap_ci, bootstrap_diff_ci, paired_wilcoxon

QUESTION_TITLES = {
    "architecture": "(i) Do pretrained transformers beat a convolutional baseline by enough to justify their pretraining cost?",
    "pretraining": "(ii) What does pretraining contribute (same architecture, pretrained vs random init)?",
    "tokenizer": "(iii) What does the tokenizer do (BPE vs k-mer vs single nucleotide, all else equal)?",
    "corpus": "Pretraining corpus: multi-species vs human-only",
}


def load_records(runs_dir: Path) -> tuple[list[dict], list[dict]]:
    fine, pre = [], []
    for path in sorted(runs_dir.rglob("results.json")):
        rec = json.loads(path.read_text())
        (pre if rec["stage"] == "pretrain" else fine).append(rec)
    return fine, pre


def score(rec: dict) -> float:
    """The primary test metric, in the papers' units (MCC, F1, accuracy x 100)."""
    return 100.0 * rec["metrics"]["test"][rec["primary_metric"]]


class Results:
    def __init__(self, fine: list[dict], pre: list[dict]):
        self.by = defaultdict(dict)  # (task, arm) -> {seed: record}
        for r in fine:
            self.by[(r["task"], r["arm"])][r["seed"]] = r
        self.tasks = sorted({t for t, _ in self.by})
        self.arms = list(dict.fromkeys(r["arm"] for r in fine))
        self.pre_by_model_dir = {str(Path(r["output_dir"]) / "model"): r for r in pre}
        self.pre = pre

    def scores(self, task: str, arm: str) -> np.ndarray:
        return np.array([score(r) for _, r in sorted(self.by.get((task, arm), {}).items())])

    def metric_name(self, task: str) -> str:
        for (t, _), runs in self.by.items():
            if t == task and runs:
                return next(iter(runs.values()))["primary_metric"]
        return "?"

    def record(self, arm: str) -> dict | None:
        """Any one fine-tuning record of an arm (they share model, init, tokenizer and corpus)."""
        for (_, a), runs in self.by.items():
            if a == arm and runs:
                return next(iter(runs.values()))
        return None

    def pretraining_of(self, arm: str) -> dict | None:
        src = (self.record(arm) or {}).get("pretrained_from")
        return self.pre_by_model_dir.get(str(Path(src))) if src else None

    def finetune_cost(self, arm: str) -> tuple[float, float]:
        recs = [r for (_, a), runs in self.by.items() if a == arm for r in runs.values()]
        return (float(np.mean([r["cost"]["train_flops"] for r in recs])),
                float(np.mean([r["cost"]["train_seconds"] for r in recs])))

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


def regime_table(res: "Results") -> list[str]:
    """Architecture x pretraining regime: mean score over each task group's tasks, 95% CI over seeds."""
    cells = defaultdict(lambda: defaultdict(list))  # (group, arch, regime) -> seed -> [scores over tasks]
    for (task, arm), runs in res.by.items():
        for seed, rec in runs.items():
            cells[(task_group(task), architecture(rec), regime(rec))][seed].append(score(rec))
    groups = sorted({g for g, _, _ in cells})
    archs = sorted({a for _, a, _ in cells})
    regimes = sorted({r for _, _, r in cells}, key=lambda r: (r != "random init", r))
    lines = ["| task group | architecture | " + " | ".join(regimes) + " |", "|---|---|" + "---|" * len(regimes)]
    for g in groups:
        for a in archs:
            row = []
            for r in regimes:
                per_seed = [np.mean(v) for v in cells.get((g, a, r), {}).values()]
                if per_seed:
                    lo, hi = bootstrap_ci(per_seed)
                    row.append(f"{np.mean(per_seed):.2f} [{lo:.2f}, {hi:.2f}]")
                else:
                    row.append("-")
            if any(c != "-" for c in row):
                lines.append(f"| {g} | {a} | " + " | ".join(row) + " |")
    return lines


def reference_table(res: "Results", refs: dict) -> list[str]:
    """Published scores beside the best arm here: context for the scale of the grid, not a comparison."""
    if not refs:
        return []
    models = list(refs["scores"])
    lines = ["", "## Published scores for context", "", f"Source: {refs['source']}. These models were trained "
             "on the full training sets at their own scale, so the gap to them measures this grid's budget, not the "
             "architectures.", "", "| task | best arm here (mean) | " + " | ".join(models) + " |",
             "|---|---|" + "---|" * len(models)]
    for task in res.tasks:
        scores = {arm: res.scores(task, arm) for arm in res.arms}
        means = {arm: s.mean() for arm, s in scores.items() if s.size}
        if not means:
            continue
        best = max(means, key=means.get)
        cells = [f"{refs['scores'][m][task]:.2f}" if task in refs["scores"][m] else "-" for m in models]
        lines.append(f"| {task} | `{best}` {means[best]:.2f} | " + " | ".join(cells) + " |")
    return lines


def fmt_flops(x: float) -> str:
    return "0" if not x else f"{x:.2e}"


def comparison_rows(res: Results, a: str, b: str, seed: int = 0):
    rows, diffs = [], []
    for task in res.tasks:
        sa, sb = res.scores(task, a), res.scores(task, b)
        if sa.size == 0 or sb.size == 0:
            continue
        d = float(sa.mean() - sb.mean())
        lo, hi = bootstrap_diff_ci(sa, sb, seed=seed)
        rows.append((task, d, lo, hi, sa.size, sb.size))
        diffs.append(d)
    return rows, paired_wilcoxon(diffs) if diffs else None


def answer(question: str, res: Results, pairs, tests) -> str:
    """One plain-language paragraph per question, built only from the computed numbers."""
    parts = []
    for (a, b), (rows, t) in zip(pairs, tests):
        if t is None:
            parts.append(f"`{a}` vs `{b}`: no task has runs of both arms yet.")
            continue
        sig_tasks = sum(1 for _, d, lo, hi, *_ in rows if lo > 0 or hi < 0)
        direction = "higher" if t.mean_difference > 0 else "lower"
        min_p = 2.0 / 2 ** t.n_tasks if t.n_tasks else 1.0
        verdict = (f"significant at the 5% level (p = {t.p_value:.3g})" if t.p_value < 0.05 else
                   f"not significant at the 5% level (p = {t.p_value:.3g}"
                   + (f"; with {t.n_tasks} tasks the smallest attainable two-sided p is {min_p:.3g}" if min_p >= 0.05 else "")
                   + ")")
        text = (f"`{a}` scores {abs(t.mean_difference):.2f} points {direction} than `{b}` on average over "
                f"{t.n_tasks} tasks ({t.wins} win{'s' * (t.wins != 1)}, {t.losses} loss{'es' * (t.losses != 1)}; the 95% CI of the per-task difference "
                f"excludes 0 on {sig_tasks} of {len(rows)} tasks); across tasks this is {verdict}, effect size "
                f"r = {t.rank_biserial:+.2f}.")
        pre_a, pre_b = res.pretraining_of(a), res.pretraining_of(b)
        extra = [p for p in (pre_a, pre_b) if p]
        if extra and question in ("architecture", "pretraining", "corpus"):
            cost = sum(p["cost"]["train_flops"] for p in extra)
            secs = sum(p["cost"]["train_seconds"] for p in extra)
            text += (f" The pretraining behind it cost {fmt_flops(cost)} FLOPs ({secs:.0f} s on "
                     f"{extra[0]['cost']['device']}), i.e. {t.mean_difference / (cost / 1e15):+.3g} points per PFLOP.")
        parts.append(text)
    return " ".join(parts)


def plot_scores(res: Results, out: Path, refs: dict | None = None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = min(4, len(res.tasks))
    nrows = -(-len(res.tasks) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, (0.45 * len(res.arms) + 1.6) * nrows), squeeze=False)
    for ax in axes.flat[len(res.tasks):]:
        ax.axis("off")
    for j, (ax, task) in enumerate(zip(axes.flat, res.tasks)):
        for i, arm in enumerate(res.arms):
            s = res.scores(task, arm)
            if s.size == 0:
                continue
            lo, hi = bootstrap_ci(s)
            ax.scatter(s, [i] * s.size, s=10, alpha=0.5, color="gray", zorder=1)
            ax.errorbar([s.mean()], [i], xerr=[[s.mean() - lo], [hi - s.mean()]], fmt="o", capsize=3, zorder=2)
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
    fig.suptitle("Test score by arm: mean and 95% bootstrap CI over seeds (grey: seeds)")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


REGIME_MARKERS = {"random init": "o", "published weights": "*"}


def plot_compute(res: Results, out: Path):
    """Mean score against total compute, one colour per architecture and one marker per regime; a line joins
    each random-init arm to the pretrained arms of the same architecture, so its slope is what pretraining bought."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = {}  # arm -> (architecture, regime, total FLOPs, mean score)
    for arm in res.arms:
        means = [res.scores(t, arm).mean() for t in res.tasks if res.scores(t, arm).size]
        if not means:
            continue
        rec = res.record(arm)
        pre = res.pretraining_of(arm)
        total = res.finetune_cost(arm)[0] + (pre["cost"]["train_flops"] if pre else 0.0)
        points[arm] = (architecture(rec), regime(rec), total, float(np.mean(means)))
    archs = sorted({a for a, *_ in points.values()})
    regimes = sorted({r for _, r, *_ in points.values()}, key=lambda r: (r != "random init", r))
    colors = {a: plt.get_cmap("tab10")(i % 10) for i, a in enumerate(archs)}
    extra = iter("s^DvP")
    markers = {r: REGIME_MARKERS.get(r) or next(extra, "X") for r in regimes}
    fig, ax = plt.subplots(figsize=(8, 5))
    for arm, (a, r, x, y) in points.items():
        ax.scatter([x], [y], s=55, color=colors[a], marker=markers[r], zorder=3)
        ax.annotate(arm, (x, y), fontsize=7, xytext=(4, 2), textcoords="offset points")
        if r != "random init":
            base = [(bx, by) for ba, br, bx, by in points.values() if ba == a and br == "random init"]
            for bx, by in base:
                ax.plot([bx, x], [by, y], color=colors[a], lw=0.8, alpha=0.6, zorder=2)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colors[a], marker="o", ls="", label=a) for a in archs]
    handles += [Line2D([], [], color="gray", marker=markers[r], ls="", label=r) for r in regimes]
    ax.legend(handles=handles, fontsize=7, loc="best", title="architecture / regime", title_fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("total training compute per fine-tuned model: pretraining + fine-tuning (FLOPs, log scale)")
    ax.set_ylabel("mean test score over tasks (x 100)")
    ax.set_title("Score against compute, by architecture and pretraining regime")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_pairs(res: Results, pairs, title: str, out: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.5 * len(pairs) * max(len(res.tasks), 1) + 1.5))
    y, labels = 0, []
    for a, b in pairs:
        rows, _ = comparison_rows(res, a, b)
        for task, d, lo, hi, *_ in rows:
            ax.errorbar([d], [y], xerr=[[d - lo], [hi - d]], fmt="o", capsize=3)
            labels.append(f"{a} - {b}\n{task}")
            y += 1
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("difference in mean test score (points), 95% bootstrap CI")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def build_report(spec: dict, out_dir: Path, wall_seconds: float | None = None) -> Path:
    runs_dir = (ROOT / spec["runs_dir"]).resolve()
    fine, pre = load_records(runs_dir)
    if not fine:
        raise ValueError(f"no fine-tuning records under {runs_dir}; run `python -m assess.grid` first")
    res = Results(fine, pre)
    out_dir.mkdir(parents=True, exist_ok=True)
    L = [f"# Assessment report: {spec['name']}", ""]
    if spec.get("description"):
        L += [spec["description"].strip(), ""]
    total_secs = sum(r["cost"]["train_seconds"] + r["cost"].get("eval_seconds", 0) for r in fine + pre)
    L += [f"{len(fine)} fine-tuning runs and {len(pre)} pretraining runs, {len(res.tasks)} tasks, "
          f"{len(res.arms)} arms. Training + evaluation time summed over runs: {total_secs / 3600:.2f} h"
          + (f"; grid wall time {wall_seconds / 3600:.2f} h." if wall_seconds else "."), ""]
    L += ["## Arms", "", "| arm | model, init, tokenizer, mode | fine-tuning FLOPs (mean) | pretraining FLOPs | pretraining time |",
          "|---|---|---|---|---|"]
    for arm in res.arms:
        ff, _ = res.finetune_cost(arm)
        p = res.pretraining_of(arm)
        L.append(f"| `{arm}` | {res.arm_desc(arm)} | {fmt_flops(ff)} | {fmt_flops(p['cost']['train_flops']) if p else '0'} | "
                 f"{p['cost']['train_seconds']:.0f} s |" if p else f"| `{arm}` | {res.arm_desc(arm)} | {fmt_flops(ff)} | 0 | - |")
    L += ["", "## Scores per task", "",
          "Test split, checkpoint selected on validation; mean ± sd over seeds (n), 95% percentile-bootstrap CI of the mean.", ""]
    L += ["| task | arm | metric | mean ± sd (n) | 95% CI |", "|---|---|---|---|---|"]
    for task in res.tasks:
        for arm in res.arms:
            s = res.scores(task, arm)
            if s.size:
                lo, hi = bootstrap_ci(s)
                L.append(f"| {task} | `{arm}` | {res.metric_name(task)} | {s.mean():.2f} ± {s.std(ddof=1) if s.size > 1 else 0:.2f} ({s.size}) | [{lo:.2f}, {hi:.2f}] |")
    L += ["", "## Architecture x pretraining regime", "",
          "Mean test score over the tasks of each group (per seed, then mean and 95% bootstrap CI over seeds).", ""]
    L += regime_table(res)
    refs = spec.get("references") or {}
    L += reference_table(res, refs)
    plot_scores(res, out_dir / "scores_by_task.png", refs)
    plot_compute(res, out_dir / "score_vs_compute.png")
    L += ["", "![scores](scores_by_task.png)", "", "![compute](score_vs_compute.png)", ""]
    answers = []
    for question, pairs in (spec.get("comparisons") or {}).items():
        pairs = [tuple(p) for p in pairs]
        tests = [comparison_rows(res, a, b) for a, b in pairs]
        L += [f"## {QUESTION_TITLES[question]}", "", "| comparison | task | difference | 95% CI | seeds |", "|---|---|---|---|---|"]
        for (a, b), (rows, _) in zip(pairs, tests):
            for task, d, lo, hi, na, nb in rows:
                L.append(f"| `{a}` - `{b}` | {task} | {d:+.2f} | [{lo:+.2f}, {hi:+.2f}] | {na} vs {nb} |")
        L += ["", "Paired across tasks (Wilcoxon signed-rank on per-task mean differences; effect size = matched-pairs rank-biserial r):", "",
              "| comparison | tasks | mean difference | wins / losses | W | p | r |", "|---|---|---|---|---|---|---|"]
        for (a, b), (_, t) in zip(pairs, tests):
            if t:
                L.append(f"| `{a}` - `{b}` | {t.n_tasks} | {t.mean_difference:+.2f} | {t.wins} / {t.losses} | {t.statistic:g} | {t.p_value:.3g} | {t.rank_biserial:+.2f} |")
        fig = out_dir / f"{question}.png"
        plot_pairs(res, pairs, QUESTION_TITLES[question].split("?")[0].split(" (")[0] + ": per-task differences", fig)
        text = answer(question, res, pairs, tests)
        answers.append((question, text))
        L += ["", f"![{question}]({fig.name})", "", f"**Answer.** {text}", ""]
    if answers:
        L += ["## The answers in short", ""] + [f"- **{QUESTION_TITLES[q]}** {t}" for q, t in answers] + [""]
    L += ["## Reproduce", "", f"```bash\npython -m assess.grid {spec.get('_path', 'configs/<grid>.yaml')}\n"
          f"python -m assess.report {spec.get('_path', 'configs/<grid>.yaml')} --out {out_dir}\n```", ""]
    report = out_dir / "report.md"
    report.write_text("\n".join(L))
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Write report.md and plots from a grid's run records.")
    ap.add_argument("spec", help="grid YAML, e.g. configs/grid_cpu.yaml")
    ap.add_argument("--out", required=True, help="output folder, e.g. reports/cpu")
    ap.add_argument("--wall-seconds", type=float, default=None, help="the grid's measured wall time, to print")
    args = ap.parse_args(argv)
    spec = load_spec(args.spec)
    spec["_path"] = args.spec
    try:
        path = build_report(spec, Path(args.out), args.wall_seconds)
    except ValueError as err:
        print(f"report: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
