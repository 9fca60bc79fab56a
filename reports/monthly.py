"""The monthly report for the publicity department: one month's indicators against last month,
the same month last year and the plan's baseline, with trends, sources, the items behind the
numbers, alerts and the method, as self-contained HTML (and PDF, XLSX from the same object).

Every number of the series comes from `reports.series.series_rows`, the rows `meiyu series`
prints, so the report, its PDF and its XLSX never disagree with the stored series.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.orm import Session

from kernel.alerts import RULE_NAMES, period_text
from kernel.config import Config, IndicatorConfig, SourceConfig
from kernel.errors import UserError
from kernel.identity import model_id
from kernel.periods import month_bounds, period_months, previous_months
from kernel.values import EMPTY_COUNT_INTERVAL, ValueDetails
from nlp.evaluate_relevance import EVAL_FILE as RELEVANCE_EVAL
from nlp.identity import definition_version, model_available, model_for
from nlp.model_evaluation import Figures, load_confusion, load_evaluation
from reports.charts import tone_png, trend_png
from reports.monthly_view import (
    AlertView,
    IndicatorSection,
    ItemView,
    ModelView,
    MonthlyReport,
    SourceCoverage,
    SourceShare,
    Verdict,
)
from reports.series import columns, series_rows
from storage.alerts import list_alerts
from storage.queries import (
    ItemRow,
    ScoredRow,
    SourceRow,
    count_documents,
    crawl_runs_between,
    documents_by_source,
    matched_items,
    scored_documents,
    source_status,
    stored_assessment,
    stored_sources,
    value_series,
)

FORMATS = ("html", "pdf", "xlsx")
KIND_LABEL = {"volume": "条目数量", "positive_share": "正面情感占比"}
LABEL_ZH = {"positive": "正面", "neutral": "中性", "negative": "负面"}
TOP_STORIES = 10  # most-reprinted stories shown per volume indicator
TOP_TONE = 5  # most positive and most negative items shown for a share indicator
EVIDENCE_CHARS = 200
ZERO_INTERVAL = EMPTY_COUNT_INTERVAL  # a month without items inside the observed span


# ---------------------------------------------------------------- formatting (HTML, PDF)


def fmt_count(v: object) -> str:
    return "—" if v is None else str(v)


def fmt_interval(lo: object, hi: object, percent: bool = False) -> str:
    if lo is None or hi is None:
        return "—"
    if percent:
        return f"{float(str(lo)) * 100:.1f}–{float(str(hi)) * 100:.1f}%"
    return f"{float(str(lo)):.1f}–{float(str(hi)):.1f}"


def fmt_pct(v: object) -> str:
    return "—" if v is None else f"{float(str(v)) * 100:.1f}%"


def safe_url(url: str) -> str | None:
    """Only http(s) links become links: a crawled javascript: or data: URL stays text."""
    return url if url.lower().startswith(("http://", "https://")) else None


# ---------------------------------------------------------------- building


def _describe_rule(ind: IndicatorConfig) -> str:
    groups = ["（" + " 或 ".join(f"“{t}”" for t in g) + "）" for g in ind.all_of]
    return (
        "标题或正文同时包含 " + " 且 ".join(groups)
        if len(groups) > 1
        else ("标题或正文包含 " + groups[0])
    )


def _in_span(rows: dict[str, dict[str, Any]], month: str) -> bool:
    """A month with no stored value inside the observed span is a real zero; before it, unknown."""
    return bool(rows) and min(rows) <= month


def _change(
    kind: str, now: dict[str, Any] | None, before: dict[str, Any] | None, known: bool
) -> str:
    if kind == "volume":
        if not known:
            return "无可比数据"
        a = now["items"] if now else 0
        b = before["items"] if before else 0
        if a == b:
            return "持平"
        return f"{a - b:+d} 条" + (f"（{(a - b) / b:+.0%}）" if b else "")
    s1 = now.get("positive_share") if now else None
    s0 = before.get("positive_share") if before else None
    if s1 is None or s0 is None:
        return "无可比数据"
    diff = (float(s1) - float(s0)) * 100
    return "持平" if abs(diff) < 0.05 else f"{diff:+.1f} 个百分点"


def _verdicts(session: Session, cfg: Config, key: str, year: int, month: int) -> list[Verdict]:
    """The plan's test as `meiyu compute` stored it, for the month (against the baseline's
    same month) and, in December, for the whole year: the plan's question is yearly."""
    ind = cfg.indicator(key)
    version = definition_version(ind)
    periods = [(f"{year:04d}-{month:02d}", "本月")]
    if month == 12:
        periods.append((f"{year:04d}", "全年"))
    out = []
    for period, label in periods:
        stored = stored_assessment(session, key, version, period, ind.baseline)
        if stored is None or stored.assessment is None:
            why = stored.error if stored else "未存储该期的检验结果，请先运行 meiyu compute"
            out.append(Verdict(label, "无法检验", f"本期或基线期缺少数据（{why}）"))
            continue
        a = stored.assessment
        base = a.baseline_months[0] if len(a.baseline_months) == 1 else a.baseline
        label = f"{label}（对比 {base}）"
        if a.share is not None:
            sc = a.share.comparison
            (x1, n1), (x0, n0) = a.share.current, a.share.baseline
            lo, hi = sc.difference_interval
            detail = (
                f"正面 {x0}/{n0} → {x1}/{n1}，变化 {sc.difference * 100:+.1f} 个百分点"
                f"（95% 区间 {lo * 100:+.1f} 至 {hi * 100:+.1f}），双比例检验 p = {a.p_value:.2g}"
            )
        else:
            c = a.comparison
            ratio = "—" if c.ratio != c.ratio else f"{c.ratio:.2f}"
            detail = f"{a.baseline_count} → {a.current_count} 条，率比 {ratio}，p = {a.p_value:.2g}"
            if a.dispersion.phi > 1:
                detail += f"，已计入超泊松离散 φ = {a.dispersion.phi:.2f}"
        out.append(Verdict(label, a.verdict, detail))
    return out


