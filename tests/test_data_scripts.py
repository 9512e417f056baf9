"""Task registry, benchmark builders (GUE, NT revised, Genomic Benchmarks), dataset cards and load_task.

Values are checked against independent references: the GUE CSVs read with the `csv` module, the
shared data README's table of published MCCs, the paper's 28-task averages, the NT sample's own label
counts, and sequences worked out by hand from a FASTA written here.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from data_scripts.build import build, main
from data_scripts.common import BuildError, stratified_holdout
from data_scripts.genomic_benchmarks import reverse_complement
from data_scripts.tasks import TaskDataError, load_task
from dnalm_core.registry import TASKS

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "data" / "gue"
SHARED_GUE_TASKS = ["prom_core_tata", "prom_300_tata", "mouse_0", "tf_2"]


def quiet(*_a, **_k):
    pass


def read_csv_rows(path: Path) -> list[tuple[str, int]]:
    with open(path, newline="") as f:
        r = csv.reader(f)
        assert next(r) == ["sequence", "label"]
        return [(row[0], int(row[1])) for row in r]


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------ registry
def test_registry_has_every_task_of_the_three_benchmarks():
    gue = [e for _, e in TASKS.items() if e.benchmark == "gue"]
    nt = [e for _, e in TASKS.items() if e.benchmark == "nt"]
    gb = [e for _, e in TASKS.items() if e.benchmark == "gb"]
    assert (len(gue), len(nt), len(gb)) == (28, 18, 9)
    groups = Counter(e.source_path.split("/")[0] for e in gue)
    assert groups == {"EMP": 10, "prom": 6, "tf": 5, "mouse": 5, "virus": 1, "splice": 1}
    assert sum(e.config_name.startswith("prom_300") for e in gue) == 3
    e = TASKS.get("gue/prom_core_tata")
    assert (e.source_path, e.config_name, e.num_labels, e.metric, e.seq_len) == (
        "prom/prom_core_tata",
        "prom_core_tata",
        2,
        "mcc",
        70,
    )
    assert TASKS.get("gue/tf_2").source_path == "tf/2" and TASKS.get("gue/mouse_0").source_path == "mouse/0"
    assert TASKS.get("gue/covid").num_labels == 9 and TASKS.get("gue/covid").metric == "f1_macro"
    assert TASKS.get("gue/splice_reconstructed").num_labels == 3
    # run_dnabert2.sh model_max_length values
    assert TASKS.get("gue/prom_core_tata").max_tokens["bpe"] == 20
    assert TASKS.get("gue/H3").max_tokens["bpe"] == 128 and TASKS.get("gue/covid").max_tokens["bpe"] == 256
    for e in TASKS.get("gb/human_nontata_promoters"), TASKS.get("gb/demo_human_or_worm"):
        assert e.metric == "accuracy" and "mcc" in e.also_report
    assert TASKS.get("gb/human_ensembl_regulatory").label_names == ("enhancer", "ocr", "promoter")
    for e in gue + nt + gb:
        assert len(e.label_names) == e.num_labels and e.max_tokens["char"] == e.seq_len + 2


def test_published_gue_numbers_match_independent_sources(shared_data):
    # the shared data README's table (DNABERT-2, NT-2500M-multi, DNABERT 6-mer) ...
    text = (shared_data / "README.md").read_text()
    rows = re.findall(r"^\| (\w+) \| (\S+) .*\| ([\d.]+) \|$", text, flags=re.M)
    dnabert2 = {folder: float(v) for folder, _, v in rows}
    assert len(dnabert2) >= 4 and {"prom_core_tata", "prom_300_tata", "mouse_0", "tf_2"} <= set(dnabert2)
    for folder, v in dnabert2.items():
        assert TASKS.get(f"gue/{folder}").published["DNABERT-2"] == v
    # this sentence names the four tasks of the first shared release, in this order
    line = re.search(r"NT-2500M-multi ([\d.]+) / ([\d.]+) / ([\d.]+) / ([\d.]+)", text)
    for folder, v in zip(["prom_core_tata", "prom_300_tata", "mouse_0", "tf_2"], line.groups()):
        assert TASKS.get(f"gue/{folder}").published["NT-2500M-multi"] == float(v)
    # ... and the paper's 28-task averages (DNABERT-2 66.80, DNABERT-2 further pretrained 67.77)
    gue = [e for _, e in TASKS.items() if e.benchmark == "gue"]
    mean = lambda m: sum(e.published[m] for e in gue) / len(gue)  # noqa: E731
    assert abs(mean("DNABERT-2") - 66.80) < 0.015
    assert abs(mean("DNABERT-2 (further pretrained on GUE)") - 67.77) < 0.015
    assert abs(mean("NT-2500M-multi") - 66.93) < 0.015


def test_nt_registry_matches_the_hub_sample(shared_data):
    with open(shared_data / "nt_sample" / "train_mixed_toy.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    labels, lengths = {}, {}
    for r in rows:
        labels.setdefault(r["task"], set()).add(int(r["label"]))
        lengths.setdefault(r["task"], set()).add(len(r["sequence"]))
    assert sorted(labels) == sorted(e.config_name for _, e in TASKS.items() if e.benchmark == "nt")
    for task, labs in labels.items():
        e = TASKS.get(f"nt/{task}")
        assert e.num_labels == len(labs) == max(labs) + 1, task
        assert lengths[task] == {e.seq_len}, task


def test_stratified_holdout_is_seeded_and_per_class():
    labels = [0] * 50 + [1] * 25 + [2] * 4
    m1 = stratified_holdout(labels, 0.1, 42)
    assert m1.tolist() == stratified_holdout(labels, 0.1, 42).tolist()
    assert m1.tolist() != stratified_holdout(labels, 0.1, 7).tolist()
    taken = Counter(lab for lab, m in zip(labels, m1) if m)
    assert taken == {0: 5, 1: 3}  # round(5.0), round(2.5 -> 3), round(0.4 -> 0)


# --------------------------------------------------------------------------------------------- GUE
@pytest.fixture(scope="module")
def gue_built(shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("gue") / "gue"
    build("gue", shared_data / "gue", out, SHARED_GUE_TASKS, log=quiet)
    return out


def test_gue_build_loads_with_datasets_and_matches_the_csvs(gue_built, shared_data):
    from datasets import ClassLabel, load_dataset

    for task in SHARED_GUE_TASKS:
        ds = load_dataset(str(gue_built), task)
        assert set(ds) == {"train", "validation", "test"}
        assert isinstance(ds["train"].features["label"], ClassLabel)
        assert ds["train"].features["label"].names == ["negative", "positive"]
        for split, fname in (("train", "train.csv"), ("validation", "dev.csv"), ("test", "test.csv")):
            ref = read_csv_rows(shared_data / "gue" / task / fname)
            d = ds[split]
            assert d.num_rows == len(ref), (task, split)
            assert Counter(list(d["label"])) == Counter(lab for _, lab in ref), (task, split)
            assert list(d["sequence"]) == [s for s, _ in ref]  # same rows, source order
            assert list(d["id"])[:2] == [f"{fname[:-4]}_0", f"{fname[:-4]}_1"]


def test_gue_card_reports_counts_checks_and_round_trips(gue_built, shared_data):
    from huggingface_hub import DatasetCard
    from huggingface_hub.repocard import metadata_load

    readme = gue_built / "README.md"
    card = DatasetCard.load(readme)
    meta = metadata_load(readme)
    assert card.data.to_dict() == meta
    assert meta["license"] == "other" and meta["license_link"].startswith("https://github.com/MAGICS-LAB")
    assert set(meta["tags"]) >= {"biology", "genomics", "dna"} and meta["pretty_name"]
    assert [c["config_name"] for c in meta["configs"]] == SHARED_GUE_TASKS
    for c in meta["configs"]:
        assert [f["split"] for f in c["data_files"]] == ["train", "validation", "test"]
        for f in c["data_files"]:
            assert (gue_built / f["path"]).is_file()
    # rendering the loaded card again gives the same file (valid, stable YAML)
    assert str(DatasetCard(readme.read_text())) == str(card)
    # duplicates: recount the prom_core_tata CSVs independently
    train = [s for s, _ in read_csv_rows(shared_data / "gue" / "prom_core_tata" / "train.csv")]
    test = [s for s, _ in read_csv_rows(shared_data / "gue" / "prom_core_tata" / "test.csv")]
    within = len(train) - len(set(train))
    leak = sum(s in set(train) for s in test)
    assert (within, leak) == (57, 16)  # hand-checked once; the CSVs are fixed
    manifest = json.loads((gue_built / "dnalm_build.json").read_text())
    t = {x["config"]: x for x in manifest["tasks"]}["prom_core_tata"]
    assert t["duplicates"]["within"]["train"] == within and t["duplicates"]["across"]["train/test"] == leak
    assert t["rows"] == {"train": 4904, "validation": 613, "test": 613}
    assert t["label_counts"]["train"] == [2455, 2449]
    text = readme.read_text()
    assert "| `prom_core_tata` | 57 | 0 | 2 |" in text
    assert "negative: 2455 / positive: 2449" in text
    assert "74.17" in text and "@misc{zhou2023dnabert2" in text
    assert "No row was dropped." in text
    assert not re.search(r"20\d\d-\d\d-\d\d", text)  # no dates: deterministic


def test_shipped_quickstart_data_is_a_byte_identical_rebuild(shared_data, tmp_path):
    assert SHIPPED.is_dir(), "data/gue must be shipped in the repository"
    a, b = tmp_path / "a", tmp_path / "b"
    build("gue", shared_data / "gue", a, ["prom_core_tata", "prom_300_tata"], log=quiet)
    build("gue", shared_data / "gue", b, ["prom_core_tata", "prom_300_tata"], log=quiet)
    ta, tb, shipped = tree_bytes(a), tree_bytes(b), tree_bytes(SHIPPED)
    assert ta == tb
    assert sorted(shipped) == sorted(ta)
    for name in ta:
        assert shipped[name] == ta[name], f"data/gue/{name} differs from a rebuild"
    # the source files recorded in the card are the shared ones
    manifest = json.loads((SHIPPED / "dnalm_build.json").read_text())
    import hashlib

    for t in manifest["tasks"]:
        for f in t["sources"]:
            assert hashlib.sha256((shared_data / "gue" / f["file"]).read_bytes()).hexdigest() == f["sha256"]


def test_load_task_finds_the_shipped_data_by_default(shared_data, monkeypatch):
    monkeypatch.delenv("DNALM_DATA", raising=False)
    ds = load_task("gue/prom_core_tata")
    ref = read_csv_rows(shared_data / "gue" / "prom_core_tata" / "dev.csv")
    assert list(ds["validation"]["sequence"]) == [s for s, _ in ref]
    assert [ds[s].num_rows for s in ("train", "validation", "test")] == [4904, 613, 613]
    assert ds["train"].features["label"].names == ["negative", "positive"]


def test_load_task_paths_and_errors(gue_built, shared_data, tmp_path, monkeypatch):
    monkeypatch.delenv("DNALM_DATA", raising=False)
    # a built folder + config, a task folder, the GUE CSV trio
    assert load_task(gue_built, config="tf_2")["test"].num_rows == 1000
    assert load_task(gue_built / "mouse_0")["validation"].num_rows == 810
    csv_ds = load_task(shared_data / "gue" / "mouse_0")
    dev = read_csv_rows(shared_data / "gue/mouse_0/dev.csv")
    assert list(csv_ds["validation"]["sequence"]) == [s for s, _ in dev]
    assert list(csv_ds["validation"]["id"])[:2] == ["dev_0", "dev_1"]
    # registry name through data_dir, and through $DNALM_DATA (a folder holding gue/)
    assert load_task("gue/tf_2", data_dir=gue_built.parent)["train"].num_rows == 19000
    monkeypatch.setenv("DNALM_DATA", str(gue_built))
    assert load_task("gue/mouse_0")["train"].num_rows == 6478
    monkeypatch.delenv("DNALM_DATA")
    with pytest.raises(TaskDataError, match="config=<task>"):
        load_task(gue_built)
    # missing split: names the split and the folder
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(gue_built / "mouse_0", broken)
    (broken / "validation.parquet").unlink()
    with pytest.raises(TaskDataError, match=r"split 'validation' is missing.*broken"):
        load_task(broken)
    # labels out of range for the task
    bad = tmp_path / "bad" / "gue"
    shutil.copytree(gue_built, bad)
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(bad / "mouse_0" / "test.parquet")
    t = t.set_column(2, "label", pa.array([2] + t.column("label").to_pylist()[1:], pa.int64()))
    pq.write_table(t.replace_schema_metadata(None), bad / "mouse_0" / "test.parquet")
    with pytest.raises(TaskDataError, match=r"label 2 at row 0 is out of range.*valid 0\.\.1"):
        load_task("gue/mouse_0", data_dir=bad.parent)
    # not built, offline: fails at once and says how to build it
    t0 = time.monotonic()
    with pytest.raises(TaskDataError, match=r"python -m data_scripts\.build gue .*--tasks H3"):
        load_task("gue/H3", data_dir=tmp_path)
    assert time.monotonic() - t0 < 5
    with pytest.raises(TaskDataError, match="registered tasks"):
        load_task("gue/no_such_task")
    # a plain folder of parquet splits with float labels is a regression task: accepted as is
    reg = tmp_path / "regression"
    reg.mkdir()
    for i, split in enumerate(("train", "validation", "test")):
        pq.write_table(pa.table({"sequence": ["ACGT", "GGCC"], "label": [0.5 + i, -1.25]}), reg / f"{split}.parquet")
    assert list(load_task(reg)["test"]["label"]) == [2.5, -1.25]


# ------------------------------------------------------------------- policy, labels, folder safety
def _write_csv(path: Path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sequence", "label"])
        w.writerows(rows)


def test_input_policy_and_duplicates_are_applied_and_reported(tmp_path):
    src = tmp_path / "src" / "prom_core_tata"
    _write_csv(
        src / "train.csv",
        [
            ("ACGTACGT", 0),
            ("acgtACGT", 1),  # lowercase -> uppercased (and a duplicate of row 0)
            ("ACGRYACG", 0),
            (" ACGTT ", 1),  # IUPAC -> N ; whitespace stripped
            ("ACGXACGT", 0),
            ("ACGUACGU", 1),  # invalid char X, RNA U: dropped
            ("ACGTACGT", 0),
            ("TTTT", 1),
        ],
    )  # exact duplicate of row 0
    _write_csv(src / "dev.csv", [("GGGG", 0), ("CCCC", 1)])
    _write_csv(src / "test.csv", [("TTTT", 1), ("AAAA", 0), ("AAAA", 1)])
    out = tmp_path / "out"
    build("gue", tmp_path / "src", out, ["prom_core_tata"], log=quiet)
    t = json.loads((out / "dnalm_build.json").read_text())["tasks"][0]
    p = t["policy"]["train"]
    assert (p["rows_in"], p["uppercased"], p["iupac_to_n"], p["stripped"], p["dropped"]) == (8, 1, 1, 1, 2)
    assert [d[0] for d in p["dropped_listed"]] == ["train_4", "train_5"]
    assert "'X' at position 3" in p["dropped_listed"][0][1] and "RNA" in p["dropped_listed"][1][1]
    import pyarrow.parquet as pq

    train = pq.read_table(out / "prom_core_tata" / "train.parquet").to_pydict()
    assert train["sequence"] == ["ACGTACGT", "ACGTACGT", "ACGNNACG", "ACGTT", "ACGTACGT", "TTTT"]
    assert train["id"] == ["train_0", "train_1", "train_2", "train_3", "train_6", "train_7"]
    d = t["duplicates"]
    assert d["within"] == {"train": 2, "validation": 0, "test": 1}
    assert d["conflicting_labels"] == {"train": 1, "validation": 0, "test": 1}  # ACGTACGT 0/1; AAAA 0/1
    assert d["across"] == {"train/validation": 0, "train/test": 1, "validation/test": 0}
    text = (out / "README.md").read_text()
    assert "`train_4`: invalid character 'X' at position 3" in text
    assert "| `prom_core_tata` | train | 8 | 1 | 1 | 1 | 2 |" in text


def test_gue_official_nested_layout_and_skip_missing(tmp_path):
    root = tmp_path / "download"  # the folder that holds GUE/ as unpacked from the authors' archive
    for split in ("train", "dev", "test"):
        _write_csv(root / "GUE" / "EMP" / "H3" / f"{split}.csv", [("ACGTAC", 0), ("TTGACA", 1), ("GGGCCA", 1)])
        _write_csv(root / "GUE" / "virus" / "covid" / f"{split}.csv", [("ACGT" * 3, k) for k in range(9)])
    logged = []
    out = tmp_path / "out"
    build("gue", root, out, skip_missing=True, log=logged.append)
    manifest = json.loads((out / "dnalm_build.json").read_text())
    assert [t["config"] for t in manifest["tasks"]] == ["H3", "covid"]  # registry order
    assert manifest["tasks"][0]["sources"][0]["file"] == "GUE/EMP/H3/train.csv"
    assert manifest["tasks"][1]["label_counts"]["test"] == [1] * 9
    assert sum(line.startswith("skipped") for line in logged) == 26
    assert "--tasks H3 covid" in (out / "README.md").read_text()
    assert "official (GUE/<group>/<task>)" in (out / "README.md").read_text()
    with pytest.raises(BuildError, match="no task folder found"):
        build("gue", root, tmp_path / "o2", log=quiet)  # all 28 asked for, 26 absent


def test_bad_labels_and_foreign_out_folder_are_refused_without_damage(tmp_path):
    src = tmp_path / "src"
    _write_csv(src / "prom_core_tata" / "train.csv", [("ACGT", 0), ("ACGT", 1)])
    _write_csv(src / "prom_core_tata" / "dev.csv", [("ACGT", 0)])
    _write_csv(src / "prom_core_tata" / "test.csv", [("ACGT", 1)])
    out = tmp_path / "out"
    build("gue", src, out, ["prom_core_tata"], log=quiet)
    before = tree_bytes(out)
    _write_csv(src / "prom_core_tata" / "test.csv", [("ACGT", 2)])  # 2 is not a label of a binary task
    with pytest.raises(BuildError, match=r"label 2 of row 'test_0'.*0\.\.1"):
        build("gue", src, out, ["prom_core_tata"], log=quiet)
    assert tree_bytes(out) == before  # the earlier build is untouched
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no temp folder left
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    _write_csv(src / "prom_core_tata" / "test.csv", [("ACGT", 1)])
    with pytest.raises(BuildError, match="--overwrite"):
        build("gue", src, foreign, ["prom_core_tata"], log=quiet)
    assert (foreign / "notes.txt").read_text() == "mine"
    with pytest.raises(BuildError, match=r"gue/H3: no task folder found"):
        build("gue", src, tmp_path / "x", ["H3"], log=quiet)


def test_push_to_hub_offline_fails_fast_and_keeps_the_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    src = tmp_path / "src"
    _write_csv(src / "prom_core_tata" / "train.csv", [("ACGT", 0), ("ACGA", 1)])
    _write_csv(src / "prom_core_tata" / "dev.csv", [("ACGT", 0)])
    _write_csv(src / "prom_core_tata" / "test.csv", [("ACGT", 1)])
    out = tmp_path / "out"
    t0 = time.monotonic()
    rc = main(
        [
            "gue",
            "--source",
            str(src),
            "--out",
            str(out),
            "--tasks",
            "prom_core_tata",
            "--push-to-hub",
            "someone/gue-test",
        ]
    )
    assert rc == 2 and time.monotonic() - t0 < 30
    err = capsys.readouterr().err
    assert "HF_HUB_OFFLINE" in err and ("intact" in err or "unchanged" in err)
    assert (out / "prom_core_tata" / "train.parquet").is_file() and (out / "README.md").is_file()


# ---------------------------------------------------------------------------------------------- NT
def test_nt_builder_on_the_shared_sample(shared_data, tmp_path):
    import pandas as pd
    from datasets import load_dataset

    sample = shared_data / "nt_sample" / "train_mixed_toy.tsv"
    src = tmp_path / "nt_src"
    src.mkdir()
    (src / "train.tsv").write_bytes(sample.read_bytes())
    with open(sample, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    seen = Counter()
    test_rows = []  # every 5th row of each task (each task gets at least one), in file order
    for r in rows:
        if seen[r["task"]] % 5 == 0:
            test_rows.append(r)
        seen[r["task"]] += 1
    pd.DataFrame(test_rows).to_parquet(src / "test.parquet")  # another accepted format
    out = tmp_path / "nt"
    build("nt", src, out, log=quiet)
    manifest = json.loads((out / "dnalm_build.json").read_text())
    assert manifest["seed"] == 42 and len(manifest["tasks"]) == 18
    for task in ("enhancers_types", "splice_sites_all", "H3K4me3", "promoter_tata"):
        mine = [r for r in rows if r["task"] == task]
        ds = load_dataset(str(out), task)
        assert ds["train"].features["label"].num_classes == len({r["label"] for r in mine})
        # validation = round(10%) of each class of train, the rest stays in train, in source order
        per_class = Counter(int(r["label"]) for r in mine)
        expect_val = sum(int(n * 0.1 + 0.5) for n in per_class.values()) or 1
        assert ds["validation"].num_rows == expect_val
        assert ds["train"].num_rows + ds["validation"].num_rows == len(mine)
        assert sorted(list(ds["train"]["id"]) + list(ds["validation"]["id"])) == sorted(r["name"] for r in mine)
        order = {r["name"]: i for i, r in enumerate(mine)}
        assert [order[i] for i in list(ds["train"]["id"])] == sorted(order[i] for i in list(ds["train"]["id"]))
        assert list(ds["test"]["sequence"]) == [r["sequence"] for r in test_rows if r["task"] == task]
        t = {x["config"]: x for x in manifest["tasks"]}[task]
        train_set = set(list(ds["train"]["sequence"]))
        assert t["duplicates"]["across"]["train/test"] == sum(s in train_set for s in list(ds["test"]["sequence"]))
    assert "seed 42" in (out / "README.md").read_text()


def test_nt_per_task_fasta_layout(tmp_path):
    src = tmp_path / "src" / "promoter_tata"
    src.mkdir(parents=True)
    train = [(f"chr1:{i * 10}-{i * 10 + 8}|{i % 2}", "ACGTACG"[: 3 + i % 4] + "T") for i in range(20)]
    (src / "train.fna").write_text("".join(f">{h}\n{s[:2]}\n{s[2:]}\n" for h, s in train))
    with gzip.open(src / "test.fna.gz", "wt") as f:
        f.write(">chr2:0-4|1\nGGCC\n>chr2:4-8|0\nttaa\n")
    out = tmp_path / "out"
    build("nt", tmp_path / "src", out, ["promoter_tata"], log=quiet)
    import pyarrow.parquet as pq

    test = pq.read_table(out / "promoter_tata" / "test.parquet").to_pydict()
    assert test == {"id": ["chr2:0-4|1", "chr2:4-8|0"], "sequence": ["GGCC", "TTAA"], "label": [1, 0]}
    tr = pq.read_table(out / "promoter_tata" / "train.parquet").to_pydict()
    va = pq.read_table(out / "promoter_tata" / "validation.parquet").to_pydict()
    assert len(tr["id"]) + len(va["id"]) == 20 and Counter(va["label"]) == {0: 1, 1: 1}
    assert dict(zip(tr["id"], tr["sequence"])) == {h: s for h, s in train if h in tr["id"]}
    with pytest.raises(BuildError, match="--skip-missing"):
        build("nt", tmp_path / "src", tmp_path / "o2", ["promoter_tata", "enhancers"], log=quiet)
    # the Hub's parquet-conversion layout <task>/<split>/NNNN.parquet, shards read in order
    import pandas as pd

    enh = tmp_path / "src" / "enhancers"
    for split, shards in (("train", [["AAAA", "CCCC", "GGGG"], ["TTTT", "ACGT"]]), ("test", [["TGCA"]])):
        (enh / split).mkdir(parents=True)
        for k, seqs in enumerate(shards):
            pd.DataFrame({"sequence": seqs, "label": [j % 2 for j in range(len(seqs))]}).to_parquet(
                enh / split / f"{k:04d}.parquet"
            )
    build("nt", tmp_path / "src", tmp_path / "o3", ["promoter_tata", "enhancers"], log=quiet)
    e_tr = pq.read_table(tmp_path / "o3" / "enhancers" / "train.parquet").to_pydict()
    e_va = pq.read_table(tmp_path / "o3" / "enhancers" / "validation.parquet").to_pydict()
    assert sorted(e_tr["sequence"] + e_va["sequence"]) == ["AAAA", "ACGT", "CCCC", "GGGG", "TTTT"]
    # 3 + 2 rows per class: round(10%) is 0 for both, so one row is still held out for validation
    assert (len(e_tr["id"]), len(e_va["id"])) == (4, 1)
    all_ids = [
        "enhancers/train/0000.parquet:0",
        "enhancers/train/0000.parquet:1",
        "enhancers/train/0000.parquet:2",
        "enhancers/train/0001.parquet:0",
        "enhancers/train/0001.parquet:1",
    ]
    assert e_tr["id"] == [i for i in all_ids if i not in e_va["id"]]  # shard order, then row order


# ------------------------------------------------------------------------------ Genomic Benchmarks
# chr1 is written on two lines; positions (0-based):  0 A 1 C 2 G 3 T 4 T 5 G 6 C 7 A 8 A 9 G 10 G 11 C 12 T
#                                                     13 T 14 A 15 A 16 C 17 C 18 G 19 G 20 A 21 T ...
CHR1 = "ACGTTGCAAGGCT" + "TAACCGGATCGAT"
GENOME = (
    ">chr1 test chromosome\nACGTTGCAAGGCT\nTAACCGGATCGAT\n"
    ">2 dna:chromosome chromosome:GRCh38:2\nGGGAAACCCTTG\n"  # Ensembl name: serves region chr2
    ">chr3\nacgtRYacgtACGTACGT\n"
)


def _coords(path: Path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        f.write("id,region,start,end,strand\n")
        for r in rows:
            f.write(",".join(map(str, r)) + "\n")


def test_genomic_benchmarks_hand_verified_strands(tmp_path):
    fa = tmp_path / "genome.fa.gz"
    with gzip.open(fa, "wt") as f:
        f.write(GENOME)
    d = tmp_path / "datasets" / "human_nontata_promoters"
    _coords(d / "train" / "positive.csv.gz", [("p0", "chr1", 2, 8, "+"), ("p1", "chr2", 3, 9, "-")])
    _coords(d / "train" / "negative.csv.gz", [("n0", "chr3", 0, 6, "+"), ("n1", "chr1", 13, 19, "-")])
    _coords(d / "test" / "positive.csv.gz", [(0, "chr1", 10, 14, "+")])
    _coords(d / "test" / "negative.csv.gz", [(0, "chr2", 9, 12, "")])
    out = tmp_path / "gb"
    build("gb", tmp_path, out, ["human_nontata_promoters"], genomes=[str(fa)], log=quiet)
    import pyarrow.parquet as pq

    rows = {}
    for s in ("train", "validation", "test"):
        t = pq.read_table(out / "human_nontata_promoters" / f"{s}.parquet").to_pydict()
        rows.update({i: (seq, lab) for i, seq, lab in zip(t["id"], t["sequence"], t["label"])})
    # worked out by hand from the FASTA above (0-based, end exclusive; '-' = reverse complement)
    assert rows["train/positive/p0"] == ("GTTGCA", 1)  # chr1[2:8] (+)
    assert rows["train/positive/p1"] == ("GGGTTT", 1)  # chr2[3:9] = AAACCC (-) -> GGGTTT
    assert rows["train/negative/n0"] == ("ACGTNN", 0)  # chr3[0:6] = acgtRY: uppercased, R/Y -> N
    assert rows["train/negative/n1"] == ("CGGTTA", 0)  # chr1[13:19] = TAACCG (-) -> CGGTTA
    assert rows["test/positive/0"] == ("GCTT", 1)  # chr1[10:14]
    assert rows["test/negative/0"] == ("TTG", 0)  # chr2[9:12], empty strand = as is
    assert CHR1[13:19] == "TAACCG" and reverse_complement("TAACCG") == "CGGTTA"
    text = (out / "README.md").read_text()
    assert "0-based, end-exclusive" in text and "2 of 6 intervals are on the '-' strand" in text
    manifest = json.loads((out / "dnalm_build.json").read_text())
    assert manifest["tasks"][0]["policy"]["train"]["iupac_to_n"] == 1
    assert manifest["tasks"][0]["policy"]["train"]["uppercased"] == 1
    with pytest.raises(BuildError, match="pass --genome"):
        build("gb", tmp_path, tmp_path / "gb2", ["human_nontata_promoters"], log=quiet)
    # an interval beyond the chromosome end means another assembly
    _coords(d / "test" / "negative.csv.gz", [(0, "chr2", 9, 13, "+")])
    with pytest.raises(BuildError, match="outside the record '2'.*another assembly"):
        build("gb", tmp_path, tmp_path / "gb2", ["human_nontata_promoters"], genomes=[str(fa)], log=quiet)
    _coords(d / "test" / "negative.csv.gz", [(0, "chr9", 0, 3, "+")])
    with pytest.raises(BuildError, match="in no --genome FASTA, e.g. chr9"):
        build("gb", tmp_path, tmp_path / "gb2", ["human_nontata_promoters"], genomes=[str(fa)], log=quiet)


def test_genomic_benchmarks_single_table_and_per_class_genomes(tmp_path):
    human, worm = tmp_path / "human.fa", tmp_path / "worm.fa"
    human.write_text(">X\nAAAACCCCGGGG\n")  # Ensembl-style human name; the table says chrX
    worm.write_text(">X\nTTTTGGGGCCCC\n")  # worm chromosome X, region X in the table
    table = tmp_path / "src" / "demo_human_or_worm.csv"
    table.parent.mkdir()
    table.write_text(
        "id,region,start,end,strand,label,split\n"
        + "".join(f"h{i},chrX,{i},{i + 4},+,human,train\n" for i in range(5))
        + "".join(f"w{i},X,{i},{i + 4},-,worm,train\n" for i in range(5))
        + "t0,chrX,0,4,+,0,test\nt1,X,8,12,+,1,test\n"
    )
    # both files have a record named X: without saying which class each serves, that is ambiguous
    with pytest.raises(BuildError, match="two FASTA records.*CLASS=FASTA"):
        build(
            "gb", tmp_path / "src", tmp_path / "o1", ["demo_human_or_worm"], genomes=[str(human), str(worm)], log=quiet
        )
    out = tmp_path / "o2"
    build("gb", tmp_path / "src", out, ["demo_human_or_worm"], genomes=[f"human={human}", f"worm={worm}"], log=quiet)
    from datasets import load_dataset

    ds = load_dataset(str(out), "demo_human_or_worm")
    assert ds["train"].features["label"].names == ["human", "worm"]
    assert list(ds["test"]["sequence"]) == ["AAAA", "CCCC"] and list(ds["test"]["label"]) == [0, 1]
    got = {i: seq for split in ("train", "validation") for i, seq in zip(ds[split]["id"], ds[split]["sequence"])}
    assert got["train/human/h1"] == "AAAC"  # human X[1:5]
    assert got["train/worm/w0"] == "AAAA"  # worm X[0:4] = TTTT, '-' -> AAAA
    assert got["train/worm/w2"] == "CCAA"  # worm X[2:6] = TTGG, '-' -> CCAA


def test_data_layer_never_imports_torch():
    # `import data_scripts` and `python -m data_scripts.build --help` must not load torch or any model code:
    # the data layer builds datasets on machines without the training stack loaded.
    code = (
        "import runpy, sys\n"
        "import data_scripts, data_scripts.build, data_scripts.corpora, data_scripts.fasta, dnalm_core.policy\n"
        "sys.argv = ['build', '--help']\n"
        "try:\n    runpy.run_module('data_scripts.build', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'modeling')))\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout
