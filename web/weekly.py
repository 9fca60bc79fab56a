"""The Korean weekly page (a67, for the tourism bureau) and its JSON: one ISO week's positive
share with its interval against the 8 weeks before, the 12-week trend, the week's items
(negative first) and alerts. Everything is `reports.weekly.build_weekly`'s brief, so the page,
the downloadable brief and `meiyu series -f W` show the same numbers."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import datetime as dt
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from starlette.responses import Response

from kernel.config import Config
from kernel.errors import MeiyuError, UserError
from kernel.periods import period_end, period_keys, period_start
from nlp.identity import definition_version
from reports.weekly import BriefItem, WeeklyBrief, build_weekly, parse_week, share_indicator
from storage.queries import stored_periods
from web.alerts import RULE_NAMES
from web.items import safe_href
from web.kit import PageKit

# the page lists the week's items most negative first, then neutral, then positive
LABEL_ORDER = {"负面": 0, "中性": 1, "正面": 2}
LABEL_KEYS = {"负面": "negative", "中性": "neutral", "正面": "positive"}
WeekParam = Annotated[str | None, Query(max_length=10)]
IndicatorParam = Annotated[str | None, Query(max_length=40)]
BAD_WEEK = (
    "周应为 ISO 周，如 2023-W49（每年 52 或 53 周）。",
    "expected an existing ISO week such as 2023-W49",
)
BAD_INDICATOR = (
    "指标应为配置中的正面占比指标（如 a67），周报不跟踪条目量指标。",
    "expected a configured positive_share indicator (such as a67)",
)


class _BadParam(Exception):
    """A week or indicator the page cannot show: 422, in Chinese on the page."""

    def __init__(self, name: str, messages: tuple[str, str]) -> None:
        super().__init__(messages[1])
        self.name, (self.message, self.english) = name, messages


class WeekRowOut(BaseModel):
    """One ISO week of the trend: tone counts, the positive share with its Wilson 95%
    interval, and the share corrected for the model's errors (share, lo, hi) when stored."""

    week: str
    first_day: str
    scored: int
    positive: int
    neutral: int
    negative: int
    share: float | None
    interval: tuple[float, float] | None
    corrected: tuple[float, float, float] | None


class WeeklyItemOut(BaseModel):
    """One scored item of the week; `url` only when it is http(s)."""

    document_id: int | None
    published: str
    title: str
    url: str
    outlet: str
    label: str
    confidence: float
    evidence: str


class WeeklyAlertOut(BaseModel):
    period: str
    rule: str
    message: str


class WeeklyOut(BaseModel):
    """The week against the pooled trailing weeks: two-proportion z-test, Newcombe's 95%
    interval of the difference, the verdict at p < 0.05."""

    indicator: str
    name: str
    week: str
    first_day: str
    last_day: str
    timezone: str
    model: str
    this: WeekRowOut
    trailing_weeks: int
    trailing_positive: int
    trailing_scored: int
    trailing_share: float | None
    trailing_interval: tuple[float, float] | None
    difference: float | None
    difference_interval: tuple[float, float] | None
    p_value: float | None
    verdict: str
    reading: str
    rows: list[WeekRowOut]
    items: list[WeeklyItemOut]
    alerts: list[WeeklyAlertOut]


def next_week(week: str) -> str:
    return dict(period_keys(period_end("week", week)))["week"]


def previous_week(week: str) -> str:
    return dict(period_keys(period_start("week", week) - dt.timedelta(days=1)))["week"]


def stored_weeks(cfg: Config, session: Any, key: str) -> list[str]:
    """The ISO weeks with a stored value of the share indicator, oldest first."""
    return stored_periods(session, key, definition_version(cfg.indicator(key)), "week")


def negative_first(items: list[BriefItem]) -> list[BriefItem]:
    """The brief's items (most confident first within a label), negative, neutral, positive."""
    return sorted(items, key=lambda x: LABEL_ORDER.get(x.label, 3))


def trailing_share(brief: WeeklyBrief) -> float | None:
    x0, n0 = brief.trailing
    return x0 / n0 if n0 else None


def weekly_out(brief: WeeklyBrief) -> WeeklyOut:
    def row(r: Any) -> WeekRowOut:
        return WeekRowOut(**{k: getattr(r, k) for k in WeekRowOut.model_fields})

    return WeeklyOut(
        indicator=brief.key,
        name=brief.name,
        week=brief.week,
        first_day=brief.first_day,
        last_day=brief.last_day,
        timezone=brief.timezone,
        model=brief.model,
        this=row(brief.this),
        trailing_weeks=brief.trailing_weeks,
        trailing_positive=brief.trailing[0],
        trailing_scored=brief.trailing[1],
        trailing_share=trailing_share(brief),
        # without trailing items the brief keeps a placeholder (0, 1): there is no interval
        trailing_interval=brief.trailing_interval if brief.trailing[1] else None,
        difference=brief.difference,
        difference_interval=brief.difference_interval,
        p_value=brief.p_value,
        verdict=brief.verdict,
        reading=brief.reading,
        rows=[row(r) for r in brief.rows],
        items=[
            WeeklyItemOut(
                document_id=x.document_id,
                published=x.published,
                title=x.title,
                url=safe_href(x.url) or "",
                outlet=x.outlet,
                label=LABEL_KEYS.get(x.label, x.label),
                confidence=x.confidence,
                evidence=x.evidence,
            )
            for x in negative_first(brief.items)
        ],
        alerts=[
            WeeklyAlertOut(period=a.period, rule=a.rule, message=a.message) for a in brief.alerts
        ],
    )


