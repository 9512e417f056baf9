"""The assessment layer: statistics, spec validation, grid runner restarts, report, summary.json and leaderboard
files."""

import ast
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from huggingface_hub import ModelCard, parse_eval_result_entries
from scipy import stats as sps

from assess import grid, leaderboard, report, results
from assess import spec as specmod
from assess.results import Run
from assess.stats import holm, paired_ci, paired_t, paired_wilcoxon, t_ci, welch_ci, wilcoxon_min_p
from training.records import RECORD_FIELDS, RECORD_NAME, iter_records, read_record, record_field, write_record

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------- statistics


def test_t_interval_matches_hand_and_scipy():
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    ci = t_ci(x)
    # by hand: mean 3, s = sqrt(2.5), t_{4, 0.975} = 2.776445, half width = 2.776445 * sqrt(2.5) / sqrt(5)
    half = 2.776445 * np.sqrt(2.5) / np.sqrt(5)
    assert (ci.n, ci.mean, ci.sd) == (5, 3.0, pytest.approx(np.sqrt(2.5)))
    assert (ci.low, ci.high) == (pytest.approx(3 - half, abs=1e-5), pytest.approx(3 + half, abs=1e-5))
    lo, hi = sps.t.interval(0.95, 4, loc=3.0, scale=sps.sem(x))
    assert (ci.low, ci.high) == (pytest.approx(lo), pytest.approx(hi))
    one = t_ci([7.0])
    assert one.mean == 7.0 and one.low is None and one.high is None  # one seed: no interval, not a fake one


def test_t_interval_covers_95_percent_and_bootstrap_does_not():
    """2,000 normal samples of n = 5: the t interval covers the true mean 93-97% of the time; the percentile
    bootstrap it replaces covers about 83% (why it was replaced)."""
    rng = np.random.default_rng(0)
    samples = rng.normal(3.0, 2.0, size=(2000, 5))
    cover = np.mean([(c := t_ci(s)).low <= 3.0 <= c.high for s in samples])
    assert 0.93 <= cover <= 0.97
    boot = samples[np.arange(2000)[:, None, None], rng.integers(0, 5, size=(2000, 500, 5))].mean(-1)
    lo, hi = np.quantile(boot, [0.025, 0.975], axis=1)
    assert np.mean((lo <= 3.0) & (3.0 <= hi)) < 0.90
    # Welch's interval of a difference, unequal spreads: also close to 95%
    a, b = rng.normal(1.0, 1.0, size=(2000, 5)), rng.normal(0.0, 3.0, size=(2000, 5))
    cover_w = np.mean([(c := welch_ci(x, y)).low <= 1.0 <= c.high for x, y in zip(a, b)])
    assert 0.93 <= cover_w <= 0.97


def test_welch_and_paired_intervals_match_scipy():
    a, b = np.array([55.0, 56.0, 54.0, 57.5]), np.array([50.0, 52.0, 49.0, 51.0, 50.5])
    w = welch_ci(a, b)
    ref = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert w.difference == pytest.approx(a.mean() - b.mean())
    assert (w.low, w.high) == (pytest.approx(ref.low), pytest.approx(ref.high))
    va, vb = a.var(ddof=1) / 4, b.var(ddof=1) / 5
    assert w.df == pytest.approx((va + vb) ** 2 / (va**2 / 3 + vb**2 / 4))  # Welch-Satterthwaite by hand
    p = paired_ci(a, b[:4])
    ref = sps.ttest_rel(a, b[:4]).confidence_interval(0.95)
    assert (p.low, p.high, p.df) == (pytest.approx(ref.low), pytest.approx(ref.high), 3)
    t = paired_t([1.0, 2.5, -0.5, 3.0])
    ref = sps.ttest_1samp([1.0, 2.5, -0.5, 3.0], 0.0)
    assert (t.p_value, t.statistic, t.n_used) == (pytest.approx(ref.pvalue), pytest.approx(ref.statistic), 4)


def test_paired_wilcoxon_matches_scipy_and_hand_effect_size():
    d = np.array([2.0, -1.0, 3.5, 0.5, 4.0, -0.25, 1.5])
    t = paired_wilcoxon(d)
    ref = sps.wilcoxon(d)
    assert t.p_value == pytest.approx(ref.pvalue) and t.statistic == pytest.approx(ref.statistic)
    # ranks of |d|: 0.25->1, 0.5->2, 1->3, 1.5->4, 2->5, 3.5->6, 4->7; R- = 3 + 1 = 4, R+ = 24
    assert t.rank_biserial == pytest.approx((24 - 4) / 28)
    assert (t.wins, t.losses, t.n_tasks, t.n_used, t.method) == (5, 2, 7, 7, "exact")
    assert t.mean_difference == pytest.approx(d.mean())
    # all tasks improve: r = 1, and with 4 tasks the exact two-sided p is 2 / 2^4, the smallest attainable
    t4 = paired_wilcoxon([1.0, 2.0, 3.0, 4.0])
    assert t4.rank_biserial == 1.0 and t4.p_value == pytest.approx(0.125) == t4.min_attainable_p
    assert not t4.can_decide
    # zero differences are dropped: 5 tasks, 3 used, smallest attainable p 2/2^3 = 0.25
    tz = paired_wilcoxon([1.0, 0.0, 2.0, 0.0, 3.0])
    assert (tz.n_tasks, tz.n_used, tz.min_attainable_p) == (5, 3, 0.25) and tz.p_value == pytest.approx(0.25)
    # ties: ranks 1.5, 1.5, 3, 4; R+ = 6 of 10; 4 of the 16 sign patterns lie closer to 5 than 1 -> p = 12/16
    assert paired_wilcoxon([1.0, 1.0, 3.0, -4.0]).p_value == pytest.approx(0.75)
    assert wilcoxon_min_p(6) == pytest.approx(0.03125) and wilcoxon_min_p(0) == 1.0


def test_holm_hand_example():
    # sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.02]) == pytest.approx([0.02])  # a family of one: unchanged


def test_holm_matches_statsmodels_when_installed():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(3).uniform(0, 0.2, 16)
    assert holm(p) == pytest.approx(list(multitest.multipletests(p, method="holm")[1]))


# --------------------------------------------------------------------------- synthetic records


def _metrics(mcc, one_class=False):
    if one_class:  # a binary run predicting one class: MCC 0, macro recall 0.5, macro precision = accuracy / 2
        return {"mcc": 0.0, "recall_macro": 0.5, "precision_macro": 0.3, "accuracy": 0.6, "f1_macro": 0.375}
    return {"mcc": mcc, "recall_macro": 0.6 + mcc / 4, "precision_macro": 0.6 + mcc / 4, "accuracy": 0.6 + mcc / 4}


