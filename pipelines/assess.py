"""The plan's test: did an indicator rise clearly (明显提升) against its baseline?

Counts (a29, a68) are compared as rates per month with the conditional exact Poisson test. Real
news counts are overdispersed (reprint waves, festivals), so the dispersion φ of the monthly
counts around their yearly means is estimated too; when φ > 1 the quasi-Poisson Wald test
(variance × φ) is also run and the larger p-value decides. Shares (a67) are compared with the
pooled two-proportion z-test on the scored items, with Newcombe's interval of the difference.
A period shorter than a year is compared with the same months of the baseline year, so a
summer festival is not read as a rise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from scipy import stats
from sqlalchemy.orm import Session

from kernel.config import Config, IndicatorConfig
from kernel.errors import MeiyuError
from kernel.identity import model_id
from kernel.periods import period_months
from kernel.values import (
    Assessment,
    Dispersion,
    ShareAssessment,
    StoredAssessment,
)
from nlp.identity import definition_version, model_available, model_for
from pipelines.audit import correction_confusion
from pipelines.correction import Confusion, ShareCorrector
from pipelines.uncertainty import (
    Z95,
    RateComparison,
    compare_rates,
    compare_shares,
    poisson_interval,
    verdict,
    wilson_interval,
)
from storage.queries import ValueRow, value_series
from storage.writes import replace_assessments

__all__ = ["Assessment", "assess", "assess_series", "period_months", "store_assessments"]


def assess(
    session: Session, cfg: Config, key: str, period: str, baseline: str | None = None
) -> Assessment:
    """`meiyu assess`: the plan's test of one period, from the stored monthly series."""
    ind = cfg.indicator(key)
    period_months(period)  # a malformed period is the user's error, before any data is read
    period_months(baseline or ind.baseline)
    series = value_series(session, key, definition_version(ind))
    if not series:
        raise MeiyuError(f"{key}: no monthly values stored; run `meiyu compute` first")
    return assess_series(key, ind, series, _confusion(session, key, ind, cfg.tz), period, baseline)


def _confusion(session: Session, key: str, ind: IndicatorConfig, tz: ZoneInfo) -> Confusion | None:
    if ind.kind != "positive_share" or not model_available(ind):
        return None
    return correction_confusion(session, key, ind, model_id(model_for(ind)), tz)


def assess_series(
    key: str,
    ind: IndicatorConfig,
    series: dict[str, ValueRow],
    confusion: Confusion | None,
    period: str,
    baseline: str | None = None,
) -> Assessment:
    """The test on a series already read (compute runs it for every month and year)."""
    base_period = baseline or ind.baseline
    current = period_months(period)
    base = period_months(base_period)
    if len(current) < 12 and len(base) == 12:
        # like months of the baseline year: seasonality cancels out
        year = base[0][:4]
        base = [f"{year}-{m[5:]}" for m in current]
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
    dispersion = _dispersion(series, comparison, base, current, first, last)
    share = None
    if ind.kind == "positive_share":
        share = _share_assessment(series, base, current, confusion)
    if share is None:
        p = max(comparison.p_value, dispersion.p_value)
        above = None if comparison.ratio != comparison.ratio else comparison.ratio > 1
        k1_shown, k0_shown = k1, k0
    else:
        p = share.comparison.p_value
        d = share.comparison.difference
        above = None if d != d else d > 0
        k1_shown, k0_shown = share.current[1], share.baseline[1]
    return Assessment(
        indicator=key,
        name=ind.name,
        kind=ind.kind,
        period=period,
        baseline=base_period,
        current_months=current,
        baseline_months=base,
        current_count=k1_shown,
        baseline_count=k0_shown,
        current_interval=poisson_interval(k1),
        baseline_interval=poisson_interval(k0),
        comparison=comparison,
        dispersion=dispersion,
        share=share,
        verdict=verdict(above, p),
        p_value=p,
    )