def _baseline_level(
    ind: IndicatorConfig, rows: dict[str, dict[str, Any]]
) -> tuple[str, float] | None:
    """The baseline period's monthly mean count, or its pooled positive share."""
    try:
        months = period_months(ind.baseline)
    except UserError:
        return None
    if not rows or min(rows) > months[0]:
        return None
    got = [rows[m] for m in months if m in rows]
    if ind.kind == "volume":
        mean = sum(int(r["items"]) for r in got) / len(months)
        return f"基线 {ind.baseline} 月均 {mean:.1f} 条", mean
    scored = sum(int(r.get("scored") or 0) for r in got)
    if not scored:
        return None
    share = sum(int(r.get("positive") or 0) for r in got) / scored
    return f"基线 {ind.baseline} 正面占比 {share:.0%}（{scored} 条）", share


def _reading(
    ind: IndicatorConfig,
    this: dict[str, Any] | None,
    change_previous: str,
    change_year: str,
    verdict: Verdict,
) -> str:
    """One line a reader can quote."""
    tail = f"；与基线同月相比{verdict.verdict}" if verdict.verdict != "无法检验" else ""
    if ind.kind == "volume":
        n = this["items"] if this else 0
        if not n:
            return f"本月无命中条目；较上月{change_previous}，较去年同月{change_year}{tail}。"
        assert this is not None
        return (
            f"本月 {n} 条（{this['stories']} 个独立报道，{this['relevant']} 条经相关性校验确指"
            f"该地），较上月{change_previous}，较去年同月{change_year}{tail}。"
        )
    scored = int(this.get("scored") or 0) if this else 0
    if not scored:
        n = this["items"] if this else 0
        return f"本月相关韩文条目 {n} 条，无已评分条目，正面占比无法给出。"
    assert this is not None
    text = (
        f"本月 {scored} 条已评分韩文条目中正面 {this['positive']}、中性 {this['neutral']}、"
        f"负面 {this['negative']}，正面占比 {fmt_pct(this['positive_share'])}"
        f"（95% 区间 {fmt_interval(this['share_lo95'], this['share_hi95'], True)}），"
        f"较上月{change_previous}，较去年同月{change_year}{tail}。"
    )
    if scored < 10:
        text += "条目较少，占比波动大，请结合区间阅读。"
    return text


def _evidence(row: ScoredRow | None) -> str:
    if row is None or not row.evidence:
        return ""
    lines = [ln.strip() for ln in row.evidence.split("\n")]
    kept = [ln for ln in lines if ln and ln != row.title.strip()]
    text = " ".join(dict.fromkeys(kept))  # the same sentence once
    return text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 1] + "…"


