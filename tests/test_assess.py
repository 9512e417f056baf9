"""The assessment layer: statistics, grid runner restarts, report and leaderboard files."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from huggingface_hub import ModelCard, parse_eval_result_entries
from scipy import stats as sps

from assess import grid, leaderboard, report
from assess.stats import bootstrap_ci, bootstrap_diff_ci, paired_wilcoxon

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------- statistics


def test_paired_wilcoxon_matches_scipy_and_hand_effect_size():
    d = np.array([2.0, -1.0, 3.5, 0.5, 4.0, -0.25, 1.5])
    t = paired_wilcoxon(d)
    ref = sps.wilcoxon(d)
    assert t.p_value == pytest.approx(ref.pvalue) and t.statistic == pytest.approx(ref.statistic)
    # ranks of |d|: 0.25->1, 0.5->2, 1->3, 1.5->4, 2->5, 3.5->6, 4->7; R- = 3 + 1 = 4, R+ = 24
    assert t.rank_biserial == pytest.approx((24 - 4) / 28)
    assert (t.wins, t.losses, t.n_tasks) == (5, 2, 7)
    assert t.mean_difference == pytest.approx(d.mean())
    # all tasks improve: r = 1, and with 4 tasks the exact two-sided p is 2 / 2^4
    t4 = paired_wilcoxon([1.0, 2.0, 3.0, 4.0])
    assert t4.rank_biserial == 1.0 and t4.p_value == pytest.approx(0.125)


def test_bootstrap_cis_cover_the_mean_and_shrink_with_n():
    rng = np.random.default_rng(1)
    small, big = rng.normal(70, 2, 5), rng.normal(70, 2, 200)
    lo, hi = bootstrap_ci(small)
    assert lo < small.mean() < hi
    blo, bhi = bootstrap_ci(big)
    assert (bhi - blo) < (hi - lo)
    # the CI of the mean of 200 normals is close to the normal-theory one (1.96 sd / sqrt(n))
    half = 1.96 * big.std(ddof=1) / np.sqrt(big.size)
    assert (bhi - blo) / 2 == pytest.approx(half, rel=0.1)
    # arms resample their seeds independently: the difference's CI is centred on the shift and about
    # sqrt(2) times as wide as one arm's CI (the two arms have the same spread here)
    dlo, dhi = bootstrap_diff_ci(big + 5, big)
    assert dlo < 5.0 < dhi
    assert (dhi - dlo) == pytest.approx(np.sqrt(2) * (bhi - blo), rel=0.15)


# --------------------------------------------------------------------------- synthetic records


def _record(task, arm, seed, mcc, init="random", pretrained_from=None, out="x"):
    return {
        "stage": "finetune", "task": task, "arm": arm, "seed": seed, "model": "convnova", "preset": "p",
        "init": init, "pretrained_from": pretrained_from, "tokenizer": {"family": "char"}, "mode": "full",
        "primary_metric": "mcc", "metrics": {"test": {"mcc": mcc}, "validation": {"mcc": mcc}},
        "cost": {"train_flops": 1e12, "train_seconds": 10.0, "eval_seconds": 1.0, "device": "cpu"},
        "output_dir": out, "run_name": arm,
    }


def test_report_numbers_from_known_differences(tmp_path, monkeypatch):
    """Arm `pre` beats `rnd` by a known amount per task; the report must recover exactly that."""
    runs = tmp_path / "runs"
    shift = {"t/a": 0.05, "t/b": 0.02, "t/c": -0.01, "t/d": 0.04, "t/e": 0.03}
    pre_dir = runs / "pretrain" / "p"
    recs = []
    for task, s in shift.items():
        for seed, noise in enumerate([0.0, 0.01, -0.01]):
            recs.append(_record(task, "rnd", seed, 0.5 + noise))
            recs.append(_record(task, "pre", seed, 0.5 + s + noise, init="pretrained", pretrained_from=str(pre_dir / "model")))
    pre_rec = {**_record("-", "p", 0, 0.0), "stage": "pretrain", "output_dir": str(pre_dir)}
    pre_rec["cost"] = {**pre_rec["cost"], "train_flops": 2e15, "train_seconds": 100.0}
    for i, r in enumerate(recs + [pre_rec]):
        d = runs / f"r{i}"
        d.mkdir(parents=True)
        (d / "results.json").write_text(json.dumps(r))
    monkeypatch.setattr(report, "ROOT", tmp_path)
    spec = {"name": "synthetic", "runs_dir": "runs", "seeds": [0, 1, 2], "tasks": list(shift),
            "arms": {"pre": {}, "rnd": {}}, "comparisons": {"pretraining": [["pre", "rnd"]]},
            "references": {"source": "a paper", "scores": {"Big model": {"t/a": 60.0, "t/c": 70.5}}}}
    path = report.build_report(spec, tmp_path / "out")
    text = path.read_text()
    ref = sps.wilcoxon([100 * s for s in shift.values()])
    assert f"| `pre` - `rnd` | 5 | {100 * np.mean(list(shift.values())):+.2f} | 4 / 1 | {ref.statistic:g} | {ref.pvalue:.3g} |" in text
    assert "| t/a | `pre` | mcc | 55.00 ± 1.00 (3) |" in text
    row = re.search(r"\| `pre` - `rnd` \| t/c \| -1\.00 \| \[([-+.\d]+), ([-+.\d]+)\] \| 3 vs 3 \|", text)
    assert row and float(row[1]) < -1.0 < float(row[2])
    # cost: 2 PFLOPs of pretraining for +2.6 points -> 1.3 points per PFLOP, quoted in the answer
    assert "+1.3 points per PFLOP" in text
    # architecture x regime: the 5 unregistered tasks are their own groups; t/a: 50.00 vs 55.00
    assert "| t/a | convnova | 50.00 [49.00, 51.00] | 55.00 [54.00, 56.00] |" in text
    assert "2.00e+15" in text
    # published references sit beside the best arm of each task (t/c: rnd 50.00 beats pre 49.00)
    assert "Source: a paper." in text
    assert "| t/a | `pre` 55.00 | 60.00 |" in text and "| t/c | `rnd` 50.00 | 70.50 |" in text and "| t/b | `pre` 52.00 | - |" in text
    for png in ("scores_by_task.png", "score_vs_compute.png", "pretraining.png"):
        assert (tmp_path / "out" / png).stat().st_size > 5000


# ----------------------------------------------------------------------- grid, end to end


def _tiny_spec(tmp_path):
    spec = {
        "name": "tiny",
        "runs_dir": str(tmp_path / "runs"),
        "seeds": [1, 2],
        "tasks": ["gue/prom_core_tata"],
        "common": {"model": "convnova", "preset": "tiny", "tokenizer": "char", "max_train_samples": 64,
                   "max_eval_samples": 48, "max_steps": 2, "eval_strategy": "steps", "eval_steps": 2,
                   "save_strategy": "steps", "save_steps": 2, "per_device_train_batch_size": 16,
                   "disable_tqdm": True},
        "arms": {"conv-a": {"learning_rate": 1e-3}, "conv-b": {"learning_rate": 1e-2}},
        "comparisons": {"architecture": [["conv-a", "conv-b"]]},
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_grid_restart_report_and_leaderboard(tmp_path):
    spec_path = _tiny_spec(tmp_path)
    spec = grid.load_spec(spec_path)
    runs = grid.expand(spec)
    assert len(runs) == 4 and len({r.out for r in runs}) == 4
    # first pass stops after one run (as if interrupted), the second does the rest and skips the first
    assert len(grid.run_all(spec, limit=1)) == 1
    first = next(r for r in runs if r.done)
    stamp = json.loads((first.out / "results.json").read_text())["finished_at"]
    spec["launcher"] = "inprocess"  # the second pass calls train.main in this process (both launchers covered)
    second = grid.run_all(spec)
    assert len(second) == 3 and first.out not in {r.out for r in second}
    assert all(r.done for r in grid.expand(spec))
    assert json.loads((first.out / "results.json").read_text())["finished_at"] == stamp
    assert grid.run_all(spec) == []  # nothing left: no duplicate runs
    assert len(list((tmp_path / "runs").rglob("results.json"))) == 4

    rep = report.build_report(spec, tmp_path / "report")
    text = rep.read_text()
    assert "4 fine-tuning runs" in text and "`conv-a` - `conv-b`" in text

    out = tmp_path / "lb"
    written = leaderboard.export(spec, out)
    assert len(written["results"]) == 4 and len(written["eval_yaml"]) == 1
    for r in grid.expand(spec):
        rec = json.loads((r.out / "results.json").read_text())
        entries = parse_eval_result_entries(yaml.safe_load((r.out / "model" / ".eval_results" / "gue.yaml").read_text()))
        assert entries[0].task_id == "prom_core_tata"
        assert entries[0].value == pytest.approx(100 * rec["metrics"]["test"]["mcc"], abs=1e-4)
        card = ModelCard.load(r.out / "model" / "README.md")
        mi = {e.metric_type: e.metric_value for e in card.data.eval_results}
        assert mi["mcc"] == pytest.approx(rec["metrics"]["test"]["mcc"], abs=1e-6)
        res = json.loads((out / "results" / r.name / f"gue__prom_core_tata__seed{r.seed}.json").read_text())
        assert res["results"]["gue/prom_core_tata"]["mcc"] == rec["metrics"]["test"]["mcc"]
    ev = yaml.safe_load((out / "datasets" / "gue" / "eval.yaml").read_text())
    assert ev["tasks"] == [{"id": "prom_core_tata", "config": "prom_core_tata", "split": "test"}]


def test_grid_spec_errors_name_the_problem(tmp_path):
    bad = tmp_path / "g.yaml"
    bad.write_text(yaml.safe_dump({"name": "g", "seeds": [1], "tasks": ["t"], "arms": {"a": {}},
                                   "comparisons": {"pretraining": [["a", "nope"]]}}))
    with pytest.raises(ValueError, match="unknown arm 'nope'"):
        grid.load_spec(bad)
    bad.write_text(yaml.safe_dump({"name": "g", "seeds": [1], "tasks": ["t"], "arms": {"a": {}}, "seed": 3}))
    with pytest.raises(ValueError, match="unknown grid keys"):
        grid.load_spec(bad)
    refs = {"source": "paper", "scores": {"Ref": {"gue/tf_2": 66.5}}}
    bad.write_text(yaml.safe_dump({"name": "g", "seeds": [1], "tasks": ["gue/prom_*"], "arms": {"a": {}}, "references": refs}))
    with pytest.raises(ValueError, match="reference 'Ref' names task 'gue/tf_2', which is not in the grid's tasks"):
        grid.load_spec(bad)
    bad.write_text(yaml.safe_dump({"name": "g", "seeds": [1], "tasks": ["t"], "arms": {"a": {}}, "references": {"Ref": {"t": 1}}}))
    with pytest.raises(ValueError, match="`references` needs `source`"):
        grid.load_spec(bad)


def test_architecture_labels_keep_tokenizers_apart():
    def rec(model, **tok):
        return {"model": model, "tokenizer": tok}

    assert report.architecture(rec("convnova", family="char")) == "convnova"
    assert report.architecture(rec("dnabert2", family="char")) == "dnabert2 (char)"
    assert report.architecture(rec("dnabert2", family="kmer", k=6, overlapping=True)) == "dnabert2 (kmer-6o)"
    assert report.architecture(rec("dnabert2", family="kmer", k=6, overlapping=False)) == "dnabert2 (kmer-6n)"
    assert report.architecture(rec("dnabert2", family="bpe")) == "dnabert2 (bpe)"
