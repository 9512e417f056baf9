"""Pretraining corpora (human vs multispecies), the windows drawn from them, and the one-cycle schedule option.

Sizes are recomputed here from the CSVs and FASTA files; leakage is checked against a brute-force set of
the evaluated 32-mers (Python strings, both strands), independent of the 2-bit filter.
"""

import csv
import json
import random

import numpy as np
import pytest
import torch

import data_scripts  # noqa: F401  (registers the corpora)
from data_scripts.corpora import (
    build_human,
    build_multispecies,
    corpus_from_fasta,
    corpus_from_task,
    draw_windows,
    eval_kmers,
    main,
    plan_windows,
    split_heldout,
    water_fill,
)
from data_scripts.fasta import read_fasta

K = 32
_RC = str.maketrans("ACGT", "TGCA")
GRCH38 = "human_GRCh38_fragments_biopython.fa"


def _rows(path):
    with open(path, newline="") as fh:
        return [r["sequence"] for r in csv.DictReader(fh)]


def _tasks(shared_data):
    return sorted(d.name for d in (shared_data / "gue").iterdir() if (d / "train.csv").is_file())


@pytest.fixture(scope="module")
def evaluated(shared_data):
    """Brute-force reference: every 32-mer (both strands) of every dev/test sequence of the ten tasks."""
    out = set()
    for t in _tasks(shared_data):
        for split in ("dev", "test"):
            for s in _rows(shared_data / "gue" / t / f"{split}.csv"):
                for i in range(len(s) - K + 1):
                    kmer = s[i : i + K]
                    out.add(kmer)
                    out.add(kmer.translate(_RC)[::-1])
    return out


@pytest.fixture(scope="module")
def corpora(shared_data):
    ek = eval_kmers(None, shared_data)  # None: every GUE task under shared_data/gue
    return build_human("cpu", shared_data, evaluate=ek), build_multispecies("cpu", shared_data, evaluate=ek)


@pytest.fixture(scope="module")
def small_shared(shared_data, tmp_path_factory):
    """A small copy of the shared layout: 300 rows per split of each task, the real genomes."""
    small = tmp_path_factory.mktemp("shared")
    for t in _tasks(shared_data):
        (small / "gue" / t).mkdir(parents=True)
        for split in ("train", "dev", "test"):
            lines = (shared_data / "gue" / t / f"{split}.csv").read_text().splitlines()[:301]
            (small / "gue" / t / f"{split}.csv").write_text("\n".join(lines) + "\n")
    (small / "genomes").symlink_to(shared_data / "genomes")
    return small


def _leaks(seq, kmers):
    return any(seq[i : i + K] in kmers for i in range(len(seq) - K + 1))


def test_water_fill_by_hand():
    # total 100 over 4 species: plant has only 10, so the other three share 90 -> 30 each
    assert water_fill({"human": 500, "mouse": 40, "bacterium": 200, "plant": 10}, 100) == {
        "plant": 10,
        "mouse": 30,
        "bacterium": 30,
        "human": 30,
    }
    # mouse can give only 20 of its 30: the last two share the rest
    assert water_fill({"human": 500, "mouse": 20, "bacterium": 200, "plant": 10}, 100) == {
        "plant": 10,
        "mouse": 20,
        "bacterium": 35,
        "human": 35,
    }


