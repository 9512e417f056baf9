"""Statistics for the assessment: t intervals over seeds, paired tests across tasks, Holm's correction.

Seeds are the replicates within a task: a cell's mean gets a t interval over its seeds, and the difference
between two arms on one task gets Welch's t interval (unpaired: the arms' seeds are independent runs) or,
when the spec declares `paired_seeds: true`, a t interval of the per-seed differences. Tasks are the units of
the comparisons across tasks (Wilcoxon signed-rank and paired t on the per-task mean differences), since a
claim such as "pretraining helps" is a claim about tasks, not about seeds of one task. The p-values of all
the comparisons a spec declares form one family, corrected with Holm's step-down method.

Why not a bootstrap: a percentile bootstrap of the mean of n = 5 seeds covers the true mean about 85% of
the time at a nominal 95% (it ignores that s is estimated from 5 values); the t interval is exact for
normal seeds and close for mildly skewed ones (tests/test_assess.py checks coverage by simulation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
EXACT_WILCOXON_MAX_N = 16  # up to this many non-zero differences, the signed-rank p is enumerated exactly

T_METHOD = "t interval over seeds: mean ± t(n-1, 0.975)·s/√n"
WELCH_METHOD = "Welch t interval (arms' seeds unpaired; Welch-Satterthwaite df)"
PAIRED_METHOD = "paired-by-seed t interval of the per-seed differences"


@dataclass
class MeanCI:
    n: int
    mean: float
    sd: float | None  # None for n < 2
    low: float | None  # None when n < 2: one value gives no interval
    high: float | None
    method: str = T_METHOD


def t_ci(values, level: float = LEVEL) -> MeanCI:
    """mean ± t_{n-1, (1+level)/2} · s / √n."""
    x = np.asarray(values, dtype=float)
    n = int(x.size)
    if n == 0:
        return MeanCI(0, float("nan"), None, None, None)
    m = float(x.mean())
    if n == 1:
        return MeanCI(1, m, None, None, None)
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * sd / math.sqrt(n)
    return MeanCI(n, m, sd, m - half, m + half)


@dataclass
class DiffCI:
    difference: float
    low: float | None
    high: float | None
    df: float | None
    n_a: int
    n_b: int
    method: str


def combination_ci(groups, coefs, level: float = LEVEL, method: str = WELCH_METHOD) -> DiffCI:
    """CI of Σ c_i·mean(group_i) for independent groups: se² = Σ c_i² s_i²/n_i, Welch-Satterthwaite df
    = se⁴ / Σ (c_i² s_i²/n_i)² / (n_i − 1). Two groups with coefs (1, −1) is Welch's interval."""
    groups = [np.asarray(g, dtype=float) for g in groups]
    est = float(sum(c * g.mean() for c, g in zip(coefs, groups)))
    n_a, n_b = (groups[0].size, groups[1].size) if len(groups) == 2 else (groups[0].size, 0)
    if any(g.size < 2 for g in groups):
        return DiffCI(est, None, None, None, n_a, n_b, method)
    terms = [c * c * g.var(ddof=1) / g.size for c, g in zip(coefs, groups)]
    var = sum(terms)
    if var == 0:  # every seed of every group scored the same: a zero-width interval
        return DiffCI(est, est, est, None, n_a, n_b, method)
    df = var**2 / sum(t * t / (g.size - 1) for t, g in zip(terms, groups) if t > 0)
    half = float(stats.t.ppf((1 + level) / 2, df)) * math.sqrt(var)
    return DiffCI(est, est - half, est + half, float(df), n_a, n_b, method)


def welch_ci(a, b, level: float = LEVEL) -> DiffCI:
    """Welch's t interval of mean(a) − mean(b)."""
    return combination_ci([a, b], [1.0, -1.0], level)