def _item_views(
    key: str, items: list[ItemRow], scored: dict[int, ScoredRow], cfg: Config
) -> list[ItemView]:
    copies: dict[str, int] = defaultdict(int)
    for it in items:
        if it.literal:
            copies[it.story] += 1
    views = []
    for it in sorted(items, key=lambda i: (i.published_at or dt.datetime.min, i.document_id)):
        s = scored.get(it.document_id)
        probs = {k: float(v) for k, v in (s.probabilities if s else {}).items()}
        views.append(
            ItemView(
                indicator=key,
                published=it.published_at.astimezone(cfg.tz).strftime("%Y-%m-%d %H:%M")
                if it.published_at
                else "日期不详",
                title=it.title,
                url=it.url,
                link=safe_url(it.url),
                outlet=it.outlet or it.source,
                source=it.source,
                story=it.story,
                copies=copies.get(it.story, 0),
                literal=it.literal,
                relevant=it.relevant,
                label=LABEL_ZH.get(s.label, s.label) if s else None,
                score=probs.get(s.label) if s else None,
                probabilities=probs,
                evidence=_evidence(s),
            )
        )
    return views


def _top_stories(items: list[ItemView]) -> list[ItemView]:
    """The month's most-reprinted stories: each story once, as its first (original) item,
    with the evidence of a scored copy when the original was not scored."""
    by_story: dict[str, list[ItemView]] = defaultdict(list)
    for it in items:  # oldest first
        if it.literal:
            by_story[it.story].append(it)
    stories = []
    for group in by_story.values():
        first = group[0]
        if first.label is None:
            scored = next((g for g in group if g.label is not None), None)
            if scored is not None:
                first = ItemView(
                    **{
                        **first.__dict__,
                        "label": scored.label,
                        "score": scored.score,
                        "probabilities": scored.probabilities,
                        "evidence": scored.evidence,
                    }
                )
        stories.append(first)
    stories.sort(key=lambda s: (-s.copies, s.published))
    return stories[:TOP_STORIES]


def _extremes(items: list[ItemView], label: str) -> list[ItemView]:
    zh = LABEL_ZH[label]
    chosen = [it for it in items if it.label == zh]
    chosen.sort(key=lambda it: -(it.probabilities.get(label) or 0.0))
    return chosen[:TOP_TONE]


def _per_source(
    outlets: dict[str, str],
    this: dict[str, Any] | None,
    details: ValueDetails | None,
    prev: ValueDetails | None,
) -> list[SourceShare]:
    now: dict[str, int] = details.per_source if details else {}
    before: dict[str, int] = prev.per_source if prev else {}
    reported: dict[str, int] = (details.reported_totals if details else None) or {}
    total = this["items"] if this else 0
    names = sorted(set(now) | set(before) | set(reported), key=lambda n: (-now.get(n, 0), n))
    return [
        SourceShare(
            source=n,
            outlet=outlets.get(n, n),
            items=int(now.get(n, 0)),
            share=now.get(n, 0) / total if total else None,
            previous=int(before.get(n, 0)),
            reported_total=reported.get(n),
        )
        for n in names
    ]


