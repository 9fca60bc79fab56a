"""Intervals and tests against hand-computed values and scipy, edge cases included."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from pipelines.assess import period_months
from pipelines.uncertainty import (
    FALL,
    FLAT,
    RISE,
    compare_rates,
    compare_shares,
    poisson_interval,
    verdict,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("k", "expected"),
    # Garwood exact limits, as tabulated (e.g. Ulm 1990): 0 → (0, 3.689), 1 → (0.0253, 5.572)
    [(0, (0.0, 3.6889)), (1, (0.0253, 5.5716)), (10, (4.7954, 18.3904))],
)
def test_poisson_interval(k: int, expected: tuple[float, float]) -> None:
    lo, hi = poisson_interval(k)
    assert lo == pytest.approx(expected[0], abs=1e-3) and hi == pytest.approx(expected[1], abs=1e-3)


@pytest.mark.parametrize(
    ("x", "n", "expected"),
    [
        (0, 10, (0.0, 0.2775)),
        (10, 10, (0.7225, 1.0)),
        (5, 10, (0.2366, 0.7634)),
        (1, 1, (0.2065, 1.0)),
        (0, 0, (0.0, 1.0)),
    ],
)
def test_wilson_interval(x: int, n: int, expected: tuple[float, float]) -> None:
    lo, hi = wilson_interval(x, n)
    assert lo == pytest.approx(expected[0], abs=1e-4) and hi == pytest.approx(expected[1], abs=1e-4)


def test_wilson_matches_scipy() -> None:
    for x, n in [(3, 17), (40, 100), (99, 100)]:
        ci = stats.binomtest(x, n).proportion_ci(method="wilson")
        assert wilson_interval(x, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_rate_comparison() -> None:
    same = compare_rates(10, 1, 10, 1)
    assert same.ratio == 1 and same.p_value == pytest.approx(1.0)
    rise = compare_rates(20, 1, 5, 1)
    # conditional test: 20 of 25 events in the current period, π = 0.5 under H0
    assert rise.p_value == pytest.approx(stats.binomtest(20, 25, 0.5).pvalue)
    assert rise.p_value == pytest.approx(0.004077, abs=1e-6)
    assert rise.ratio == 4.0 and rise.ratio_interval[0] > 1
    # different exposures: 12 months vs 6 months at the same rate
    assert compare_rates(24, 12, 12, 6).ratio == 1.0
    none = compare_rates(0, 12, 0, 12)
    assert math.isnan(none.ratio) and none.p_value == 1.0
    from_zero = compare_rates(3, 1, 0, 1)
    assert from_zero.ratio == math.inf and from_zero.p_value == pytest.approx(0.25)


def test_share_comparison() -> None:
    c = compare_shares(60, 100, 40, 100)
    assert c.difference == pytest.approx(0.2)
    assert c.p_value == pytest.approx(0.004678, abs=1e-5)  # z = 2.828
    assert c.difference_interval == pytest.approx((0.0614, 0.3281), abs=1e-3)  # Newcombe
    allpos = compare_shares(10, 10, 10, 10)
    assert allpos.difference == 0 and allpos.p_value == 1.0
    empty = compare_shares(0, 0, 5, 10)
    assert math.isnan(empty.difference) and empty.p_value == 1.0


def test_verdicts_and_periods() -> None:
    assert verdict(True, 0.01) == RISE and verdict(False, 0.01) == FALL
    assert verdict(True, 0.2) == FLAT and verdict(None, 0.0) == FLAT
    assert period_months("2023")[0] == "2023-01" and len(period_months("2023")) == 12
    assert period_months("2023-Q2") == ["2023-04", "2023-05", "2023-06"]
    assert period_months("2023-06") == ["2023-06"]


def test_against_statsmodels() -> None:
    """The same figures from an independent implementation (statsmodels, a dev dependency)."""
    sm_prop = pytest.importorskip("statsmodels.stats.proportion")
    sm_rates = pytest.importorskip("statsmodels.stats.rates")
    for x, n in [(0, 7), (1, 1), (3, 17), (40, 100), (100, 100)]:
        lo, hi = sm_prop.proportion_confint(x, n, method="wilson")
        assert wilson_interval(x, n) == pytest.approx((lo, hi), abs=1e-9)
    for k in (0, 1, 7, 120):
        lo, hi = sm_rates.confint_poisson(k, 1, method="exact-c")
        assert poisson_interval(k) == pytest.approx((lo, hi), abs=1e-6)
    for k1, t1, k0, t0 in [(20, 1, 5, 1), (120, 12, 80, 12), (12, 1, 5, 1), (3, 3, 9, 12)]:
        ref = sm_rates.test_poisson_2indep(k1, t1, k0, t0, method="exact-cond")
        assert compare_rates(k1, t1, k0, t0).p_value == pytest.approx(ref.pvalue, rel=1e-9)
    for x1, n1, x0, n0 in [(60, 100, 40, 100), (38, 73, 30, 75), (1, 2, 0, 3)]:
        c = compare_shares(x1, n1, x0, n0)
        _, p = sm_prop.proportions_ztest([x1, x0], [n1, n0])
        assert c.p_value == pytest.approx(p, rel=1e-9)
        lo, hi = sm_prop.confint_proportions_2indep(x1, n1, x0, n0, method="newcomb")
        assert c.difference_interval == pytest.approx((lo, hi), abs=1e-9)


def test_edge_cases_zero_one_all() -> None:
    # zero items: the count interval still has an upper bound, the share is undefined
    assert poisson_interval(0) == pytest.approx((0.0, 3.6889), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    # one item, positive: the share's interval is wide, never (1, 1)
    lo, hi = wilson_interval(1, 1)
    assert hi == 1.0 and lo == pytest.approx(0.2065, abs=1e-4)
    # all positive in both periods: no change, p = 1 (pooled SE is zero)
    same = compare_shares(40, 40, 25, 25)
    assert same.difference == 0 and same.p_value == 1.0
    # all positive now, none before: the largest possible rise is clearly significant
    flip = compare_shares(20, 20, 0, 20)
    assert flip.difference == 1.0 and flip.p_value < 1e-8
    assert flip.difference_interval[0] > 0.6
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        poisson_interval(-1)


def test_the_stored_zero_count_interval_is_the_exact_one() -> None:
    """Reports draw a month without items inside the span with kernel's constant: it must be
    the exact Poisson interval of 0, not a number that drifts from it."""
    from kernel.values import EMPTY_COUNT_INTERVAL
    from pipelines.uncertainty import poisson_interval

    assert pytest.approx(poisson_interval(0), abs=1e-12) == EMPTY_COUNT_INTERVAL