def _record(
    task,
    arm,
    seed,
    mcc,
    *,
    init="random",
    pretrained_from=None,
    out,
    one_class=False,
    n_test=300,
    cap=300,
    full=None,
    stage="finetune",
    cost=None,
):
    rec = {k: None for k in RECORD_FIELDS}
    fp = {"train": {"rows": 800}, "validation": {"rows": 300}, "test": {"rows": n_test}}
    rec.update(
        {
            "stage": stage,
            "task": task,
            "arm": arm,
            "seed": seed,
            "model": "convnova",
            "preset": "p",
            "init": init,
            "pretrained_from": pretrained_from,
            "tokenizer": {"family": "char"},
            "mode": "full",
            "problem_type": "single_label_classification",
            "primary_metric": "mcc",
            "metrics": {"test": _metrics(mcc, one_class), "validation": {"mcc": mcc}},
            "cost": cost or {"train_flops": 1e12, "train_seconds": 10.0, "eval_seconds": 1.0, "device": "cpu"},
            "dataset": {"fingerprint": fp, **({"full_rows": {"test": full}} if full else {})},
            "config": {"run": {"max_eval_samples": cap}},
            "output_dir": str(out),
            "run_name": arm,
        }
    )
    return rec


def _write(runs, recs):
    for r in recs:
        write_record(Path(r["output_dir"]) / RECORD_NAME, r)
    return runs


def _pretrain_record(runs, name, train_flops, steps, corpus="human", **cost):
    d = runs / "pretrain" / name
    rec = _record(
        None,
        name,
        0,
        0.0,
        out=d,
        stage="pretrain",
        cost={"train_flops": train_flops, "train_seconds": 100.0, "device": "cpu", "global_steps": steps, **cost},
    )
    rec["corpus"] = {
        "name": corpus,
        "bp": 1000,
        "species": {"human": 600, "mouse": 400},
        "leakage": {"gue/tf_2:test": 3},
    }
    rec["dataset"] = {"windows": {"train": {"species_share": {"human": 0.75, "mouse": 0.25}}}}
    return rec, str(d / "model")


def test_report_numbers_from_known_differences(tmp_path):
    """Arm `pre` beats `rnd` by known amounts per task; `flat` predicts one class on 2 seeds of t/a. The
    report and summary.json must recover exactly the hand-computed numbers."""
    runs = tmp_path / "runs"
    shift = {"t/a": 0.05, "t/b": 0.02, "t/c": -0.01, "t/d": 0.04, "t/e": 0.03, "t/f": 0.06}
    # `cost.flops` (analytic) is preferred over the Trainer's `cost.train_flops`
    pre_rec, pre_model = _pretrain_record(runs, "p", 9e15, 256, flops=2e15)
    recs = [pre_rec]
    for task, s in shift.items():
        extra = {"full": 300} if task == "t/b" else {}  # t/b's test split is whole (300 of 300 rows)
        for seed, (nr, npre) in enumerate([(0.0, 0.02), (0.01, -0.01), (-0.01, 0.0)]):
            out = runs / "ft" / task.replace("/", "_")
            recs.append(_record(task, "rnd", seed, 0.5 + nr, out=out / f"rnd{seed}", **extra))
            recs.append(
                _record(
                    task,
                    "pre",
                    seed,
                    0.5 + s + npre,
                    init="pretrained",
                    pretrained_from=pre_model,
                    out=out / f"pre{seed}",
                    **extra,
                )
            )
            recs.append(
                _record(
                    task,
                    "flat",
                    seed,
                    0.4 + nr,
                    out=out / f"flat{seed}",
                    one_class=(task == "t/a" and seed < 2),
                    **extra,
                )
            )
    _write(runs, recs)
    spec = {
        "name": "synthetic",
        "runs_dir": str(runs),
        "seeds": [0, 1, 2],
        "tasks": list(shift),
        "arms": {"pre": {}, "rnd": {}, "flat": {}},
        "comparisons": {"pretraining": [["pre", "rnd"]], "architecture": [["flat", "rnd"]]},
        "references": {"source": "a paper", "scores": {"Big model": {"t/a": 60.0, "t/c": 70.5}}},
    }
    specmod.validate_spec({k: v for k, v in spec.items() if k != "references"})
    path = report.build_report(spec, tmp_path / "out")
    text = path.read_text()

    # a cell: mean ± sd (n learning / n seeds), t interval by hand
    pre_a = 100 * (0.5 + 0.05 + np.array([0.02, -0.01, 0.0]))
    lo, hi = sps.t.interval(0.95, 2, loc=pre_a.mean(), scale=sps.sem(pre_a))
    assert (
        f"| t/a | `pre` | mcc | {pre_a.mean():.2f} ± {pre_a.std(ddof=1):.2f} (3/3) | [{lo:.2f}, {hi:.2f}] | measured |"
        in text
    )
    # per-task difference: Welch's interval, as scipy computes it
    a, b = 100 * (0.49 + np.array([0.02, -0.01, 0.0])), 100 * (0.5 + np.array([0.0, 0.01, -0.01]))
    ref = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert f"| `pre` - `rnd` | t/c | {a.mean() - b.mean():+.2f} | [{ref.low:+.2f}, {ref.high:+.2f}] | 3 vs 3 |" in text
    # across tasks: the per-task mean differences, exact Wilcoxon, Holm over the family of 2
    diffs = [100 * s + (100 * 0.01 / 3) for s in shift.values()]  # pre's noise averages +1/3 point
    w = sps.wilcoxon(diffs)
    flat_diffs = [-10.0] * 5  # flat on t/a did not learn (2 one-class seeds): left out
    w_flat = paired_wilcoxon(flat_diffs)
    p_holm = holm([w.pvalue, w_flat.p_value])
    assert (
        f"| `pre` - `rnd` | 6 | 6 | {np.mean(diffs):+.2f} | 5 / 1 | {w.pvalue:.3g} | {p_holm[0]:.3g} | 0.0312 |"
    ) in text
    assert "family of 2 declared comparisons" in text
    assert "| `flat` - `rnd` | t/a | left out: `flat` did not learn | - | - |" in text
    # 5 tasks used by flat - rnd: min attainable p 2/32 = 0.0625 > 0.05 -> the data cannot decide
    assert "| `flat` - `rnd` | 5 | 5 | -10.00 | 0 / 5 |" in text
    assert (
        "the data cannot decide: with 5 non-zero task differences "
        "the smallest attainable two-sided Wilcoxon p is 0.0625" in text
    )
    assert "Only `rnd` learned on t/a" in text
    # one-class runs counted per arm x task; the rule is stated
    assert "2 of 54 fine-tuning runs predict a single class" in text
    assert "| `flat` | 2/3 **did not learn** |" in text and "more than 1 one-class seed did not learn" in text
    # cost: the pretrained arm's own pretraining FLOPs from `cost.flops` (2 PFLOPs, not 9, not a sum of arms)
    assert f"{np.mean(diffs) / 2:+.3g} points per PFLOP of added pretraining" in text
    assert "`cost.flops` in 1 records" in text and "2.00e+15" in text
    # splits: n per split printed; a capped test split is flagged, a whole one is called test
    assert "| t/a | mcc | 800 | 300 | 300 | **test subsample** (300 rows; not the benchmark's test set) |" in text
    assert "| t/b | mcc | 800 | 300 | 300 | test |" in text
    # references beside the best measured arm of each task
    assert "Source: a paper." in text and "| t/c | `rnd` 50.00 | 70.50 |" in text
    for png in ("scores_by_task.png", "score_vs_compute.png", "pretraining.png", "architecture.png"):
        assert (tmp_path / "out" / png).stat().st_size > 5000

    def no_nan(x):
        raise ValueError(f"non-strict JSON constant {x}")

    summ = json.loads((tmp_path / "out" / "summary.json").read_text(), parse_constant=no_nan)
    flat_a = summ["cells"]["flat"]["t/a"]
    assert (flat_a["status"], flat_a["one_class_runs"], flat_a["mean"], flat_a["n_seeds"]) == (
        "did not learn",
        2,
        None,
        3,
    )
    cell = summ["cells"]["pre"]["t/a"]
    assert (cell["n_test"], cell["n_seeds"], cell["test_subsampled"], cell["truncated_test"]) == (300, 3, True, None)
    assert (cell["ci"]["low"], cell["ci"]["high"]) == (pytest.approx(lo), pytest.approx(hi))
    cmp = summ["comparisons"][0]
    assert (cmp["a"], cmp["b"], cmp["n_used"], cmp["min_attainable_p"]) == ("pre", "rnd", 6, pytest.approx(2 / 64))
    assert (cmp["p"], cmp["p_holm"]) == (pytest.approx(w.pvalue), pytest.approx(p_holm[0]))
    assert cmp["cost"]["added_flops"] == 2e15 and cmp["cost"]["pretraining_a"]["field"] == "cost.flops"
    tc = next(t for t in cmp["tasks"] if t["task"] == "t/c")
    assert (tc["low"], tc["high"]) == (pytest.approx(ref.low), pytest.approx(ref.high))
    assert summ["comparisons"][1]["wilcoxon"]["can_decide"] is False and summ["family_size"] == 2
    corpus = summ["corpora"]["human"]
    assert corpus["leakage"] == {"gue/tf_2:test": 3}
    assert corpus["pretraining_runs"]["p"]["window_species_shares"] == {"human": 0.75, "mouse": 0.25}


