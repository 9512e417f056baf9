"""The report's PNG plots, drawn from summary.json's numbers (`Summary.to_json()`): they compute nothing.

- `plot_scores`: per task, each arm's seeds, mean and 95% t interval (red x: did not learn);
- `plot_compute`: mean score against training compute, by architecture and pretraining regime;
- `plot_pairs`: one question's per-task differences with their intervals;
- `plot_compute_curves`: score gained over random init against pretraining FLOPs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .results import PUBLISHED, RANDOM

REGIME_MARKERS = {RANDOM: "o", PUBLISHED: "*"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path):
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    _plt().close(fig)


def plot_scores(summary: dict, out: Path):
    plt = _plt()
    tasks, arms, cells = list(summary["tasks"]), list(summary["arms"]), summary["cells"]
    refs = (summary.get("references") or {}).get("scores") or {}
    ncols = min(4, len(tasks))
    nrows = -(-len(tasks) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, (0.45 * len(arms) + 1.6) * nrows), squeeze=False)
    for ax in axes.flat[len(tasks) :]:
        ax.axis("off")
    for j, (ax, task) in enumerate(zip(axes.flat, tasks)):
        for i, arm in enumerate(arms):
            c = cells.get(arm, {}).get(task)
            if c is None:
                continue
            allv = np.array(list(c["scores"].values()))
            ax.scatter(allv, [i] * allv.size, s=10, alpha=0.5, color="gray", zorder=1)
            if c["status"] != "measured":
                ax.scatter([c["mean_all_seeds"]], [i], marker="x", color="red", zorder=2)
            elif c["ci"]["low"] is not None:
                m, low, high = c["mean"], c["ci"]["low"], c["ci"]["high"]
                ax.errorbar([m], [i], xerr=[[m - low], [high - m]], fmt="o", capsize=3, zorder=2)
            else:
                ax.scatter([c["mean"]], [i], zorder=2)
        for k, (model, by_task) in enumerate(refs.items()):
            if task in by_task:
                ax.axvline(by_task[task], ls="--", lw=1, color=f"C{(k + 3) % 10}", label=f"{model} (published)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="best")
        ax.set_yticks(range(len(arms)))
        ax.set_yticklabels(arms if j % ncols == 0 else [])
        ax.set_ylim(-0.6, len(arms) - 0.4)
        ax.set_title(task)
        ax.set_xlabel(f"test {summary['tasks'][task]['metric'].upper()} x 100")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Test score by arm: mean and 95% t interval over learning seeds (grey: seeds; red x: did not learn)")
    _save(fig, out)


def plot_compute(summary: dict, out: Path):
    """Mean score against total compute, one colour per architecture and one marker per regime; a line joins
    each random-init arm to the pretrained arms of the same architecture, so its slope is what pretraining bought."""
    plt = _plt()
    n_tasks = len(summary["tasks"])
    points = {}  # arm -> (architecture, regime, total FLOPs, mean score, measured tasks)
    for arm, info in summary["arms"].items():
        means = [c["mean"] for c in summary["cells"].get(arm, {}).values() if c["status"] == "measured"]
        if not means:
            continue
        total = info["finetune_flops"] + (info["pretraining"]["flops"] or 0.0)
        points[arm] = (info["architecture"], info["regime"], total, float(np.mean(means)), len(means))
    archs = sorted({a for a, *_ in points.values()})
    regimes = sorted({r for _, r, *_ in points.values()}, key=lambda r: (r != RANDOM, r))
    colors = {a: plt.get_cmap("tab10")(i % 10) for i, a in enumerate(archs)}
    extra = iter("s^DvP")
    markers = {r: REGIME_MARKERS.get(r) or next(extra, "X") for r in regimes}
    fig, ax = plt.subplots(figsize=(8, 5))
    for arm, (a, r, x, y, k) in points.items():
        ax.scatter([x], [y], s=55, color=colors[a], marker=markers[r], zorder=3)
        label = arm + (f" ({k}/{n_tasks} tasks)" if k < n_tasks else "")
        ax.annotate(label, (x, y), fontsize=7, xytext=(4, 2), textcoords="offset points")
        if r != RANDOM:
            for ba, br, bx, by, _ in points.values():
                if ba == a and br == RANDOM:
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
    _save(fig, out)


def plot_pairs(comps: list[dict], title: str, out: Path):
    plt = _plt()
    n = sum(len(c["tasks"]) for c in comps)
    fig, ax = plt.subplots(figsize=(7, 0.5 * max(n, 1) + 1.5))
    y, labels = 0, []
    for c in comps:
        for row in c["tasks"]:
            d = row["difference"]
            if row["low"] is not None:
                ax.errorbar([d], [y], xerr=[[d - row["low"]], [row["high"] - d]], fmt="o", capsize=3)
            else:
                ax.scatter([d], [y])
            labels.append(f"{c['a']} - {c['b']}\n{row['task']}")
            y += 1
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("difference in mean test score (points), 95% t interval")
    ax.set_title(title)
    _save(fig, out)


def plot_compute_curves(curves: dict, out: Path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, cur) in enumerate(curves.items()):
        pts = sorted(
            (p for p in cur["points"] if p["gain"] is not None and p["pretraining_flops"] is not None),
            key=lambda p: p["pretraining_flops"],
        )
        xs = [p["pretraining_flops"] for p in pts]
        ys = [p["gain"] for p in pts]
        err = [
            [(p["gain"] - p["low"]) if p["low"] is not None else 0 for p in pts],
            [(p["high"] - p["gain"]) if p["high"] is not None else 0 for p in pts],
        ]
        ax.errorbar(
            xs, ys, yerr=err, fmt="o-", capsize=3, color=f"C{i % 10}", label=f"{label} ({len(cur['tasks'])} tasks)"
        )
        slope = cur["slope_points_per_pflop"]
        if slope is not None and xs:
            ax.plot(
                [0, max(xs)],
                [0, slope * max(xs) / 1e15],
                ls="--",
                lw=0.8,
                color=f"C{i % 10}",
                label=f"{label}: slope {slope:+.3g} points / PFLOP",
            )
        for p in pts:
            if p["pretraining_flops"]:  # every curve's random-init arm sits at (0, 0): the x label names it
                ax.annotate(
                    p["arm"], (p["pretraining_flops"], p["gain"]), fontsize=7, xytext=(4, 2), textcoords="offset points"
                )
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("pretraining FLOPs (0: each curve's random-init arm)")
    ax.set_ylabel("score gained over random init (points, mean over tasks)")
    ax.set_title("Pretraining compute curve: gain over random init, 95% t interval over seeds")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    _save(fig, out)