@pytest.mark.slow
def test_human_corpus_sizes_and_leakage(shared_data, corpora, evaluated):
    human, _ = corpora
    r = human.record
    tasks = _tasks(shared_data)
    human_tasks = [t for t in tasks if not t.startswith("mouse")]  # GUE's mouse group is the only non-human one here
    assert {"prom_core_tata", "prom_300_tata", "tf_2"} <= set(human_tasks)
    assert set(r["sources"]) == {f"gue/{t}:train" for t in human_tasks} | {GRCH38}
    # material in, per source, from the files
    for t in human_tasks:
        assert r["material"][f"gue/{t}:train"]["bp_in"] == sum(map(len, _rows(shared_data / "gue" / t / "train.csv")))
    genome = [s for _, s in read_fasta(shared_data / "genomes" / GRCH38)]
    assert r["material"][GRCH38]["bp_in"] == sum(map(len, genome)) == 61674
    # the leakage filter ran against the dev and test splits of all ten tasks
    leak = r["leakage"]
    assert leak["filtered"] and leak["k"] == 32 and leak["both_strands"]
    assert set(leak["evaluated"]) == {f"gue/{t}:{s}" for t in tasks for s in ("dev", "test")}
    # brute force: the rows kept are exactly the rows with no evaluated 32-mer (whole sources where cheap,
    # a sample of the large TF splits)
    rng = random.Random(0)
    kept_rows = {}
    for s, src in zip(human.sequences, human.piece_source):
        kept_rows.setdefault(human.sources[src].name, set()).add(s)
    for t in human_tasks:
        rows = _rows(shared_data / "gue" / t / "train.csv")
        src = f"gue/{t}:train"
        sample = rows if t.startswith("prom") else rng.sample(rows, 400)
        for row in sample:
            assert (row in kept_rows[src]) == (not _leaks(row, evaluated)), (src, row)
        if t.startswith("prom"):
            expected = [row for row in rows if not _leaks(row, evaluated)]
            assert leak["removed"][src]["removed_sequences"] == len(rows) - len(expected)
            assert r["material"][src]["bp_taken"] == sum(map(len, expected))
    # the genome fragments are cut around hits, not dropped: the rest stays
    g = r["material"][GRCH38]
    assert leak["removed"][GRCH38]["removed_sequences"] == 0
    assert 0 < g["bp_leakage_removed"] < 5000 and g["bp_taken"] == 61674 - g["bp_leakage_removed"]
    # no piece of the corpus holds an evaluated 32-mer, and none holds N
    for s in human.sequences:
        assert "N" not in s
    assert not any(_leaks(s, evaluated) for s in human.sequences if len(s) > 1000)
    assert not any(_leaks(s, evaluated) for s in rng.sample(human.sequences, 3000))
    # the whole corpus = what each source kept
    assert r["bp"] == sum(m["bp_taken"] for m in r["material"].values()) == sum(map(len, human.sequences))
    assert r["species"] == {"human": r["bp"]}
    json.dumps(r)  # the record is plain JSON


def test_multispecies_mix(shared_data, corpora):
    human, multi = corpora
    r = multi.record
    assert r["bp"] == human.record["bp"]  # same size: only the species mix differs
    assert set(r["species"]) == {"human", "mouse", "bacterium", "plant"}
    assert r["species"]["plant"] == 154478  # the whole chloroplast (less than an equal share)
    assert r["species"]["bacterium"] == 2463666  # no bacterial 32-mer in the GUE dev/test sets
    mouse = sum(r["material"][f"gue/{t}:train"]["bp_available"] for t in _tasks(shared_data) if t.startswith("mouse"))
    assert r["species"]["mouse"] == mouse  # all of the (filtered) mouse material: less than an equal share
    assert r["species"] == r["species_allocated"] == water_fill(r["species_available"], human.record["bp"])
    assert r["species_available"]["human"] == human.record["bp"]
    assert r["sha256"] != human.record["sha256"]
    assert sum(map(len, multi.sequences)) == r["bp"]


def _untimed(rec):
    if isinstance(rec, dict):
        return {k: _untimed(v) for k, v in rec.items() if not k.endswith("seconds")}
    return rec


def test_builds_are_deterministic(small_shared):
    # deterministic, and a different seed subsamples the human share differently (on the small copy: fast)
    a, b, c = (_untimed(build_multispecies("cpu", small_shared, seed=s).record) for s in (0, 0, 1))
    assert a == b and a["sha256"] != c["sha256"] and a["species"]["human"] == c["species"]["human"]
    assert a["leakage"]["filtered"] and len(a["leakage"]["evaluated"]) == 20


