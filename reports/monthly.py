"""The monthly report: gather one month's indicator values and items, render self-contained HTML."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from meiyu.config import Config, IndicatorConfig
from meiyu.errors import MeiyuError
from nlp.evaluate_relevance import EVAL_FILE as RELEVANCE_EVAL
from pipelines.assess import assess
from pipelines.periods import month_bounds, previous_months
from pipelines.uncertainty import poisson_interval
from reports.charts import trend_png
from storage.queries import ItemRow, ValueRow, count_documents, matched_items, value_series

KIND_LABEL = {"volume": "条目数量", "positive_share": "正面情感占比"}


@dataclass(frozen=True)
class ItemView:
    title: str
    url: str
    outlet: str
    published: str  # local time, e.g. 2023-12-05 14:30
    terms: str
    reprint_of_shown: bool
    literal: bool
    relevant: bool


@dataclass
class IndicatorSection:
    key: str
    name: str
    definition: str
    kind: str
    kind_label: str
    language: str
    rule: str
    version: str
    items: int
    stories: int
    relevant: int  # of the month's items, those that speak of the place (nlp.relevance)
    interval: tuple[float, float]  # exact Poisson 95% interval of the month's count
    versus_baseline: str  # the plan's test for this month against the same month of the baseline
    previous: int | None
    year_ago: int | None
    headline: str
    series: list[ValueRow | None]
    months: list[str]
    chart_data_uri: str
    month_items: list[ItemView] = field(default_factory=list)


@dataclass
class MonthlyReport:
    title: str
    year: int
    month: int
    period: str
    timezone: str
    generated_at: str
    documents_total: int
    demo_note: str | None
    sections: list[IndicatorSection]
    relevance_eval: dict[str, Any]  # measured accuracy of the relevance check (method section)


def _describe_rule(ind: IndicatorConfig) -> str:
    groups = ["（" + " 或 ".join(f"“{t}”" for t in g) + "）" for g in ind.all_of]
    return (
        "标题或正文同时包含 " + " 且 ".join(groups)
        if len(groups) > 1
        else ("标题或正文包含 " + groups[0])
    )


def _tone_text(this: ValueRow | None) -> str:
    """The tone behind a volume: how the model scored the month's relevant items."""
    d = this.details if this else {}
    scored = int(str(d.get("scored", 0)))
    if not scored:
        return ""
    return (
        f"；语气（情感模型，{scored} 条相关条目）：正面 {d.get('positive')}、"
        f"中性 {d.get('neutral')}、负面 {d.get('negative')}"
    )


def _share_headline(this: ValueRow | None, n: int, n_relevant: int) -> str:
    d = this.details if this else {}
    scored = int(str(d.get("scored", 0)))
    head = f"本月含“威海”韩文名称的条目 {n} 条，经相关性校验确指威海的 {n_relevant} 条"
    if not this or this.value is None or not scored:
        return head + "；正面占比需情感分析，本月无已评分条目"
    interval = d.get("share_interval") or [0.0, 1.0]
    lo, hi = (float(str(x)) for x in interval)  # type: ignore[attr-defined]
    return (
        f"{head}；其中 {scored} 条经情感模型评分：正面 {d.get('positive')}、中性 "
        f"{d.get('neutral')}、负面 {d.get('negative')}，正面占比 {this.value:.0%}"
        f"（Wilson 95% 区间 {lo:.0%}–{hi:.0%}）"
    )


def _versus_baseline(session: Session, cfg: Config, key: str, period: str) -> str:
    """'明显提升（率比 2.40，p = 0.01）' for the month against the baseline's same month."""
    try:
        a = assess(session, cfg, key, period)
    except MeiyuError as exc:
        return (
            f"无法检验（{exc}）"
            if cfg.indicators[key].kind == "volume"
            else "占比的基线检验尚未实现"
        )
    c = a.comparison
    ratio = "—" if c.ratio != c.ratio else f"{c.ratio:.2f}"
    return f"{a.verdict}（对比 {a.baseline_months[0]}：率比 {ratio}，p = {c.p_value:.2g}）"


