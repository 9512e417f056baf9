"""Classification metrics for DNA benchmarks as an `evaluate` module.

`evaluate.load("matthews_correlation")` needs the Hub, so the suite ships its metrics as a local
module: `evaluate.load("<repo>/metrics/dna_classification")` works offline and the folder can be
pushed to the Hub as an evaluate space unchanged. One module gives every number the reports use, from
the same predictions, so they can never disagree about which examples were scored.

Inputs: `predictions` are per-class logits, shape [N, C] for single-label and
[N, C] for multi-label; `references` are class ids [N] (single-label) or 0/1 rows [N, C] (multi-label).
The config name picks the problem type: "single_label" (default) or "multi_label".
"""

import datasets
import evaluate
import numpy as np
from scipy.special import expit, softmax
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, precision_score, recall_score, roc_auc_score

_DESCRIPTION = "MCC, macro-F1, accuracy, macro precision/recall and AUROC for DNA sequence classification."
_KWARGS = """
Args:
    predictions: per-class logits, [N, C].
    references: class ids [N] for single_label; 0/1 matrix [N, C] for multi_label.
Returns (single_label): mcc, f1_macro, accuracy, precision_macro, recall_macro, auroc
    (auroc: binary = ROC AUC of class 1; multiclass = one-vs-rest macro; NaN when a class is absent).
Returns (multi_label): the same macro numbers over labels, plus per-label `mcc_<i>`, `f1_<i>`, `auroc_<i>`.
"""
_CITATION = """@article{matthews1975,
  title={Comparison of the predicted and observed secondary structure of T4 phage lysozyme},
  author={Matthews, Brian W}, journal={Biochimica et Biophysica Acta}, volume={405}, pages={442--451}, year={1975}}"""


def _auroc(y_true, scores):
    try:
        return float(roc_auc_score(y_true, scores))
    except ValueError:  # one class only in y_true: AUROC is undefined, say so rather than invent a value
        return float("nan")


class DnaClassification(evaluate.Metric):
    def _info(self):
        if self.config_name == "multi_label":
            features = datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("float32")),
                    "references": datasets.Sequence(datasets.Value("int32")),
                }
            )
        else:
            features = datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("float32")), "references": datasets.Value("int32")}
            )
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation=_CITATION, inputs_description=_KWARGS, features=features
        )

    def _compute(self, predictions, references):
        scores = np.asarray(predictions, dtype=np.float64)
        refs = np.asarray(references)
        if self.config_name == "multi_label":
            return self._multi_label(scores, refs)
        return self._single_label(scores, refs)

    @staticmethod
    def _single_label(scores, refs):
        if scores.ndim != 2:
            raise ValueError(f"predictions must be [N, num_classes] scores, got shape {scores.shape}")
        preds = scores.argmax(-1)
        probs = softmax(scores, axis=-1)  # predictions are logits (what the Trainer hands over)
        if scores.shape[1] == 2:
            auroc = _auroc(refs, probs[:, 1])
        else:
            try:
                auroc = float(
                    roc_auc_score(refs, probs, multi_class="ovr", average="macro", labels=list(range(scores.shape[1])))
                )
            except ValueError:
                auroc = float("nan")
        kw = dict(average="macro", zero_division=0)
        return {
            "mcc": float(matthews_corrcoef(refs, preds)),
            "f1_macro": float(f1_score(refs, preds, **kw)),
            "accuracy": float(accuracy_score(refs, preds)),
            "precision_macro": float(precision_score(refs, preds, **kw)),
            "recall_macro": float(recall_score(refs, preds, **kw)),
            "auroc": auroc,
            # how many classes the model predicted at all: 1 means it did not learn (MCC 0 by construction)
            "n_predicted_classes": int(np.unique(preds).size),
        }

    @staticmethod
    def _multi_label(scores, refs):
        probs = expit(scores)
        preds = (probs >= 0.5).astype(int)
        out = {}
        per = {"mcc": [], "f1": [], "auroc": []}
        for j in range(refs.shape[1]):
            per["mcc"].append(float(matthews_corrcoef(refs[:, j], preds[:, j])))
            per["f1"].append(float(f1_score(refs[:, j], preds[:, j], zero_division=0)))
            per["auroc"].append(_auroc(refs[:, j], probs[:, j]))
            for k in per:
                out[f"{k}_{j}"] = per[k][-1]
        kw = dict(average="macro", zero_division=0)
        out.update(
            mcc=float(np.mean(per["mcc"])),
            f1_macro=float(f1_score(refs, preds, **kw)),
            accuracy=float(accuracy_score(refs, preds)),  # exact-match (subset) accuracy
            precision_macro=float(precision_score(refs, preds, **kw)),
            recall_macro=float(recall_score(refs, preds, **kw)),
            auroc=float(np.nanmean(per["auroc"])) if not all(np.isnan(per["auroc"])) else float("nan"),
        )
        return out