def _global(corpus, spans):
    off = np.zeros(len(corpus.sequences) + 1, np.int64)
    np.cumsum([len(s) for s in corpus.sequences], out=off[1:])
    return off[spans[:, 1]] + spans[:, 2], off[spans[:, 1]] + spans[:, 3]


def _covered(a, b, size):
    m = np.zeros(size + 1, np.int32)
    np.add.at(m, a, 1)
    np.add.at(m, b, -1)
    return np.cumsum(m)[:size] > 0


def test_windows_mix_heldout_and_no_leakage(corpora, evaluated):
    human, multi = corpora
    for corpus in (human, multi):
        d = plan_windows(corpus, 512, 2048, 256, seed=3)
        rec = d.record
        assert len(d.train) == 2048 and len(d.eval) == 256
        assert all(len(w) == 512 and "N" not in w for w in d.train + d.eval)
        # each window is its spans laid end to end
        for windows, spans in ((d.train, d.train_spans), (d.eval, d.eval_spans)):
            for w in range(0, len(windows), 97):
                rows = spans[spans[:, 0] == w]
                assert windows[w] == "".join(corpus.sequences[p][a:b] for _, p, a, b in rows)
        # held-out windows come from material no training window touches
        size = sum(map(len, corpus.sequences))
        tr, ev = _covered(*_global(corpus, d.train_spans), size), _covered(*_global(corpus, d.eval_spans), size)
        assert not (tr & ev).any() and rec["train_eval_shared_bp"] == 0
        assert rec["train"]["distinct_bp"] == int(tr.sum()) and rec["eval"]["distinct_bp"] == int(ev.sum())
        # species shares of what was drawn: recomputed from the spans, close to the corpus mix
        piece_sp = np.array(corpus.piece_species)
        for side, spans in (("train", d.train_spans), ("eval", d.eval_spans)):
            seg = spans[:, 3] - spans[:, 2]
            for sp, bp in corpus.record["species"].items():
                drawn = int(seg[piece_sp[spans[:, 1]] == sp].sum())
                assert rec[side]["species_bp"][sp] == drawn
                assert abs(drawn / seg.sum() - bp / corpus.record["bp"]) < 0.01, (corpus.name, side, sp)
            assert rec[side]["bp_drawn"] == seg.sum() == rec[side]["windows"] * 512
        assert rec["train"]["passes"] == pytest.approx(2048 * 512 / rec["train"]["material_bp"], abs=1e-4)
        # the human windows come from all human sources, not from the genome fragments alone
        src_bp = rec["train"]["source_bp"]
        assert src_bp[GRCH38] < 0.02 * rec["train"]["bp_drawn"]
        assert all(bp > 0 for s, bp in src_bp.items() if s.startswith("gue/prom") or s.startswith("gue/tf"))
        # no drawn window holds an evaluated 32-mer on either strand (also across the junctions of packed pieces)
        rng = random.Random(1)
        assert not any(_leaks(w, evaluated) for w in rng.sample(d.train, 150) + rng.sample(d.eval, 60))
        json.dumps(rec)
    # deterministic under the seed
    a = draw_windows(human, 256, 300, 40, seed=5)
    b = draw_windows(human, 256, 300, 40, seed=5)
    c = draw_windows(human, 256, 300, 40, seed=6)
    assert a == b and a[0] != c[0]


