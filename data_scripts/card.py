"""The dataset card (README.md) of a built benchmark folder, rendered from `hub_cards/dataset_card.md`.

`huggingface_hub.DatasetCard.from_template` fills the template (Jinja2) and writes the YAML front
matter from `DatasetCardData`, so the `configs:` block (one config per task, its parquet files per
split) is exactly what `datasets.load_dataset(folder_or_repo, config)` reads. Nothing in the card
depends on the time or the machine (no dates, no absolute paths), so a rebuild gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

from dnalm_core.registry import TASKS
from dnalm_core.tasks import BENCHMARKS, HUB_REPOS

from . import genomic_benchmarks, gue, nt
from .common import SPLITS

TEMPLATE = Path(__file__).resolve().parents[1] / "hub_cards" / "dataset_card.md"

INFO = {
    "gue": {
        "pretty_name": "GUE (Genome Understanding Evaluation), parquet",
        "summary": "The fine-tuning tasks of GUE, the benchmark of the DNABERT-2 paper (Zhou et al. 2023): "
        "28 sequence classification tasks over yeast, human, mouse and SARS-CoV-2 sequences "
        "(epigenetic marks, promoters, core promoters, transcription factor binding, splice sites, "
        "Covid variants), packaged from the official CSV files.",
        "source_text": "GUE as distributed by the DNABERT-2 authors (MAGICS-LAB/DNABERT_2 README, Google-Drive "
        "archive), official layout `GUE/<group>/<task>/{train,dev,test}.csv`; `dev.csv` becomes "
        "`validation`.",
        "license": "other",
        "license_name": "gue-source-terms",
        "license_link": "https://github.com/MAGICS-LAB/DNABERT_2",
        "license_text": "GUE is released by its authors through the MAGICS-LAB/DNABERT_2 repository, whose code is "
        "under the Apache-2.0 license; the data archive itself states no separate license. This "
        "repackaging changes only the file format (and adds the `id` column); check the source "
        "terms before redistributing, and cite Zhou et al. 2023.",
        "citation": gue.CITATION,
    },
    "nt": {
        "pretty_name": "Nucleotide Transformer downstream tasks (revised), parquet",
        "summary": "The 18 revised downstream tasks of the Nucleotide Transformer benchmark (Dalla-Torre et al. "
        "2025): histone marks (ENCODE K562), enhancers and enhancer types, promoters (all, TATA, "
        "non-TATA) and splice sites (acceptors, donors, all), packaged from the files of the Hub "
        "dataset `InstaDeepAI/nucleotide_transformer_downstream_tasks_revised` without a loading "
        "script.",
        "source_text": "the files of the Hub dataset `InstaDeepAI/nucleotide_transformer_downstream_tasks_revised` "
        "(train and test splits).",
        "license": "other",
        "license_name": "nt-downstream-tasks-source-terms",
        "license_link": "https://huggingface.co/datasets/InstaDeepAI/nucleotide_transformer_downstream_tasks_revised",
        "license_text": "The source Hub dataset states no license in its card metadata; its tasks derive from public "
        "resources described in that card (e.g. ENCODE histone ChIP-seq, ENCODE SCREEN enhancers). "
        "Check the source terms before redistributing, and cite Dalla-Torre et al. 2025.",
        "citation": nt.CITATION,
    },
    "gb": {
        "pretty_name": "Genomic Benchmarks, parquet",
        "summary": "The 9 datasets of Genomic Benchmarks (Grešová et al. 2023): regulatory elements, enhancers, "
        "promoters, open chromatin, coding vs intergenomic and human vs worm sequence classification, "
        "built from the package's interval lists and the reference genomes.",
        "source_text": "the interval lists of ML-Bioinfo-CEITEC/genomic_benchmarks (`datasets/<name>/{train,test}/"
        "<class>.csv.gz`) and the reference FASTA files given with `--genome`.",
        "license": "apache-2.0",
        "license_name": None,
        "license_link": None,
        "license_text": "The interval lists come from ML-Bioinfo-CEITEC/genomic_benchmarks (Apache-2.0 license); the "
        "sequences are taken from Ensembl reference assemblies (see Ensembl's terms of use). Cite "
        "Grešová et al. 2023.",
        "citation": genomic_benchmarks.CITATION,
        "convention": "0-based, end-exclusive intervals (`chrom[start:end]`, the BED convention, as in the "
        "package's `loc2seq`); strand '-' is the reverse complement of that slice, '+' or empty the "
        "slice itself.",
    },
}


def _size_category(n: int) -> str:
    for limit, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if n < limit:
            return name
    return "10M<n<100M"


def card_data(benchmark: str, manifest: dict):
    from huggingface_hub import DatasetCardData

    info = INFO[benchmark]
    configs, dataset_info = [], []
    for t in manifest["tasks"]:
        cfg = t["config"]
        configs.append({"config_name": cfg, "data_files": [{"split": s, "path": f"{cfg}/{s}.parquet"} for s in SPLITS]})
        names = {str(i): n for i, n in enumerate(t["label_names"])}
        dataset_info.append(
            {
                "config_name": cfg,
                "features": [
                    {"name": "id", "dtype": "string"},
                    {"name": "sequence", "dtype": "string"},
                    {"name": "label", "dtype": {"class_label": {"names": names}}},
                ],
                # no `splits` block: `datasets` wants num_bytes there too, and the sizes are in the card body
            }
        )
    total = sum(sum(t["rows"].values()) for t in manifest["tasks"])
    extra = {}
    if info["license_name"]:
        extra = {"license_name": info["license_name"], "license_link": info["license_link"]}
    return DatasetCardData(
        license=info["license"],
        pretty_name=info["pretty_name"],
        task_categories=["text-classification"],
        tags=["biology", "genomics", "dna"],
        size_categories=[_size_category(total)],
        **extra,
        configs=configs,
        dataset_info=dataset_info,
    )


METRIC_NAMES = {"mcc": "MCC", "f1_macro": "macro F1", "accuracy": "accuracy"}


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def render(benchmark: str, manifest: dict, command: str, repo_id: str | None = None) -> str:
    from huggingface_hub import DatasetCard

    info = INFO[benchmark]
    tasks, dropped, published_models, notes, sources_seen = [], [], [], [], set()
    for t in manifest["tasks"]:
        lo = min(t["length_range"][s][0] for s in SPLITS)
        hi = max(t["length_range"][s][1] for s in SPLITS)
        policy_rows = []
        for s in SPLITS:
            p = t["policy"][s]
            if s == "validation" and p["rows_in"] == 0 and t["rows"]["validation"] > 0:
                continue  # carved from train: its rows were checked as train rows
            policy_rows.append({"split": s, **p})
            for rid, reason, origin in p["dropped_listed"]:
                dropped.append({"config": t["config"], "split": s, "id": rid, "reason": reason, "origin": origin})
        tasks.append(
            {
                **t,
                "length_text": str(lo) if lo == hi else f"{lo}–{hi}",
                "balance": {
                    s: " / ".join(f"{n}: {c}" for n, c in zip(t["label_names"], t["label_counts"][s])) for s in SPLITS
                },
                "policy_rows": policy_rows,
                "metric_text": METRIC_NAMES.get(t["metric"], t["metric"]),
            }
        )
        # the catalogue's column order (the paper's), not the manifest's: a task kept from an earlier build
        # comes back from JSON with its keys sorted
        for model in sorted(t["published"], key=list(TASKS.get(t["task"]).published).index):
            if model not in published_models:
                published_models.append(model)
        for n in t["notes"]:
            notes.append(f"`{t['config']}`: {n}")
        sources_seen.add(t["source_layout"])
    published_rows = [
        {
            "config": t["config"],
            "scores": [_fmt(t["published"][m]) if m in t["published"] else "–" for m in published_models],
        }
        for t in manifest["tasks"]
        if t["published"]
    ]
    published_source = sorted({t["published_source"] for t in manifest["tasks"]})
    validation = sorted({t["validation"] for t in manifest["tasks"]})
    first = manifest["tasks"][0]
    card = DatasetCard.from_template(
        card_data(benchmark, manifest),
        template_path=str(TEMPLATE),
        pretty_name=info["pretty_name"],
        summary=info["summary"],
        benchmark=benchmark,
        repo_id=repo_id or HUB_REPOS[benchmark],
        first_config=first["config"],
        tasks=tasks,
        command=command,
        source_text=info["source_text"] + " Layout found: " + "; ".join(sorted(sources_seen)) + ".",
        validation_text="; ".join(validation),
        builder_version=manifest["builder_version"],
        convention=info.get("convention"),
        notes=notes,
        dropped=dropped,
        published_models=published_models,
        published_rows=published_rows,
        published_source="; ".join(published_source) or "none recorded",
        license_text=info["license_text"],
        citation=info["citation"],
        benchmark_name=BENCHMARKS[benchmark],
    )
    return str(card).rstrip("\n") + "\n"