def _section(
    session: Session,
    cfg: Config,
    key: str,
    ind: IndicatorConfig,
    year: int,
    month: int,
    outlets: dict[str, str],
) -> IndicatorSection:
    period = f"{year:04d}-{month:02d}"
    start, end = month_bounds(year, month, cfg.tz)
    months = previous_months(year, month, cfg.report.trend_months)
    all_rows = series_rows(session, key, ind, "month")
    by_period = {r["period"]: r for r in all_rows}
    stored = value_series(session, key, definition_version(ind))  # per-source details
    prev_key = previous_months(year, month, 2)[0]
    ago_key = f"{year - 1:04d}-{month:02d}"
    this, prev, ago = by_period.get(period), by_period.get(prev_key), by_period.get(ago_key)
    change_previous = _change(ind.kind, this, prev, _in_span(by_period, prev_key))
    change_year = _change(ind.kind, this, ago, _in_span(by_period, ago_key))
    verdicts = _verdicts(session, cfg, key, year, month)
    baseline = _baseline_level(ind, by_period)
    share = ind.kind == "positive_share"
    if share:
        values = [None if (r := by_period.get(m)) is None else r["positive_share"] for m in months]
        band = [
            None
            if (r := by_period.get(m)) is None or r["share_lo95"] is None
            else (r["share_lo95"], r["share_hi95"])
            for m in months
        ]
        value_text = fmt_pct(this["positive_share"] if this else None)
        interval_text = fmt_interval(this["share_lo95"], this["share_hi95"], True) if this else "—"
        ylabel = "正面占比"
    else:
        values = [
            float(r["items"])
            if (r := by_period.get(m))
            else (0.0 if _in_span(by_period, m) else None)
            for m in months
        ]
        band = [
            (r["items_lo95"], r["items_hi95"])
            if (r := by_period.get(m))
            else (ZERO_INTERVAL if _in_span(by_period, m) else None)
            for m in months
        ]
        # no row inside the observed span: a real zero; before it (or no data at all): unknown
        known = this is not None or _in_span(by_period, period)
        value_text = str(this["items"]) if this else ("0" if known else "—")
        lo, hi = (this["items_lo95"], this["items_hi95"]) if this else ZERO_INTERVAL
        interval_text = fmt_interval(lo, hi) if known else "—"
        ylabel = "条目数"
    png = trend_png(
        f"{key} {ind.name} · 近{len(months)}个月",
        months,
        values,
        ylabel,
        highlight=period,
        band=band,
        baseline=baseline,
        target=("规划目标：较基线明显提升", None),
        percent=share,
    )
    tone_uri = None
    if share:
        counts = [by_period.get(m) or {} for m in months]
        tone_uri = _data_uri(
            tone_png(
                f"{key} 已评分条目的情感构成 · 近{len(months)}个月",
                months,
                [int(c.get("positive") or 0) for c in counts],
                [int(c.get("neutral") or 0) for c in counts],
                [int(c.get("negative") or 0) for c in counts],
                highlight=period,
            )
        )
    mid = model_id(model_for(ind)) if model_available(ind) else None
    scored = (
        {r.document_id: r for r in scored_documents(session, key, mid, start, end)} if mid else {}
    )
    items = _item_views(key, matched_items(session, key, start, end), scored, cfg)
    details = stored[period].details if period in stored else None
    prev_details = stored[prev_key].details if prev_key in stored else None
    section = IndicatorSection(
        key=key,
        name=ind.name,
        definition=ind.definition,
        kind=ind.kind,
        kind_label=KIND_LABEL[ind.kind],
        language=ind.language,
        rule=_describe_rule(ind),
        queries=ind.search_queries(),
        ambiguous=list(ind.ambiguous),
        version=definition_version(ind),
        model=mid,
        columns=columns(ind),
        all_rows=all_rows,
        months=months,
        rows=[by_period.get(m) for m in months],
        this=this,
        previous=prev,
        year_ago=ago,
        value_text=value_text,
        interval_text=interval_text,
        change_previous=change_previous,
        change_year=change_year,
        verdicts=verdicts,
        reading=_reading(ind, this, change_previous, change_year, verdicts[0]),
        baseline_text=baseline[0] if baseline else f"基线 {ind.baseline}：无数据",
        chart_data_uri=_data_uri(png),
        tone_chart_data_uri=tone_uri,
        per_source=_per_source(outlets, this, details, prev_details),
        items=items,
    )
    if share:
        section.most_positive = _extremes(items, "positive")
        section.most_negative = _extremes(items, "negative")
    else:
        section.stories = _top_stories(items)
    return section


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _alerts(session: Session, year: int, month: int) -> list[AlertView]:
    first = dt.date(year, month, 1)
    last = (dt.date(year + (month == 12), month % 12 + 1, 1)) - dt.timedelta(days=1)
    return [
        AlertView(
            rule=RULE_NAMES.get(a.rule, a.rule),
            indicator=a.indicator,
            period=period_text(a.period_start, a.period_end),
            observed=a.observed,
            expected=a.expected,
            p_value=a.p_value,
            headline=a.message.split("\n", 1)[0],
            message=a.message,
        )
        for a in list_alerts(session, since=first)
        if a.period_start <= last.isoformat()
    ]


def _sources(
    session: Session, cfg: Config, year: int, month: int, stored: list[SourceRow]
) -> list[SourceCoverage]:
    """Each source's documents this month against its own trailing 12 months: the configured
    ones (a source that never stored anything shows as such) and any other that stored data."""
    start, end = month_bounds(year, month, cfg.tz)
    first = previous_months(year, month, 13)[0]
    trail_start, _ = month_bounds(int(first[:4]), int(first[5:]), cfg.tz)
    now = documents_by_source(session, start, end)
    before = documents_by_source(session, trail_start, start)
    runs = crawl_runs_between(session, start, end)
    last = {s.name: s for s in source_status(session)}
    out = []
    configured = {s.name for s in cfg.sources}
    listed: list[SourceConfig | SourceRow] = [*cfg.sources]
    listed += [s for s in stored if s.name not in configured]
    for src in listed:
        docs = now[src.name].documents if src.name in now else 0
        full = now[src.name].full_text if src.name in now else 0
        mean = (before[src.name].documents if src.name in before else 0) / 12
        mine = [r for r in runs if src.name in r.sources]
        st = last.get(src.name)
        out.append(
            SourceCoverage(
                name=src.name,
                outlet=src.outlet,
                kind=src.kind,
                language=src.language,
                documents=docs,
                trailing_mean=mean,
                ratio=docs / mean if mean else None,
                full_text=full / docs if docs else None,
                runs=len(mine),
                runs_failed=sum(r.status != "ok" for r in mine),
                last_run=st.last_run.astimezone(cfg.tz).strftime("%Y-%m-%d %H:%M")
                if st and st.last_run
                else "从未",
                last_status=(st.last_status or "—") if st else "—",
            )
        )
    return out


