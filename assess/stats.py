"""Statistics for the assessment: bootstrap CIs over seeds and paired tests across tasks.

Seeds are the replicates within a task (so CIs resample seeds); tasks are the units of the paired
comparisons between arms (Wilcoxon signed-rank on per-task mean differences), since a claim such as
"pretraining helps" is a claim about tasks, not about seeds of one task.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

N_BOOT = 10_000


def bootstrap_ci(values, level: float = 0.95, n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (float("nan"), float("nan"))
    if x.size == 1:
        return (float(x[0]), float(x[0]))
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def bootstrap_diff_ci(a, b, level: float = 0.95, n_boot: int = N_BOOT, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(a) - mean(b), resampling each arm's seeds independently."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size == 0 or b.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    da = a[rng.integers(0, a.size, size=(n_boot, a.size))].mean(axis=1)
    db = b[rng.integers(0, b.size, size=(n_boot, b.size))].mean(axis=1)
    lo, hi = np.quantile(da - db, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


@dataclass
class PairedTest:
    n_tasks: int
    mean_difference: float
    wins: int  # tasks where a > b
    losses: int
    statistic: float  # Wilcoxon W (the smaller rank sum, scipy's two-sided convention)
    p_value: float
    rank_biserial: float  # matched-pairs rank-biserial correlation in [-1, 1]: effect size


def paired_wilcoxon(diffs) -> PairedTest:
    """Two-sided Wilcoxon signed-rank test of per-task differences (a - b), with its effect size.

    The effect size is the matched-pairs rank-biserial correlation r = (R+ - R-) / (R+ + R-) (Kerby 2014),
    where R+ and R- are the rank sums of positive and negative differences (zeros dropped, as in
    scipy's default 'wilcox' zero method).
    """
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    nz = d[d != 0]
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    if nz.size == 0:
        return PairedTest(int(d.size), float(d.mean()) if d.size else float("nan"), wins, losses, float("nan"), 1.0, 0.0)
    ranks = stats.rankdata(np.abs(nz))
    r_plus, r_minus = ranks[nz > 0].sum(), ranks[nz < 0].sum()
    res = stats.wilcoxon(nz)
    return PairedTest(
        n_tasks=int(d.size),
        mean_difference=float(d.mean()),
        wins=wins,
        losses=losses,
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        rank_biserial=float((r_plus - r_minus) / (r_plus + r_minus)),
    )
