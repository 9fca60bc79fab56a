"""The alerts page and its JSON: the stored early-warning episodes (舆情预警), newest first, with
the items that raised them and each channel's delivery state. Only reads (`storage.alerts`);
detection and sending stay with `meiyu alerts`."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import datetime as dt
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from starlette.responses import Response

from storage.alerts import AlertRow, list_alerts
from web.items import safe_href
from web.kit import PageKit

MAX_ALERTS = 1000
RULE_NAMES = {
    "negative_spike": "负面报道激增",
    "share_drop": "正面占比下降",
    "volume_surge": "报道量激增",
}
STATUS_NAMES = {"sent": "已发送", "failed": "发送失败"}


class AlertOut(BaseModel):
    """One stored episode: its rule, period, numbers, message, items and deliveries."""

    id: int
    rule: str
    indicator: str
    period_start: str
    period_end: str
    observed: float
    expected: float
    p_value: float
    message: str
    items: list[dict[str, Any]]
    detected_at: dt.datetime
    deliveries: dict[str, Any]


def newest_first(rows: list[AlertRow], indicator: str | None, limit: int) -> list[AlertRow]:
    """Latest period first (then latest detection): what someone opening the page looks for."""
    kept = [r for r in rows if indicator is None or r.indicator == indicator]
    kept.sort(key=lambda r: (r.period_start, r.detected_at, r.id), reverse=True)
    return kept[:limit]


def _item_view(item: dict[str, Any]) -> dict[str, Any]:
    """An item of an alert as the page shows it: a link only for http(s), the id if it is one."""
    doc = item.get("document_id")
    url = str(item.get("url") or "")
    return {
        "document_id": doc if isinstance(doc, int) and not isinstance(doc, bool) else None,
        "title": str(item.get("title") or ""),
        "url": url,
        "href": safe_href(url),
        "published_at": str(item.get("published_at") or ""),
        "label": str(item.get("label") or ""),
    }


def register(app: FastAPI, kit: PageKit) -> None:
    """Adds /alerts and /api/v1/alerts to `app`, for viewers."""
    sessions = kit.sessions
    render, page, api, page_error = kit.render, kit.page, kit.api, kit.page_error

    def read(since: str | None, indicator: str | None, limit: int) -> list[AlertRow] | None:
        day = None
        if since:
            try:
                day = dt.date.fromisoformat(since)
            except ValueError:
                return None
        with sessions() as s:
            return newest_first(list_alerts(s, day), indicator or None, limit)

    Since = Annotated[str | None, Query(max_length=10)]
    Indicator = Annotated[str | None, Query(max_length=40)]
    Limit = Annotated[int, Query(ge=1, le=MAX_ALERTS)]

    @app.get("/alerts", response_class=HTMLResponse, include_in_schema=False)
    def alerts_page(
        request: Request,
        visitor: Annotated[Any, Depends(page("viewer"))],
        since: Since = None,
        indicator: Indicator = None,
        limit: Limit = 200,
    ) -> Response:
        rows = read(since, indicator, limit)
        if rows is None:
            raise page_error(422, "起始日期格式应为 YYYY-MM-DD。")
        return render(
            request,
            "alerts.html.j2",
            visitor=visitor,
            alerts=[(a, [_item_view(x) for x in a.items if isinstance(x, dict)]) for a in rows],
            rule_names=RULE_NAMES,
            status_names=STATUS_NAMES,
            since=since or "",
            indicator=indicator or "",
        )

    @app.get("/api/v1/alerts", response_model=list[AlertOut], tags=["alerts"])
    def alerts_api(
        visitor: Annotated[Any, Depends(api("viewer"))],
        since: Since = None,
        indicator: Indicator = None,
        limit: Limit = 200,
    ) -> list[AlertOut]:
        """Stored alert episodes, newest first: rule, period, observed and expected, p-value,
        message, the items that raised them and each channel's delivery state; `since`
        (YYYY-MM-DD) keeps those ending on or after it (viewer)."""
        rows = read(since, indicator, limit)
        if rows is None:
            raise HTTPException(422, "since: expected YYYY-MM-DD")
        return [
            AlertOut(
                id=a.id,
                rule=a.rule,
                indicator=a.indicator,
                period_start=a.period_start,
                period_end=a.period_end,
                observed=a.observed,
                expected=a.expected,
                p_value=a.p_value,
                message=a.message,
                items=[x for x in a.items if isinstance(x, dict)],
                detected_at=a.detected_at,
                deliveries=a.deliveries,
            )
            for a in rows
        ]
