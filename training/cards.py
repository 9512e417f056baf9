"""Model cards whose YAML metadata carries the run's results (`model-index`).

The Trainer's own card keeps only metric names it knows (hf5-notes), so we render ours from
`hub_cards/model_card.md` with `huggingface_hub.ModelCard`, which also writes the `model-index` block
the Hub reads for evaluation results.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import EvalResult, ModelCard, ModelCardData

TEMPLATE = Path(__file__).resolve().parents[1] / "hub_cards" / "model_card.md"

# Display names of the metrics in model-index (the Hub shows `name`, matches on `type`).
METRIC_NAMES = {
    "mcc": "MCC",
    "f1_macro": "macro F1",
    "accuracy": "accuracy",
    "precision_macro": "macro precision",
    "recall_macro": "macro recall",
    "auroc": "AUROC",
    "pearson": "Pearson r",
    "spearman": "Spearman rho",
}


def eval_results(record: dict) -> list[EvalResult]:
    """One EvalResult per test metric of a fine-tuning record (none for pretraining)."""
    test = record.get("metrics", {}).get("test") or {}
    ds = record.get("dataset") or {}
    out = []
    for key, value in test.items():
        if key not in METRIC_NAMES or value != value:  # skip NaN (e.g. AUROC with one class)
            continue
        out.append(
            EvalResult(
                task_type="text-classification" if record.get("problem_type") != "regression" else "tabular-regression",
                dataset_type=ds.get("hub_id") or ds.get("name") or record["task"],
                dataset_name=ds.get("pretty_name") or record["task"],
                dataset_config=ds.get("config"),
                dataset_split="test",
                metric_type=key,
                metric_value=round(float(value), 6),
                metric_name=f"{METRIC_NAMES[key]} (seed {record['seed']})",
            )
        )
    return out


def render_model_card(record: dict, repo_id: str | None = None) -> ModelCard:
    name = repo_id or record.get("run_name") or "dnalm-assess-model"
    results = eval_results(record)
    data = ModelCardData(
        model_name=name,
        library_name="transformers",
        license="apache-2.0",
        tags=[
            "dna",
            "genomics",
            "biology",
            f"dnalm-assess-{record['model']}",
            f"init-{record['init']}",
            f"tokenizer-{record['tokenizer']['family']}",
        ],
        datasets=[record["dataset"]["hub_id"]] if record.get("dataset", {}).get("hub_id") else None,
        metrics=sorted({r.metric_type for r in results}) or None,
        eval_results=results or None,
        pipeline_tag="text-classification" if record["stage"] == "finetune" else "fill-mask",
    )
    tok = record["tokenizer"]
    desc = tok["family"] + "".join(f", {k}={v}" for k, v in tok.items() if k != "family")
    what = f"fine-tuned on `{record['task']}`" if record["stage"] == "finetune" else "pretrained with masked-LM"
    return ModelCard.from_template(
        data,
        template_path=str(TEMPLATE),
        title=name,
        summary=f"A `{record['model']}` model ({record['init']} init, {desc} tokens) {what}.",
        record={**record, "tokenizer_desc": desc},
        repo_id=name,
        float=float,
    )
