"""Read queries used by the batch stages and the reports (typed rows out, no ORM leaks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Document, IndicatorMatch, IndicatorValue, Source


@dataclass(frozen=True)
class TextRow:
    id: int
    title: str
    text: str


@dataclass(frozen=True)
class MatchedRow:
    document_id: int
    published_at: dt.datetime | None
    content_hash: str
    source: str


@dataclass(frozen=True)
class ItemRow:
    document_id: int
    title: str
    url: str
    outlet: str | None
    source: str
    published_at: dt.datetime | None
    terms: list[str]
    content_hash: str


@dataclass(frozen=True)
class ValueRow:
    period: str
    value: float | None
    n_items: int
    n_stories: int
    definition_version: str
    details: dict[str, object]


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
        select(Document.id, Document.published_at, Document.content_hash, Source.name)
        .join(IndicatorMatch, IndicatorMatch.document_id == Document.id)
        .join(Source, Source.id == Document.source_id)
        .where(IndicatorMatch.indicator == indicator)
    )
    return [MatchedRow(r[0], r[1], r[2], r[3]) for r in session.execute(stmt)]


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
            Document.content_hash,
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