def paired_ci(a, b, level: float = LEVEL) -> DiffCI:
    """t interval of the mean of a_i − b_i (a and b aligned by seed)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    ci = t_ci(d, level)
    return DiffCI(
        ci.mean, ci.low, ci.high, float(d.size - 1) if d.size > 1 else None, int(d.size), int(d.size), PAIRED_METHOD
    )


def holm(pvalues) -> list[float]:
    """Holm's step-down adjusted p-values: sort ascending, multiply the k-th smallest (k = 0, 1, ...) by
    m − k, carry the running maximum forward, cap at 1. Reject H_i at level α iff adjusted p_i ≤ α."""
    p = np.asarray(pvalues, dtype=float)
    m, adjusted, running = p.size, np.empty(p.size), 0.0
    for k, i in enumerate(np.argsort(p, kind="stable")):
        running = max(running, min(1.0, (m - k) * p[i]))
        adjusted[i] = running
    return [float(v) for v in adjusted]


def wilcoxon_min_p(n: int) -> float:
    """Smallest two-sided p the exact signed-rank test can give with n non-zero differences: 2 / 2^n
    (all differences of one sign is the single most extreme of the 2^n equally likely sign patterns)."""
    return min(1.0, 2.0 / 2**n) if n > 0 else 1.0


@dataclass
class PairedTest:
    n_tasks: int  # tasks with a difference
    n_used: int  # non-zero differences: what the signed-rank test uses (zeros dropped)
    mean_difference: float
    wins: int  # tasks where a > b
    losses: int
    statistic: float | None  # min(R+, R−), scipy's two-sided convention; None when nothing is left
    p_value: float
    rank_biserial: float  # matched-pairs rank-biserial correlation in [-1, 1]: effect size
    min_attainable_p: float  # 2 / 2^n_used
    method: str

    @property
    def can_decide(self) -> bool:
        """Whether this many differences could give p < 0.05 at all."""
        return self.min_attainable_p < 0.05


def _exact_signed_rank_p(nz: np.ndarray) -> float:
    """Two-sided exact p of the signed-rank statistic: all 2^n sign patterns of the (mid)ranks, equally likely
    under H0. Exact with ties too."""
    n = nz.size
    ranks = stats.rankdata(np.abs(nz))
    signs = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(bool)
    r_plus = signs.astype(float) @ ranks
    centre = ranks.sum() / 2
    obs = abs(ranks[nz > 0].sum() - centre)
    return float(np.mean(np.abs(r_plus - centre) >= obs - 1e-9))


def paired_wilcoxon(diffs) -> PairedTest:
    """Two-sided Wilcoxon signed-rank test of per-task differences (a − b), with its effect size.

    Zero differences are dropped (Wilcoxon's original treatment, scipy's default), so `n_used` can be
    smaller than the number of tasks; the smallest attainable p is that of `n_used`. Exact p (enumerated)
    up to 16 non-zero differences, scipy's normal approximation above. Effect size: the matched-pairs
    rank-biserial correlation r = (R+ − R−) / (R+ + R−) (Kerby 2014).
    """
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    nz = d[d != 0]
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    mean = float(d.mean()) if d.size else float("nan")
    if nz.size == 0:
        return PairedTest(int(d.size), 0, mean, wins, losses, None, 1.0, 0.0, 1.0, "no non-zero differences")
    ranks = stats.rankdata(np.abs(nz))
    r_plus, r_minus = float(ranks[nz > 0].sum()), float(ranks[nz < 0].sum())
    if nz.size <= EXACT_WILCOXON_MAX_N:
        p, method = _exact_signed_rank_p(nz), "exact"
    else:
        p, method = float(stats.wilcoxon(nz, method="approx").pvalue), "normal approximation"
    return PairedTest(
        n_tasks=int(d.size),
        n_used=int(nz.size),
        mean_difference=mean,
        wins=wins,
        losses=losses,
        statistic=min(r_plus, r_minus),
        p_value=min(1.0, p),
        rank_biserial=(r_plus - r_minus) / (r_plus + r_minus),
        min_attainable_p=wilcoxon_min_p(int(nz.size)),
        method=method,
    )


@dataclass
class PairedT:
    n_used: int
    mean_difference: float
    low: float | None  # 95% t interval of the mean per-task difference
    high: float | None
    statistic: float | None
    p_value: float


def paired_t(diffs) -> PairedT:
    """One-sample t-test of per-task differences against 0 (= paired t-test of the two arms' task means).
    It can reach any p with n ≥ 2, but rests on the differences being roughly normal, which 4 tasks cannot show."""
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    ci = t_ci(d)
    if d.size < 2:
        return PairedT(int(d.size), ci.mean, None, None, None, 1.0)
    if ci.sd == 0:
        p = 1.0 if ci.mean == 0 else 0.0
        return PairedT(int(d.size), ci.mean, ci.low, ci.high, None, p)
    res = stats.ttest_1samp(d, 0.0)
    return PairedT(int(d.size), ci.mean, ci.low, ci.high, float(res.statistic), float(res.pvalue))


# --- effect sizes with verdicts (issue 25) -----------------------------------------------------------------
# A comparison is stated as the mean per-task difference with its interval and one of four verdicts at an
# equivalence margin m declared in the spec before any run: "better" / "worse" (the two-sided paired t-test
# rejects 0 after Holm over the family), "equivalent within ±m" (two one-sided tests, Schuirmann 1987: both
# H0: d <= -m and H0: d >= m rejected, after Holm over the family), or "undecided" (neither). A difference can
# be both significant and inside ±m; the verdict then says "better (within ±m)". The interval reported beside
# the verdict is the 95% t interval of the mean; the simultaneous one (Bonferroni, 1 - 0.05/family) is given
# too, so that a reader scanning all the family's intervals at once has the coverage the report claims.
VERDICTS = ("better", "worse", "equivalent", "undecided")


@dataclass
class Equivalence:
    n_used: int
    margin: float
    p_lower: float  # one-sided p of H0: mean difference <= -margin
    p_upper: float  # one-sided p of H0: mean difference >= +margin
    p_value: float  # TOST p: max of the two

    @property
    def method(self) -> str:
        return f"two one-sided t-tests (TOST, Schuirmann 1987) at ±{self.margin:g}"


def tost(diffs, margin: float) -> Equivalence:
    """Two one-sided paired t-tests of per-task differences against the margins ±margin."""
    if margin <= 0:
        raise ValueError(f"equivalence margin must be > 0, got {margin}")
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    if d.size < 2:
        return Equivalence(int(d.size), margin, 1.0, 1.0, 1.0)
    m, se = float(d.mean()), float(d.std(ddof=1)) / math.sqrt(d.size)
    if se == 0:
        inside = -margin < m < margin
        p_lo = 0.0 if m > -margin else 1.0
        p_hi = 0.0 if m < margin else 1.0
        return Equivalence(int(d.size), margin, p_lo, p_hi, 0.0 if inside else 1.0)
    df = d.size - 1
    p_lo = float(stats.t.sf((m + margin) / se, df))
    p_hi = float(stats.t.cdf((m - margin) / se, df))
    return Equivalence(int(d.size), margin, p_lo, p_hi, max(p_lo, p_hi))


def simultaneous_ci(diffs, family: int, alpha: float = 1 - LEVEL) -> MeanCI:
    """t interval of the mean at level 1 - alpha/family (Bonferroni): all of a family's intervals cover
    their true differences together with probability >= 1 - alpha."""
    return t_ci(diffs, level=1 - alpha / max(family, 1))


def verdict(mean: float, p_difference_holm: float, p_equivalence_holm: float, alpha: float = 1 - LEVEL) -> str:
    """One of VERDICTS from Holm-adjusted p-values (see the block comment above)."""
    if p_difference_holm <= alpha:
        return "better" if mean > 0 else "worse"
    if p_equivalence_holm <= alpha:
        return "equivalent"
    return "undecided"