def _models(cfg: Config) -> list[ModelView]:
    seen: dict[str, ModelView] = {}
    for ind in cfg.indicators.values():
        if not model_available(ind):
            continue
        path = Path(model_for(ind))
        mid = model_id(path)
        if mid in seen:
            continue
        ev = load_evaluation(path)
        block = ev.domain_heldout if ev else Figures()
        real = ev.real_news if ev else Figures()
        matrix = load_confusion(path)
        seen[mid] = ModelView(
            language={"ko": "韩文", "zh": "中文"}[ind.language],
            model=mid,
            card=f"nlp/models/{path.name}/MODEL_CARD.md" if ev else "",
            heldout_n=block.n,
            accuracy=block.accuracy,
            macro_f1=block.macro_f1,
            pos_vs_neg=block.pos_vs_neg_accuracy,
            real_n=real.n,
            real_accuracy=real.accuracy,
            real_macro_f1=real.macro_f1,
            real_pos_vs_neg=real.pos_vs_neg_accuracy,
            real_date=real.measured_on,
            matrix=matrix.source if matrix else "",
        )
    return list(seen.values())


def build_monthly(
    cfg: Config, session: Session, year: int, month: int, demo_note: str | None = None
) -> MonthlyReport:
    period = f"{year:04d}-{month:02d}"
    known = {s.name: s for s in stored_sources(session)}
    outlets = {**{n: s.outlet for n, s in known.items()}, **{s.name: s.outlet for s in cfg.sources}}
    sections = [
        _section(session, cfg, key, ind, year, month, outlets)
        for key, ind in cfg.indicators.items()
    ]
    sources = _sources(session, cfg, year, month, list(known.values()))
    start, end = month_bounds(year, month, cfg.tz)
    documents_month = sum(d.documents for d in documents_by_source(session, start, end).values())
    return MonthlyReport(
        title=cfg.report.title,
        year=year,
        month=month,
        period=period,
        timezone=cfg.timezone,
        generated_at=dt.datetime.now(cfg.tz).strftime("%Y-%m-%d %H:%M"),
        documents_month=documents_month,
        documents_total=count_documents(session),
        has_data=documents_month > 0 or any(s.this for s in sections),
        demo_note=demo_note,
        sections=sections,
        alerts=_alerts(session, year, month),
        sources=sources,
        models=_models(cfg),
        relevance_eval=json.loads(RELEVANCE_EVAL.read_text(encoding="utf-8")),
    )


# ---------------------------------------------------------------- output


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(count=fmt_count, interval=fmt_interval, pct=fmt_pct)
    return env


def render_html(report: MonthlyReport) -> str:
    return _environment().get_template("monthly.html.j2").render(r=report)


def parse_formats(value: str) -> list[str]:
    """'html,pdf,xlsx' → the formats, in that order; anything else is the user's mistake."""
    asked = [f.strip().lower() for f in value.split(",") if f.strip()]
    wrong = [f for f in asked if f not in FORMATS]
    if not asked or wrong:
        raise UserError(f"--format: expected a comma list of html, pdf, xlsx; got {value!r}")
    return [f for f in FORMATS if f in asked]


def write_report(
    report: MonthlyReport, out_dir: Path, formats: tuple[str, ...] | list[str] = ("html",)
) -> list[Path]:
    """Write the report in each format; the PDF is rendered from the same HTML."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"meiyu-report-{report.period}"
    paths = []
    html = render_html(report)
    if "html" in formats:
        path = stem.with_suffix(".html")
        path.write_text(html, encoding="utf-8")
        paths.append(path)
    if "pdf" in formats:
        from reports.pdf import write_pdf

        paths.append(write_pdf(html, stem.with_suffix(".pdf")))
    if "xlsx" in formats:
        from reports.xlsx import write_xlsx

        paths.append(write_xlsx(report, stem.with_suffix(".xlsx")))
    return paths
