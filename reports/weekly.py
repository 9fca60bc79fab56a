"""The weekly Korean brief for the tourism bureau: this ISO week's positive share with its
interval against the trailing weeks, the 12-week trend, the items behind it, and alerts.

Every number comes from the stored weekly series (`meiyu series -f W` prints the same), so
the brief and the series never disagree.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from kernel.config import Config, IndicatorConfig
from kernel.errors import MeiyuError, UserError
from kernel.identity import model_id
from kernel.periods import TRAILING_WEEKS, period_end, period_keys, period_start, weeks_before
from kernel.values import UNCOMPARABLE, ValueDetails
from nlp.identity import definition_version, model_available, model_for
from reports.charts import share_png
from storage.alerts import list_alerts
from storage.queries import ScoredRow, scored_documents, value_series

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
TREND_WEEKS = 12
LABEL_ZH = {"positive": "正面", "neutral": "中性", "negative": "负面"}


def parse_week(value: str) -> str:
    m = _WEEK.match(value)
    if not m:
        raise UserError(f"--week: expected an ISO week such as 2023-W49, got {value!r}")
    try:
        dt.date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError:
        raise UserError(f"--week: {value} does not exist (ISO years have 52 or 53 weeks)") from None
    return value


def last_complete_week(today: dt.date) -> str:
    return dict(period_keys(today - dt.timedelta(days=7)))["week"]


@dataclass(frozen=True)
class WeekRow:
    week: str
    first_day: str
    scored: int
    positive: int
    neutral: int
    negative: int
    share: float | None
    interval: tuple[float, float] | None
    corrected: tuple[float, float, float] | None  # share, lo, hi


@dataclass(frozen=True)
class BriefItem:
    published: str
    title: str
    url: str  # "" when the crawled URL is not http(s): the title is shown, not linked
    outlet: str
    label: str
    confidence: float
    evidence: str
    document_id: int | None = None  # the stored document (the dashboard links its page)


@dataclass(frozen=True)
class BriefAlert:
    period: str
    rule: str
    message: str


@dataclass
class WeeklyBrief:
    title: str
    key: str
    name: str
    definition: str
    week: str
    first_day: str
    last_day: str
    timezone: str
    generated_at: str
    model: str
    this: WeekRow
    trailing: tuple[int, int]  # positive, scored over the trailing weeks
    trailing_interval: tuple[float, float]
    difference: float | None
    difference_interval: tuple[float, float] | None
    p_value: float | None
    verdict: str
    reading: str
    rows: list[WeekRow]
    chart_data_uri: str
    items: list[BriefItem] = field(default_factory=list)
    alerts: list[BriefAlert] = field(default_factory=list)
    demo_note: str | None = None
    trailing_weeks: int = TRAILING_WEEKS


def _row(week: str, details: ValueDetails | None, value: float | None) -> WeekRow:
    d = details
    corrected = None
    if d is not None and d.corrected is not None:
        lo, hi = d.corrected.interval
        corrected = (d.corrected.share, lo, hi)
    return WeekRow(
        week=week,
        first_day=period_start("week", week).isoformat(),
        scored=d.tone("scored") if d else 0,
        positive=d.tone("positive") if d else 0,
        neutral=d.tone("neutral") if d else 0,
        negative=d.tone("negative") if d else 0,
        share=value,
        interval=d.share_interval if d else None,
        corrected=corrected,
    )


def share_indicator(cfg: Config, key: str | None) -> tuple[str, IndicatorConfig]:
    if key is not None:
        ind = cfg.indicator(key)
        if ind.kind != "positive_share":
            raise UserError(f"--indicator: {key} is a volume; the brief follows a positive share")
        return key, ind
    for k, ind in cfg.indicators.items():
        if ind.kind == "positive_share":
            return k, ind
    raise UserError("no positive_share indicator configured (the brief follows a67)")


def build_weekly(
    cfg: Config, session: Session, week: str, key: str | None = None, demo_note: str | None = None
) -> WeeklyBrief:
    key, ind = share_indicator(cfg, key)
    if not model_available(ind):
        raise MeiyuError(f"{key}: no sentiment model available; the brief needs one")
    mid = model_id(model_for(ind))
    series = value_series(session, key, definition_version(ind), "week")
    trend = weeks_before(week, TREND_WEEKS)
    rows = [
        _row(
            w, series[w].details if w in series else None, series[w].value if w in series else None
        )
        for w in trend
    ]
    this = rows[-1]
    # the comparison with the trailing weeks, as compute stored it with the week
    stored = series[week].details.trailing if week in series else None
    if stored is not None:
        x0, n0, trailing_interval = stored.positive, stored.scored, stored.interval
    else:  # a week without items has no stored row: the trailing weeks' stored counts
        before = rows[-1 - TRAILING_WEEKS : -1]
        x0, n0 = sum(r.positive for r in before), sum(r.scored for r in before)
        trailing_interval = (0.0, 1.0)  # not shown: there is nothing to compare
    if stored is not None and stored.difference is not None and this.scored:
        diff, diff_ci, p = stored.difference, stored.difference_interval, stored.p_value
        word = stored.verdict
    else:
        diff, diff_ci, p, word = None, None, None, UNCOMPARABLE
    first = period_start("week", week)
    end = period_end("week", week)
    start_utc = dt.datetime.combine(first, dt.time(), cfg.tz).astimezone(dt.UTC)
    end_utc = dt.datetime.combine(end, dt.time(), cfg.tz).astimezone(dt.UTC)
    scored = scored_documents(session, key, mid, start_utc, end_utc)
    png = share_png(
        f"{key} {ind.name} · 近{TREND_WEEKS}周正面占比（95% 区间）",
        trend,
        [r.share for r in rows],
        [r.interval for r in rows],
        [r.scored for r in rows],
        highlight=week,
    )
    alerts = [
        BriefAlert(
            a.period_start
            if a.period_start == a.period_end
            else f"{a.period_start} 至 {a.period_end}",
            a.rule,
            a.message,
        )
        for a in list_alerts(session, since=first)
        if a.period_start < end.isoformat()
    ]
    return WeeklyBrief(
        title=f"{ind.name} · 周报",
        key=key,
        name=ind.name,
        definition=ind.definition,
        week=week,
        first_day=first.isoformat(),
        last_day=(end - dt.timedelta(days=1)).isoformat(),
        timezone=cfg.timezone,
        generated_at=dt.datetime.now(cfg.tz).strftime("%Y-%m-%d %H:%M"),
        model=mid,
        this=this,
        trailing=(x0, n0),
        trailing_interval=trailing_interval,
        difference=diff,
        difference_interval=diff_ci,
        p_value=p,
        verdict=word,
        reading=_reading(this, x0, n0, diff, p, word),
        rows=rows,
        chart_data_uri="data:image/png;base64," + base64.b64encode(png).decode(),
        items=_items(scored, cfg),
        alerts=alerts,
        demo_note=demo_note,
    )


def _reading(
    this: WeekRow, x0: int, n0: int, diff: float | None, p: float | None, word: str
) -> str:
    if not this.scored:
        return "本周没有已评分的相关韩文条目，无法给出正面占比。"
    lo, hi = this.interval or (0.0, 1.0)
    text = (
        f"本周 {this.scored} 条相关韩文条目中正面 {this.positive} 条，正面占比 {this.share:.0%}"
        f"（95% 区间 {lo:.0%}–{hi:.0%}）"
    )
    if diff is None or p is None:
        return text + "；前几周无已评分条目，无法比较。"
    text += (
        f"；前 {TRAILING_WEEKS} 周合计 {x0}/{n0}（{x0 / n0:.0%}），"
        f"变化 {diff * 100:+.0f} 个百分点，p = {p:.2g}：{word}。"
    )
    if this.scored < 10:
        text += "本周条目较少，占比波动大，请结合区间阅读。"
    return text


def _items(rows: list[ScoredRow], cfg: Config) -> list[BriefItem]:
    """Most negative first, then most positive, then neutral: what moved the share."""
    order = {"negative": 0, "positive": 1, "neutral": 2}
    ranked = sorted(
        rows,
        key=lambda r: (order.get(r.label, 3), -float(r.probabilities.get(r.label, 0.0) or 0.0)),
    )
    return [
        BriefItem(
            published=r.published_at.astimezone(cfg.tz).strftime("%m-%d %H:%M"),
            title=r.title,
            url=r.url if r.url.lower().startswith(("http://", "https://")) else "",
            outlet=r.outlet or "",
            label=LABEL_ZH.get(r.label, r.label),
            confidence=float(r.probabilities.get(r.label, 0.0) or 0.0),
            evidence=next(
                (
                    line
                    for line in (r.evidence or "").split("\n")
                    if line.strip() != r.title.strip()
                ),
                "",
            )[:160],
            document_id=r.document_id,
        )
        for r in ranked[:20]
    ]


def render_html(brief: WeeklyBrief) -> str:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("weekly.html.j2").render(b=brief)


def write_brief(brief: WeeklyBrief, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"meiyu-brief-{brief.key}-{brief.week}.html"
    path.write_text(render_html(brief), encoding="utf-8")
    return path
