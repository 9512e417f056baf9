"""Equivalence verdicts (assess/stats.py: tost, simultaneous_ci, verdict) against scipy and simulation."""

import numpy as np
import pytest
from scipy import stats as sst

from assess.stats import simultaneous_ci, t_ci, tost, verdict


@pytest.mark.parametrize("seed", range(5))
def test_tost_equals_two_one_sided_scipy_tests(seed):
    d = np.random.default_rng(seed).normal(0.5, 2.0, size=10)
    got = tost(d, 2.0)
    lo = sst.ttest_1samp(d, -2.0, alternative="greater").pvalue
    hi = sst.ttest_1samp(d, 2.0, alternative="less").pvalue
    assert got.p_lower == pytest.approx(lo)
    assert got.p_upper == pytest.approx(hi)
    assert got.p_value == pytest.approx(max(lo, hi))


def test_tost_is_the_90_percent_interval_inside_the_margin():
    rng = np.random.default_rng(7)
    for _ in range(200):
        d = rng.normal(rng.uniform(-3, 3), 2.0, size=8)
        ci = t_ci(d, level=0.90)
        inside = -2.0 < ci.low and ci.high < 2.0
        assert (tost(d, 2.0).p_value < 0.05) == inside


def test_simultaneous_intervals_cover_the_family_together():
    rng = np.random.default_rng(0)
    family, reps, covered = 6, 1500, 0
    for _ in range(reps):
        ok = True
        for _ in range(family):
            ci = simultaneous_ci(rng.normal(0.0, 1.0, size=10), family)
            ok &= ci.low <= 0.0 <= ci.high
        covered += ok
    # Bonferroni: at least 95% (a little above, as Bonferroni is conservative); 1,500 reps: se ~ 0.006
    assert covered / reps >= 0.935


def test_verdicts():
    assert verdict(3.0, 0.01, 0.5) == "better"
    assert verdict(-3.0, 0.01, 0.5) == "worse"
    assert verdict(0.2, 0.6, 0.01) == "equivalent"
    assert verdict(0.2, 0.6, 0.2) == "undecided"


def test_margin_must_be_positive():
    with pytest.raises(ValueError, match="margin"):
        tost([1.0, 2.0], 0.0)
