"""Regression metrics (Pearson, Spearman, MSE) as a local `evaluate` module (works offline)."""

import datasets
import evaluate
import numpy as np
from scipy.stats import pearsonr, spearmanr


class DnaRegression(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Pearson r, Spearman rho and mean squared error for DNA sequence regression.",
            citation="",
            inputs_description="predictions: [N] floats; references: [N] floats.",
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
            ),
        )

    def _compute(self, predictions, references):
        p = np.asarray(predictions, dtype=np.float64).reshape(-1)
        r = np.asarray(references, dtype=np.float64).reshape(-1)
        return {
            "pearson": float(pearsonr(p, r)[0]),
            "spearman": float(spearmanr(p, r)[0]),
            "mse": float(np.mean((p - r) ** 2)),
        }