def _dispersion(
    series: dict[str, ValueRow],
    comparison: RateComparison,
    base: list[str],
    current: list[str],
    first: str,
    last: str,
) -> Dispersion:
    """Pearson φ from the months of the baseline's and the period's whole years (each year
    around its own mean), so a one-month comparison still has twelve months per side."""
    chi2, df, months = 0.0, 0, 0
    for year in sorted({base[0][:4], current[0][:4]}):
        keys = [f"{year}-{m:02d}" for m in range(1, 13)]
        keys = [k for k in keys if first <= k <= last]
        counts = [series[k].n_items if k in series else 0 for k in keys]
        mean = sum(counts) / len(counts) if counts else 0.0
        if len(counts) < 2 or mean == 0:
            continue
        chi2 += sum((c - mean) ** 2 / mean for c in counts)
        df += len(counts) - 1
        months += len(counts)
    phi = max(1.0, chi2 / df) if df else 1.0
    k1, k0 = comparison.current_count, comparison.baseline_count
    if phi <= 1.0 or k1 == 0 or k0 == 0:
        return Dispersion(phi, months, comparison.p_value, comparison.ratio_interval)
    log_rr = math.log(comparison.ratio)
    se = math.sqrt(phi * (1 / k1 + 1 / k0))
    p = float(2 * stats.norm.sf(abs(log_rr) / se))
    interval = (math.exp(log_rr - Z95 * se), math.exp(log_rr + Z95 * se))
    return Dispersion(phi, months, p, interval)


def _share_assessment(
    series: dict[str, ValueRow], base: list[str], current: list[str], confusion: Confusion | None
) -> ShareAssessment:
    def pooled(months: list[str]) -> tuple[int, int, dict[str, int]]:
        tone = {"positive": 0, "neutral": 0, "negative": 0}
        for m in months:
            if m in series:
                for label in tone:
                    tone[label] += series[m].details.tone(label)
        return tone["positive"], sum(tone.values()), tone

    x1, n1, tone1 = pooled(current)
    x0, n0, tone0 = pooled(base)
    if n0 == 0 or n1 == 0:
        which = "baseline" if n0 == 0 else "period"
        raise MeiyuError(
            f"no sentiment-scored items in the {which}: run `meiyu compute` with a sentiment "
            "model (the share cannot be tested on zero items)"
        )
    return ShareAssessment(
        current=(x1, n1),
        baseline=(x0, n0),
        current_interval=wilson_interval(x1, n1),
        baseline_interval=wilson_interval(x0, n0),
        comparison=compare_shares(x1, n1, x0, n0),
        corrected_current=_corrected(tone1, confusion),
        corrected_baseline=_corrected(tone0, confusion),
        correction_matrix=confusion.source if confusion else None,
    )


def _corrected(
    tone: dict[str, int], confusion: Confusion | None
) -> tuple[float, tuple[float, float]] | None:
    """The classifier-error-corrected share of the pooled months, with the same matrix as the
    series (the audit's once large enough, else the model's held-out one)."""
    if confusion is None:
        return None
    c = ShareCorrector(confusion).correct(tone)
    return None if c is None else (c.share, c.interval)


def stored_periods(months: Iterable[str]) -> list[str]:
    """What compute assesses: every month of the stored span (a month without items inside it
    is a real zero), and every year with a month in it (the monthly report shows the month's
    test, and in December the year's)."""
    ms = sorted(set(months))
    if not ms:
        return []
    span, (y, m) = [], (int(ms[0][:4]), int(ms[0][5:7]))
    while f"{y:04d}-{m:02d}" <= ms[-1]:
        span.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return span + sorted({k[:4] for k in span})


def store_assessments(session: Session, key: str, ind: IndicatorConfig, tz: ZoneInfo) -> int:
    """The plan's test of every stored month and year against the configured baseline, stored
    with the series' definition version (a period that cannot be tested stores why)."""
    version = definition_version(ind)
    series = value_series(session, key, version)
    confusion = _confusion(session, key, ind, tz) if series else None
    rows = []
    for period in stored_periods(series):
        try:
            a: Assessment | None = assess_series(key, ind, series, confusion, period)
            error = None
        except MeiyuError as exc:
            a, error = None, str(exc)
        rows.append(
            StoredAssessment(
                indicator=key,
                period=period,
                baseline=ind.baseline,
                definition_version=version,
                assessment=a,
                error=error,
            )
        )
    replace_assessments(session, key, version, rows)
    return len(rows)