def test_comparison_cost_rates_only_a_real_difference_in_compute():
    """Points per PFLOP = the better-funded arm's gain / the FLOPs it added; two corpora pretrained for the same
    steps differ by a sliver of FLOPs, and dividing by it would give a huge, meaningless rate."""

    class Res:
        def __init__(self, flops):
            self.flops = flops

        def pretraining(self, arm):
            f = self.flops[arm]
            return {"kind": "none" if f == 0 else "ours", "flops": f, "seconds": None, "device": "cpu"}

    cost = results.comparison_cost(Res({"pre": 2e15, "rnd": 0.0}), "pre", "rnd", 3.0)
    assert (cost["added_by"], cost["added_flops"], cost["points_per_pflop"]) == ("pre", 2e15, 1.5)
    cost = results.comparison_cost(Res({"cheap": 1e15, "dear": 5e15}), "cheap", "dear", 2.0)
    assert (cost["added_by"], cost["points_per_pflop"]) == ("dear", pytest.approx(-0.5))  # dear bought -2 for 4 PFLOPs
    cost = results.comparison_cost(Res({"multi": 8.41e12, "human": 8.28e12}), "multi", "human", -1.0)
    assert cost["points_per_pflop"] is None and "1.5% apart" in cost["note"]


def test_paired_seeds_use_per_seed_differences(tmp_path):
    runs = tmp_path / "runs"
    recs = []
    for seed, (x, y) in enumerate([(0.50, 0.45), (0.60, 0.56), (0.40, 0.33)]):
        recs.append(_record("t/a", "a", seed, x, out=runs / f"a{seed}"))
        recs.append(_record("t/a", "b", seed, y, out=runs / f"b{seed}"))
    _write(runs, recs)
    spec = {
        "name": "p",
        "runs_dir": str(runs),
        "seeds": [0, 1, 2],
        "tasks": ["t/a"],
        "arms": {"a": {}, "b": {}},
        "comparisons": {"architecture": [["a", "b"]]},
        "paired_seeds": True,
    }
    res = results.Results(*results.load_records(runs))
    c = results.compare(res, "architecture", "a", "b", paired=True)
    ref = sps.ttest_rel([50, 60, 40], [45, 56, 33]).confidence_interval(0.95)
    ((_, ci),) = c.rows
    assert (ci.low, ci.high, ci.method) == (pytest.approx(ref.low), pytest.approx(ref.high), results.PAIRED_METHOD)
    text = report.build_report(spec, tmp_path / "out").read_text()
    assert "paired-by-seed t interval" in text