def test_windows_from_one_long_genome(shared_data):
    # pretrain_fasta: the chloroplast is one 154 kb record: held-out is one contiguous block of it
    fa = shared_data / "genomes" / "A_thaliana_chloroplast_NC_000932.fa"
    c = corpus_from_fasta([fa], evaluate=[("none", ["ACGT" * 10])])
    assert c.record["bp"] == 154478 and c.record["species"] == {"A_thaliana_chloroplast_NC_000932": 154478}
    train_u, held_u = split_heldout(c, 128, 0.05, seed=0)
    assert len(held_u) == 1 and held_u[0, 2] - held_u[0, 1] == round(0.05 * 154478)
    assert sorted(map(tuple, train_u.tolist()))[0][1] == 0 and train_u[:, 2].max() == 154478
    d = plan_windows(c, 128, 64, 16, seed=0)
    lo, hi = held_u[0, 1], held_u[0, 2]
    assert all(lo <= a and b <= hi for _, _, a, b in d.eval_spans)
    assert all(b <= lo or a >= hi for _, _, a, b in d.train_spans)
    assert d.record["train"]["windows_spanning_pieces"] <= 1 and d.record["eval"]["windows_spanning_pieces"] == 0
    # a task's train split (pretrain_task): filtered against its own dev and test splits at least
    t = corpus_from_task("gue/prom_core_tata", shared_data=shared_data, evaluate=())
    assert set(t.record["leakage"]["evaluated"]) == {"gue/prom_core_tata:dev", "gue/prom_core_tata:test"}
    assert t.record["species"] == {"human": t.record["bp"]} and t.record["bp"] % 70 == 0
    tw, ew, rec = draw_windows(t, 512, 100, 20, seed=0)  # 70 bp rows packed into 512 bp windows, none dropped
    assert len(tw) == 100 and len(ew) == 20 and rec["train"]["windows_spanning_pieces"] == 100


def test_paper_scale_and_fasta_corpora(tmp_path):
    with pytest.raises(ValueError, match="needs corpus_fasta"):
        build_human("paper", evaluate=())
    fa = tmp_path / "g.fa"
    fa.write_text(">chr1\nACGTNNACGT\nacgt\n>chr2\nGGGG\n")
    c = build_human("paper", fasta=[fa], evaluate=())
    assert c.sequences == ["ACGT", "ACGTACGT", "GGGG"]  # split at N into N-free pieces
    assert c.record["bp"] == 16 and c.record["material"][str(fa)]["bp_N_removed"] == 2
    assert not c.record["leakage"]["filtered"]
    assert [c.piece_label(i) for i in range(3)] == [f"{fa}|chr1:0-4", f"{fa}|chr1:6-14", f"{fa}|chr2:0-4"]
    m = build_multispecies("paper", fasta=[str(tmp_path / "*.fa")], evaluate=[("x:test", ["ACGTACGT"])])
    assert m.record["species"] == {"g": 16}


def test_cli_writes_fasta_and_record(small_shared, tmp_path):
    small = small_shared
    out = tmp_path / "out"
    assert (
        main(
            [
                "--shared-data",
                str(small),
                "--write",
                str(out),
                "--windows",
                "64",
                "--eval-windows",
                "8",
                "--length",
                "256",
            ]
        )
        == 0
    )
    for name in ("human", "multispecies"):
        rec = json.loads((out / f"{name}.json").read_text())
        recs = list(read_fasta(out / f"{name}.fa"))
        assert len(recs) == rec["pieces"] and sum(len(s) for _, s in recs) == rec["bp"]
        assert recs[0][0].startswith("gue/") and ":" in recs[0][0]
        assert rec["windows"]["train"]["windows"] == 64 and rec["leakage"]["filtered"]


def test_onecycle_schedule_shape(tmp_path):
    from train import DNATrainingArguments
    from training.trainer import DNATrainer

    model = torch.nn.Linear(2, 2)
    args = DNATrainingArguments(
        output_dir=str(tmp_path),
        learning_rate=1e-2,
        warmup_steps=0.25,
        eval_strategy="no",
        save_strategy="no",
        load_best_model_at_end=False,
    )
    trainer = DNATrainer(model=model, args=args, onecycle=True)
    trainer.create_optimizer_and_scheduler(num_training_steps=100)
    lrs = []
    for _ in range(100):
        lrs.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    # OneCycleLR: starts at max_lr / div_factor (25), peaks at max_lr after pct_start of the steps,
    # and anneals (cosine) to max_lr / (25 * 1e4)
    assert lrs[0] == pytest.approx(1e-2 / 25)
    peak = max(range(100), key=lrs.__getitem__)
    assert abs(peak - 25) <= 1 and lrs[peak] == pytest.approx(1e-2, rel=1e-3)
    assert lrs[-1] < 1e-4 and all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1 :]))
