"""The monthly report as data: what reports.monthly builds and each format renders (the HTML
template, reports.xlsx). Plain dataclasses, importing no other part of reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Verdict:
    label: str  # the period tested, e.g. "本月（对比 2020-12）"
    verdict: str  # 明显提升 / 无明显变化 / 明显下降, or 无法检验
    detail: str


@dataclass(frozen=True)
class SourceShare:
    source: str
    outlet: str
    items: int
    share: float | None  # of the indicator's items this month
    previous: int
    reported_total: int | None  # what the engine said it holds for the month's windows


@dataclass(frozen=True)
class ItemView:
    """One matched item of the month (XLSX sheet; the HTML shows the top ones)."""

    indicator: str
    published: str  # local time
    title: str
    url: str
    link: str | None  # url when it is safe to link
    outlet: str
    source: str
    story: str
    copies: int  # literal items of the same story this month
    literal: bool
    relevant: bool
    label: str | None  # sentiment label (Chinese) where scored
    score: float | None  # probability of that label
    probabilities: dict[str, float]
    evidence: str  # the sentences about the place, title lines dropped


@dataclass
class IndicatorSection:
    key: str
    name: str
    definition: str
    kind: str
    kind_label: str
    language: str
    rule: str
    queries: list[str]
    ambiguous: list[str]
    version: str
    model: str | None
    columns: list[str]
    all_rows: list[dict[str, Any]]  # the whole stored monthly series (XLSX)
    months: list[str]  # the trend window, oldest first
    rows: list[dict[str, Any] | None]  # series row per month of the window; None: no value
    this: dict[str, Any] | None
    previous: dict[str, Any] | None
    year_ago: dict[str, Any] | None
    value_text: str
    interval_text: str
    change_previous: str
    change_year: str
    verdicts: list[Verdict]
    reading: str
    baseline_text: str
    chart_data_uri: str
    tone_chart_data_uri: str | None
    per_source: list[SourceShare]
    stories: list[ItemView] = field(default_factory=list)  # volume: most-reprinted first
    most_positive: list[ItemView] = field(default_factory=list)  # share indicators
    most_negative: list[ItemView] = field(default_factory=list)
    items: list[ItemView] = field(default_factory=list)


@dataclass(frozen=True)
class AlertView:
    rule: str
    indicator: str
    period: str
    observed: float
    expected: float
    p_value: float
    headline: str
    message: str


@dataclass(frozen=True)
class SourceCoverage:
    name: str
    outlet: str
    kind: str
    language: str
    documents: int
    trailing_mean: float  # documents per month over the 12 months before
    ratio: float | None  # documents / trailing_mean
    full_text: float | None  # share with the article's own text (not only the feed summary)
    runs: int  # crawl runs started in the month
    runs_failed: int
    last_run: str
    last_status: str


@dataclass(frozen=True)
class ModelView:
    language: str
    model: str
    card: str
    heldout_n: int | None
    accuracy: float | None
    macro_f1: float | None
    pos_vs_neg: float | None
    # the same figures on the real-news set (sentences from public news pages), when measured
    real_n: int | None = None
    real_accuracy: float | None = None
    real_macro_f1: float | None = None
    real_pos_vs_neg: float | None = None
    real_date: str | None = None
    matrix: str = ""  # which confusion matrix corrects the share


@dataclass
class MonthlyReport:
    title: str
    year: int
    month: int
    period: str
    timezone: str
    generated_at: str
    documents_month: int
    documents_total: int
    has_data: bool
    demo_note: str | None
    sections: list[IndicatorSection]
    alerts: list[AlertView]
    sources: list[SourceCoverage]
    models: list[ModelView]
    relevance_eval: dict[str, Any]  # measured accuracy of the relevance check (method section)

    @property
    def trend_months(self) -> int:
        return len(self.sections[0].months) if self.sections else 0