def test_compute_curve_table_plot_and_slope(tmp_path):
    """ConvNova pretrained at 64/128/256 steps (1, 2, 4 PFLOPs) gains 1, 2, 4 points over random init on both
    tasks: 1 point per PFLOP at every budget, and a slope of 1 through the random-init point."""
    runs = tmp_path / "runs"
    recs, arms, pretrain = [], {"conv-random": {"model": "convnova"}}, {}
    budgets = {"conv-s64": (64, 1e15, 1.0), "conv-s128": (128, 2e15, 2.0), "conv-s256": (256, 4e15, 4.0)}
    models = {}
    for arm, (steps, fl, _) in budgets.items():
        rec, models[arm] = _pretrain_record(runs, f"pre-{arm}", fl, steps)
        recs.append(rec)
        pretrain[f"pre-{arm}"] = {"model": "convnova", "max_steps": steps}
        arms[arm] = {"pretrained": f"@pre-{arm}"}
    for task in ("t/a", "t/b"):
        for seed, noise in enumerate([0.0, 0.01, -0.01]):
            out = runs / "ft" / task.replace("/", "_")
            recs.append(_record(task, "conv-random", seed, 0.3 + noise, out=out / f"r{seed}"))
            for arm, (_, _, gain) in budgets.items():
                recs.append(
                    _record(
                        task,
                        arm,
                        seed,
                        0.3 + gain / 100 + noise,
                        init="pretrained",
                        pretrained_from=models[arm],
                        out=out / f"{arm}{seed}",
                    )
                )
    _write(runs, recs)
    spec = {
        "name": "curve",
        "runs_dir": str(runs),
        "seeds": [0, 1, 2],
        "tasks": ["t/a", "t/b"],
        "pretrain": pretrain,
        "arms": arms,
        "compute_curve": {"convnova": {"random": "conv-random", "pretrained": list(budgets)}},
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    spec = specmod.load_spec(path)  # the curve validates
    text = report.build_report(spec, tmp_path / "out").read_text()
    assert "| convnova | `conv-random` | 0 | 0 | +0.00 | n/a (n < 2) | - |" in text
    row = re.search(
        r"\| convnova \| `conv-s128` \| 128 \| 2\.00e\+15 \| \+2\.00 \| \[([-+.\d]+), ([-+.\d]+)\] \| \+1 \|", text
    )
    assert row and float(row[1]) < 2.0 < float(row[2])
    assert "least-squares slope through the random-init point: +1 points per PFLOP" in text
    assert (tmp_path / "out" / "compute_curve.png").stat().st_size > 5000
    curve = json.loads((tmp_path / "out" / "summary.json").read_text())["compute_curves"]["convnova"]
    assert curve["tasks"] == ["t/a", "t/b"] and curve["slope_points_per_pflop"] == pytest.approx(1.0)
    assert [p["pretraining_steps"] for p in curve["points"]] == [0, 64, 128, 256]
    assert [p["gain"] for p in curve["points"]] == pytest.approx([0.0, 1.0, 2.0, 4.0])


def test_one_class_detection_and_split_flags():
    rec = _record("t/a", "x", 0, 0.0, out="o", one_class=True)
    assert results.one_class(results.Run.from_record(rec)) is True
    assert results.one_class(results.Run.from_record(_record("t/a", "x", 0, 0.2, out="o"))) is False
    # recall 0.5 but macro precision != accuracy / 2: both classes were predicted
    rec["metrics"]["test"]["precision_macro"] = 0.41
    assert results.one_class(results.Run.from_record(rec)) is False
    # explicit predicted-class counts win over the fallback
    rec["metrics"]["test"]["n_predicted_classes"] = 1
    assert results.one_class(results.Run.from_record(rec)) is True
    rec["metrics"]["test"] = {"mcc": 0.0}  # an old record that cannot tell
    assert results.one_class(results.Run.from_record(rec)) is None
    assert results.one_class(results.Run.from_record({**rec, "problem_type": "regression"})) is False
    # the registered binary task: k = 2 from the registry
    reg = _record("gue/prom_core_tata", "x", 0, 0.0, out="o", one_class=True)
    assert results.one_class(results.Run.from_record(reg)) is True
    assert results.test_split(_record("t", "x", 0, 0.1, out="o", n_test=300, cap=300))["test_subsampled"] is True
    # records with `dataset.n` come from the train.py that never cuts the test split
    new = _record("t", "x", 0, 0.1, out="o", n_test=300, cap=300)
    new["dataset"]["n"] = {"train": 800, "validation": 300, "test": 613}
    assert (results.test_split(new)["test_subsampled"], results.test_split(new)["n_test"]) == (False, 613)
    new["dataset"]["test_subsampled"] = True  # an explicit flag wins
    assert results.test_split(new)["test_subsampled"] is True
    assert results.test_split(_record("t", "x", 0, 0.1, out="o", n_test=120, cap=300))["test_subsampled"] is False
    assert results.test_split(_record("t", "x", 0, 0.1, out="o", n_test=300, cap=None))["test_subsampled"] is False
    full = results.test_split(_record("t", "x", 0, 0.1, out="o", n_test=300, cap=300, full=1000))
    assert (full["test_subsampled"], full["n_test_full"]) == (True, 1000)


# ----------------------------------------------------------------------- layout: who reads what


def test_report_and_leaderboard_read_spec_and_records_not_the_runner():
    for name in ("report.py", "leaderboard.py"):
        tree = ast.parse((ROOT / "assess" / name).read_text())
        imported = {(n.module or "") for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "grid" not in imported and "assess.grid" not in imported, name
    for path in (ROOT / "assess").glob("*.py"):
        assert '"results.json"' not in path.read_text(), f"{path.name}: use training.records.RECORD_NAME"


def test_records_reading_helpers(tmp_path):
    rec = _record("t/a", "x", 0, 0.2, out=tmp_path / "a")
    write_record(tmp_path / "a" / RECORD_NAME, rec)
    write_record(tmp_path / "b" / "c" / RECORD_NAME, {**rec, "seed": 1})
    got = list(iter_records(tmp_path))
    assert [p.parent.name for p, _ in got] == ["a", "c"] and got[1][1]["seed"] == 1
    assert read_record(got[0][0]) == got[0][1]
    assert record_field(rec, "dataset.fingerprint.test.rows") == 300
    assert record_field(rec, "cost.flops") is None and record_field(rec, "metrics.test.mcc.x", "d") == "d"


# ----------------------------------------------------------------------- grid, end to end


def _tiny_spec(tmp_path):
    spec = {
        "name": "tiny",
        "runs_dir": str(tmp_path / "runs"),
        "seeds": [1],  # 2 runs: every run costs ~10 s of CPU
        "tasks": ["gue/prom_core_tata"],
        "common": {
            "model": "convnova",
            "preset": "tiny",
            "tokenizer": "char",
            "max_train_samples": 64,
            "max_eval_samples": 48,
            "max_steps": 2,
            "eval_strategy": "steps",
            "eval_steps": 2,
            "save_strategy": "steps",
            "save_steps": 2,
            "per_device_train_batch_size": 16,
            "disable_tqdm": True,
        },
        "arms": {"conv-a": {"learning_rate": 1e-3}, "conv-b": {"learning_rate": 1e-2}},
        "comparisons": {"architecture": [["conv-a", "conv-b"]]},
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.slow
def test_grid_restart_report_and_leaderboard(tmp_path):
    spec_path = _tiny_spec(tmp_path)
    spec = grid.load_spec(spec_path)
    runs = grid.expand(spec)
    assert len(runs) == 2 and len({r.out for r in runs}) == 2
    # first pass stops after one run (as if interrupted), the second does the rest and skips the first
    assert len(grid.run_all(spec, limit=1)) == 1
    first = next(r for r in runs if r.done)
    stamp = read_record(first.out / RECORD_NAME)["finished_at"]
    spec["launcher"] = "inprocess"  # the second pass calls train.main in this process (both launchers covered)
    second = grid.run_all(spec)
    assert len(second) == 1 and first.out not in {r.out for r in second}
    assert all(r.done for r in grid.expand(spec))
    assert read_record(first.out / RECORD_NAME)["finished_at"] == stamp
    assert grid.run_all(spec) == []  # nothing left: no duplicate runs
    assert len(list(iter_records(tmp_path / "runs"))) == 2

    rep = report.build_report(spec, tmp_path / "report")
    text = rep.read_text()
    assert "2 fine-tuning runs" in text and "`conv-a` - `conv-b`" in text
    rec = read_record(first.out / RECORD_NAME)
    assert rec["started_at"] <= rec["finished_at"]  # ISO stamps: the run's span, summed into the wall time
    assert (
        "grid wall time" in text
        and json.loads((tmp_path / "report" / "summary.json").read_text())["grid_wall_time"]["estimated_starts"] == 0
    )
    n = rec["dataset"]["fingerprint"]["test"]["rows"]  # the whole test split (max_eval_samples cuts validation only)
    assert f"| gue/prom_core_tata | mcc | 64 | 48 | {n} | test |" in text
    summ = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summ["cells"]["conv-a"]["gue/prom_core_tata"]["n_test"] == n

    out = tmp_path / "lb"
    written = leaderboard.export(spec, out)
    assert len(written["results"]) == 2 and len(written["eval_yaml"]) == 1
    for r in grid.expand(spec):
        rec = read_record(r.out / RECORD_NAME)
        entries = parse_eval_result_entries(
            yaml.safe_load((r.out / "model" / ".eval_results" / "gue.yaml").read_text())
        )
        assert entries[0].task_id == "prom_core_tata"
        assert entries[0].value == pytest.approx(100 * rec["metrics"]["test"]["mcc"], abs=1e-4)
        card = ModelCard.load(r.out / "model" / "README.md")
        mi = {e.metric_type: e.metric_value for e in card.data.eval_results}
        assert mi["mcc"] == pytest.approx(rec["metrics"]["test"]["mcc"], abs=1e-6)
        res = json.loads((out / "results" / r.name / f"gue__prom_core_tata__seed{r.seed}.json").read_text())
        assert res["results"]["gue/prom_core_tata"]["mcc"] == rec["metrics"]["test"]["mcc"]
    ev = yaml.safe_load((out / "datasets" / "gue" / "eval.yaml").read_text())
    assert ev["tasks"] == [{"id": "prom_core_tata", "config": "prom_core_tata", "split": "test"}]


def _bad(tmp_path, **spec):
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"name": "g", "seeds": [1], "tasks": ["t"], "arms": {"a": {}}, **spec}))
    return path


