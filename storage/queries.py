"""Read queries used by the batch stages and the reports (typed rows out, no ORM leaks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Integer, Select, String, case, cast, func, select
from sqlalchemy.orm import Session

from kernel.values import StoredAssessment, ValueDetails, read_assessment, read_details
from storage.models import (
    Alert,
    AssessmentRow,
    CrawlRun,
    Document,
    IndicatorMatch,
    IndicatorValue,
    SentimentResult,
    Source,
    VolumeProbe,
)


@dataclass(frozen=True)
class TextRow:
    id: int
    title: str
    text: str


@dataclass(frozen=True)
class MatchedRow:
    document_id: int
    published_at: dt.datetime | None
    story: str  # reprint cluster id, or the content hash before clustering ran
    source: str
    literal: bool
    relevant: bool


@dataclass(frozen=True)
class ItemRow:
    document_id: int
    title: str
    url: str
    outlet: str | None
    source: str
    published_at: dt.datetime | None
    terms: list[str]
    story: str
    literal: bool
    relevant: bool


@dataclass(frozen=True)
class ValueRow:
    period: str
    value: float | None
    n_items: int
    n_stories: int
    definition_version: str
    details: ValueDetails


_Sel = TypeVar("_Sel", bound="Select[*tuple[Any, ...]]")


def _story_key() -> Any:
    """A document's story: its reprint cluster, or its exact content hash before clustering."""
    return func.coalesce(cast(Document.cluster_id, String), Document.content_hash)


def scored_relevant(stmt: _Sel, indicator: str, model_id: str) -> _Sel:
    """`stmt` (selecting from documents) narrowed to the indicator's relevant matches that
    `model_id` scored for it: the one definition the series' readers, the brief, the alert
    rules and the audit share."""
    return (
        stmt.join(IndicatorMatch, IndicatorMatch.document_id == Document.id)
        .join(SentimentResult, SentimentResult.document_id == Document.id)
        .where(
            IndicatorMatch.indicator == indicator,
            IndicatorMatch.relevant.is_(True),
            SentimentResult.target == indicator,
            SentimentResult.model_id == model_id,
        )
    )


def document_id(session: Session, url: str) -> int | None:
    return session.scalar(select(Document.id).where(Document.url == url))


def known_urls(session: Session) -> set[str]:
    return set(session.scalars(select(Document.url)))


def count_documents(session: Session) -> int:
    return session.scalar(select(func.count(Document.id))) or 0


def iter_texts(
    session: Session, language: str, sources: Sequence[str] | None, batch: int = 500
) -> Iterator[TextRow]:
    stmt = (
        select(Document.id, Document.title, Document.text)
        .join(Source, Source.id == Document.source_id)
        .where(Document.language == language)
        .order_by(Document.id)
    )
    if sources is not None:
        stmt = stmt.where(Source.name.in_(sources))
    for row in session.execute(stmt.execution_options(yield_per=batch)):
        yield TextRow(row.id, row.title, row.text)


def matched_documents(
    session: Session, indicator: str, since: dt.datetime | None = None
) -> list[MatchedRow]:
    """The indicator's matches (published since `since`, when given)."""
    stmt = (
        select(
            Document.id,
            Document.published_at,
            _story_key(),
            Source.name,
            IndicatorMatch.literal,
            IndicatorMatch.relevant,
        )
        .join(IndicatorMatch, IndicatorMatch.document_id == Document.id)
        .join(Source, Source.id == Document.source_id)
        .where(IndicatorMatch.indicator == indicator)
    )
    if since is not None:
        stmt = stmt.where(Document.published_at >= since)
    return [MatchedRow(*r) for r in session.execute(stmt)]


def matched_items(
    session: Session, indicator: str, start: dt.datetime, end: dt.datetime
) -> list[ItemRow]:
    """The indicator's matched documents published in [start, end), newest first."""
    stmt = (
        select(
            Document.id,
            Document.title,
            Document.url,
            Document.outlet,
            Source.name,
            Document.published_at,
            IndicatorMatch.terms,
            _story_key(),
            IndicatorMatch.literal,
            IndicatorMatch.relevant,
        )
        .join(IndicatorMatch, IndicatorMatch.document_id == Document.id)
        .join(Source, Source.id == Document.source_id)
        .where(
            IndicatorMatch.indicator == indicator,
            Document.published_at >= start,
            Document.published_at < end,
        )
        .order_by(Document.published_at.desc(), Document.id)
    )
    return [ItemRow(*r) for r in session.execute(stmt)]


