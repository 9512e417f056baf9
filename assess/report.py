"""Write report.md, summary.json and PNG plots from every run record of a grid.

    python -m assess.report configs/grid_cpu.yaml --out reports/cpu

The numbers are made once, in assess/results.py (`build_summary`), from the run records under the grid's
runs_dir and its archive; summary.json is that `Summary`, and this module renders report.md from it (the plots:
assess/plots.py). What the numbers are:
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
import sys
from collections import defaultdict
from pathlib import Path

from . import plots
from .report_tables import (
    _s,
    arms_table,
    fmt_ci,
    fmt_p,
    one_class_table,
    record_commits_line,
    reference_table,
    regime_table,
    scores_table,
    selection_sentence,
    selection_table,
    tasks_table,
)
from .results import ALPHA, build_summary, fmt_flops
from .spec import ROOT, load_spec  # noqa: F401  (ROOT: tests)
from .stats import T_METHOD

QUESTION_TITLES = {
    "architecture": (
        "(i) Do pretrained transformers beat a convolutional baseline by enough to justify their pretraining cost?"
    ),
    "pretraining": "(ii) What does pretraining contribute (same architecture, pretrained vs random init)?",
    "tokenizer": "(iii) What does the tokenizer do (BPE vs k-mer vs single nucleotide, all else equal)?",
    "corpus": "Pretraining corpus: multi-species vs human-only",
}


def header(s: dict) -> list[str]:
    L = [f"# Assessment report: {s['name']}", ""]
    if s["description"]:
        L += [s["description"].strip(), ""]
    wall = s["grid_wall_time"]
    L += [
        f"{s['n_finetune_runs']} fine-tuning runs and {s['n_pretrain_runs']} pretraining runs, {len(s['tasks'])} "
        f"tasks, {len(s['arms'])} arms. Training + evaluation time summed over runs: {s['run_seconds'] / 3600:.2f} h"
        + f"; grid wall time {wall['seconds'] / 3600:.2f} h (the union of the runs' start-to-finish spans: parallel "
        "workers count once, the gaps between sessions not at all"
        + (
            f"; {wall['estimated_starts']} records without a start time span their training and evaluation only"
            if wall["estimated_starts"]
            else ""
        )
        + ").",
        record_commits_line(s["record_commits"]),
        "",
    ]
    return L


def methods(s: dict) -> list[str]:
    m = s["methods"]
    primary = m["primary_test"]
    return [
        "## How the numbers are made",
        "",
        f"- Per arm x task: mean over seeds with a 95% {T_METHOD}.",
        f"- Per task, between two arms: {m['task_difference_ci']}. "
        "Per-task intervals are 95% each, not simultaneous: they describe, the declared comparisons below decide.",
        "- Across tasks: Wilcoxon signed-rank on the per-task mean differences (exact; zero differences dropped, "
        "so the n used can be smaller than the number of tasks; with n differences the smallest attainable "
        "two-sided p is 2/2^n, so n <= 5 can never reach p < 0.05) and a paired t-test (any p is attainable, but "
        "it assumes roughly normal per-task differences). Primary test (the verdicts): "
        f"{'Wilcoxon' if primary == 'wilcoxon' else 'paired t'}.",
        f"- Multiplicity: Holm's step-down correction over the family of all {s['family_size']} "
        "comparisons declared in the spec, for each test separately (a comparison with nothing to test enters with "
        "p = 1); raw and adjusted p are shown.",
        f"- Learning rate chosen on validation: {selection_sentence(s)}",
        f"- One-class runs: {m['one_class_rule']}.",
        "- FLOPs: "
        + ", ".join(f"`{k}` in {v} records" for k, v in sorted(m["flops_fields_used"].items()))
        + " (`cost.flops`: analytic count with attention; `cost.train_flops`: the Trainer's 6 x parameters x "
        "tokens estimate, no attention term). The cost of a comparison is the pretraining compute the "
        "better-funded arm added over the other (pretrained vs random init: the pretrained arm's pretraining FLOPs).",
        "",
    ]


def short_verdict(c: dict, primary: str) -> str:
    if primary == "wilcoxon" and not c["wilcoxon"]["can_decide"]:
        return "cannot decide"
    return "significant" if c["p_holm"] <= ALPHA else "not significant"


def answer(c: dict, primary: str) -> str:
    """One plain-language paragraph per comparison, built only from the computed numbers."""
    a, b = c["a"], c["b"]
    left_out = "; ".join(f"{e['task']}: {e['why']}" for e in c["excluded_tasks"])
    only_learned = [(arm, ts) for arm, ts in ((a, c["only_a_learned"]), (b, c["only_b_learned"])) if ts]
    if c["wilcoxon"] is None:
        return (
            f"`{a}` vs `{b}`: no task has measured runs of both arms"
            + (f" ({left_out})." if left_out else ".")
            + "".join(f" Only `{arm}` learned on {', '.join(ts)}." for arm, ts in only_learned)
        )
    w, t = c["wilcoxon"], c["paired_t"]
    sig_tasks = sum(1 for r in c["tasks"] if r["low"] is not None and (r["low"] > 0 or r["high"] < 0))
    direction = "higher" if c["difference"] > 0 else "lower"
    zeros = w["n_tasks"] - w["n_used"]
    text = (
        f"`{a}` scores {abs(c['difference']):.2f} points {direction} than `{b}` on average over "
        f"{w['n_tasks']} task{_s(w['n_tasks'])} ({w['wins']} win{_s(w['wins'])}, {w['losses']} "
        f"loss{_s(w['losses'], '', 'es')}; the per-task 95% CI excludes 0 on {sig_tasks} of {len(c['tasks'])})"
        + (f", leaving out {left_out}" if left_out else "")
        + ". "
        + "".join(
            f"Only `{arm}` learned on {', '.join(ts)} (an outcome the across-task tests do not see). "
            for arm, ts in only_learned
        )
        + f"Wilcoxon signed-rank on n = {w['n_used']}"
        + (f" ({zeros} zero difference{_s(zeros)} dropped)" if zeros else "")
        + f": p = {fmt_p(w['p'])}, Holm {fmt_p(w['p_holm'])}; paired t across tasks: p = {fmt_p(t['p'])}, "
        f"Holm {fmt_p(t['p_holm'])}. Verdict ({'Wilcoxon' if primary == 'wilcoxon' else 'paired t'}, the spec's "
        f"primary test): {c['verdict']}."
    )
    cost = c["cost"]
    if cost.get("points_per_pflop") is not None:
        a_added = cost["added_by"] == a
        mine, theirs = cost["pretraining_a"], cost["pretraining_b"]
        if not a_added:
            mine, theirs = theirs, mine
        other = b if a_added else a
        secs = (
            f" ({mine['seconds']:.0f} s on {mine['device']})"
            if theirs["kind"] == "none" and mine.get("seconds") is not None
            else ""
        )
        text += (
            f" `{cost['added_by']}` had {fmt_flops(cost['added_flops'])} more pretraining FLOPs than "
            f"`{other}`{secs}: "
            f"{cost['points_per_pflop']:+.3g} points per PFLOP of added pretraining."
        )
    elif cost.get("note") and cost["note"] != "no pretraining on either side":
        text += f" Cost: {cost['note']}."
    return text


def question_section(question: str, comps: list[dict], s: dict, out_dir: Path) -> tuple[list[str], str]:
    """One question's tables, plot and answer; returns (lines, the answer text)."""
    primary = s["methods"]["primary_test"]
    L = [
        f"## {QUESTION_TITLES[question]}",
        "",
        "| comparison | task | difference | 95% CI | seeds |",
        "|---|---|---|---|---|",
    ]
    for c in comps:
        for r in c["tasks"]:
            L.append(
                f"| `{c['a']}` - `{c['b']}` | {r['task']} | {r['difference']:+.2f} | "
                f"{fmt_ci(r['low'], r['high'], True)} | {r['n_a']} vs {r['n_b']} |"
            )
        for e in c["excluded_tasks"]:
            L.append(f"| `{c['a']}` - `{c['b']}` | {e['task']} | left out: {e['why']} | - | - |")
    L += [
        "",
        f"Across tasks (family of {s['family_size']} declared comparisons, Holm-adjusted; min p: smallest "
        "attainable two-sided Wilcoxon p at that n):",
        "",
        "| comparison | tasks | n used | mean difference | wins / losses | Wilcoxon p | Holm | min p | paired t p "
        "| Holm | r | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in comps:
        w, t = c["wilcoxon"], c["paired_t"]
        if w is None:
            L.append(f"| `{c['a']}` - `{c['b']}` | 0 | 0 | - | - | - | - | - | - | - | - | nothing to test |")
            continue
        L.append(
            f"| `{c['a']}` - `{c['b']}` | {w['n_tasks']} | {w['n_used']} | {c['difference']:+.2f} | "
            f"{w['wins']} / {w['losses']} | {fmt_p(w['p'])} | {fmt_p(w['p_holm'])} | "
            f"{fmt_p(w['min_attainable_p'])} | "
            f"{fmt_p(t['p'])} | {fmt_p(t['p_holm'])} | {w['rank_biserial']:+.2f} | {short_verdict(c, primary)} |"
        )
    fig = out_dir / f"{question}.png"
    plots.plot_pairs(comps, QUESTION_TITLES[question].split("?")[0].split(" (")[0] + ": per-task differences", fig)
    text = " ".join(answer(c, primary) for c in comps)
    return L + ["", f"![{question}]({fig.name})", "", f"**Answer.** {text}", ""], text


def curves_section(curves: dict) -> list[str]:
    L = [
        "## Pretraining compute curve",
        "",
        "Score gained over the random-init arm (the zero point) at each pretraining budget: mean over the tasks "
        "where every arm of the curve is measured, 95% Welch-Satterthwaite t interval over seeds (tasks fixed). "
        "Points per PFLOP = gain / pretraining PFLOPs (score points = primary metric x 100, MCC for these tasks).",
        "",
        "| architecture | arm | pretraining steps | pretraining FLOPs | gain (points) | 95% CI | points per PFLOP |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, cur in curves.items():
        for p in cur["points"]:
            gain = f"{p['gain']:+.2f}" if p["gain"] is not None else "-"
            ppp = f"{p['points_per_pflop']:+.3g}" if p["points_per_pflop"] is not None else "-"
            steps = p["pretraining_steps"] if p["pretraining_steps"] is not None else "?"
            L.append(
                f"| {label} | `{p['arm']}` | {steps} | "
                f"{fmt_flops(p['pretraining_flops'])} | {gain} | {fmt_ci(p['low'], p['high'], True)} | {ppp} |"
            )
    L += [""]
    for label, cur in curves.items():
        slope, tasks = cur["slope_points_per_pflop"], cur["tasks"]
        L.append(
            f"- **{label}** ({len(tasks)} task{_s(len(tasks))}: {', '.join(tasks) or 'none'}): "
            + (
                f"least-squares slope through the random-init point: {slope:+.3g} points per PFLOP of pretraining."
                if slope is not None
                else "no budget has a measured gain."
            )
        )
    return L + ["", "![compute curve](compute_curve.png)", ""]


# ------------------------------------------------------------------------------------------------ the report


def render(s: dict, out_dir: Path, spec_path: str = "configs/<grid>.yaml", archive: str | None = None) -> str:
    """report.md from summary.json's numbers (`Summary.to_json()`), drawing the plots into out_dir."""
    L = header(s) + methods(s) + tasks_table(s) + arms_table(s) + selection_table(s) + one_class_table(s)
    L += scores_table(s)
    L += [
        "",
        "## Architecture x pretraining regime",
        "",
        "Mean test score over the tasks of each group (measured cells), 95% t interval over seeds "
        "(Welch-Satterthwaite df when a group has several tasks).",
        "",
    ]
    L += regime_table(s) + reference_table(s)
    plots.plot_scores(s, out_dir / "scores_by_task.png")
    plots.plot_compute(s, out_dir / "score_vs_compute.png")
    L += ["", "![scores](scores_by_task.png)", "", "![compute](score_vs_compute.png)", ""]
    by_q = defaultdict(list)
    for c in s["comparisons"]:
        by_q[c["question"]].append(c)
    answers = []
    for question, comps in by_q.items():
        lines, text = question_section(question, comps, s, out_dir)
        L += lines
        answers.append((question, text))
    if s["compute_curves"]:
        plots.plot_compute_curves(s["compute_curves"], out_dir / "compute_curve.png")
        L += curves_section(s["compute_curves"])
    if answers:
        L += ["## The answers in short", ""] + [f"- **{QUESTION_TITLES[q]}** {t}" for q, t in answers] + [""]
    L += [
        "## Reproduce",
        "",
        f"```bash\npython -m assess.grid {spec_path}"
        + (" --commit" if archive else "")
        + f"\npython -m assess.report {spec_path} --out {out_dir}\n```",
        "",
        *(
            [
                f"Finished runs are archived in `{archive}` (records, and the pretrained models); the report "
                "reads the archive as well as runs_dir.",
                "",
            ]
            if archive
            else []
        ),
        "The numbers above, machine-readable: `summary.json`.",
        "",
    ]
    return "\n".join(L)


def build_report(spec: dict, out_dir: Path) -> Path:
    """summary.json, report.md and the plots for a grid (its records from runs_dir and the archive)."""
    summary = build_summary(spec).to_json()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False))
    report = out_dir / "report.md"
    report.write_text(render(summary, out_dir, spec.get("_path", "configs/<grid>.yaml"), spec.get("archive")))
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
