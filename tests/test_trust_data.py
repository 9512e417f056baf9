"""Trust in the data layer: import layers, one reader per file format, builders that never delete what they
did not make, and errors that name the file and the row.

Every test here failed on the code before issue 22 (layers) / issue 23 (data) were fixed. The expected values
are worked out by hand from the small files each test writes (line numbers count the CSV header as line 1).
"""

from __future__ import annotations

import ast
import csv
import gzip
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYER_PACKAGES = ("dnalm_core", "modeling", "data_scripts", "training", "train", "assess", "space")


def quiet(*_a, **_k):
    pass


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_csv(path: Path, rows, header=("sequence", "label")):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def gue_task(src: Path, task: str, train=None, dev=None, test=None):
    write_csv(src / task / "train.csv", train or [("ACGTACGT", 0), ("TTGACAGG", 1), ("GGGCCAAT", 0), ("CATCATCA", 1)])
    write_csv(src / task / "dev.csv", dev or [("ACGTTT", 0), ("CCCCAA", 1)])
    write_csv(src / task / "test.csv", test or [("AAAACC", 0), ("GGTTAA", 1)])


def python_files():
    for p in sorted(ROOT.rglob("*.py")):
        rel = p.relative_to(ROOT)
        if not any(part.startswith(".") or part in ("build", "node_modules") for part in rel.parts):
            yield rel, p


