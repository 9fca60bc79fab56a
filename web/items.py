"""The Items pages and their JSON: the stored documents behind a number, filtered and paged
(`storage.items`), and one item with its scores, cluster and mentions. Only reads; every
parameter is typed and bounded, so bad input is 422 and an unknown key an empty list."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import dataclasses
import datetime as dt
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from starlette.responses import Response

from kernel.periods import month_bounds
from nlp.identity import sentiment_model_id
from storage.items import PAGE_SIZE, ItemFilter, ItemPage, MatchKind, item_detail, list_items
from web.kit import PageKit

MAX_PAGE = 100_000
MAX_ID = 2**31 - 1  # an INTEGER column: a larger number is no id, and PostgreSQL would refuse it
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_RANGE = re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})")

Label = Literal["positive", "neutral", "negative"]


class ItemOut(BaseModel):
    """One row of the item list."""

    id: int
    title: str
    url: str
    source: str
    outlet: str | None
    language: str
    published_at: dt.datetime | None
    cluster_id: int | None


class ItemListOut(BaseModel):
    """One page; `total` is counted up to storage.items.COUNT_CAP, and with total_capped set
    it means "more than COUNT_CAP"."""

    items: list[ItemOut]
    total: int
    total_capped: bool
    page: int
    page_size: int


class MentionOut(BaseModel):
    source: str
    indicator: str
    query: str
    found_at: dt.datetime


class MatchOut(BaseModel):
    indicator: str
    terms: list[str]
    literal: bool
    relevant: bool


class SentimentOut(BaseModel):
    target: str
    model_id: str
    label: str
    score: float
    probabilities: dict[str, Any]
    evidence: str | None


class ItemDetailOut(ItemOut):
    """One item as stored: its reprint cluster, every mention that found it, its matches and
    the sentiment results with the sentences that were scored."""

    fetched_at: dt.datetime
    text_origin: str
    cluster_others: int
    mentions: list[MentionOut]
    matches: list[MatchOut]
    sentiment: list[SentimentOut]


def period_bounds(period: str, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime] | None:
    """YYYY-MM or YYYY-MM-DD..YYYY-MM-DD (both days included) as UTC [start, end); None when
    the text is neither."""
    if m := _MONTH.fullmatch(period):
        year, month = int(m[1]), int(m[2])
        if 1 <= month <= 12 and year >= 1:
            return month_bounds(year, month, tz)
        return None
    if m := _RANGE.fullmatch(period):
        try:
            first, last = dt.date.fromisoformat(m[1]), dt.date.fromisoformat(m[2])
        except ValueError:
            return None
        if last < first or last == dt.date.max:
            return None
        start = dt.datetime.combine(first, dt.time(), tz).astimezone(dt.UTC)
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz).astimezone(dt.UTC)
        return start, end
    return None


def safe_href(url: str) -> str | None:
    """The link when it is an http(s) URL; anything else (javascript:, data:) is shown as text."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


@dataclasses.dataclass(frozen=True)
class _Params:
    indicator: str | None
    period: str | None
    source: str | None
    language: str | None
    label: Label | None
    match: MatchKind
    cluster: int | None
    q: str | None

    def query(self, **changes: Any) -> str:
        """The filters as a query string (empty ones left out), for the paging links."""
        values = {**dataclasses.asdict(self), **changes}
        kept = {k: v for k, v in values.items() if v not in (None, "", "any")}
        return urlencode(kept)


