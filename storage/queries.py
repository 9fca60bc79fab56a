"""Read queries used by the batch stages and the reports (typed rows out, no ORM leaks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from storage.models import (
    CrawlRun,
    Document,
    IndicatorMatch,
    IndicatorValue,
    SentimentResult,
    Source,
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
    details: dict[str, object]


def _story_key() -> Any:
    """A document's story: its reprint cluster, or its exact content hash before clustering."""
    return func.coalesce(cast(Document.cluster_id, String), Document.content_hash)


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


def matched_documents(session: Session, indicator: str) -> list[MatchedRow]:
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
            v.period, v.value, v.n_items, v.n_stories, v.definition_version, dict(v.details)
        )
        for v in session.scalars(stmt)
    }


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


def sentiment_labels(session: Session, target: str, model_id: str) -> dict[int, str]:
    """document id → label, for one indicator (target) and model."""
    stmt = select(SentimentResult.document_id, SentimentResult.label).where(
        SentimentResult.target == target, SentimentResult.model_id == model_id
    )
    return {doc: label for doc, label in session.execute(stmt)}