def test_grid_spec_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="unknown arm 'nope'"):
        specmod.load_spec(_bad(tmp_path, comparisons={"pretraining": [["a", "nope"]]}))
    with pytest.raises(ValueError, match="unknown grid keys"):
        specmod.load_spec(_bad(tmp_path, seed=3))
    refs = {"source": "paper", "scores": {"Ref": {"gue/tf_2": 66.5}}}
    with pytest.raises(ValueError, match="reference 'Ref' names task 'gue/tf_2', which is not in the grid's tasks"):
        specmod.load_spec(_bad(tmp_path, tasks=["gue/prom_*"], references=refs))
    with pytest.raises(ValueError, match="`references` needs `source`"):
        specmod.load_spec(_bad(tmp_path, references={"Ref": {"t": 1}}))
    with pytest.raises(ValueError, match="`paired_seeds` must be true or false"):
        specmod.load_spec(_bad(tmp_path, paired_seeds="yes please"))
    with pytest.raises(ValueError, match="`primary_test` must be one of"):
        specmod.load_spec(_bad(tmp_path, primary_test="bootstrap"))
    with pytest.raises(ValueError, match="`max_one_class_seeds` must be a whole number"):
        specmod.load_spec(_bad(tmp_path, max_one_class_seeds=-1))
    assert grid.load_spec is specmod.load_spec  # the runner reads specs through spec.py too


def test_compute_curve_spec_errors(tmp_path):
    pretrain = {f"p{s}": {"model": "convnova", "max_steps": s} for s in (64, 128, 256)}
    arms = {
        "rnd": {"model": "convnova"},
        **{f"a{s}": {"pretrained": f"@p{s}"} for s in (64, 128, 256)},
        "stray": {"pretrained": "zhihan1996/DNABERT-2-117M"},
    }
    ok = {"random": "rnd", "pretrained": ["a64", "a128", "a256"]}
    assert specmod.load_spec(_bad(tmp_path, pretrain=pretrain, arms=arms, compute_curve={"convnova": ok}))
    cases = [
        ({"random": "rnd"}, "needs exactly the keys"),
        ({"random": "rnd", "pretrained": ["a64", "a128"]}, "at least 3 distinct arms"),
        ({"random": "rnd", "pretrained": ["a64", "a128", "nope"]}, "unknown arm 'nope'"),
        ({"random": "a64", "pretrained": ["a64", "a128", "a256"]}, "must be a random-init arm"),
        ({"random": "rnd", "pretrained": ["a64", "a128", "stray"]}, "must be fine-tuned from a pretraining run"),
    ]
    for entry, msg in cases:
        with pytest.raises(ValueError, match=msg):
            specmod.load_spec(_bad(tmp_path, pretrain=pretrain, arms=arms, compute_curve={"convnova": entry}))
    mixed = {**pretrain, "p256": {"model": "unet", "max_steps": 256}}
    with pytest.raises(ValueError, match="must be one model"):
        specmod.load_spec(_bad(tmp_path, pretrain=mixed, arms=arms, compute_curve={"convnova": ok}))


def test_architecture_labels_keep_tokenizers_apart():
    def rec(model, **tok):
        return Run(
            arm="a",
            model=model,
            init="random",
            corpus=None,
            tokenizer=tok,
            mode="full",
            seed=0,
            task="t",
            metric="mcc",
            value=0.0,
        )

    assert rec("convnova", family="char").architecture == "convnova"
    assert rec("dnabert2", family="char").architecture == "dnabert2 (char)"
    assert rec("dnabert2", family="kmer", k=6, overlapping=True).architecture == "dnabert2 (kmer-6o)"
    assert rec("dnabert2", family="kmer", k=6, overlapping=False).architecture == "dnabert2 (kmer-6n)"
    assert rec("dnabert2", family="bpe").architecture == "dnabert2 (bpe)"


# ----------------------------------------------------------------------- sweeps: the learning rate chosen on validation


def _swept(task, member, seed, val, test, out, one_class=False):
    rec = _record(task, member, seed, test, out=out, one_class=one_class)
    rec["metrics"]["validation"] = {"mcc": val}
    return rec


def test_report_selects_sweep_member_on_validation(tmp_path):
    """Arm `a` sweeps 3 learning rates. On t/x the 2nd value has the best mean validation MCC (though the 3rd has
    the best test MCC: test never chooses); on t/y the 1st and 2nd tie on validation (the 1st, listed first,
    wins). The arm's test scores are the chosen member's, and the declared comparison uses them."""
    runs = tmp_path / "runs"
    lrs = [1e-4, 3e-4, 1e-3]
    members = [f"a-learning_rate={v}" for v in lrs]
    val = {"t/x": [0.30, 0.50, 0.40], "t/y": [0.45, 0.45, 0.20]}
    test = {"t/x": [0.31, 0.52, 0.70], "t/y": [0.40, 0.60, 0.80]}
    noise = [0.0, 0.01, -0.01]
    recs = []
    for task in val:
        for j, m in enumerate(members):
            for seed in range(3):
                out = runs / task.replace("/", "_") / m / f"s{seed}"
                # one run of a member that is not chosen predicts one class: counted, but not in a's cells
                recs.append(
                    _swept(
                        task,
                        m,
                        seed,
                        val[task][j] + noise[seed],
                        test[task][j] + noise[seed],
                        out,
                        one_class=(task, j, seed) == ("t/x", 0, 0),
                    )
                )
        for seed in range(3):
            recs.append(
                _record(task, "b", seed, 0.35 + noise[seed], out=runs / task.replace("/", "_") / "b" / f"s{seed}")
            )
    _write(runs, recs)
    spec = {
        "name": "sweep",
        "runs_dir": str(runs),
        "seeds": [0, 1, 2],
        "tasks": list(val),
        "arms": {"a": {"sweep": {"learning_rate": lrs}}, "b": {}},
        "comparisons": {"architecture": [["a", "b"]]},
    }
    specmod.validate_spec(spec)
    text = report.build_report(spec, tmp_path / "out").read_text()
    summ = json.loads((tmp_path / "out" / "summary.json").read_text())
    chosen = summ["selection"]["arms"]["a"]
    assert (chosen["t/x"]["value"], chosen["t/x"]["member"]) == (3e-4, members[1])
    assert chosen["t/y"]["value"] == 1e-4  # a tie on validation: the value listed first
    assert chosen["t/x"]["chosen_on"] == "validation" and chosen["t/x"]["complete"] is True
    assert (chosen["t/x"]["edge"], chosen["t/y"]["edge"]) == (None, "lowest")  # 3e-4 is inside, 1e-4 the lowest
    assert "1 of 2 choices are the sweep's lowest (1) or highest (0) value" in text and "1 are inside it" in text
    assert "about 2 in 3 choices at an edge by chance" in text
    assert [c["validation_mean"] for c in chosen["t/x"]["candidates"]] == pytest.approx([30.0, 50.0, 40.0])
    assert "validation" in summ["selection"]["rule"] and "listed first" in summ["selection"]["rule"]
    # the arm's cell is the chosen member's test scores
    assert summ["cells"]["a"]["t/x"]["mean"] == pytest.approx(52.0)
    assert summ["cells"]["a"]["t/y"]["mean"] == pytest.approx(40.0)
    assert summ["cells"]["a"]["t/x"]["selected"]["value"] == 3e-4
    assert set(summ["cells"]) == {"a", "b"}  # members are not arms of their own
    # the comparison a - b per task uses the selected member: +17 on t/x, +5 on t/y
    diffs = {t["task"]: t["difference"] for t in summ["comparisons"][0]["tasks"]}
    assert diffs == {"t/x": pytest.approx(17.0), "t/y": pytest.approx(5.0)}
    assert "## Learning rate chosen on validation" in text
    assert "**0.0003: 50.00 (3)**" in text and "**0.0001: 45.00 (3)**" in text
    assert "| `a` | convnova (p), random, char, full | learning_rate: 0.0001, 0.0003, 0.001 |" in text
    # one-class runs: the scored (chosen) runs, and every sweep member's runs (2 tasks x 3 values x 3 seeds for a)
    assert (
        "0 of 12 scored runs (per arm x task x seed, the learning rate chosen on validation) predict a single "
        "class on the test split (MCC 0); counting every sweep member, 1 of 24 fine-tuning runs do"
    ) in text
    assert "| `a` | 0/3 | 0/3 | 1/18 |" in text and "| `b` | 0/3 | 0/3 | 0/6 |" in text
    assert summ["one_class_all_runs"] == {"a": {"one_class": 1, "runs": 18}, "b": {"one_class": 0, "runs": 6}}
    assert (summ["n_one_class_runs"], summ["n_scored_runs"]) == (0, 12)


