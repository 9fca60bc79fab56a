"""One indicator's page and its JSON: every stored period of a period type (the rows of
`meiyu series`, via reports.series.series_rows) with its 95% interval, literal against
relevance-checked counts, items against stories, tone counts and the latest period's sources.
Only reads what `meiyu compute` stored; nothing is computed in a request."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import datetime as dt
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from starlette.responses import Response

from kernel.config import IndicatorConfig
from kernel.periods import period_end, period_start
from nlp.identity import definition_version
from reports.series import series_rows
from storage.queries import value_series
from web.kit import PageKit
from web.overview import figure_text

PeriodType = Literal["day", "week", "month", "quarter", "year"]
PERIOD_LABELS = {"day": "日", "week": "周", "month": "月", "quarter": "季度", "year": "年"}
IndicatorKey = Annotated[str, PathParam(max_length=40)]


class SeriesRowOut(BaseModel):
    """One stored period. `value` is the item count (volume) or the positive share (share),
    `interval` its 95% interval: exact Poisson for a count, Wilson for a share."""

    period: str
    start: dt.date
    end: dt.date  # the period's last local day
    value: float | None
    interval: tuple[float | None, float | None]
    items: int
    items_lo95: float | None
    items_hi95: float | None
    stories: int | None
    relevant: int | None
    relevant_stories: int | None
    scored: int | None
    positive: int | None
    neutral: int | None
    negative: int | None
    positive_share: float | None = None
    share_lo95: float | None = None
    share_hi95: float | None = None
    per_source: dict[str, int]
    definition_version: str


class SeriesOut(BaseModel):
    """An indicator's stored series of one period type, oldest period first."""

    indicator: str
    name: str
    kind: str
    definition: str
    period_type: str
    definition_version: str
    rows: list[SeriesRowOut]


def items_period(period_type: str, period: str) -> str:
    """The /items `period` filter of a stored period: YYYY-MM for a month, else the local
    days as YYYY-MM-DD..YYYY-MM-DD (the two forms the items page reads)."""
    if period_type == "month":
        return period
    first = period_start(period_type, period)
    last = period_end(period_type, period) - dt.timedelta(days=1)
    return f"{first.isoformat()}..{last.isoformat()}"


def stored_series(session: Any, key: str, ind: IndicatorConfig, period_type: str) -> SeriesOut:
    """The series as `meiyu series` reads it, with each period's per-source counts (stored in
    the same value rows: one more read of the same table, no computation)."""
    version = definition_version(ind)
    sources = {
        p: v.details.per_source for p, v in value_series(session, key, version, period_type).items()
    }
    share = ind.kind == "positive_share"
    rows = []
    for r in series_rows(session, key, ind, period_type):
        period = str(r["period"])
        if share:
            value, interval = r.get("positive_share"), (r.get("share_lo95"), r.get("share_hi95"))
        else:
            value, interval = float(r["items"]), (r["items_lo95"], r["items_hi95"])
        rows.append(
            SeriesRowOut(
                **{k: v for k, v in r.items() if k in SeriesRowOut.model_fields},
                start=period_start(period_type, period),
                end=period_end(period_type, period) - dt.timedelta(days=1),
                value=value,
                interval=interval,
                per_source=dict(sources.get(period, {})),
            )
        )
    return SeriesOut(
        indicator=key,
        name=ind.name,
        kind=ind.kind,
        definition=ind.definition,
        period_type=period_type,
        definition_version=version,
        rows=rows,
    )


def register(app: FastAPI, kit: PageKit) -> None:
    """Adds /indicators/{key} and /api/v1/series/{indicator} to `app`, guarded by `page`/`api`.
    Register it after /api/v1/series/{indicator}.csv, which its path would otherwise shadow."""
    sessions, indicators, timezone = kit.sessions, kit.indicators, kit.timezone
    render, page, api, page_error = kit.render, kit.page, kit.api, kit.page_error

    @app.get("/indicators/{key}", response_class=HTMLResponse, include_in_schema=False)
    def indicator_page(
        request: Request,
        visitor: Annotated[Any, Depends(page("viewer"))],
        key: IndicatorKey,
        period_type: PeriodType = "month",
    ) -> Response:
        ind = indicators.get(key)
        if ind is None:
            raise page_error(404, "配置中没有这个指标。")
        with sessions() as s:
            series = kit.cache.get(
                s, ("series", key, period_type), lambda: stored_series(s, key, ind, period_type)
            )
        links = [
            "/items?" + urlencode({"indicator": key, "period": items_period(period_type, r.period)})
            for r in series.rows
        ]
        latest = series.rows[-1] if series.rows else None
        chart = {
            "key": key,
            "kind": ind.kind,
            "period_type": period_type,
            "periods": [r.period for r in series.rows],
            "items": [r.items for r in series.rows],
            "lo": [r.items_lo95 for r in series.rows],
            "hi": [r.items_hi95 for r in series.rows],
            "relevant": [r.relevant for r in series.rows],
            "links": links,
        }
        return render(
            request,
            "indicator.html.j2",
            visitor=visitor,
            key=key,
            ind=ind,
            series=series,
            rows=list(zip(series.rows, links, strict=True)),
            figures=[figure_text(r.value, r.interval, ind.kind) for r in series.rows],
            latest=latest,
            sources=sorted(
                (latest.per_source if latest else {}).items(), key=lambda x: (-x[1], x[0])
            ),
            chart=chart,
            period_type=period_type,
            period_labels=PERIOD_LABELS,
            tz=timezone,
        )

    @app.get("/api/v1/series/{indicator}", response_model=SeriesOut, tags=["indicators"])
    def series_api(
        visitor: Annotated[Any, Depends(api("viewer"))],
        indicator: IndicatorKey,
        period_type: PeriodType = "month",
    ) -> SeriesOut:
        """One indicator's stored series: each period's value with its 95% interval, item,
        story, relevant and tone counts and per-source items, oldest first (viewer)."""
        ind = indicators.get(indicator)
        if ind is None:
            raise HTTPException(404, "no such indicator in the config")
        with sessions() as s:
            return kit.cache.get(
                s,
                ("series", indicator, period_type),
                lambda: stored_series(s, indicator, ind, period_type),
            )
