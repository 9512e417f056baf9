"""The report's tables and number formats, rendered from summary.json (`assess.results.Summary.to_json()`):
tasks and splits, arms, learning-rate selection, one-class runs, scores per arm x task, architecture x regime,
published references. Pure rendering: every number comes from the summary.
"""

from __future__ import annotations

from collections import defaultdict

from .results import RANDOM, fmt_flops
from .stats import T_METHOD


def fmt_ci(low, high, signed: bool = False) -> str:
    if low is None:
        return "n/a (n < 2)"
    f = "{:+.2f}" if signed else "{:.2f}"
    return f"[{f.format(low)}, {f.format(high)}]"


def fmt_p(p) -> str:
    return "n/a" if p is None else f"{p:.3g}"  # summary.json writes a NaN p (too few tasks) as null


def fmt_value(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _s(n: int, one: str = "", many: str = "s") -> str:
    return one if n == 1 else many


def record_commits_line(c: dict) -> str:
    return (
        f"Code: the records name {c['distinct']} commits (`versions.dnalm_assess_commit`); {c['dirty']} records "
        f"ran uncommitted code (`-dirty`)" + (f", {c['unknown']} name no commit" if c["unknown"] else "") + "."
    )


def split_label(info: dict) -> str:
    if info["test_subsampled"] is None:
        return "test (size not recorded)"
    if not info["test_subsampled"]:
        return "test"
    of = f" of {info['n_test_full']:,}" if info.get("n_test_full") else ""
    return f"**test subsample** ({info['n_test']:,}{of} rows; not the benchmark's test set)"


def _cell(s: dict, arm: str, task: str) -> dict | None:
    return s["cells"].get(arm, {}).get(task)


# ------------------------------------------------------------------------------------------------ sections


def tasks_table(s: dict) -> list[str]:
    L = [
        "## Tasks and splits",
        "",
        "n per split from the records (`dataset.fingerprint.<split>.rows`).",
        "",
        "| task | metric | n train | n validation | n test | scored on |",
        "|---|---|---|---|---|---|",
    ]
    for task, info in s["tasks"].items():
        n_test = info["n_test"] if info["n_test"] is not None else "/".join(map(str, info["n_test_values"])) or "?"
        L.append(
            f"| {task} | {info['metric']} | {info['n_train'] or '?'} | {info['n_validation'] or '?'} | "
            f"{n_test} | {split_label(info)} |"
        )
    if any_subsampled(s):
        L += [
            "",
            "Flagged tasks are scored on a fixed subsample of the test split (the grid capped it); their scores "
            "are not test-set scores and are not comparable to published ones.",
        ]
    return L


def any_subsampled(s: dict) -> bool:
    return any(bool(info["test_subsampled"]) for info in s["tasks"].values())


def arms_table(s: dict) -> list[str]:
    L = [
        "",
        "## Arms",
        "",
        "| arm | model, init, tokenizer, mode | swept (chosen on validation) | fine-tuning FLOPs "
        "per run (mean) | pretraining FLOPs | pretraining time |",
        "|---|---|---|---|---|---|",
    ]
    for arm, a in s["arms"].items():
        p = a["pretraining"]
        secs = f"{p['seconds']:.0f} s" if p.get("seconds") is not None else "-"
        sweep = a["sweep"]
        swept = f"{sweep['field']}: {', '.join(map(fmt_value, sweep['values']))}" if sweep else "-"
        desc = f"{a['model']} ({a['preset']}), {a['init']}, {a['tokens']}, {a['mode']}"
        L.append(
            f"| `{arm}` | {desc} | {swept} | {fmt_flops(a['finetune_flops'])} | {fmt_flops(p['flops'])} | {secs} |"
        )
    if any(a["sweep"] for a in s["arms"].values()):
        sweep_seeds = s["selection"]["sweep_seeds"]
        if sweep_seeds is None:
            L += [
                "",
                "A swept arm is fine-tuned once per value for every task and seed: its fine-tuning compute is "
                "the sweep size times the per-run figure.",
            ]
        else:
            n_sweep, n_seeds = len(sweep_seeds), len(s["seeds"])
            L += [
                "",
                f"A swept arm is fine-tuned once per value on the sweep seed{_s(n_sweep)} "
                f"({', '.join(map(str, sweep_seeds))}) and at the chosen value only on the other "
                f"{n_seeds - n_sweep}: per task, sweep size x {n_sweep} + {n_seeds - n_sweep} runs of the per-run "
                "figure.",
            ]
    return L


def _selections(s: dict) -> list[dict]:
    return [sel for by_task in s["selection"]["arms"].values() for sel in by_task.values()]


def selection_sentence(s: dict) -> str:
    if not _selections(s):
        return "no arm of this grid is swept."
    return (
        s["selection"]["rule"] + "; the chosen value per arm x task is in the table below the arms (and in "
        "summary.json)."
    )


def selection_table(s: dict) -> list[str]:
    """Per swept arm x task: the chosen value and each member's mean validation score (n seeds)."""
    sels, tasks = _selections(s), list(s["tasks"])
    if not sels:
        return []
    lines = [
        "",
        "## Learning rate chosen on validation",
        "",
        f"Rule: {s['selection']['rule']}. Each cell: the chosen "
        "value (bold) and every value's mean validation score x 100 over the seeds that choose (n). An incomplete "
        "sweep (a value without runs, or values with different seeds) is marked *incomplete*.",
        "",
        "| arm | " + " | ".join(tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for arm, by_task in s["selection"]["arms"].items():
        row = []
        for task in tasks:
            sel = by_task.get(task)
            if sel is None:
                row.append("-")
                continue
            parts = []
            for c in sel["candidates"]:
                mean = f"{c['validation_mean']:.2f}" if c["validation_mean"] is not None else "n/a"
                text = f"{fmt_value(c['value'])}: {mean} ({c['n_scored']})"
                parts.append(f"**{text}**" if c["member"] == sel["member"] else text)
            row.append(
                "<br>".join(parts)
                + ("" if sel["complete"] else "<br>*incomplete*")
                + (f"<br>*{sel['edge']} value*" if sel["edge"] else "")
                + ("<br>*all values tie*" if sel["all_tie"] else "")
            )
        lines.append(f"| `{arm}` | " + " | ".join(row) + " |")
    edges = [sel for sel in sels if sel["edge"]]
    ties = sum(sel["all_tie"] for sel in sels)
    if ties:
        at = sorted(
            {
                f"{c['validation_mean']:.2f}"
                for sel in sels
                if sel["all_tie"]
                for c in sel["candidates"]
                if c["validation_mean"] is not None
            }
        )
        lines += [
            "",
            f"{ties} of {len(sels)} choices had every value score the same on validation (*all values "
            f"tie*, at {', '.join(at)}"
            + ("; 0.00 means no learning rate learned" if "0.00" in at else "")
            + "): the value listed first was taken, and these are not counted as edge choices.",
        ]
    if edges:
        by = {e: sum(sel["edge"] == e for sel in edges) for e in ("lowest", "highest")}
        n_values = max(len(sel["candidates"]) for sel in sels)
        lines += [
            "",
            f"{len(edges)} of {len(sels) - ties} choices are the sweep's lowest ({by['lowest']}) or highest "
            f"({by['highest']}) value (*lowest/highest value* above); {len(sels) - ties - len(edges)} are inside "
            f"it. Values that scored alike would put about 2 in {n_values} choices at an edge by chance; a clear "
            "excess at one end says a wider sweep there might find better values, so those arms may be "
            "under-tuned.",
        ]
    return lines


def one_class_table(s: dict) -> list[str]:
    tasks = list(s["tasks"])
    cells = [c for by_task in s["cells"].values() for c in by_task.values()]
    unknown_total = sum(c["one_class_unknown_runs"] for c in cells)
    all_runs = s["one_class_all_runs"] if s["selection"]["arms"] else {}
    if all_runs:  # the scored runs are the chosen members' only; the others can fail at their learning rate too
        head = (
            f"{s['n_one_class_runs']} of {s['n_scored_runs']} scored runs (per arm x task x seed, the learning "
            f"rate chosen on validation) predict a single class on the test split (MCC 0); counting every sweep "
            f"member, {sum(v['one_class'] for v in all_runs.values())} of {s['n_finetune_runs']} fine-tuning runs "
            "do (last column)."
        )
    else:
        head = (
            f"{s['n_one_class_runs']} of {s['n_finetune_runs']} fine-tuning runs predict a single class on the "
            "test split (MCC 0)."
        )
    L = [
        "",
        "## Runs that predict one class",
        "",
        head
        + (
            f" {unknown_total} records cannot tell (no predicted-class count, no macro recall)."
            if unknown_total
            else ""
        ),
        f"Rule: {s['methods']['one_class_rule']}.",
        "",
        "| arm | " + " | ".join(tasks) + " |" + (" all runs, every sweep member |" if all_runs else ""),
        "|---|" + "---|" * (len(tasks) + bool(all_runs)),
    ]
    for arm in s["arms"]:
        row = []
        for t in tasks:
            c = _cell(s, arm, t)
            row.append(
                "-"
                if c is None
                else f"{c['one_class_runs']}/{c['n_seeds']}"
                + ("" if c["status"] == "measured" else " **did not learn**")
            )
        if all_runs:
            v = all_runs.get(arm, {"one_class": 0, "runs": 0})
            row.append(f"{v['one_class']}/{v['runs']}")
        L.append(f"| `{arm}` | " + " | ".join(row) + " |")
    return L


def scores_table(s: dict) -> list[str]:
    cells = [(t, arm, c) for t in s["tasks"] for arm in s["arms"] if (c := _cell(s, arm, t))]
    has_trunc = any(c["truncated_test"] is not None for _, _, c in cells)
    L = [
        "",
        "## Scores per task",
        "",
        f"Checkpoint selected on validation; mean ± sd over learning seeds (n learning / n seeds), 95% {T_METHOD}."
        + (
            ""
            if has_trunc
            else " The records do not say how many test sequences were truncated (`dataset.truncated.test`)."
        ),
        "",
        "| task | arm | metric | mean ± sd (n) | 95% CI | status |" + (" truncated test seqs |" if has_trunc else ""),
        "|---|---|---|---|---|---|" + ("---|" if has_trunc else ""),
    ]
    for task, arm, c in cells:
        n = f"({c['n_learning_seeds']}/{c['n_seeds']})"
        metric = s["tasks"][task]["metric"]
        trunc = f" {c['truncated_test'] if c['truncated_test'] is not None else '?'} |" if has_trunc else ""
        if c["status"] == "measured":
            sd = f"{c['sd']:.2f}" if c["sd"] is not None else "-"
            L.append(
                f"| {task} | `{arm}` | {metric} | {c['mean']:.2f} ± {sd} {n} | "
                f"{fmt_ci(c['ci']['low'], c['ci']['high'])} | measured |" + trunc
            )
        else:
            L.append(
                f"| {task} | `{arm}` | {metric} | - {n} | - | did not learn "
                f"({c['one_class_runs']} one-class seeds) |" + trunc
            )
    return L


def regime_table(s: dict) -> list[str]:
    """Architecture x pretraining regime: mean score over each task group's tasks, 95% t interval over seeds."""
    arms_at = defaultdict(list)  # (architecture, regime) -> arms
    for arm, a in s["arms"].items():
        arms_at[(a["architecture"], a["regime"])].append(arm)
    means = {(g["group"], g["arm"]): g for g in s["group_means"]}
    archs = sorted({a for a, _ in arms_at})
    regimes = sorted({r for _, r in arms_at}, key=lambda r: (r != RANDOM, r))
    lines = ["| task group | architecture | " + " | ".join(regimes) + " |", "|---|---|" + "---|" * len(regimes)]
    for group in sorted({g for g, _ in means}):
        for a in archs:
            row = []
            for r in regimes:
                parts = []
                for arm in arms_at.get((a, r), []):
                    m = means.get((group, arm))
                    if m is None:
                        continue
                    name = f"`{arm}`: " if len(arms_at[(a, r)]) > 1 else ""
                    if m["mean"] is None:
                        parts.append(f"{name}did not learn")
                    else:
                        k, n = m["n_measured"], m["n_tasks"]
                        parts.append(
                            f"{name}{m['mean']:.2f} {fmt_ci(m['low'], m['high'])}"
                            + (f" ({k} of {n} tasks; did not learn on the rest)" if k < n else "")
                        )
                row.append("<br>".join(parts) or "-")
            if any(c != "-" for c in row):
                lines.append(f"| {group} | {a} | " + " | ".join(row) + " |")
    return lines


def reference_table(s: dict) -> list[str]:
    """Published scores beside the best arm here: context for the scale of the grid, not a comparison."""
    refs = s["references"]
    if not refs:
        return []
    models = list(refs["scores"])
    lines = [
        "",
        "## Published scores for context",
        "",
        f"Source: {refs['source']}. These models were trained "
        "on the full training sets at their own scale, so the gap to them measures this grid's budget, not the "
        "architectures.",
    ]
    if any_subsampled(s):
        lines += [
            "",
            "Our scores on the flagged tasks are on a subsample of the test split, not on the published "
            "test set: the comparison with published numbers is rougher still there.",
        ]
    lines += ["", "| task | best arm here (mean) | " + " | ".join(models) + " |", "|---|---|" + "---|" * len(models)]
    for task in s["tasks"]:
        means = {arm: c["mean"] for arm in s["arms"] if (c := _cell(s, arm, task)) and c["status"] == "measured"}
        if not means:
            continue
        best = max(means, key=means.get)
        cells = [f"{refs['scores'][m][task]:.2f}" if task in refs["scores"][m] else "-" for m in models]
        lines.append(f"| {task} | `{best}` {means[best]:.2f} | " + " | ".join(cells) + " |")
    return lines


# ------------------------------------------------------------------------------------------------ comparisons