def register(app: FastAPI, kit: PageKit) -> None:
    """Adds /items, /items/{id} and their /api/v1 twins to `app`, guarded by `page`/`api`."""
    sessions, indicators, timezone = kit.sessions, kit.indicators, kit.timezone
    render, page, api, page_error = kit.render, kit.page, kit.api, kit.page_error
    tz = ZoneInfo(timezone)

    def params(
        indicator: Annotated[str | None, Query(max_length=40)] = None,
        period: Annotated[str | None, Query(max_length=40)] = None,
        source: Annotated[str | None, Query(max_length=100)] = None,
        language: Annotated[str | None, Query(max_length=8)] = None,
        label: Label | None = None,
        match: MatchKind = "any",
        cluster: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        q: Annotated[str | None, Query(max_length=200)] = None,
    ) -> _Params:
        def blank(x: str | None) -> str | None:
            return x.strip() or None if x is not None else None

        return _Params(
            blank(indicator), blank(period), blank(source), blank(language), label, match,
            cluster, q or None,
        )  # fmt: skip

    def item_filter(p: _Params) -> ItemFilter:
        start = end = None
        if p.period is not None:
            bounds = period_bounds(p.period, tz)
            if bounds is None:
                raise HTTPException(422, "period: expected YYYY-MM or YYYY-MM-DD..YYYY-MM-DD")
            start, end = bounds
        ind = indicators.get(p.indicator) if p.indicator else None
        mid = sentiment_model_id(ind) if ind is not None and p.label is not None else None
        return ItemFilter(
            indicator=p.indicator,
            start=start,
            end=end,
            source=p.source,
            language=p.language,
            label=p.label,
            model_id=mid,
            match=p.match,
            cluster=p.cluster,
            search=p.q,
        )

    def read(p: _Params, number: int) -> ItemPage:
        f = item_filter(p)
        with sessions() as s:
            return list_items(s, f, number, PAGE_SIZE)

    PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
    ItemId = Annotated[int, PathParam(ge=1, le=MAX_ID)]

    @app.get("/items", response_class=HTMLResponse, include_in_schema=False)
    def items_page(
        request: Request,
        visitor: Annotated[Any, Depends(page("viewer"))],
        p: Annotated[_Params, Depends(params)],
        page_number: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
    ) -> Response:
        try:
            found = read(p, page_number)
        except HTTPException as exc:
            raise page_error(422, "时期格式应为 YYYY-MM 或 YYYY-MM-DD..YYYY-MM-DD。") from exc
        pages = max(1, -(-found.total // found.page_size))
        # past the count's cap, a full page may have more after it
        more = page_number < pages or (found.total_capped and len(found.rows) == found.page_size)
        return render(
            request,
            "items.html.j2",
            visitor=visitor,
            found=found,
            p=p,
            pages=pages,
            prev=p.query(page=page_number - 1) if page_number > 1 else None,
            next=p.query(page=page_number + 1) if more else None,
            indicators=indicators,
            tz=timezone,
        )

    @app.get("/items/{item_id}", response_class=HTMLResponse, include_in_schema=False)
    def item_page(
        request: Request, visitor: Annotated[Any, Depends(page("viewer"))], item_id: ItemId
    ) -> Response:
        with sessions() as s:
            item = item_detail(s, item_id)
        if item is None:
            raise page_error(404, "没有这个条目。")
        return render(request, "item.html.j2", visitor=visitor, item=item, href=safe_href(item.url))

    @app.get("/api/v1/items", response_model=ItemListOut, tags=["items"])
    def items_api(
        visitor: Annotated[Any, Depends(api("viewer"))],
        p: Annotated[_Params, Depends(params)],
        page: PageNumber = 1,
    ) -> ItemListOut:
        """Stored items, newest first, 50 a page: filter by indicator, period (YYYY-MM or
        YYYY-MM-DD..YYYY-MM-DD, local time), source, language, sentiment label, literal or
        relevant match, reprint cluster and a title substring (viewer)."""
        found = read(p, page)
        return ItemListOut(
            items=[ItemOut(**dataclasses.asdict(r)) for r in found.rows],
            total=found.total,
            total_capped=found.total_capped,
            page=found.page,
            page_size=found.page_size,
        )

    @app.get("/api/v1/items/{item_id}", response_model=ItemDetailOut, tags=["items"])
    def item_api(visitor: Annotated[Any, Depends(api("viewer"))], item_id: ItemId) -> Any:
        """One item: document fields, reprint cluster, mentions, matches and sentiment (viewer)."""
        with sessions() as s:
            item = item_detail(s, item_id)
        if item is None:
            raise HTTPException(404, "no such item")
        return ItemDetailOut(**dataclasses.asdict(item))
