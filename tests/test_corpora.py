"""Pretraining corpora (human vs multispecies) and the one-cycle schedule option."""

import csv

import pytest
import torch

import data_scripts  # noqa: F401  (registers the corpora)
from data_scripts.corpora import build_human, build_multispecies, water_fill
from data_scripts.fasta import read_fasta


def _train_bp(path):
    with open(path, newline="") as fh:
        return sum(len(r["sequence"]) for r in csv.DictReader(fh))


def test_water_fill_by_hand():
    # total 100 over 4 species: plant has only 10, so the other three share 90 -> 30 each
    assert water_fill({"human": 500, "mouse": 40, "bacterium": 200, "plant": 10}, 100) == \
        {"plant": 10, "mouse": 30, "bacterium": 30, "human": 30}
    # mouse can give only 20 of its 30: the last two share the rest
    assert water_fill({"human": 500, "mouse": 20, "bacterium": 200, "plant": 10}, 100) == \
        {"plant": 10, "mouse": 20, "bacterium": 35, "human": 35}


def test_cpu_corpora_sizes_species_and_no_eval_splits(shared_data):
    human = build_human("cpu", shared_data)
    gue = shared_data / "gue"
    present = sorted(d.name for d in gue.iterdir() if (d / "train.csv").is_file())
    human_tasks = [t for t in present if not t.startswith("mouse")]  # GUE's mouse group is the only non-human one here
    assert {"prom_core_tata", "prom_300_tata", "tf_2"} <= set(human_tasks)
    expected = sum(_train_bp(gue / t / "train.csv") for t in human_tasks)
    expected += sum(len(s) for _, s in read_fasta(shared_data / "genomes" / "human_GRCh38_fragments_biopython.fa"))
    assert human.record["bp"] == expected and human.record["species"] == {"human": expected}
    assert all(src.endswith(":train") or src.endswith(".fa") for src in human.record["sources"])
    assert not any("mouse" in src for src in human.record["sources"])

    multi = build_multispecies("cpu", shared_data)
    r = multi.record
    assert r["bp"] == human.record["bp"]  # same size: only the species mix differs
    assert set(r["species"]) == {"human", "mouse", "bacterium", "plant"}
    assert r["species"]["plant"] == 154478  # the whole chloroplast (less than an equal share)
    mouse_bp = sum(_train_bp(gue / t / "train.csv") for t in present if t.startswith("mouse"))
    assert r["species"]["mouse"] == min(mouse_bp, r["species"]["human"])  # all of it, or an equal share
    assert r["species"]["bacterium"] == min(2463666, r["species"]["human"])  # the whole chromosome, or an equal share
    assert r["sha256"] != human.record["sha256"]
    # deterministic
    assert build_multispecies("cpu", shared_data).record["sha256"] == r["sha256"]


def test_paper_scale_needs_fasta(tmp_path):
    with pytest.raises(ValueError, match="needs corpus_fasta"):
        build_human("paper")
    fa = tmp_path / "g.fa"
    fa.write_text(">chr1\nACGTNNACGT\nacgt\n>chr2\nGGGG\n")
    c = build_human("paper", fasta=[fa])
    assert c.record["bp"] == 18 and c.sequences == ["ACGTNNACGTACGT", "GGGG"]


def test_onecycle_schedule_shape(tmp_path):
    from train import DNATrainingArguments, OneCycleTrainer

    model = torch.nn.Linear(2, 2)
    args = DNATrainingArguments(output_dir=str(tmp_path), learning_rate=1e-2, warmup_steps=0.25, eval_strategy="no",
                                save_strategy="no", load_best_model_at_end=False)
    trainer = OneCycleTrainer(model=model, args=args)
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
    assert lrs[-1] < 1e-4 and all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1:]))