def test_a_sweep_where_every_value_ties_is_not_an_edge_choice(tmp_path):
    """When no learning rate learns (validation MCC 0 at each), the first-listed value wins the tie; that says
    nothing about the sweep's range, so it is marked *all values tie* and left out of the edge count."""
    lrs = [1e-4, 3e-4, 1e-3]
    members = specmod.sweep_members({"a": {"sweep": {"learning_rate": lrs}}})
    by_member = {m: {0: _swept("t/x", m, 0, val, 0.0, tmp_path / m)} for m, val in zip(members, [0.0, 0.0, 0.0])}
    sel = specmod.select_member("a", "t/x", by_member, members)
    assert (sel.value, sel.all_tie, sel.edge) == (1e-4, True, None)
    by_member = {m: {0: _swept("t/x", m, 0, val, 0.0, tmp_path / m)} for m, val in zip(members, [0.2, 0.2, 0.1])}
    sel = specmod.select_member("a", "t/x", by_member, members)  # two of three tie: the lowest is still an edge
    assert (sel.value, sel.all_tie, sel.edge) == (1e-4, False, "lowest")
    # in the report: one tied choice (t/x) and one edge choice (t/y, the highest) out of the other 1
    runs = tmp_path / "runs"
    recs = [
        _swept(t, m, 0, v, 0.3, runs / t.replace("/", "_") / m)
        for t, vals in {"t/x": [0.0, 0.0, 0.0], "t/y": [0.1, 0.2, 0.3]}.items()
        for m, v in zip(members, vals)
    ]
    _write(runs, recs)
    spec = {
        "name": "tie",
        "runs_dir": str(runs),
        "seeds": [0],
        "tasks": ["t/x", "t/y"],
        "arms": {"a": {"sweep": {"learning_rate": lrs}}},
    }
    specmod.validate_spec(spec)
    text = report.build_report(spec, tmp_path / "out").read_text()
    assert "1 of 2 choices had every value score the same on validation (*all values tie*, at 0.00;" in text
    assert "1 of 1 choices are the sweep's lowest (0) or highest (1) value" in text and "0 are inside it" in text


def test_sweep_seeds_run_the_chosen_member_on_later_seeds(tmp_path, monkeypatch, capsys):
    """`sweep_seeds: 1`: every learning rate runs on seed 0; seeds 1 and 2 run only the value chosen on seed 0's
    validation (t/x: the 2nd; t/y: a tie between the 1st and 2nd, the 1st wins), so 3 + 2 runs per arm x task.
    The grid and the report choose alike; an interrupted pass resumes without a duplicate."""
    lrs = [1e-4, 3e-4, 1e-3]
    members = [f"a-learning_rate={v}" for v in lrs]
    val = {"t/x": [0.30, 0.50, 0.40], "t/y": [0.45, 0.45, 0.20]}  # seed 0; later seeds would choose otherwise
    ran = []

    def fake_run(spec, run, log_path):  # a record whose validation MCC is known, instead of training
        j = members.index(run.name) if run.name in members else None
        v = 0.35 if j is None else val[run.task][j]
        write_record(run.out / RECORD_NAME, _swept(run.task, run.name, run.seed, v, v + 0.01 * run.seed, run.out))
        ran.append((run.name, run.task, run.seed))
        return 0

    monkeypatch.setattr(grid, "run_one", fake_run)
    spec = {
        "name": "ss",
        "runs_dir": str(tmp_path / "runs"),
        "seeds": [0, 1, 2],
        "sweep_seeds": 1,
        "tasks": ["t/x", "t/y"],
        "arms": {"a": {"sweep": {"learning_rate": lrs}}, "b": {}},
        "comparisons": {"architecture": [["a", "b"]]},
    }
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(spec))
    spec = specmod.load_spec(tmp_path / "g.yaml")
    runs = grid.expand(spec)
    assert len(runs) == 2 * 3 * 4 and sum(r.chosen_by == "a" for r in runs) == 2 * 2 * 3
    assert grid.Progress(runs).total == 2 * (4 + 2 * 2)
    assert len(grid.run_all(spec, limit=5)) == 5  # interrupted: seed 0 of t/x (4 runs) and of t/y's first member
    started = grid.run_all(spec)
    assert len(ran) == 16 and len(set(ran)) == 16 and len(started) == 11
    later = {(t, s): n for n, t, s in ran if s > 0 and n != "b"}
    assert later == {("t/x", 1): members[1], ("t/x", 2): members[1], ("t/y", 1): members[0], ("t/y", 2): members[0]}
    assert "16 runs, 5 done, 11 to run (later seeds run the learning rate chosen on seed 0)" in capsys.readouterr().out
    assert grid.run_all(spec) == []
    # a stray later-seed run of another value (an older grid without sweep_seeds) does not choose
    stray = tmp_path / "runs" / "finetune" / "t__x" / members[2] / "seed1"
    write_record(stray / RECORD_NAME, _swept("t/x", members[2], 1, 0.99, 0.99, stray))
    summ_dir = tmp_path / "rep"
    text = report.build_report(spec, summ_dir).read_text()
    summ = json.loads((summ_dir / "summary.json").read_text())
    sel = summ["selection"]["arms"]["a"]
    assert (sel["t/x"]["member"], sel["t/y"]["member"]) == (members[1], members[0])
    assert sel["t/x"]["complete"] is True and [c["n_seeds"] for c in sel["t/x"]["candidates"]] == [1, 1, 1]
    assert summ["selection"]["sweep_seeds"] == [0]
    # the arm's cell: the chosen member on all three seeds (test = validation + 0.01 x seed)
    assert summ["cells"]["a"]["t/x"]["n_seeds"] == 3
    assert summ["cells"]["a"]["t/x"]["mean"] == pytest.approx(100 * (0.50 + 0.01))
    assert "over the sweep seed 0" in summ["selection"]["rule"] and "sweep size x 1 + 2 runs" in text
    # a later seed cannot be chosen while a sweep-seed run is missing: the error names it
    (tmp_path / "runs" / "finetune" / "t__x" / members[0] / "seed0" / RECORD_NAME).unlink()
    cond = next(r for r in grid.expand(spec) if r.chosen_by and r.task == "t/x")
    with pytest.raises(RuntimeError, match=r"not finished \(finetune a-learning_rate=0.0001 t/x seed 0\)"):
        grid.chosen_member(spec, grid.expand(spec), cond)
    with pytest.raises(ValueError, match="`sweep_seeds` must be a whole number from 1 to the number of seeds"):
        specmod.validate_spec({**spec, "sweep_seeds": 4})


