"""What the overview page and /api/v1/indicators show: each indicator's latest stored period,
read through reports.series.series_rows, the rows `meiyu series` and the monthly report print,
so the dashboard's numbers are theirs. Nothing is computed in a request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from kernel.config import IndicatorConfig
from kernel.periods import previous_months
from kernel.values import EMPTY_COUNT_INTERVAL
from nlp.identity import definition_version

# the monthly report's own rules for a change, a zero month and the baseline: reused, not copied
from reports.monthly import _baseline_level, _change, _in_span
from reports.series import series_rows
from storage.queries import stored_assessment


@dataclass(frozen=True)
class Latest:
    """An indicator's value in its latest stored period (period None: nothing stored yet). For a
    volume the value is the item count and the interval its exact Poisson 95%; for a positive
    share, the share of positive among scored items and its Wilson 95%."""

    indicator: str
    name: str
    kind: str
    definition: str
    period_type: str
    periods: int  # stored periods of the current definition
    period: str | None = None
    value: float | None = None
    interval: tuple[float | None, float | None] | None = None
    n_items: int | None = None
    n_stories: int | None = None
    definition_version: str | None = None


def _bound(x: float, share: bool) -> str:
    """An interval bound as `meiyu series` prints it: a share in percent; a count with two
    significant digits below 10, whole numbers above."""
    if share:
        return f"{x:.1%}"
    return f"{x:.2g}" if x < 10 else f"{x:.0f}"


def figure_text(
    value: float | None, interval: tuple[float | None, float | None] | None, kind: str
) -> str:
    """A value with its 95% interval, as the overview and the indicator page show it."""
    if value is None:
        return "—"
    share = kind == "positive_share"
    text = f"{value:.1%}" if share else f"{value:.0f}"
    lo, hi = interval or (None, None)
    if lo is None or hi is None:
        return text
    return f"{text}（95%：{_bound(lo, share)}–{_bound(hi, share)}）"


def latest_values(
    session: Session,
    indicators: Mapping[str, IndicatorConfig],
    period_type: str = "month",
    only: str | None = None,
) -> list[Latest]:
    """One Latest per configured indicator (or only the one keyed `only`), in config order."""
    out = []
    for key, ind in indicators.items():
        if only is not None and key != only:
            continue
        rows = series_rows(session, key, ind, period_type)
        if not rows:
            out.append(Latest(key, ind.name, ind.kind, ind.definition, period_type, 0))
            continue
        last = rows[-1]
        if ind.kind == "positive_share":
            value = last.get("positive_share")
            interval = (last.get("share_lo95"), last.get("share_hi95"))
        else:
            value = float(last["items"])
            interval = (last.get("items_lo95"), last.get("items_hi95"))
        out.append(
            Latest(
                key,
                ind.name,
                ind.kind,
                ind.definition,
                period_type,
                len(rows),
                str(last["period"]),
                value,
                interval,
                int(last["items"]),
                last.get("stories"),
                str(last["definition_version"]),
            )
        )
    return out


TREND_MONTHS = 24


@dataclass(frozen=True)
class Trend:
    """An indicator's latest stored month against last month and the same month last year,
    with its last 24 months for the chart: the monthly report's figures (its own `_change`,
    `_in_span` and `_baseline_level` on the same stored rows), so page and report agree."""

    indicator: str
    name: str
    kind: str
    period: str | None
    change_previous: str
    change_year: str
    months: list[str]
    values: list[float | None]
    lo: list[float | None]
    hi: list[float | None]
    baseline_label: str | None
    baseline: float | None
    verdict: str | None


def trends(session: Session, indicators: Mapping[str, IndicatorConfig]) -> list[Trend]:
    """One Trend per configured indicator, in config order; read from stored rows only."""
    out = []
    for key, ind in indicators.items():
        rows = series_rows(session, key, ind, "month")
        by_period = {str(r["period"]): r for r in rows}
        if not rows:
            out.append(
                Trend(key, ind.name, ind.kind, None, "无可比数据", "无可比数据",
                      [], [], [], [], None, None, None)
            )  # fmt: skip
            continue
        period = str(rows[-1]["period"])
        year, month = int(period[:4]), int(period[5:7])
        prev_key = previous_months(year, month, 2)[0]
        ago_key = f"{year - 1:04d}-{month:02d}"
        this = by_period[period]
        change_previous = _change(
            ind.kind, this, by_period.get(prev_key), _in_span(by_period, prev_key)
        )
        change_year = _change(ind.kind, this, by_period.get(ago_key), _in_span(by_period, ago_key))
        months = previous_months(year, month, TREND_MONTHS)
        values: list[float | None] = []
        lo: list[float | None] = []
        hi: list[float | None] = []
        for m in months:
            r = by_period.get(m)
            if ind.kind == "positive_share":
                values.append(None if r is None else r.get("positive_share"))
                lo.append(None if r is None else r.get("share_lo95"))
                hi.append(None if r is None else r.get("share_hi95"))
            elif r is not None:
                values.append(float(r["items"]))
                lo.append(r["items_lo95"])
                hi.append(r["items_hi95"])
            elif _in_span(by_period, m):  # no row inside the observed span: a real zero
                values.append(0.0)
                lo.append(EMPTY_COUNT_INTERVAL[0])
                hi.append(EMPTY_COUNT_INTERVAL[1])
            else:
                values.append(None)
                lo.append(None)
                hi.append(None)
        base = _baseline_level(ind, by_period)
        stored = stored_assessment(session, key, definition_version(ind), period, ind.baseline)
        verdict = None if stored is None or stored.assessment is None else stored.assessment.verdict
        out.append(
            Trend(
                key, ind.name, ind.kind, period, change_previous, change_year, months, values,
                lo, hi, base[0] if base else None, base[1] if base else None, verdict,
            )
        )  # fmt: skip
    return out


def chart_data(trend: Trend) -> dict[str, Any]:
    """What overview.js draws for one indicator: plain JSON, put in the page by tojson."""
    return {
        "key": trend.indicator,
        "name": trend.name,
        "kind": trend.kind,
        "months": trend.months,
        "values": trend.values,
        "lo": trend.lo,
        "hi": trend.hi,
        "baseline": trend.baseline,
        "baseline_label": trend.baseline_label,
    }