def value_series(
    session: Session, indicator: str, version: str, period_type: str = "month"
) -> dict[str, ValueRow]:
    stmt = select(IndicatorValue).where(
        IndicatorValue.indicator == indicator,
        IndicatorValue.definition_version == version,
        IndicatorValue.period_type == period_type,
    )
    return {
        v.period: ValueRow(
            v.period, v.value, v.n_items, v.n_stories, v.definition_version, read_details(v.details)
        )
        for v in session.scalars(stmt)
    }


def stored_periods(session: Session, indicator: str, version: str, period_type: str) -> list[str]:
    """The period keys of an indicator's stored series, oldest first: what can be reported on,
    without reading every row's details."""
    stmt = (
        select(IndicatorValue.period)
        .where(
            IndicatorValue.indicator == indicator,
            IndicatorValue.definition_version == version,
            IndicatorValue.period_type == period_type,
        )
        .distinct()
    )
    return sorted(session.scalars(stmt))


def stored_assessment(
    session: Session, indicator: str, version: str, period: str, baseline: str
) -> StoredAssessment | None:
    """The plan's test of a month or year as `compute` stored it; None when it has not."""
    row = session.scalars(
        select(AssessmentRow).where(
            AssessmentRow.indicator == indicator,
            AssessmentRow.definition_version == version,
            AssessmentRow.period == period,
            AssessmentRow.baseline == baseline,
        )
    ).first()
    return None if row is None else read_assessment(row.payload)


@dataclass(frozen=True)
class SourceStatus:
    name: str
    documents: int
    last_run: dt.datetime | None
    last_status: str | None
    last_items: int


def source_status(session: Session) -> list[SourceStatus]:
    docs = dict(
        session.execute(
            select(Source.name, func.count(Document.id))
            .join(Document, Document.source_id == Source.id, isouter=True)
            .group_by(Source.name)
        ).all()
    )
    out = []
    for name in docs:
        run = session.scalars(
            select(CrawlRun)
            .where(CrawlRun.sources.cast(String).contains(f'"{name}"'))
            .order_by(CrawlRun.id.desc())
            .limit(1)
        ).first()
        out.append(
            SourceStatus(
                name,
                docs[name],
                run.started_at if run else None,
                run.status if run else None,
                run.items_seen if run else 0,
            )
        )
    return out


@dataclass(frozen=True)
class CrawlRunRow:
    id: int
    sources: list[str]
    started_at: dt.datetime
    finished_at: dt.datetime | None
    status: str
    items_seen: int
    documents_new: int


def _crawl_run_row(r: CrawlRun) -> CrawlRunRow:
    return CrawlRunRow(
        r.id, list(r.sources), r.started_at, r.finished_at, r.status, r.items_seen, r.documents_new
    )


def recent_crawl_runs(session: Session, limit: int = 5) -> list[CrawlRunRow]:
    """The latest crawl runs, newest first (`meiyu status`)."""
    stmt = select(CrawlRun).order_by(CrawlRun.id.desc()).limit(limit)
    return [_crawl_run_row(r) for r in session.scalars(stmt)]


def sentiment_labels(session: Session, target: str, model_id: str) -> dict[int, str]:
    """document id → label, for one indicator (target) and model."""
    stmt = select(SentimentResult.document_id, SentimentResult.label).where(
        SentimentResult.target == target, SentimentResult.model_id == model_id
    )
    return {doc: label for doc, label in session.execute(stmt)}


SLOT_SECONDS = 900  # every time zone in use today is a whole number of quarter hours off UTC


def published_slots(
    session: Session,
    language: str,
    sources: Sequence[str] | None = None,
    since: dt.datetime | None = None,
) -> list[tuple[dt.datetime, int]]:
    """Dated documents of a language counted per 15-minute UTC slot (start, count): the
    coverage denominator, grouped in the database so a million rows never reach Python."""
    if session.get_bind().dialect.name == "postgresql":
        epoch: Any = func.extract("epoch", Document.published_at)
        slot: Any = cast(func.floor(epoch / SLOT_SECONDS), Integer).label("slot")
    else:  # SQLite keeps naive UTC text; integer division floors (times after 1970)
        epoch = cast(func.strftime("%s", Document.published_at), Integer)
        slot = (epoch / SLOT_SECONDS).label("slot")
    stmt = (
        select(slot, func.count())
        .join(Source, Source.id == Document.source_id)
        .where(Document.language == language, Document.published_at.is_not(None))
        .group_by(slot)
    )
    if sources is not None:
        stmt = stmt.where(Source.name.in_(sources))
    if since is not None:
        stmt = stmt.where(Document.published_at >= since)
    origin = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return [
        (origin + dt.timedelta(seconds=int(n) * SLOT_SECONDS), int(count))
        for n, count in session.execute(stmt)
    ]