def test_two_workers_share_a_grid_without_duplicates(tmp_path, monkeypatch):
    """Two workers on one runs_dir (threads here; `--workers 2` uses processes): every run is done exactly once,
    a later seed waits for its sweep-seed runs when the other worker holds them, and the choice is the same."""
    import threading

    lrs = [1e-4, 3e-4, 1e-3]
    members = [f"a-learning_rate={v}" for v in lrs]
    val = {"t/x": [0.30, 0.50, 0.40], "t/y": [0.45, 0.45, 0.20], "t/z": [0.1, 0.2, 0.3]}
    ran, lock = [], threading.Lock()

    def fake_run(spec, run, log_path):
        time.sleep(0.02)
        j = members.index(run.name) if run.name in members else None
        v = 0.35 if j is None else val[run.task][j]
        write_record(run.out / RECORD_NAME, _swept(run.task, run.name, run.seed, v, v, run.out))
        with lock:
            ran.append((run.name, run.task, run.seed))
        return 0

    monkeypatch.setattr(grid, "run_one", fake_run)
    spec = {
        "name": "w2",
        "runs_dir": str(tmp_path / "runs"),
        "archive": str(tmp_path / "archive"),
        "seeds": [0, 1, 2],
        "sweep_seeds": 1,
        "tasks": list(val),
        "arms": {"a": {"sweep": {"learning_rate": lrs}}, "b": {}},
    }
    errors = []

    def worker(tag):
        try:
            grid.run_all(spec, workers=2, tag=tag, poll_seconds=0.05)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(f"w{k} ",)) for k in (1, 2)]
    [t.start() for t in threads]
    [t.join(timeout=120) for t in threads]
    assert not errors and len(ran) == len(set(ran)) == 3 * (4 + 2 * 2)
    later = {(t, s): n for n, t, s in ran if s > 0 and n != "b"}
    assert later == {(t, s): members[[1, 0, 2][i]] for i, t in enumerate(val) for s in (1, 2)}
    assert len(list((tmp_path / "archive").rglob(RECORD_NAME))) == len(ran)


def test_report_counts_the_commits_that_made_its_records():
    recs = [{"versions": {"dnalm_assess_commit": c}} for c in ["a" * 40, "a" * 40, "b" * 40 + "-dirty", None]]
    assert results.record_commits(recs) == {"distinct": 2, "dirty": 1, "unknown": 1}
    assert report.record_commits_line(results.record_commits(recs)) == (
        "Code: the records name 2 commits (`versions.dnalm_assess_commit`); 1 records "
        "ran uncommitted code (`-dirty`), 1 name no commit."
    )


def test_grid_wall_time_is_the_union_of_run_spans():
    """Two workers' overlapping runs count once, a gap between sessions not at all; an old record without
    started_at spans its training + evaluation seconds. By hand: [0, 10] u [5, 20] = 20, [100, 110] = 10,
    and the old record [190, 200] = 10: 40 s."""

    def stamp(t):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_800_000_000 + t))

    recs = [{"started_at": stamp(a), "finished_at": stamp(b)} for a, b in ((5, 20), (0, 10), (100, 110))]
    recs.append({"finished_at": stamp(200), "cost": {"train_seconds": 8.0, "eval_seconds": 2.0}})
    wall = results.grid_wall_time(recs)
    assert wall["seconds"] == 40.0 and wall["runs"] == 4 and wall["estimated_starts"] == 1
    assert wall["last"] - wall["first"] == 200.0


def test_sweep_spec_rules(tmp_path):
    two = {"a": {"sweep": {"learning_rate": [1e-4, 1e-3]}}, "b": {"sweep": {"learning_rate": [1e-4, 1e-3, 1e-2]}}}
    with pytest.raises(ValueError, match="same number of values"):
        specmod.load_spec(_bad(tmp_path, arms=two))
    with pytest.raises(ValueError, match="has no `sweep`, but `min_sweep: 3`"):
        specmod.load_spec(_bad(tmp_path, arms={"a": {"sweep": {"learning_rate": [1, 2, 3]}}, "b": {}}, min_sweep=3))
    with pytest.raises(ValueError, match="fewer than `min_sweep: 3`"):
        specmod.load_spec(_bad(tmp_path, arms={"a": {"sweep": {"learning_rate": [1, 2]}}}, min_sweep=3))
    with pytest.raises(ValueError, match="names the sweep member 'a-learning_rate=1'; name the arm 'a'"):
        specmod.load_spec(
            _bad(
                tmp_path,
                arms={"a": {"sweep": {"learning_rate": [1, 2, 3]}}, "b": {}},
                comparisons={"pretraining": [["a-learning_rate=1", "b"]]},
            )
        )
    with pytest.raises(ValueError, match="sets 'learning_rate' and also sweeps it"):
        specmod.load_spec(_bad(tmp_path, arms={"a": {"learning_rate": 1, "sweep": {"learning_rate": [1, 2, 3]}}}))
    with pytest.raises(ValueError, match="distinct values"):
        specmod.load_spec(_bad(tmp_path, arms={"a": {"sweep": {"learning_rate": [1, 1, 3]}}}))


