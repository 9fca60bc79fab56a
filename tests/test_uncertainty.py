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