def imported_modules(tree: ast.AST) -> list[str]:
    """Every module an ast imports, at the top or inside a function (relative imports are skipped)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append(node.module)
    return out


# ------------------------------------------------------------------------------------- issue 22: layers
def test_imports_run_downward_only():
    # dnalm_core <- modeling, data_scripts <- training <- train.py <- assess <- space: nobody imports a layer above
    above = {
        "dnalm_core": {"modeling", "data_scripts", "training", "train", "assess", "space"},
        "data_scripts": {"modeling", "training", "train", "assess", "space"},
        "modeling": {"data_scripts", "training", "train", "assess", "space"},
    }
    wrong = []
    for rel, path in python_files():
        layer = rel.parts[0]
        if layer not in above:
            continue
        for mod in imported_modules(ast.parse(path.read_text())):
            if mod.split(".")[0] in above[layer]:
                wrong.append(f"{rel} imports {mod}")
    assert wrong == []
    assert not (ROOT / "training" / "hub.py").exists()  # moved, no shim
    assert (ROOT / "dnalm_core" / "hub.py").is_file()


def test_the_task_catalogue_needs_only_dnalm_core():
    # 28 GUE tasks (DNABERT-2 paper, Table 4) + 18 revised NT tasks + 9 Genomic Benchmarks datasets
    code = (
        "import sys\nfrom dnalm_core.registry import TASKS\n"
        "print(len(TASKS), len([n for n in TASKS if n.startswith('gue/')]), TASKS.get('gue/covid').metric,\n"
        "      sorted(m for m in sys.modules\n"
        "             if m.split('.')[0] in ('torch', 'data_scripts', 'modeling', 'datasets')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.split(None, 3)[:3] == ["55", "28", "f1_macro"]
    assert out.split(None, 3)[3].strip() == "[]"
    # and no module imports the data layer only to fill the registry
    for rel, path in python_files():
        for line in path.read_text().splitlines():
            assert not (line.strip().startswith("import data_scripts") and "registry" in line), f"{rel}: {line}"


def test_no_import_error_is_swallowed():
    found = []
    for rel, path in python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                names = [n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)]
                if ("ImportError" in names or "ModuleNotFoundError" in names) and all(
                    isinstance(s, ast.Pass) for s in node.body
                ):
                    found.append(f"{rel}:{node.lineno}")
    assert found == []


def test_load_task_really_probes_the_hub_before_downloading(tmp_path, monkeypatch):
    import datasets
    import huggingface_hub.constants as c

    from data_scripts.tasks import TaskDataError, load_task

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(c, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens there

    def download(*_a, **_k):
        raise AssertionError("a download was attempted before the Hub was probed")

    monkeypatch.setattr(datasets, "load_dataset", download)
    # the probe fails first (no ~20 s of download retries) and the message names the endpoint
    with pytest.raises(TaskDataError, match=r"is unreachable \(127\.0\.0\.1:9 is unreachable"):
        load_task("gue/H3", data_dir=tmp_path)


def test_one_gue_csv_reader_gives_the_same_error_everywhere(tmp_path):
    from data_scripts.build import build
    from data_scripts.common import BuildError
    from data_scripts.corpora import corpus_from_task
    from data_scripts.tasks import TaskDataError, load_task

    src = tmp_path / "gue"
    gue_task(src, "tf_2", train=[("ACGTACGT", 0), ("TTGACAGG", 1), ("GGGCCAAT", "one")])
    train = src / "tf_2" / "train.csv"
    expected = f"{train}, line 4: label 'one' is not an integer"
    with pytest.raises(BuildError, match=expected) as built:
        build("gue", src, tmp_path / "out", ["tf_2"], log=quiet)
    with pytest.raises(TaskDataError, match=expected) as loaded:
        load_task(src / "tf_2")
    with pytest.raises(ValueError, match=expected) as corpus:
        corpus_from_task("gue/tf_2", shared_data=tmp_path, evaluate=())
    assert {type(e.value).__name__ for e in (built, loaded, corpus)} == {"SourceFileError"}


def test_builders_share_one_protocol():
    from data_scripts import build, genomic_benchmarks, gue, nt
    from data_scripts.common import BuildOptions
    from dnalm_core.tasks import BENCHMARKS

    assert build.BUILDERS == {"gue": gue, "nt": nt, "gb": genomic_benchmarks}
    assert set(build.BUILDERS) == set(BENCHMARKS)
    for module in build.BUILDERS.values():
        assert list(inspect.signature(module.build_tasks).parameters) == ["source", "entries", "options"]
        assert module.CITATION.startswith("@")
    assert "if benchmark ==" not in inspect.getsource(build.build)
    assert BuildOptions().seed == 42 and not BuildOptions().allow_dropped_eval_rows


# ------------------------------------------------------------ issue 23: builders never delete what they did not make
def test_a_second_task_is_added_to_the_folder_byte_identically(tmp_path):
    from data_scripts.build import build

    src = tmp_path / "src"
    gue_task(src, "prom_core_tata")
    gue_task(src, "mouse_0", train=[("AAAAAAAA", 1), ("CCCCCCCC", 0), ("GGGGGGGG", 1), ("TTTTTTTT", 0)])
    out = tmp_path / "out"
    build("gue", src, out, ["prom_core_tata"], log=quiet)
    first = tree_bytes(out / "prom_core_tata")
    logged = []
    build("gue", src, out, ["mouse_0"], log=logged.append)
    assert tree_bytes(out / "prom_core_tata") == first  # kept, byte for byte
    manifest = json.loads((out / "dnalm_build.json").read_text())
    assert [t["config"] for t in manifest["tasks"]] == ["prom_core_tata", "mouse_0"]
    assert manifest["command"].endswith("--tasks prom_core_tata mouse_0")
    card = (out / "README.md").read_text()
    assert "config_name: prom_core_tata" in card and "config_name: mouse_0" in card
    assert "kept from the earlier build: prom_core_tata" in logged
    # the same folder as building both at once, and rebuilding one task in it changes nothing
    once = tmp_path / "once"
    build("gue", src, once, ["prom_core_tata", "mouse_0"], log=quiet)
    assert tree_bytes(out) == tree_bytes(once)
    build("gue", src, out, ["prom_core_tata"], log=quiet)
    assert tree_bytes(out) == tree_bytes(once)
    # a different seed would make one card describe two splits: refused, nothing changed
    from data_scripts.common import BuildError

    with pytest.raises(BuildError, match="seed 42, this build uses 7.*--overwrite"):
        build("gue", src, out, ["mouse_0"], seed=7, log=quiet)
    assert tree_bytes(out) == tree_bytes(once)


def _nt_source(root: Path) -> Path:
    for split in ("train", "test"):
        body = "".join(f">s{i}|{i % 2}\n{'ACGT' * (i + 2)}\n" for i in range(6))
        (root / "H3K27ac").mkdir(parents=True, exist_ok=True)
        (root / "H3K27ac" / f"{split}.fna").write_text(body)
    return root


def test_another_benchmark_in_the_folder_is_refused_without_overwrite(tmp_path):
    from data_scripts.build import build
    from data_scripts.common import BuildError

    out = tmp_path / "out"
    build("nt", _nt_source(tmp_path / "nt"), out, ["H3K27ac"], log=quiet)
    before = tree_bytes(out)
    src = tmp_path / "gue"
    gue_task(src, "mouse_0")
    with pytest.raises(BuildError, match=r"holds a 'nt' build.*--overwrite"):
        build("gue", src, out, ["mouse_0"], log=quiet)
    assert tree_bytes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gue", "nt", "out"]  # no temp folder left
    build("gue", src, out, ["mouse_0"], overwrite=True, log=quiet)
    assert json.loads((out / "dnalm_build.json").read_text())["benchmark"] == "gue"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "dnalm_build.json", "mouse_0"]


def test_a_row_dropped_from_a_test_split_fails_unless_allowed(tmp_path):
    from data_scripts.build import build
    from data_scripts.common import BuildError

    src = tmp_path / "src"
    gue_task(src, "prom_core_tata", test=[("AAAACC", 0), ("GGT AA", 1), ("CCGGTT", 1)])
    out = tmp_path / "out"
    with pytest.raises(
        BuildError,
        match=r"(?s)1 row\(s\) of an evaluation split.*prom_core_tata/test\.csv line 3.*"
        r"--allow-dropped-eval-rows",
    ):
        build("gue", src, out, ["prom_core_tata"], log=quiet)
    assert not out.exists()
    logged = []
    build("gue", src, out, ["prom_core_tata"], allow_dropped_eval_rows=True, log=logged.append)
    drop = [line for line in logged if "dropped row" in line]
    assert drop == [
        (
            "gue/prom_core_tata test: dropped row 'test_1' (prom_core_tata/test.csv line 3): invalid "
            "character ' ' at position 3 in a DNA sequence"
        )
    ]
    assert (
        "- `prom_core_tata` test, `prom_core_tata/test.csv line 3`, `test_1`: invalid character ' '"
        in (out / "README.md").read_text()
    )


def test_every_dropped_train_row_is_named_in_the_card(tmp_path):
    from data_scripts.build import build

    src = tmp_path / "src"
    rows = [("ACGU" + "A" * i, i % 2) for i in range(25)] + [("ACGTACGT", 0), ("TTGACAGG", 1)]
    gue_task(src, "prom_core_tata", train=rows)
    out = tmp_path / "out"
    build("gue", src, out, ["prom_core_tata"], log=quiet)
    card = (out / "README.md").read_text()
    for line in range(2, 27):  # data rows 0..24 are lines 2..26
        assert f"`prom_core_tata/train.csv line {line}`, `train_{line - 2}`: RNA base 'U'" in card
    policy = json.loads((out / "dnalm_build.json").read_text())["tasks"][0]["policy"]["train"]
    assert policy["dropped"] == 25 and len(policy["dropped_listed"]) == 25


# ----------------------------------------------------------------- issue 23: errors name the file and the row
def test_a_space_or_u_in_a_training_sequence_names_file_line_and_column(tmp_path):
    from data_scripts.corpora import corpus_from_task

    src = tmp_path / "gue"
    gue_task(src, "tf_2", train=[("ACGTACGT", 0), ("TTGACAGG", 1), ("GGGCUAAT", 0)])
    with pytest.raises(ValueError, match=rf"{src / 'tf_2' / 'train.csv'}, line 4, column 5: RNA base 'U'"):
        corpus_from_task("gue/tf_2", shared_data=tmp_path, evaluate=())
    write_csv(src / "tf_2" / "train.csv", [("ACGTACGT", 0), ("TT GACAGG", 1)])
    with pytest.raises(ValueError, match=r"train\.csv, line 3, column 3: invalid character ' '"):
        corpus_from_task("gue/tf_2", shared_data=tmp_path, evaluate=())


def _fasta_error(path: Path, *more: Path) -> str:
    """The message of the ValueError that building a corpus from these FASTA files raises; it names `path`."""
    from data_scripts.corpora import corpus_from_fasta

    with pytest.raises(ValueError) as err:
        corpus_from_fasta([str(p) for p in (*more, path)], evaluate=())
    assert type(err.value).__name__ == "SourceFileError"
    assert str(path) in str(err.value)
    return str(err.value)


def test_a_truncated_gz_fasta_names_the_file(tmp_path):
    full = gzip.compress((">chr1\n" + "ACGT" * 50_000 + "\n").encode())
    path = tmp_path / "genome.fa.gz"
    path.write_bytes(full[: len(full) // 2])
    assert "truncated or corrupt" in _fasta_error(path)


def test_a_plain_file_named_gz_names_the_file(tmp_path):
    path = tmp_path / "genome.fa.gz"
    path.write_text(">chr1\nACGT\n")
    assert "is named .gz but is not gzip-compressed" in _fasta_error(path)


def test_a_fasta_starting_with_a_bom_says_so(tmp_path):
    path = tmp_path / "genome.fa"
    path.write_bytes(b"\xef\xbb\xbf>chr1\nACGT\n")
    msg = _fasta_error(path)
    assert "line 1" in msg and "byte-order mark" in msg and "before the first" not in msg


def test_an_empty_fasta_is_an_error_even_beside_other_files(tmp_path):
    good = tmp_path / "good.fa"
    good.write_text(">chr1\nACGTACGTAA\n")
    empty = tmp_path / "empty.fa"
    empty.write_text("\n")
    assert "holds no FASTA record" in _fasta_error(empty, good)


def test_a_u_in_a_corpus_fasta_names_line_and_column(tmp_path):
    path = tmp_path / "genome.fa"
    path.write_text(">chr1 test\nACGTACGT\nACGUA\n")
    assert f"{path}, line 3, column 4 (record 'chr1'): RNA base 'U'" in _fasta_error(path)


def test_a_truncated_reference_genome_fails_the_gb_build_naming_it(tmp_path):
    from data_scripts.build import build
    from data_scripts.common import BuildError

    src = tmp_path / "datasets"
    write_csv(
        src / "human_nontata_promoters.csv",
        [
            ("a", "chr1", 0, 4, "+", 0, "train"),
            ("b", "chr1", 4, 8, "+", 1, "train"),
            ("c", "chr1", 0, 8, "+", 0, "test"),
            ("d", "chr1", 2, 6, "-", 1, "test"),
        ],
        header=("id", "region", "start", "end", "strand", "label", "split"),
    )
    full = gzip.compress((">chr1\n" + "ACGT" * 50_000 + "\n").encode())
    genome = tmp_path / "hg38.fa.gz"
    genome.write_bytes(full[: len(full) // 2])
    with pytest.raises(BuildError, match=rf"{genome}: the gzip data is cut short"):
        build("gb", src, tmp_path / "out", ["human_nontata_promoters"], genomes=[str(genome)], log=quiet)
    assert not (tmp_path / "out").exists()