def _count_at(series: dict[str, ValueRow], month: str) -> int | None:
    """Items in `month`: 0 inside the observed span (no match is a real zero), None before it."""
    if month in series:
        return series[month].n_items
    if series and min(series) <= month:
        return 0
    return None


def _change(now: int, before: int | None) -> str:
    if before is None:
        return "无可比数据"
    diff = now - before
    pct = f"，{diff / before:+.0%}" if before else ""
    return f"{diff:+d}{pct}"


def build_monthly(
    cfg: Config, session: Session, year: int, month: int, demo_note: str | None = None
) -> MonthlyReport:
    period = f"{year:04d}-{month:02d}"
    months = previous_months(year, month, cfg.report.trend_months)
    year_ago = f"{year - 1:04d}-{month:02d}"
    start, end = month_bounds(year, month, cfg.tz)
    sections = []
    for key, ind in cfg.indicators.items():
        version = ind.version()
        series = value_series(session, key, version)
        this = series.get(period)
        n = this.n_items if this else 0
        n_relevant = int(str(this.details.get("relevant", 0))) if this else 0
        prev, ago = _count_at(series, months[-2]), _count_at(series, year_ago)
        rows = [series.get(m) for m in months]
        counts = [None if (c := _count_at(series, m)) is None else float(c) for m in months]
        if ind.kind == "volume":
            headline = (
                f"本月 {n} 条（去重后 {this.n_stories if this else 0} 个独立报道；"
                f"经相关性校验 {n_relevant} 条）；"
                f"环比 {_change(n, prev)}；同比 {_change(n, ago)}" + _tone_text(this)
            )
            ylabel = "条目数"
        else:
            headline = _share_headline(this, n, n_relevant)
            ylabel = "韩文条目数"
        png = trend_png(
            f"{key} {ind.name} · 近{len(months)}个月", months, counts, ylabel, highlight=period
        )
        items = matched_items(session, key, start, end)
        sections.append(
            IndicatorSection(
                key=key,
                name=ind.name,
                definition=ind.definition,
                kind=ind.kind,
                kind_label=KIND_LABEL[ind.kind],
                language=ind.language,
                rule=_describe_rule(ind),
                version=version,
                items=n,
                stories=this.n_stories if this else 0,
                relevant=n_relevant,
                interval=poisson_interval(n),
                versus_baseline=_versus_baseline(session, cfg, key, period),
                previous=prev,
                year_ago=ago,
                headline=headline,
                series=rows,
                months=months,
                chart_data_uri="data:image/png;base64," + base64.b64encode(png).decode(),
                month_items=_item_views(items, cfg),
            )
        )
    return MonthlyReport(
        title=cfg.report.title,
        year=year,
        month=month,
        period=period,
        timezone=cfg.timezone,
        generated_at=dt.datetime.now(cfg.tz).strftime("%Y-%m-%d %H:%M"),
        documents_total=count_documents(session),
        relevance_eval=json.loads(RELEVANCE_EVAL.read_text(encoding="utf-8")),
        demo_note=demo_note,
        sections=sections,
    )


def _item_views(items: list[ItemRow], cfg: Config) -> list[ItemView]:
    seen: set[str] = set()
    views = []
    for it in sorted(items, key=lambda i: i.published_at or dt.datetime.min.replace(tzinfo=dt.UTC)):
        views.append(
            ItemView(
                title=it.title,
                url=it.url,
                outlet=it.outlet or it.source,
                published=it.published_at.astimezone(cfg.tz).strftime("%Y-%m-%d %H:%M")
                if it.published_at
                else "日期不详",
                terms="、".join(it.terms),
                reprint_of_shown=it.story in seen,
                literal=it.literal,
                relevant=it.relevant,
            )
        )
        seen.add(it.story)
    return views


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(report: MonthlyReport) -> str:
    return _environment().get_template("monthly.html.j2").render(r=report)


def write_report(report: MonthlyReport, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"meiyu-report-{report.period}.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path
