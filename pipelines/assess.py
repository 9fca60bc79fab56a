"""The plan's test: did an indicator rise clearly (明显提升) against its baseline?

Counts (a29, a68) are compared as rates per month with the conditional exact Poisson test.
A period shorter than a year is compared with the same months of the baseline year, so a
summer festival is not read as a rise. Sentiment shares (a67) need sentiment results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from meiyu.config import Config
from meiyu.errors import MeiyuError, UserError
from pipelines.uncertainty import RateComparison, compare_rates, poisson_interval, verdict
from storage.queries import value_series

_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def period_months(period: str) -> list[str]:
    """'2023' → 12 months, '2023-Q2' → 3, '2023-06' → 1 (YYYY-MM keys)."""
    if m := _YEAR.match(period):
        return [f"{m[1]}-{mo:02d}" for mo in range(1, 13)]
    if m := _QUARTER.match(period):
        q = int(m[2])
        return [f"{m[1]}-{mo:02d}" for mo in range(3 * q - 2, 3 * q + 1)]
    if (m := _MONTH.match(period)) and 1 <= int(m[2]) <= 12:
        return [period]
    raise UserError(f"--period: expected YYYY, YYYY-Qn or YYYY-MM, got {period!r}")


@dataclass(frozen=True)
class Assessment:
    indicator: str
    name: str
    period: str
    baseline: str
    current_months: list[str]
    baseline_months: list[str]
    current_count: int
    baseline_count: int
    current_interval: tuple[float, float]  # 95% interval of the period's expected count
    baseline_interval: tuple[float, float]
    comparison: RateComparison
    verdict: str


def assess(
    session: Session, cfg: Config, key: str, period: str, baseline: str | None = None
) -> Assessment:
    ind = cfg.indicator(key)
    if ind.kind != "volume":
        raise MeiyuError(
            f"{key} is a positive share: it needs sentiment results, which this installation "
            "does not compute yet; assess a volume indicator (a29, a68) meanwhile"
        )
    base_period = baseline or ind.baseline
    current = period_months(period)
    base = period_months(base_period)
    if len(current) < 12 and len(base) == 12:
        # like months of the baseline year: seasonality cancels out
        year = base[0][:4]
        base = [f"{year}-{m[5:]}" for m in current]
    series = value_series(session, key, ind.version())
    if not series:
        raise MeiyuError(f"{key}: no monthly values stored; run `meiyu compute` first")
    first, last = min(series), max(series)
    for label, months in (("baseline " + base_period, base), ("period " + period, current)):
        if months[0] < first or months[-1] > last:
            raise MeiyuError(
                f"{key}: no data for the whole {label} (stored months: {first} … {last})"
            )
    count = {m: (series[m].n_items if m in series else 0) for m in base + current}
    k1, k0 = sum(count[m] for m in current), sum(count[m] for m in base)
    comparison = compare_rates(k1, len(current), k0, len(base))
    above = None if comparison.ratio != comparison.ratio else comparison.ratio > 1
    return Assessment(
        indicator=key,
        name=ind.name,
        period=period,
        baseline=base_period,
        current_months=current,
        baseline_months=base,
        current_count=k1,
        baseline_count=k0,
        current_interval=poisson_interval(k1),
        baseline_interval=poisson_interval(k0),
        comparison=comparison,
        verdict=verdict(above, comparison.p_value),
    )
