"""The leaderboard Space without a browser: its numbers (space/board.py), the submission checks
(space/submission.py), where a leaderboard comes from, the command line, the Space bundle, and that importing
the suite never imports gradio. The browser tests are in tests/test_space_browser.py."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from space import board as boardmod
from space.board import Board, SourceError, resolve_source
from space.submission import SubmissionError, check_new_runs, parse_submission, read_results_file, validate_submission

ROOT = Path(__file__).resolve().parents[1]
CPU = ROOT / "reports" / "cpu" / "leaderboard"
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def need(ok: bool, reason: str):
    """Skip locally when an optional piece is missing; in CI (CI=true) fail instead."""
    if not ok:
        if IN_CI:
            pytest.fail(f"CI: {reason}", pytrace=False)
        pytest.skip(reason)


def have_gradio() -> bool:
    try:
        import gradio  # noqa: F401
    except ImportError:
        return False
    return True


def files_of(folder: Path) -> list[Path]:
    return sorted((folder / "results").rglob("*.json"))


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def t_half(values) -> float:
    x = np.asarray(values, dtype=float)
    return float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))


# ------------------------------------------------------------------------------ the committed CPU files


@pytest.fixture(scope="module")
def cpu_board() -> Board:
    if not files_of(CPU):
        pytest.skip(f"no committed leaderboard files under {CPU}")
    return Board.from_folder(CPU)


def test_board_reads_every_committed_run(cpu_board):
    files = files_of(CPU)
    names = {load(p)["config"]["model_name"].removeprefix("dnalm-assess/") for p in files}
    n_runs = sum(len(load(p)["results"]) for p in files)
    tasks = {t for p in files for t in load(p)["results"]}
    assert set(cpu_board.arms(members=True)) == names  # every file's arm (a sweep member is its own arm here)
    assert set(cpu_board.arms()) == {cpu_board.member_of.get(n, n) for n in names}  # members grouped by the summary
    assert len(cpu_board.snapshot()) == n_runs
    assert cpu_board.tasks() == sorted(tasks)


def test_cells_match_an_independent_t_interval(cpu_board):
    """Each arm x task cell, recomputed here from the files: one-class seeds (a binary run predicting one
    class has macro recall 1/2 and macro precision accuracy/2), the report's limit of one such seed, then
    mean ± t(n-1, 0.975)·s/√n over the learning seeds. Checked per arm of the files (members=True: every sweep
    member on its own)."""
    cells = {}
    for p in files_of(CPU):
        d = load(p)
        arm = d["config"]["model_name"].removeprefix("dnalm-assess/")
        for task, m in d["results"].items():
            oc = abs(m["recall_macro"] - 0.5) < 1e-9 and abs(m["precision_macro"] - m["accuracy"] / 2) < 1e-9
            cells.setdefault((arm, task), []).append((100 * m["mcc"], oc))
    for (arm, task), vals in cells.items():
        cell = cpu_board.cell(arm, task, members=True)
        learning = [v for v, oc in vals if not oc]
        assert len(cell.scores) == len(vals)
        if len(vals) - len(learning) > cpu_board.max_one_class or not learning:  # no learning seed: nothing to average
            assert not cell.measured and cell.mean is None, (arm, task)
            continue
        assert cell.measured
        assert cell.mean == pytest.approx(np.mean(learning), abs=1e-9)
        if len(learning) < 2:  # a sweep member run on the sweep seed only: no interval from one score
            assert cell.half is None, (arm, task)
        else:
            assert cell.half == pytest.approx(t_half(learning), abs=1e-9)


def test_references_come_from_the_report(cpu_board):
    report = CPU.parent / "report.md"
    if not (report.is_file() and "## Published scores for context" in report.read_text()):
        pytest.skip("the committed report has no published-scores table")
    header = next(ln for ln in report.read_text().splitlines() if ln.startswith("| task | best arm here"))
    models = [c.strip() for c in header.strip("|").split("|")][2:]
    assert list(cpu_board.references["scores"]) == models
    # the report prints the spec's numbers for the tasks it shows
    spec = yaml.safe_load((ROOT / "configs" / "grid_cpu.yaml").read_text())
    for model, by_task in cpu_board.references["scores"].items():
        assert by_task and by_task == {t: spec["references"]["scores"][model][t] for t in by_task}
    # --spec reads the same block straight from the grid spec
    from_spec = Board.from_folder(CPU, spec=ROOT / "configs" / "grid_cpu.yaml")
    assert from_spec.references["scores"] == spec["references"]["scores"]


def test_table_rows_columns_and_filters(cpu_board):
    arms = cpu_board.arms()
    refs = cpu_board.references["scores"] if cpu_board.references else {}
    t = cpu_board.table()
    assert len(t.data) == len(arms) + len(refs)
    tasks = [t for ts in cpu_board.groups().values() for t in ts]
    assert sorted(tasks) == cpu_board.tasks()
    assert t.headers == ["arm", "source", "model", "regime", "tokenizer", "mode", *tasks, "mean", "seeds"]
    assert sorted(t.kinds) == sorted(["grid"] * len(arms) + ["published"] * len(refs))
    means = [row[-2] for row in t.data]
    assert means == sorted(means, reverse=True)  # best first by default
    assert all(len(r) == len(t.headers) == len(d) for r, d in zip(t.data, t.display))
    # without the published rows: one row per arm
    assert len(cpu_board.table(show_references=False).data) == len(arms)
    # architecture filter
    unet = [a for a, r in arms.items() if r.model == "unet"]
    only = cpu_board.table(archs=["unet"], show_references=False)
    assert sorted(row[0] for row in only.data) == sorted(unet)
    # regime filter
    rnd = cpu_board.table(regimes=["random init"], show_references=False)
    assert {row[3] for row in rnd.data} == {"random init"}
    # task-group filter: only that group's tasks are columns, and the mean is over them
    group, tasks = next(iter(cpu_board.groups().items()))
    g = cpu_board.table(groups=[group], show_references=False)
    assert g.headers[6:-2] == tasks
    for row in g.data:
        cell = cpu_board.cell(row[0], tasks[0])
        assert row[-2] == pytest.approx(cell.mean if cell.measured else np.mean(list(cell.scores.values())))


def test_regime_view_and_compute_points(cpu_board):
    view = cpu_board.regime_view()
    assert view.headers[:2] == ["task group", "architecture"] and "random init" in view.headers
    groups = {row[0] for row in view.data}
    assert groups == set(cpu_board.groups())
    pts = {p["arm"]: p for p in cpu_board.compute_points()}
    for arm, p in pts.items():
        if cpu_board.arms()[arm].init == "random":
            assert p["pretraining_flops"] == 0.0 and p["total_flops"] == p["finetune_flops"] > 0


# ------------------------------------------------------------ records -> report summary -> the Space


TASKS3 = ("gue/prom_core_tata", "gue/tf_2", "gue/mouse_0")


def _metrics(mcc: float, one_class: bool = False) -> dict:
    if one_class:  # binary, one predicted class: MCC 0, macro recall 1/2, macro precision accuracy/2
        return {
            "mcc": 0.0,
            "loss": 0.69,
            "accuracy": 0.6,
            "precision_macro": 0.3,
            "recall_macro": 0.5,
            "f1_macro": 0.375,
        }
    return {
        "mcc": mcc,
        "loss": 0.5 - mcc / 10,
        "accuracy": 0.6 + mcc / 4,
        "precision_macro": 0.6 + mcc / 4,
        "recall_macro": 0.6 + mcc / 4,
        "f1_macro": 0.6 + mcc / 5,
    }


def _record(
    task,
    arm,
    seed,
    mcc,
    out,
    *,
    init="random",
    pretrained_from=None,
    corpus=None,
    one_class=False,
    stage="finetune",
    flops=1e12,
):
    from training.records import RECORD_FIELDS

    rec = {k: None for k in RECORD_FIELDS}
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
            "corpus": corpus,
            "problem_type": "single_label_classification",
            "primary_metric": "mcc",
            "metrics": {"test": _metrics(mcc, one_class), "validation": {"mcc": mcc}},
            "cost": {
                "train_flops": flops,
                "train_seconds": 10.0,
                "eval_seconds": 1.0,
                "device": "cpu",
                "global_steps": 10,
            },
            "dataset": {"fingerprint": {"train": {"rows": 800}, "validation": {"rows": 300}, "test": {"rows": 300}}},
            "config": {"run": {}},
            "output_dir": str(out),
            "run_name": arm,
            "versions": {"python": "3", "dnalm_assess_commit": "abc"},
            "finished_at": "2026-01-01T00:00:00Z",
        }
    )
    return rec


def make_grid(tmp: Path, sweep: bool = False) -> dict:
    """A small grid's records -> assess.report (report.md, summary.json) and assess.leaderboard's per-run
    results files: the formats the Space reads, made by the suite's own code. With `sweep`, arm `rnd` sweeps
    the learning rate over two members; its 0.003 member has the better validation score on prom_core_tata only."""
    from assess import report
    from assess.leaderboard import results_json
    from training.records import RECORD_NAME, write_record

    runs = tmp / "runs"
    pre_dir = runs / "pretrain" / "p"
    pre = _record(None, "p", 0, 0.0, pre_dir, stage="pretrain", flops=3e15)
    pre["corpus"] = {"name": "human", "bp": 1000}
    recs = [pre]
    rng = np.random.default_rng(0)
    for task in TASKS3:
        for seed in (1, 2, 3, 4):
            recs.append(_record(task, "rnd", seed, 0.30 + 0.02 * rng.standard_normal(), runs / task / f"rnd{seed}"))
            recs.append(
                _record(
                    task,
                    "pre",
                    seed,
                    0.36 + 0.02 * rng.standard_normal(),
                    runs / task / f"pre{seed}",
                    init="pretrained",
                    pretrained_from=str(pre_dir / "model"),
                    corpus={"name": "human"},
                )
            )
            recs.append(
                _record(
                    task,
                    "flat",
                    seed,
                    0.1 + 0.02 * rng.standard_normal(),
                    runs / task / f"flat{seed}",
                    one_class=(task == "gue/tf_2" and seed < 3),
                )
            )
            if sweep:
                recs[-3]["arm"] = "rnd-learning_rate=0.001"
                other = _record(
                    task,
                    "rnd-learning_rate=0.003",
                    seed,
                    0.20 + 0.02 * rng.standard_normal(),
                    runs / task / f"rnd3-{seed}",
                )
                other["metrics"]["validation"]["mcc"] = 0.9 if task == "gue/prom_core_tata" else 0.01
                recs.append(other)
    for r in recs:
        write_record(Path(r["output_dir"]) / RECORD_NAME, r)
    rnd = {"sweep": {"learning_rate": [0.001, 0.003]}} if sweep else {}
    spec = {
        "name": "synthetic",
        "runs_dir": str(runs),
        "seeds": [1, 2, 3, 4],
        "tasks": list(TASKS3),
        "arms": {"rnd": rnd, "pre": {}, "flat": {}},
        "comparisons": {"pretraining": [["pre", "rnd"]], "architecture": [["flat", "rnd"]]},
        "references": {"source": "A paper, Table 1", "scores": {"Big model": {"gue/tf_2": 66.5, "gue/mouse_0": 56.8}}},
    }
    out = tmp / "report"
    report.build_report(spec, out)
    lb = out / "leaderboard"
    for r in recs[1:]:
        path = lb / "results" / r["arm"] / f"{r['task'].replace('/', '__')}__seed{r['seed']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results_json(r), indent=2))
    return {"lb": lb, "summary": json.loads((out / "summary.json").read_text()), "spec": spec, "records": recs[1:]}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return make_grid(tmp_path_factory.mktemp("grid"))


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    return make_grid(tmp_path_factory.mktemp("swept"), sweep=True)


def test_sweep_members_stand_for_their_arm_as_the_report_chose(swept):
    summary = swept["summary"]
    chosen = {t: summary["cells"]["rnd"][t]["selected"]["member"] for t in TASKS3}
    assert chosen == {
        "gue/prom_core_tata": "rnd-learning_rate=0.003",
        "gue/tf_2": "rnd-learning_rate=0.001",
        "gue/mouse_0": "rnd-learning_rate=0.001",
    }
    b = Board.from_folder(swept["lb"])
    assert set(b.arms()) == {"rnd", "pre", "flat"}  # the members are one arm
    assert b.describe()["cells"] == {"summary.json": 9}
    for task, member in chosen.items():
        cell = b.cell("rnd", task)
        want = {
            r["seed"]: 100 * r["metrics"]["test"]["mcc"]
            for r in swept["records"]
            if r["arm"] == member and r["task"] == task
        }
        assert cell.scores == pytest.approx(want)
        entry = summary["cells"]["rnd"][task]
        assert (cell.mean, cell.low, cell.high) == (entry["mean"], entry["ci"]["low"], entry["ci"]["high"])
    t = b.table()
    assert sorted(r[0] for r in t.data if t.kinds[t.data.index(r)] == "grid") == ["flat", "pre", "rnd"]
    # every member as its own row
    rows = b.table(members=True, show_references=False)
    assert sorted(r[0] for r in rows.data) == ["flat", "pre", "rnd-learning_rate=0.001", "rnd-learning_rate=0.003"]
    sel = b.selection_table()
    assert sel.data == [
        ["rnd", "learning_rate", *[str(0.003 if t == "gue/prom_core_tata" else 0.001) for t in sel.headers[2:]]]
    ]
    # a new run goes to a member, never to the swept arm's bare name
    d = load(swept["lb"] / "results" / "rnd-learning_rate=0.003" / "gue__prom_core_tata__seed1.json")
    d["config"].update(model_name="dnalm-assess/rnd", seed=9)
    d["results"]["gue/prom_core_tata"]["mcc"] = 0.1234
    with pytest.raises(SubmissionError) as err:
        b.add(json.dumps(d))
    assert err.value.field == "config.model_name" and "swept arm" in err.value.reason
    d["config"]["model_name"] = "dnalm-assess/rnd-learning_rate=0.003"
    b.add(json.dumps(d))
    cell = b.cell("rnd", "gue/prom_core_tata")
    assert cell.source == "computed" and len(cell.scores) == 5
    # without the summary nothing says which member to show: each member is its own arm
    alone = swept["lb"].parent.parent / "alone" / "leaderboard"
    shutil.copytree(swept["lb"], alone)
    assert set(Board.from_folder(alone).arms()) == {"flat", "pre", "rnd-learning_rate=0.001", "rnd-learning_rate=0.003"}


def test_summary_numbers_are_used_and_match_our_own(synthetic):
    lb, summary = synthetic["lb"], synthetic["summary"]
    with_summary = Board.from_folder(lb)
    assert with_summary.describe()["cells"] == {"summary.json": 9}
    alone = tmp_copy = lb.parent.parent / "alone" / "leaderboard"
    shutil.copytree(lb, tmp_copy)
    without = Board.from_folder(alone)
    assert without.describe()["cells"] == {"computed": 9}
    for arm, by_task in summary["cells"].items():
        for task, entry in by_task.items():
            a, b = with_summary.cell(arm, task), without.cell(arm, task)
            assert a.source == "summary.json" and b.source == "computed"
            assert a.measured == b.measured == (entry["status"] == "measured")
            assert a.one_class_seeds == b.one_class_seeds == entry["one_class_seeds"]
            if a.measured:
                assert (a.mean, a.low, a.high) == (entry["mean"], entry["ci"]["low"], entry["ci"]["high"])
                assert (b.mean, b.low, b.high) == pytest.approx((a.mean, a.low, a.high), abs=1e-9)
    # "flat" had 2 one-class seeds on tf_2: it did not learn there
    assert not with_summary.cell("flat", "gue/tf_2").measured
    assert "did not learn (2/4)" in with_summary.cell("flat", "gue/tf_2").text()
    # the regime comes from the record's corpus (assess.leaderboard keeps it when it writes `config.corpus`)
    # and the pretraining FLOPs from the summary's comparison costs
    pts = {p["arm"]: p for p in with_summary.compute_points()}
    assert pts["pre"]["pretraining_flops"] == 3e15
    assert pts["pre"]["total_flops"] == pytest.approx(3e15 + 1e12)
    assert pts["rnd"]["total_flops"] == pytest.approx(1e12)
    # references from the report's published table
    assert with_summary.references["scores"] == {"Big model": {"gue/mouse_0": 56.8, "gue/tf_2": 66.5}}
    assert with_summary.references["source"] == "A paper, Table 1"
    t = with_summary.table()
    ref_row = t.data[t.kinds.index("published")]
    assert ref_row[0] == "Big model (published)" and ref_row[-2] == pytest.approx((66.5 + 56.8) / 2)


def test_a_new_seed_recomputes_the_cell(synthetic):
    b = Board.from_folder(synthetic["lb"])
    src = synthetic["lb"] / "results" / "rnd" / "gue__mouse_0__seed1.json"
    d = load(src)
    d["config"]["seed"] = 9
    d["results"]["gue/mouse_0"]["mcc"] = 0.2468
    runs = b.add(json.dumps(d), origin="new.json")
    assert [(r.arm, r.task, r.seed, r.source) for r in runs] == [("rnd", "gue/mouse_0", 9, "submitted")]
    cell = b.cell("rnd", "gue/mouse_0")
    assert cell.source == "computed" and len(cell.scores) == 5  # the summary no longer describes this cell
    vals = list(cell.scores.values())
    assert cell.mean == pytest.approx(np.mean(vals)) and cell.half == pytest.approx(t_half(vals))
    assert b.cell("rnd", "gue/tf_2").source == "summary.json"  # the other cells keep the summary's numbers


# ------------------------------------------------------------------------------------- submissions


@pytest.fixture()
def good(synthetic) -> dict:
    """A valid new results file: a new arm on gue/tf_2."""
    d = copy.deepcopy(load(synthetic["lb"] / "results" / "rnd" / "gue__tf_2__seed1.json"))
    d["config"]["model_name"] = "someone/convnova-long"
    d["results"]["gue/tf_2"].update(mcc=0.4321, accuracy=0.71)
    return d


@pytest.fixture()
def board(synthetic) -> Board:
    return Board.from_folder(synthetic["lb"])


def test_valid_results_file_and_run_record_are_added(board, good, synthetic):
    n = len(board.arms())
    runs = board.add(json.dumps(good), origin="good.json")
    assert [(r.arm, r.task, r.seed, r.value) for r in runs] == [("someone/convnova-long", "gue/tf_2", 1, 0.4321)]
    assert len(board.arms()) == n + 1
    assert board.cell("someone/convnova-long", "gue/tf_2").text() == "43.21 (n=1, no CI)"
    t = board.table()
    row = next(r for r in t.data if r[0] == "someone/convnova-long")
    assert row[1] == "submitted" and t.kinds[t.data.index(row)] == "submitted"
    # its other tasks have no runs: shown empty, sorted last
    other = [i for i, h in enumerate(t.headers) if h.startswith("gue/") and h != "gue/tf_2"]
    assert {t.display[t.data.index(row)][i] for i in other} == {"–"}
    assert {row[i] for i in other} == {boardmod.MISSING}
    # a train.py run record: a new seed of an existing arm
    rec = copy.deepcopy(next(r for r in synthetic["records"] if r["arm"] == "pre" and r["task"] == "gue/tf_2"))
    rec["seed"] = 7
    rec["metrics"]["test"]["mcc"] = 0.3579
    runs = board.add(json.dumps(rec), origin="results.json")
    assert [(r.arm, r.seed, r.regime, r.fmt) for r in runs] == [("pre", 7, "pretrained: human", "record")]
    assert len(board.cell("pre", "gue/tf_2").scores) == 5
    # a null AUROC (one-class test split) is allowed in a metric other than the primary one
    other = copy.deepcopy(good)
    other["config"]["model_name"] = "someone/other"
    other["results"]["gue/tf_2"].update(mcc=0.1111, auroc=None)
    board.add(json.dumps(other))


def _set(d: dict, dotted: str, value):
    keys = dotted.split(".")
    node = d
    for k in keys[:-1]:
        node = node[k.replace("~", ".")]
    if value is KeyError:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value


BAD_RESULTS = [
    # (change, field named in the error, words in the reason)
    ("config", KeyError, "config", "missing"),
    ("config.model_name", "", "config.model_name", "non-empty"),
    ("config.model_arch", 7, "config.model_arch", "string"),
    ("config.init", "scratch", "config.init", "random, pretrained"),
    ("config.mode", "adapter", "config.mode", "full, lora, probe"),
    ("config.seed", "1", "config.seed", "whole number"),
    ("config.seed", True, "config.seed", "whole number"),
    ("config.tokenizer", {"family": "kmer", "overlapping": True}, "config.tokenizer.k", "k >= 1"),
    ("config.tokenizer", {"family": "sentencepiece"}, "config.tokenizer.family", "char, kmer, bpe"),
    ("results", {}, "results", "empty"),
    ("results", {"gue/no_such_task": {"mcc": 0.1}}, "results.gue/no_such_task", "not a registered task"),
    ("results", {"tf_2": {"mcc": 0.1}}, "results.tf_2", "did you mean 'gue/tf_2'"),
    ("results", {"gue/tf_2": {"accuracy": 0.7}}, "results.gue/tf_2.mcc", "primary metric"),
    ("results", {"gue/tf_2": {"mcc": 1.5}}, "results.gue/tf_2.mcc", "outside [-1, 1]"),
    ("results", {"gue/tf_2": {"mcc": "0.4"}}, "results.gue/tf_2.mcc", "finite number"),
    ("results", {"gue/tf_2": {"mcc": 0.4, "accuracy": 1.2}}, "results.gue/tf_2.accuracy", "outside [0, 1]"),
    ("results", {"gue/tf_2": {"mcc": 0.4, "loss": -0.1}}, "results.gue/tf_2.loss", "negative"),
    ("results", {"gue/tf_2": {"mcc": None}}, "results.gue/tf_2.mcc", "finite number"),
    ("cost", {"train_flops": -5}, "cost.train_flops", ">= 0"),
]


@pytest.mark.parametrize("where,value,field,words", BAD_RESULTS, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD_RESULTS)])
def test_malformed_results_file_is_refused_naming_the_field(board, good, where, value, field, words):
    _set(good, where, value)
    n = len(board.snapshot())
    with pytest.raises(SubmissionError) as err:
        board.add(json.dumps(good))
    assert err.value.field == field and words in err.value.reason, str(err.value)
    assert len(board.snapshot()) == n  # nothing added


@pytest.mark.parametrize(
    "raw,words",
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"config": {"seed": NaN}}', "NaN"),
        (b"\xff\xfe", "UTF-8"),
        (b'{"hello": 1}', "neither"),
        (b" " * 1_000_001, "more than"),
    ],
)
def test_unreadable_files_are_refused(raw, words):
    with pytest.raises(SubmissionError) as err:
        parse_submission(raw)
    assert err.value.field == "file" and words in err.value.reason


def test_run_record_checks(synthetic, board):
    rec = copy.deepcopy(synthetic["records"][0])
    rec["seed"] = 11
    for change, field, words in [
        ({"stage": "pretrain"}, "stage", "only fine-tuning"),
        ({"primary_metric": "accuracy"}, "primary_metric", "registered primary metric"),
        ({"metrics": {"validation": {}}}, "metrics.test", "non-empty object"),
        ({"task": "gue/unknown"}, "task", "not a registered task"),
        ({"arm": None, "run_name": None}, "run_name", "non-empty string"),
    ]:
        bad = {**rec, **change}
        with pytest.raises(SubmissionError) as err:
            board.add(json.dumps(bad))
        assert err.value.field == field and words in err.value.reason, (change, str(err.value))


def test_duplicates_and_arm_consistency(board, synthetic, good):
    existing = synthetic["lb"] / "results" / "rnd" / "gue__tf_2__seed1.json"
    # the very same file: same arm, task and seed
    with pytest.raises(SubmissionError) as err:
        board.add(existing.read_bytes())
    assert (
        err.value.field == "config.seed"
        and "duplicate run" in err.value.reason
        and "rnd/gue__tf_2__seed1.json" in err.value.reason
    )
    # the same run under another name and seed: same content hash
    renamed = load(existing)
    renamed["config"].update(model_name="someone/copy", seed=42)
    with pytest.raises(SubmissionError) as err:
        board.add(json.dumps(renamed))
    assert err.value.field == "results.gue/tf_2" and "content hash sha256:" in err.value.reason
    # its run record hashes like its exported file (the same numeric test metrics)
    rec = next(r for r in synthetic["records"] if (r["arm"], r["task"], r["seed"]) == ("rnd", "gue/tf_2", 1))
    with pytest.raises(SubmissionError) as err:
        board.add(json.dumps({**rec, "arm": "someone/else", "seed": 5}))
    assert err.value.field == "metrics.test" and "duplicate content" in err.value.reason
    # an arm name already shown, with another model / init / tokenizer
    for where, value, field in [
        ("config.model_arch", "unet", "config.model_arch"),
        ("config.init", "pretrained", "config.init"),
        ("config.tokenizer", {"family": "bpe"}, "config.tokenizer"),
    ]:
        d = copy.deepcopy(good)
        d["config"].update(model_name="dnalm-assess/rnd", seed=8)
        _set(d, where, value)
        with pytest.raises(SubmissionError) as err:
            board.add(json.dumps(d))
        assert err.value.field == field and "differs from arm 'rnd'" in err.value.reason
    # the same file twice: the second is refused
    board.add(json.dumps(good))
    with pytest.raises(SubmissionError, match="duplicate run"):
        board.add(json.dumps(good))


def test_submission_module_is_usable_alone(synthetic):
    """validate_submission / check_new_runs work on plain lists, without a Board."""
    existing = [r for p in files_of(synthetic["lb"]) for r in read_results_file(p)]
    ok = validate_submission(
        json.dumps(
            {
                "config": {
                    "model_name": "x/y",
                    "model_arch": "m",
                    "init": "random",
                    "tokenizer": {"family": "char"},
                    "mode": "probe",
                    "seed": 0,
                },
                "results": {"gue/mouse_0": {"mcc": -0.25}},
            }
        ),
        existing,
    )
    assert ok[0].score == -25.0 and ok[0].regime == "random init"
    with pytest.raises(SubmissionError):
        check_new_runs(ok, existing + ok)


def test_submissions_folder_persists_accepted_runs(synthetic, good, tmp_path):
    b = Board.from_folder(synthetic["lb"], submissions_dir=tmp_path / "subs")
    b.add(json.dumps(good), origin="good.json")
    again = Board.from_folder(synthetic["lb"], submissions_dir=tmp_path / "subs")
    assert "someone/convnova-long" in again.arms()
    assert again.arms()["someone/convnova-long"].source == "submitted"


# ------------------------------------------------------------------------------- where a board comes from


def test_hub_id_offline_fails_fast_saying_to_pass_a_folder(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(SourceError) as err:
        resolve_source("someone/dna-leaderboard")
    assert time.monotonic() - start < 1.0
    assert "offline" in str(err.value) and "local leaderboard folder" in str(err.value)


def test_neither_folder_nor_hub_id(tmp_path):
    with pytest.raises(SourceError, match="neither an existing folder nor a Hub dataset repo id"):
        resolve_source(str(tmp_path / "missing" / "deeper"))
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(SourceError, match="not a folder"):
        resolve_source(str(tmp_path / "f.txt"))
    with pytest.raises(SourceError, match="no results files"):
        Board.from_folder(tmp_path)


def test_bad_file_in_folder_names_it(synthetic, tmp_path):
    lb = tmp_path / "lb"
    shutil.copytree(synthetic["lb"], lb)
    bad = lb / "results" / "rnd" / "gue__tf_2__seed2.json"
    d = load(bad)
    d["results"]["gue/tf_2"]["mcc"] = 3.0
    bad.write_text(json.dumps(d))
    with pytest.raises(SourceError) as err:
        Board.from_folder(lb)
    assert "gue__tf_2__seed2.json: results.gue/tf_2.mcc" in str(err.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_hub_id_unreachable_fails_in_seconds(tmp_path):
    """Online mode but no Hub: `python -m space.app --results owner/name` exits 2 quickly with the hint."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}", HF_HOME=str(tmp_path / "hf"))
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "space.app", "--results", "someone/dna-leaderboard"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert time.monotonic() - start < 30
    assert "could not download the Hub dataset repo 'someone/dna-leaderboard'" in proc.stderr
    assert "pass a local leaderboard folder" in proc.stderr
    offline = subprocess.run(
        [sys.executable, "-m", "space.app", "--results", "someone/dna-leaderboard"],
        cwd=ROOT,
        env={**env, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert offline.returncode == 2 and "Hub is offline" in offline.stderr


# ---------------------------------------------------------------------------------- imports, app, bundle


@pytest.mark.slow
def test_importing_the_suite_never_imports_gradio():
    code = (
        "import sys, modeling, data_scripts, training.records, assess.report, assess.leaderboard, "
        "space, space.board, space.submission, space.app, space.browser, space.screenshot, space.bundle; "
        "bad = sorted(m for m in ('gradio', 'playwright', 'fastapi') if m in sys.modules); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_app_builds_and_check_runs(cpu_board):
    need(have_gradio(), 'gradio is not installed (pip install -e ".[space]")')
    from space.app import X_FINETUNE, X_TOTAL, build_app, plot_frame

    demo = build_app(cpu_board)
    assert type(demo).__name__ == "Blocks"
    total, note = plot_frame(cpu_board, None, None, None, X_TOTAL)
    fine, _ = plot_frame(cpu_board, None, None, None, X_FINETUNE)
    points = cpu_board.compute_points()
    assert len(fine) == sum(1 for p in points if p["finetune_flops"])
    assert sorted(total["arm"]) == sorted(p["arm"] for p in points if p["total_flops"])
    for p in points:  # an arm left off the total-compute plot is named under it
        assert bool(p["total_flops"]) or p["arm"] in note
    proc = subprocess.run(
        [sys.executable, "-m", "space.app", "--results", str(CPU), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(rf"{len(cpu_board.snapshot())} runs, {len(cpu_board.arms())} arms", proc.stdout)


@pytest.mark.slow
def test_bundle_is_a_space_repo_that_runs_alone(tmp_path):
    need(have_gradio(), 'gradio is not installed (pip install -e ".[space]")')
    if not files_of(CPU):
        pytest.skip("no committed leaderboard files")
    from space.bundle import bundle

    out = bundle(tmp_path / "space", CPU)
    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py" and (out / header["app_file"]).is_file()
    import gradio

    assert header["sdk_version"] == gradio.__version__  # the version the tests ran
    assert "gradio" in (out / "requirements.txt").read_text()
    env = {**os.environ, "PYTHONPATH": ""}
    proc = subprocess.run(
        [sys.executable, "app.py", "--check"], cwd=out, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(files_of(CPU))} runs" in proc.stdout
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import dnalm_core, space, assess.stats; print(dnalm_core.__file__, space.__file__, assess.stats.__file__)",
        ],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert all(p.startswith(str(out)) for p in where.stdout.split()), where.stdout


def test_cpu_board_loads_fast():
    start = time.monotonic()
    b = Board.from_folder(CPU)
    b.table()
    b.regime_view()
    assert time.monotonic() - start < 10


def test_module_docs_state_the_ci_method():
    assert "t(n-1, 0.975)" in boardmod.CELL_METHOD
