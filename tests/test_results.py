"""assess/results.py, the grid's numbers made once: a cell against a hand computation, the one-class rule, the
run and its labels read from a train.py record and from the leaderboard file made of it, and the Summary."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import pytest

from assess.leaderboard import results_json
from assess.results import PUBLISHED, RANDOM, Run, Summary, cell_from_summary, cell_of, mean_over_cells, one_class
from dnalm_core.registry import TASKS
from space.submission import SubmissionError, parse_submission

TASK = "gue/prom_core_tata"  # registered: binary, MCC
T_2 = 4.302653  # t(2, 0.975), from a printed t table
GROUP = TASKS.get(TASK).group  # the task group is the registry's


def record(seed: int, mcc: float, *, arm="a", init="random", corpus=None, tokenizer=None, test=None) -> dict:
    """A train.py fine-tuning record with what the report and the leaderboard read."""
    acc = 0.6 + mcc / 4
    return {
        "stage": "finetune",
        "task": TASK,
        "arm": arm,
        "run_name": arm,
        "seed": seed,
        "model": "dnabert2",
        "preset": "tiny",
        "init": init,
        "pretrained_from": None if init == "random" else "somewhere/model",
        "tokenizer": tokenizer or {"family": "char"},
        "mode": "full",
        "corpus": corpus,
        "problem_type": "single_label_classification",
        "primary_metric": "mcc",
        "metrics": {"test": test or {"mcc": mcc, "accuracy": acc, "recall_macro": acc, "precision_macro": acc}},
        "cost": {"train_flops": 1e12, "train_seconds": 5.0},
        "versions": {"dnalm_assess_commit": "abc"},
        "dataset": {"name": "gue", "config": "prom_core_tata"},
        "finished_at": "2026-01-01T00:00:00Z",
    }


ONE_CLASS = {"mcc": 0.0, "accuracy": 0.7, "recall_macro": 0.5, "precision_macro": 0.35}  # predicts one of 2 classes


def test_cell_against_a_hand_computation():
    """Seeds 0-2 score MCC 0.5, 0.6, 0.7 and seed 3 predicts one class. One one-class seed is allowed: the cell is
    measured over 50, 60, 70: mean 60, s = 10, half-width t(2, 0.975) * 10 / sqrt(3) = 24.84."""
    runs = [Run.from_record(record(s, m)) for s, m in enumerate([0.5, 0.6, 0.7])]
    runs.append(Run.from_record(record(3, 0.0, test=ONE_CLASS)))
    cell = cell_of(TASK, "a", runs, max_one_class=1)
    half = T_2 * 10 / math.sqrt(3)
    assert (cell.measured, cell.one_class_seeds, cell.unknown_seeds) == (True, [3], [])
    assert list(cell.learning) == [0, 1, 2]
    assert (cell.mean, cell.sd) == (pytest.approx(60.0), pytest.approx(10.0))
    assert (cell.low, cell.high) == (pytest.approx(60 - half, abs=1e-4), pytest.approx(60 + half, abs=1e-4))
    assert cell.mean_all_seeds == pytest.approx((50 + 60 + 70 + 0) / 4)
    assert cell.text() == f"60.00 ± {half:.2f} (n=3)"
    # a second one-class seed: more than the limit, so the cell did not learn and has no mean
    runs.append(Run.from_record(record(4, 0.0, test=ONE_CLASS)))
    cell = cell_of(TASK, "a", runs, max_one_class=1)
    assert (cell.measured, cell.one_class_seeds, cell.mean, cell.low) == (False, [3, 4], None, None)
    assert cell.text() == "did not learn (2/5)" and cell.sort_value == pytest.approx(180 / 5)


def test_mean_over_cells_is_the_mean_of_measured_cell_means():
    """Two measured tasks (means 60 and 30) and one that did not learn: mean (60 + 30) / 2 over 2 cells."""
    a = cell_of(TASK, "a", [Run.from_record(record(s, m)) for s, m in enumerate([0.5, 0.6, 0.7])], 1)
    b = cell_of(
        "t/b", "a", [Run.from_record({**record(s, m), "task": "t/b"}) for s, m in enumerate([0.2, 0.3, 0.4])], 1
    )
    dead = cell_of(TASK, "a", [Run.from_record(record(s, 0.0, test=ONE_CLASS)) for s in range(3)], 1)
    ci, k = mean_over_cells([a, b, dead])
    assert k == 2 and ci.difference == pytest.approx(45.0)
    # se^2 = (1/2)^2 (100/3 + 100/3) by hand; a symmetric interval around 45
    assert ci.high - 45.0 == pytest.approx(45.0 - ci.low)
    assert mean_over_cells([dead]) == (None, 0)


def test_one_class_from_predicted_class_counts_alone():
    """A record with `predicted_class_counts` and no n_predicted_classes: the counts decide, even where macro
    recall and precision look like one class (and the other way round)."""

    def run(test):
        return Run.from_record(record(0, test["mcc"], test=test))

    assert one_class(run({"mcc": 0.0, "predicted_class_counts": [613, 0]})) is True
    assert one_class(run({"mcc": 0.0, "predicted_class_counts": {"0": 0, "1": 613}})) is True
    assert one_class(run({**ONE_CLASS, "predicted_class_counts": [300, 313]})) is False
    assert one_class(run({"mcc": 0.1, "predicted_class_counts": [300, 313]})) is False
    # without counts, the recall/precision rule; with no recall at all, the record cannot tell
    assert one_class(run(ONE_CLASS)) is True
    assert one_class(run({"mcc": 0.0})) is None
    # the Space reads the counts of a submitted record with the same rule, and refuses counts that are not counts
    (sub,) = parse_submission(json.dumps(record(0, 0.0, test={"mcc": 0.0, "predicted_class_counts": [613, 0]})))
    assert one_class(sub) is True
    bad = record(0, 0.0, test={"mcc": 0.0, "predicted_class_counts": [613, "x"]})
    with pytest.raises(SubmissionError) as err:
        parse_submission(json.dumps(bad))
    assert err.value.field == "metrics.test.predicted_class_counts"


@pytest.mark.parametrize(
    "init, corpus, tokenizer, regime, architecture",
    [
        ("random", None, {"family": "char"}, RANDOM, "dnabert2 (char)"),
        (
            "pretrained",
            {"name": "human", "bp": 10},
            {"family": "kmer", "k": 6, "overlapping": True},
            "pretrained: human",
            "dnabert2 (kmer-6o)",
        ),
        ("pretrained", None, {"family": "bpe"}, PUBLISHED, "dnabert2 (bpe)"),
    ],
)
def test_a_run_from_its_record_and_from_its_leaderboard_file_agree(init, corpus, tokenizer, regime, architecture):
    """The report reads the record, the Space reads the leaderboard file assess.leaderboard writes from it: the
    same labels, and the same cell (one seed predicting one class, found by the recall/precision rule in the file,
    which carries only float metrics)."""
    tests = [None, None, ONE_CLASS]
    recs = [
        record(s, m, init=init, corpus=corpus, tokenizer=tokenizer, test=t)
        for s, (m, t) in enumerate(zip([0.41, 0.47, 0.0], tests))
    ]
    from_record = [Run.from_record(r) for r in recs]
    from_file = [run for r in recs for run in parse_submission(json.dumps(results_json(r)), source="grid")]
    for a, b in zip(from_record, from_file):
        assert (a.regime, a.architecture, a.group) == (regime, architecture, GROUP)
        assert (b.arm, b.regime, b.architecture, b.tokens) == (a.arm, a.regime, a.architecture, a.tokens)
        assert b.group == a.group
        assert (b.seed, b.score) == (a.seed, a.score)
    ca, cb = cell_of(TASK, "a", from_record, 1), cell_of(TASK, "a", from_file, 1)
    assert (ca.one_class_seeds, cb.one_class_seeds) == ([2], [2])
    assert (cb.mean, cb.low, cb.high) == (ca.mean, ca.low, ca.high) and ca.mean == pytest.approx(44.0)


def test_summary_cell_round_trip():
    """summary.json's cell entry read back (the Space's path) gives the numbers the report computed."""
    from assess.results import cell_json

    runs = [Run.from_record(record(s, m)) for s, m in enumerate([0.5, 0.6, 0.7])]
    cell = cell_of(TASK, "a", runs, 1)
    info = {"n_test": 613, "test_subsampled": False}
    entry = json.loads(json.dumps(cell_json(cell, info, None)))
    back = cell_from_summary(TASK, "a", {int(s): v for s, v in entry["scores"].items()}, entry)
    assert (back.measured, back.mean, back.low, back.high, back.source) == (
        True,
        cell.mean,
        cell.low,
        cell.high,
        "summary.json",
    )
    assert back.text() == cell.text()


def test_summary_json_is_its_fields_in_order():
    """summary.json is the Summary's fields, in order: a new number is one new field."""
    names = [f.name for f in dataclasses.fields(Summary)]
    s = Summary(**{n: None for n in names})
    assert list(s.to_json()) == names
    assert s.to_json()["name"] is None
    s.methods = {"x": float("nan")}
    assert s.to_json()["methods"] == {"x": None}  # strict JSON: null, never NaN


def test_results_module_imports_no_torch():
    code = (
        "import sys, assess.results, assess.report, space.board; "
        "print(sorted(m for m in ('torch', 'transformers', 'gradio') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
