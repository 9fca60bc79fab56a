"""What the overview page and /api/v1/indicators show: each indicator's latest stored period,
read through reports.series.series_rows, the rows `meiyu series` and the monthly report print,
so the dashboard's numbers are theirs. Nothing is computed in a request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from kernel.config import IndicatorConfig
from reports.series import series_rows


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
