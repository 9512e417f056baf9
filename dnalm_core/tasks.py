"""The task catalogue: the fine-tuning tasks of GUE, the Nucleotide Transformer benchmark (revised) and
Genomic Benchmarks, as data (torch-free, no I/O at import).

Importing `dnalm_core` registers every task in `dnalm_core.registry.TASKS` under `<benchmark>/<task>`
(`gue/prom_core_tata`, `nt/H3K27ac`, `gb/human_nontata_promoters`). The Hub config name of a task is
the part after the slash. Loading a task's data is `data_scripts.tasks.load_task`; building it is
`data_scripts.build` (see docs/datasets.md).

Sources of the facts below:
- GUE task list and paths: MAGICS-LAB/DNABERT_2 `finetune/scripts/run_dnabert2.sh` (commit 603b20a);
  `bpe` max lengths are that script's `model_max_length`; lengths from the GUE statistics figure and,
  for tf/mouse, measured on the shared CSVs (101 bp). Published numbers: Table 4 of arXiv 2306.15006 v1
  (Zhou et al. 2023, transcribed in the project's reference notes §1.9), MCC x 100 except virus/covid,
  which the paper reports as F1 x 100.
- NT revised tasks: task names and label counts of the Hub dataset
  `InstaDeepAI/nucleotide_transformer_downstream_tasks_revised` (checked on the shared 1,500-row sample);
  lengths from the same sample (1000 / 400 / 300 / 600 bp). No per-task published numbers for the
  *revised* set could be verified (the numbers usually quoted are for the original 2023 task set), so
  `published` is empty there.
- Genomic Benchmarks: ML-Bioinfo-CEITEC/genomic_benchmarks (commit 605d853): `datasets/*/metadata.yaml`
  (classes and reference genomes), coordinate files (lengths; `seq_len` is the longest interval), and
  `experiments/README.md` (accuracy of the package's PyTorch CNN baseline and of HyenaDNA). ConvNova
  numbers: ConvNova's 5-fold results as copied in the JanusDNA paper (reference notes §2.7).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from .registry import TASKS, TaskEntry

HUB_ORG = os.environ.get("DNALM_HUB_ORG", "dnalm-assess")
# One Hub dataset repo per benchmark, one config per task (the folder `data_scripts.build` writes).
HUB_REPOS = {
    "gue": f"{HUB_ORG}/gue",
    "nt": f"{HUB_ORG}/nucleotide-transformer-tasks-revised",
    "gb": f"{HUB_ORG}/genomic-benchmarks",
}
SPLITS = ("train", "validation", "test")
BENCHMARKS = {
    "gue": "GUE (Genome Understanding Evaluation)",
    "nt": "Nucleotide Transformer downstream tasks (revised)",
    "gb": "Genomic Benchmarks",
}

# Binary tasks: the sources store 0/1 only; 1 is the positive class of the task's definition (promoter,
# TF-bound, mark present, enhancer, splice site), which is how the papers describe them.
BINARY = ("negative", "positive")


def _classes(n: int) -> tuple[str, ...]:
    # The sources give integer labels only and no documented index -> name mapping for these tasks;
    # generic names avoid inventing one.
    return tuple(f"class_{i}" for i in range(n))


def _max_tokens(seq_len: int, bpe: int | None = None) -> dict[str, int]:
    """Max token length per tokenizer family.

    char and k-mer: one token per base at most (overlapping k-mers give L-k+1) plus [CLS]/[SEP].
    bpe: the published DNABERT-2 scripts' value where one exists, otherwise the DNABERT-2 README's
    rule of thumb (BPE shortens DNA ~4-5x: max length ~ 0.25 x bp).
    """
    return {"char": seq_len + 2, "kmer": seq_len + 2, "bpe": bpe if bpe is not None else math.ceil(seq_len / 4)}


# --------------------------------------------------------------------------------------------------
# GUE: 28 tasks. (registry task name, official path under GUE/, group, labels, seq_len, bpe max length)
_GUE = [
    *[
        (m, f"EMP/{m}", "EMP (yeast histone marks)", BINARY, 500, 128)
        for m in ("H3", "H3K14ac", "H3K36me3", "H3K4me1", "H3K4me2", "H3K4me3", "H3K79me3", "H3K9ac", "H4", "H4ac")
    ],
    *[
        (f"prom_300_{v}", f"prom/prom_300_{v}", "prom_300 (human promoter, 300 bp)", BINARY, 300, 70)
        for v in ("all", "notata", "tata")
    ],
    *[
        (f"prom_core_{v}", f"prom/prom_core_{v}", "prom_core (human core promoter, 70 bp)", BINARY, 70, 20)
        for v in ("all", "notata", "tata")
    ],
    *[(f"tf_{i}", f"tf/{i}", "tf human (TF binding)", BINARY, 101, 30) for i in range(5)],
    *[(f"mouse_{i}", f"mouse/{i}", "tf mouse (TF binding)", BINARY, 101, 30) for i in range(5)],
    ("covid", "virus/covid", "virus (SARS-CoV-2 variant)", _classes(9), 1000, 256),
    ("splice_reconstructed", "splice/reconstructed", "splice (human splice site)", _classes(3), 400, 80),
]

# Table 4 of arXiv 2306.15006 v1, keyed by GUE path. Columns: see _GUE_MODELS.
_GUE_MODELS = (
    "DNABERT (3-mer)",
    "DNABERT (6-mer)",
    "NT-500M-human",
    "NT-500M-1000g",
    "NT-2500M-1000g",
    "NT-2500M-multi",
    "DNABERT-2",
    "DNABERT-2 (further pretrained on GUE)",
)
_GUE_TABLE4 = """
EMP/H3                 74.15 73.10 69.67 72.52 74.61 78.77 78.27 80.17
EMP/H3K14ac            42.07 40.06 33.55 39.37 44.08 56.20 52.57 57.42
EMP/H3K36me3           48.49 47.25 44.14 45.58 50.86 61.99 56.88 61.90
EMP/H3K4me1            42.95 41.44 37.15 40.45 43.10 55.30 50.52 53.00
EMP/H3K4me2            31.34 32.27 30.87 31.05 30.28 36.49 31.13 39.89
EMP/H3K4me3            28.92 27.81 24.06 26.16 30.87 40.34 36.27 41.20
EMP/H3K79me3           60.12 61.17 58.35 59.33 61.20 64.70 67.39 65.46
EMP/H3K9ac             50.48 51.22 45.81 49.29 52.36 56.01 55.63 57.07
EMP/H4                 78.27 79.26 76.17 76.29 79.76 81.67 80.71 81.86
EMP/H4ac               38.60 37.43 33.74 36.79 41.46 49.13 50.43 50.35
prom/prom_300_all      90.44 90.48 87.71 89.76 90.95 91.01 86.77 88.31
prom/prom_300_notata   93.61 93.05 90.75 91.75 93.07 94.00 94.27 94.34
prom/prom_300_tata     69.83 61.56 78.07 78.23 75.80 79.43 71.59 68.79
tf/0                   67.95 66.84 61.59 63.64 66.31 66.64 71.99 69.12
tf/1                   70.90 70.14 66.75 70.17 68.30 70.28 76.06 71.87
tf/2                   60.51 61.03 53.58 52.73 58.70 58.72 66.52 62.96
tf/3                   53.03 51.89 42.95 45.24 49.08 51.65 58.54 55.35
tf/4                   69.76 70.97 60.81 62.82 67.59 69.34 77.43 74.94
prom/prom_core_all     70.92 68.90 63.45 66.70 67.39 70.33 69.37 67.50
prom/prom_core_notata  69.82 70.47 64.82 67.17 67.46 71.58 68.04 69.53
prom/prom_core_tata    78.15 76.06 71.34 73.52 69.66 72.97 74.17 76.18
mouse/0                42.31 44.42 31.04 39.26 48.31 63.31 56.76 64.23
mouse/1                79.10 78.94 75.04 75.49 80.02 83.76 84.77 86.28
mouse/2                69.90 71.44 61.67 64.70 70.14 71.52 79.32 81.28
mouse/3                55.40 44.89 29.17 33.07 42.25 69.44 66.47 73.49
mouse/4                41.97 42.48 29.27 34.01 43.40 47.07 52.66 50.80
virus/covid            62.23 55.50 50.82 52.06 66.73 73.04 71.02 68.49
splice/reconstructed   84.14 84.07 79.71 80.97 85.78 89.35 84.99 85.93
"""


def _parse_table(text: str, models: tuple[str, ...]) -> dict[str, dict[str, float]]:
    out = {}
    for line in text.strip().splitlines():
        key, *vals = line.split()
        assert len(vals) == len(models), line
        out[key] = {m: float(v) for m, v in zip(models, vals) if v != "-"}
    return out


_GUE_PUBLISHED = _parse_table(_GUE_TABLE4, _GUE_MODELS)

for _name, _path, _group, _labels, _len, _bpe in _GUE:
    _covid = _path == "virus/covid"
    TASKS.register(
        f"gue/{_name}",
        TaskEntry(
            name=f"gue/{_name}",
            benchmark="gue",
            group=_group,
            config_name=_name,
            source_path=_path,
            num_labels=len(_labels),
            label_names=_labels,
            problem_type="single_label_classification",
            # The paper scores every GUE task by MCC except Covid, which it reports as F1 (DNABERT_2 #40, #127).
            metric="f1_macro" if _covid else "mcc",
            also_report=("mcc", "accuracy") if _covid else ("f1_macro", "accuracy"),
            seq_len=_len,
            max_tokens=_max_tokens(_len, _bpe),
            published=_GUE_PUBLISHED[_path],
            published_source="Zhou et al. 2023, arXiv 2306.15006 v1, Table 4 ("
            + ("F1" if _covid else "MCC")
            + " x 100, test split, seed 42)",
            citation_key="zhou2023dnabert2",
        ),
    )

# --------------------------------------------------------------------------------------------------
# Nucleotide Transformer downstream tasks, revised set (18 tasks; names as in the Hub dataset's `task`).
_NT = [
    *[
        (m, "histone marks (K562, ENCODE)", BINARY, 1000)
        for m in (
            "H2AFZ",
            "H3K27ac",
            "H3K27me3",
            "H3K36me3",
            "H3K4me1",
            "H3K4me2",
            "H3K4me3",
            "H3K9ac",
            "H3K9me3",
            "H4K20me1",
        )
    ],
    ("enhancers", "enhancers", BINARY, 400),
    ("enhancers_types", "enhancers", _classes(3), 400),
    ("promoter_all", "promoters", BINARY, 300),
    ("promoter_no_tata", "promoters", BINARY, 300),
    ("promoter_tata", "promoters", BINARY, 300),
    ("splice_sites_acceptors", "splice sites", BINARY, 600),
    ("splice_sites_donors", "splice sites", BINARY, 600),
    ("splice_sites_all", "splice sites", _classes(3), 600),
]
for _name, _group, _labels, _len in _NT:
    TASKS.register(
        f"nt/{_name}",
        TaskEntry(
            name=f"nt/{_name}",
            benchmark="nt",
            group=_group,
            config_name=_name,
            source_path=_name,
            num_labels=len(_labels),
            label_names=_labels,
            problem_type="single_label_classification",
            metric="mcc",
            also_report=("f1_macro", "accuracy"),
            seq_len=_len,
            max_tokens=_max_tokens(_len),
            published={},
            published_source="none verified for the revised task set (numbers usually quoted are for the "
            "original 2023 NT tasks and are not comparable)",
            citation_key="dallatorre2024nucleotide",
        ),
    )

# --------------------------------------------------------------------------------------------------
# Genomic Benchmarks: 9 datasets. Labels are the class files' names in sorted order (the order of
# `metadata.yaml`). seq_len is the longest interval in the coordinate files.
_GB = [
    ("demo_coding_vs_intergenomic_seqs", "coding vs intergenomic (human)", ("coding_seqs", "intergenomic_seqs"), 200),
    ("demo_human_or_worm", "species (human vs C. elegans)", ("human", "worm"), 200),
    ("drosophila_enhancers_stark", "enhancers (fly)", BINARY, 3237),
    ("dummy_mouse_enhancers_ensembl", "enhancers (mouse)", BINARY, 4776),
    ("human_enhancers_cohn", "enhancers (human)", BINARY, 500),
    ("human_enhancers_ensembl", "enhancers (human)", BINARY, 573),
    ("human_ensembl_regulatory", "regulatory elements (human)", ("enhancer", "ocr", "promoter"), 802),
    ("human_nontata_promoters", "promoters (human)", BINARY, 251),
    ("human_ocr_ensembl", "open chromatin (human)", BINARY, 593),
]
_GB_MODELS = ("CNN (Genomic Benchmarks, PyTorch)", "HyenaDNA", "ConvNova")
# Accuracy x 100. CNN and HyenaDNA: genomic_benchmarks experiments/README.md (test split);
# ConvNova: 5-fold CV means as copied in the JanusDNA paper. "-" = not reported.
_GB_TABLE = """
demo_coding_vs_intergenomic_seqs  87.6  91.3  94.3
demo_human_or_worm                93.0  96.6  96.7
drosophila_enhancers_stark        58.6  -     -
dummy_mouse_enhancers_ensembl     69.0  85.1  78.4
human_enhancers_cohn              69.5  74.2  74.3
human_enhancers_ensembl           68.9  89.2  90.0
human_ensembl_regulatory          93.3  93.8  87.3
human_nontata_promoters           84.6  96.6  95.1
human_ocr_ensembl                 68.0  80.9  79.3
"""
_GB_PUBLISHED = _parse_table(_GB_TABLE, _GB_MODELS)

for _name, _group, _labels, _len in _GB:
    TASKS.register(
        f"gb/{_name}",
        TaskEntry(
            name=f"gb/{_name}",
            benchmark="gb",
            group=_group,
            config_name=_name,
            source_path=f"datasets/{_name}",
            num_labels=len(_labels),
            label_names=_labels,
            problem_type="single_label_classification",
            # The Genomic Benchmarks paper and its followers report accuracy; MCC is kept alongside so all
            # three benchmarks can be compared on one scale.
            metric="accuracy",
            also_report=("mcc", "f1_macro"),
            seq_len=_len,
            max_tokens=_max_tokens(_len),
            published=_GB_PUBLISHED[_name],
            published_source="accuracy x 100: CNN/HyenaDNA from ML-Bioinfo-CEITEC/genomic_benchmarks "
            "experiments/README.md; ConvNova 5-fold CV as copied in the JanusDNA paper",
            citation_key="gresova2023genomic",
        ),
    )


# --------------------------------------------------------------------------------------------------
def tasks_of(benchmark: str) -> list[TaskEntry]:
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; valid: {', '.join(BENCHMARKS)}")
    return [e for _, e in TASKS.items() if e.benchmark == benchmark]


def build_command(benchmark: str, config: str, out: str | Path) -> str:
    source = {"gue": "/path/to/GUE", "nt": "/path/to/nt_files", "gb": "/path/to/genomic_benchmarks/datasets"}[benchmark]
    extra = " --genome /path/to/reference.fa.gz" if benchmark == "gb" else ""
    return f"python -m data_scripts.build {benchmark} --source {source} --out {out} --tasks {config}{extra}"
