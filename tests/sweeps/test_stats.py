"""Paired statistics of the reports (sweeps/stats.py) against scipy.stats and hand-computed
cases: per-seed differences, their 95 % t-interval and paired t-test, and Holm's adjustment."""
import math

import numpy as np
import pytest
from scipy import stats as sp

from attention_swap_reid.sweeps import stats as rep


def rows(values: dict[tuple[str, float], list[float]]) -> list[dict]:
    return [{"run_id": f"{roi}-{p}-{seed}", "roi": roi, "p": p, "seed": seed, **{k: v for k in rep.METRICS}}
            for (roi, p), vs in values.items() for seed, v in enumerate(vs)]


@pytest.mark.parametrize("a, b", [
    ([0.50, 0.56, 0.53, 0.61], [0.30, 0.34, 0.29, 0.40]),      # a large, consistent gain
    ([0.62, 0.60, 0.66, 0.59, 0.64], [0.63, 0.58, 0.61, 0.60, 0.66]),  # no difference
    ([0.41, 0.47], [0.40, 0.42]),                               # two seeds: 1 degree of freedom
    (list(np.linspace(0.3, 0.7, 8)), list(np.linspace(0.3, 0.7, 8)[::-1] * 0.9)),
])
def test_paired_interval_and_p_match_scipy(a, b):
    base, cell = rep.summarize(rows({("none", 0.0): b, ("full", 0.5): a}))
    got = rep.paired(cell, base, "mAP")
    test = sp.ttest_rel(a, b)
    interval = test.confidence_interval(0.95)
    assert got.delta == pytest.approx(np.mean(np.subtract(a, b)))
    assert (got.low, got.high) == (pytest.approx(interval.low), pytest.approx(interval.high))
    assert got.p == pytest.approx(test.pvalue)
    assert got.n == len(a) and got.wins == int((np.subtract(a, b) > 0).sum())
    assert got.clear == (interval.low > 0 or interval.high < 0)


def test_hand_computed_case():
    """Differences 1, 2, 3: mean 2, sd 1, se 1/sqrt(3); t_0.975,2 = 4.302653; t = 3.4641, p = 0.0742."""
    mean, low, high, p = rep.paired_t([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)
    assert (mean, low, high) == (2.0, pytest.approx(2 - half), pytest.approx(2 + half))
    assert p == pytest.approx(0.07417990022744857)


def test_degenerate_cases():
    assert all(math.isnan(x) for x in rep.paired_t([0.2])[1:])       # one seed: no interval
    assert all(math.isnan(x) for x in rep.paired_t([]))
    assert rep.paired_t([0.1, 0.1, 0.1]) == pytest.approx((0.1, 0.1, 0.1, 0.0), abs=1e-12)
    assert rep.paired_t([0.0, 0.0]) == (0.0, 0.0, 0.0, 1.0)
    assert math.isnan(rep.paired_t([0.1, float("nan")])[0])          # a run without the metric


def test_pairs_only_the_seeds_both_cells_ran():
    base, cell = rep.summarize(rows({("none", 0.0): [0.30, 0.40, 0.20], ("full", 0.3): [0.35, 0.38]}))
    got = rep.paired(cell, base, "mAP")
    assert got.n == 2 and got.wins == 1 and got.delta == pytest.approx((0.05 - 0.02) / 2)


@pytest.mark.parametrize("pvalues, expected", [
    ([0.01, 0.04, 0.03, 0.5], [0.04, 0.09, 0.09, 0.5]),   # 4*0.01; 3*0.03; max(0.09, 2*0.04); 0.5
    ([0.2, 0.01], [0.2, 0.02]),
    ([0.6, 0.5, 0.4], [1.0, 1.0, 1.0]),                   # capped at 1, and monotone
    ([0.01, float("nan"), 0.02], [0.02, float("nan"), 0.02]),   # NaN is not in the family
    ([], []),
])
def test_holm_against_hand_computed_families(pvalues, expected):
    assert rep.holm(pvalues) == pytest.approx(expected, nan_ok=True)