def test_shipped_specs_choose_every_learning_rate_on_validation():
    for name in ("grid_cpu", "grid_paper"):
        spec = specmod.load_spec(ROOT / "configs" / f"{name}.yaml")
        assert spec["min_sweep"] >= 3 and spec.get("archive")
        sizes = {arm: len(f["sweep"]["learning_rate"]) for arm, f in spec["arms"].items()}
        assert len(set(sizes.values())) == 1 and min(sizes.values()) >= 3, sizes
        members = specmod.sweep_members(spec["arms"])
        for _, a, b in specmod.declared_comparisons(spec):
            assert a in spec["arms"] and b in spec["arms"] and a not in members and b not in members
        common = spec["common"]
        assert common["eval_strategy"] == "steps" and 0 < common["eval_steps"] < 1 and common["early_stopping_patience"]
        runs = grid.expand(spec)
        tasks = specmod.expand_tasks(spec["tasks"])
        for r in runs:
            if r.kind == "pretrain":  # pretraining corpora are filtered against the grid's own tasks
                assert r.fields["leakage_tasks"] == tasks
        archive = specmod.archive_dir(spec)
        assert "runs" not in archive.relative_to(ROOT).parts  # .gitignore ignores runs/ at any depth
    paper = specmod.load_spec(ROOT / "configs" / "grid_paper.yaml")
    assert len(specmod.expand_tasks(paper["tasks"])) == 28
    assert set(paper["arms"]) >= {
        "dnabert2-published",
        "dnabert2-hg38",
        "dnabert2-multi",
        "dnabert2-random",
        "convnova-hg38",
        "convnova-multi",
        "convnova-random",
        "unet-hg38",
        "unet-multi",
        "unet-random",
        "dnabert2-char-hg38",
        "dnabert2-char-random",
    }
    cpu = specmod.load_spec(ROOT / "configs" / "grid_cpu.yaml")
    assert len(cpu["tasks"]) >= 8 and len(cpu["seeds"]) >= 3 and len(cpu["compute_curve"]) == 2
    # the CPU grid sweeps on seed 1 only: 12 pretraining runs + 18 arms x 10 tasks x (4 + 2) fine-tuning runs
    assert cpu["sweep_seeds"] == 1 and grid.Progress(grid.expand(cpu)).total == 12 + 18 * 10 * 6


# ----------------------------------------------------------------------- archive, --commit, resuming elsewhere


def _git(repo, *args):
    import subprocess

    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


@pytest.mark.slow
def test_archive_commit_and_resume_on_a_new_machine(tmp_path, shared_data, capsys):
    repo = (tmp_path / "repo").resolve()
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.org")
    _git(repo, "config", "user.name", "test")
    (repo / "other.txt").write_text("v1\n")
    (repo / "staged.txt").write_text("s1\n")
    _git(repo, "add", "other.txt", "staged.txt")
    _git(repo, "commit", "-q", "-m", "start")
    (repo / "other.txt").write_text("v2, not for the grid's commits\n")  # modified, unstaged
    (repo / "staged.txt").write_text("s2\n")
    _git(repo, "add", "staged.txt")  # staged by someone else: must stay out of the grid's commits
    fast = {
        "max_steps": 2,
        "eval_strategy": "steps",
        "eval_steps": 2,
        "save_strategy": "steps",
        "save_steps": 2,
        "per_device_train_batch_size": 8,
        "disable_tqdm": True,
    }
    spec = {
        "name": "arch",
        "runs_dir": str(tmp_path / "runs"),
        "archive": str(repo / "records"),
        "seeds": [1],
        "tasks": ["gue/prom_core_tata"],
        "launcher": "inprocess",
        "pretrain": {
            "p": {
                "model": "convnova",
                "preset": "tiny",
                "tokenizer": "char",
                "window_length": 128,
                "num_windows": 16,
                "eval_windows": 4,
                "leakage_tasks": "@tasks",
                "pretrain_fasta": [str(shared_data / "genomes" / "human_GRCh38_fragments_biopython.fa")],
                **fast,
            }
        },
        "common": {"model": "convnova", "tokenizer": "char", "max_train_samples": 32, "max_eval_samples": 32, **fast},
        "arms": {"pre": {"pretrained": "@p"}, "rnd": {"preset": "tiny"}},
        "comparisons": {"pretraining": [["pre", "rnd"]]},
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    spec = grid.load_spec(path)
    runs = grid.expand(spec)
    assert runs[0].fields["leakage_tasks"] == ["gue/prom_core_tata"]
    assert len(grid.run_all(spec, commit=True)) == 3
    printed = capsys.readouterr().out
    assert "[1/3] pretrain p seed 0" in printed and "3/3 done" in printed and "ETA" in printed
    log = _git(repo, "log", "--format=%s").splitlines()
    assert log == [
        "arch: rnd gue/prom_core_tata seed 1",
        "arch: pre gue/prom_core_tata seed 1",
        "arch: p seed 0",
        "start",
    ]
    for sha in _git(repo, "log", "--format=%H", "-3").split():
        files = _git(repo, "show", "--name-only", "--format=", sha).split()
        assert files and all(f.startswith("records/") for f in files)
    status = _git(repo, "status", "--porcelain")
    assert " M other.txt" in status and "M  staged.txt" in status and "records" not in status
    archived = repo / "records"
    assert (archived / "pretrain" / "p" / "model" / "config.json").is_file()
    assert (archived / "pretrain" / "p" / RECORD_NAME).is_file()
    assert len(list(archived.rglob(RECORD_NAME))) == 3

    # a new machine: runs_dir is gone; every run counts as done through the archive, the report reads it
    import shutil

    shutil.rmtree(tmp_path / "runs")
    assert all(r.done for r in grid.expand(spec))
    assert grid.run_all(spec) == []
    text = report.build_report(spec, tmp_path / "rep").read_text()
    assert "2 fine-tuning runs and 1 pretraining runs" in text
    summ = json.loads((tmp_path / "rep" / "summary.json").read_text())
    cost = summ["comparisons"][0]["cost"]
    assert cost["pretraining_a"]["kind"] == "ours" and cost["added_flops"] > 0  # linked by name, not by path
    # the leaderboard files name the pretraining corpus, so the Space shows the regime "pretrained: p"
    from space.submission import read_results_file

    leaderboard.export(spec, tmp_path / "lb")
    regimes = {r.arm: r.regime for f in (tmp_path / "lb" / "results").rglob("*.json") for r in read_results_file(f)}
    assert regimes == {"pre": "pretrained: p", "rnd": "random init"}
    # ... and a fine-tuning run lost from the archive is redone from the archived pretrained model
    shutil.rmtree(archived / "finetune" / "gue__prom_core_tata" / "pre")
    _git(repo, "add", "-A", "records")
    _git(repo, "commit", "-q", "-m", "drop a run", "--", "records")
    (redo,) = grid.run_all(spec, commit=True)
    assert redo.name == "pre"
    rec = read_record(archived / "finetune" / "gue__prom_core_tata" / "pre" / "seed1" / RECORD_NAME)
    assert rec["pretrained_from"] == str(archived / "pretrain" / "p" / "model")
    assert _git(repo, "log", "--format=%s", "-1").strip() == "arch: pre gue/prom_core_tata seed 1"


def test_commit_refuses_an_ignored_archive(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / ".gitignore").write_text("runs/\n")
    with pytest.raises(RuntimeError, match="git ignores"):
        grid.check_committable(repo / "reports" / "runs")
    assert grid.check_committable(repo / "reports" / "records") == repo.resolve()