@dataclass(frozen=True)
class ProbeRow:
    source: str
    query: str
    window_start: dt.datetime
    window_end: dt.datetime
    reported_total: int


def volume_probes(session: Session, indicator: str) -> list[ProbeRow]:
    """What the search engines said they hold for the indicator's queries, per window."""
    stmt = select(
        VolumeProbe.source,
        VolumeProbe.query,
        VolumeProbe.window_start,
        VolumeProbe.window_end,
        VolumeProbe.reported_total,
    ).where(VolumeProbe.indicator == indicator)
    return [ProbeRow(*r) for r in session.execute(stmt)]


@dataclass(frozen=True)
class ScoredRow:
    document_id: int
    title: str
    url: str
    outlet: str | None
    published_at: dt.datetime
    label: str
    probabilities: dict[str, Any]
    evidence: str | None


def scored_documents(
    session: Session, indicator: str, model_id: str, start: dt.datetime, end: dt.datetime
) -> list[ScoredRow]:
    """Relevant items of an indicator published in [start, end) with their sentiment result."""
    columns = select(
        Document.id,
        Document.title,
        Document.url,
        Document.outlet,
        Document.published_at,
        SentimentResult.label,
        SentimentResult.probabilities,
        SentimentResult.evidence,
    )
    stmt = (
        scored_relevant(columns, indicator, model_id)
        .where(Document.published_at >= start, Document.published_at < end)
        .order_by(Document.published_at, Document.id)
    )
    return [ScoredRow(*r) for r in session.execute(stmt)]


@dataclass(frozen=True)
class SourceDocuments:
    source: str
    documents: int  # dated documents published in the window
    full_text: int  # of them, text from the article page (not only the feed summary)


def documents_by_source(
    session: Session, start: dt.datetime, end: dt.datetime
) -> dict[str, SourceDocuments]:
    """Per source, the documents published in [start, end): how complete a month's crawl is."""
    full = func.sum(case((Document.text_origin == "article", 1), else_=0))
    stmt = (
        select(Source.name, func.count(Document.id), full)
        .join(Document, Document.source_id == Source.id)
        .where(Document.published_at >= start, Document.published_at < end)
        .group_by(Source.name)
    )
    return {n: SourceDocuments(n, int(c), int(f or 0)) for n, c, f in session.execute(stmt)}


def crawl_runs_between(session: Session, start: dt.datetime, end: dt.datetime) -> list[CrawlRunRow]:
    """Crawl runs started in [start, end), oldest first."""
    stmt = (
        select(CrawlRun)
        .where(CrawlRun.started_at >= start, CrawlRun.started_at < end)
        .order_by(CrawlRun.id)
    )
    return [_crawl_run_row(r) for r in session.scalars(stmt)]


@dataclass(frozen=True)
class SourceRow:
    name: str
    kind: str
    language: str
    outlet: str


def stored_sources(session: Session) -> list[SourceRow]:
    """Every source that has stored something, as it was configured when it did."""
    stmt = select(Source.name, Source.kind, Source.language, Source.outlet).order_by(Source.name)
    return [SourceRow(*r) for r in session.execute(stmt)]


def series_version(session: Session) -> tuple[Any, ...]:
    """What changes whenever the stored series, the plan's stored verdicts or the alerts do (a
    row written, rewritten or removed; an alert raised or extended; not a delivery, which no
    cached page shows): a cache of anything computed from them is current while this is."""
    return (
        *session.execute(
            select(func.count(), func.max(IndicatorValue.id), func.max(IndicatorValue.computed_at))
        ).one(),
        *session.execute(
            select(func.count(), func.max(AssessmentRow.id), func.max(AssessmentRow.computed_at))
        ).one(),
        # an episode that grew is rewritten in place (storage.alerts.save_alert): its end, its
        # observed figure and its message change with it
        *session.execute(
            select(
                func.count(),
                func.max(Alert.id),
                func.max(Alert.period_end),
                func.sum(Alert.observed),
                func.sum(func.length(Alert.message)),
            )
        ).one(),
    )