def chart_data(brief: WeeklyBrief) -> dict[str, Any]:
    """What web/static/weekly.js draws: the weekly shares, their band, the trailing weeks'
    pooled share as a segment over those weeks, and the week asked for."""
    rows = brief.rows
    before = [r.week for r in rows[-1 - brief.trailing_weeks : -1]]
    return {
        "weeks": [r.week for r in rows],
        "share": [r.share for r in rows],
        "lo": [r.interval[0] if r.interval and r.scored else None for r in rows],
        "hi": [r.interval[1] if r.interval and r.scored else None for r in rows],
        "scored": [r.scored for r in rows],
        "week": brief.week,
        "trailing": trailing_share(brief),
        "trailing_from": before[0] if before else None,
        "trailing_to": before[-1] if before else None,
        "trailing_label": f"前 {brief.trailing_weeks} 周合计",
    }


def register(app: FastAPI, kit: PageKit) -> None:
    """Adds /weekly and /api/v1/weekly to `app`, for viewers."""
    sessions, config = kit.sessions, kit.config
    render, page, api, page_error = kit.render, kit.page, kit.api, kit.page_error

    def brief_of(
        cfg: Config, week: str | None, indicator: str | None
    ) -> tuple[str, list[str], WeeklyBrief | None]:
        """(the indicator, its stored weeks, the brief); the brief is None when no week was
        asked and none is stored. _BadParam: a bad week or indicator; MeiyuError: no model."""
        try:
            key, _ = share_indicator(cfg, indicator or None)
        except UserError:
            raise _BadParam("indicator", BAD_INDICATOR) from None
        try:
            chosen = parse_week(week) if week else None
        except UserError:
            raise _BadParam("week", BAD_WEEK) from None
        with sessions() as s:
            weeks = stored_weeks(cfg, s, key)
            chosen = chosen or (weeks[-1] if weeks else None)
            if chosen is None:
                return key, weeks, None
            # a PNG chart and every scored item of the week: built once per stored version
            week_ = chosen
            brief = kit.cache.get(
                s, ("weekly", key, week_), lambda: build_weekly(cfg, s, week_, key)
            )
            return key, weeks, brief

    @app.get("/weekly", response_class=HTMLResponse, include_in_schema=False)
    def weekly_page(
        request: Request,
        visitor: Annotated[Any, Depends(page("viewer"))],
        week: WeekParam = None,
        indicator: IndicatorParam = None,
    ) -> Response:
        if config is None:
            return render(request, "weekly.html.j2", visitor=visitor, off=True)
        try:
            key, weeks, brief = brief_of(config, week, indicator)
        except _BadParam as exc:
            raise page_error(422, exc.message) from None
        except MeiyuError as exc:
            raise page_error(503, f"无法生成周报：{exc}") from None
        if brief is None:
            return render(request, "weekly.html.j2", visitor=visitor, off=False, key=key)
        return render(
            request,
            "weekly.html.j2",
            visitor=visitor,
            off=False,
            key=key,
            b=brief,
            items=[
                (x, safe_href(x.url), LABEL_KEYS.get(x.label, ""))
                for x in negative_first(brief.items)
            ],
            trailing_share=trailing_share(brief),
            chart=chart_data(brief),
            rule_names=RULE_NAMES,
            previous=previous_week(brief.week),
            next=next_week(brief.week),
            first_stored=weeks[0] if weeks else None,
            last_stored=weeks[-1] if weeks else None,
            stored=brief.week in weeks,
            indicator=indicator or "",
        )

    @app.get("/api/v1/weekly", response_model=WeeklyOut, tags=["reports"])
    def weekly_api(
        visitor: Annotated[Any, Depends(api("viewer"))],
        week: WeekParam = None,
        indicator: IndicatorParam = None,
    ) -> WeeklyOut:
        """One ISO week (YYYY-Www; default: the latest stored) of a positive-share indicator
        (default: the first, a67): its share and Wilson 95% interval, the pooled 8 weeks
        before, the difference with Newcombe's interval and p-value, the verdict, the 12-week
        trend, the week's items negative first and its alerts; the weekly page's numbers
        (viewer)."""
        if config is None:
            raise HTTPException(404, "the weekly brief is off: the server has no config")
        try:
            _, _, brief = brief_of(config, week, indicator)
        except _BadParam as exc:
            raise HTTPException(422, f"{exc.name}: {exc.english}") from None
        except MeiyuError as exc:
            raise HTTPException(503, str(exc)) from None
        if brief is None:
            raise HTTPException(404, "no stored week of this indicator (run meiyu compute)")
        return weekly_out(brief)
