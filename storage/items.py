"""The dashboard's item reads: a filtered, paged list of documents and one document's detail
(its cluster, the mentions that found it, its scores). Filters are bound parameters only; the
free-text search is a LIKE with its own metacharacters escaped, so `%` finds a literal `%`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from storage.models import Document, IndicatorMatch, Mention, SentimentResult, Source

PAGE_SIZE = 50
# Counting every match of a broad filter costs more than the page itself on a large database:
# the list counts up to this many and then says "more than" (ItemPage.total_capped).
COUNT_CAP = 10_000
TRIGRAM = 3
MatchKind = Literal["any", "literal", "relevant"]


@dataclass(frozen=True)
class ItemFilter:
    """What the list is narrowed to; None (or "any") leaves a field out."""

    indicator: str | None = None
    start: dt.datetime | None = None  # UTC bounds of the period, [start, end)
    end: dt.datetime | None = None
    source: str | None = None
    language: str | None = None
    label: str | None = None  # sentiment label for the indicator (and model_id when given)
    model_id: str | None = None
    match: MatchKind = "any"
    cluster: int | None = None
    search: str | None = None  # a substring of the title


@dataclass(frozen=True)
class ItemListRow:
    id: int
    title: str
    url: str
    source: str
    outlet: str | None
    language: str
    published_at: dt.datetime | None
    cluster_id: int | None


@dataclass(frozen=True)
class ItemPage:
    rows: list[ItemListRow]
    total: int  # the count, or COUNT_CAP + 1 when there are more (total_capped)
    page: int
    page_size: int
    total_capped: bool = False


@dataclass(frozen=True)
class MentionRow:
    source: str
    indicator: str
    query: str
    found_at: dt.datetime


@dataclass(frozen=True)
class MatchInfo:
    indicator: str
    terms: list[str]
    literal: bool
    relevant: bool


@dataclass(frozen=True)
class SentimentRow:
    target: str
    model_id: str
    label: str
    score: float
    probabilities: dict[str, Any]
    evidence: str | None


@dataclass(frozen=True)
class ItemDetail:
    id: int
    title: str
    url: str
    source: str
    outlet: str | None
    language: str
    published_at: dt.datetime | None
    fetched_at: dt.datetime
    text_origin: str
    cluster_id: int | None
    cluster_others: int  # other documents of the same reprint cluster
    mentions: list[MentionRow] = field(default_factory=list)
    matches: list[MatchInfo] = field(default_factory=list)
    sentiment: list[SentimentRow] = field(default_factory=list)


def like_pattern(text: str) -> str:
    """`text` as a LIKE pattern matching it literally anywhere (escape character `\\`)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(f: ItemFilter) -> list[Any]:
    conds: list[Any] = []
    if f.indicator is not None or f.match != "any":
        match = IndicatorMatch.document_id == Document.id
        sub = select(IndicatorMatch.id).where(match)
        if f.indicator is not None:
            sub = sub.where(IndicatorMatch.indicator == f.indicator)
        if f.match == "literal":
            sub = sub.where(IndicatorMatch.literal.is_(True))
        elif f.match == "relevant":
            sub = sub.where(IndicatorMatch.relevant.is_(True))
        conds.append(exists(sub))
    if f.label is not None:
        sub = select(SentimentResult.id).where(
            SentimentResult.document_id == Document.id, SentimentResult.label == f.label
        )
        if f.indicator is not None:
            sub = sub.where(SentimentResult.target == f.indicator)
        if f.model_id is not None:
            sub = sub.where(SentimentResult.model_id == f.model_id)
        conds.append(exists(sub))
    if f.start is not None:
        conds.append(Document.published_at >= f.start)
    if f.end is not None:
        conds.append(Document.published_at < f.end)
    if f.source is not None:
        conds.append(Source.name == f.source)
    if f.language is not None:
        conds.append(Document.language == f.language)
    if f.cluster is not None:
        conds.append(Document.cluster_id == f.cluster)
    if f.search:
        # PostgreSQL's trigram index (migration 0009) serves three characters or more; a
        # shorter pattern has no trigram, and the index would be read whole, slower than the
        # table: `title || ''` keeps the planner off it.
        title = Document.title if len(f.search) >= TRIGRAM else Document.title.concat("")
        conds.append(title.like(like_pattern(f.search), escape="\\"))
    return conds


def list_items(
    session: Session,
    f: ItemFilter,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    count_cap: int = COUNT_CAP,
) -> ItemPage:
    """One page of the documents `f` selects, newest first (undated last), with the total
    counted up to `count_cap` (beyond it, total is count_cap + 1 and total_capped is set).

    Two steps, so that the sort reads only the narrow (id, published_at, source_id) index
    (ix_documents_listing) and the wide columns are fetched for the page's 50 rows alone; the
    sources table is joined only when the filter names a source."""
    conds = _where(f)
    ids = select(Document.id)
    if f.source is not None:
        ids = ids.join(Source, Source.id == Document.source_id)
    ids = ids.where(*conds)
    counted = session.scalar(select(func.count()).select_from(ids.limit(count_cap + 1).subquery()))
    total = int(counted or 0)
    order = (Document.published_at.desc().nulls_last(), Document.id.desc())
    chosen = ids.order_by(*order).limit(page_size).offset((page - 1) * page_size).subquery()
    stmt = (
        select(
            Document.id,
            Document.title,
            Document.url,
            Source.name,
            Document.outlet,
            Document.language,
            Document.published_at,
            Document.cluster_id,
        )
        .join(chosen, chosen.c.id == Document.id)
        .join(Source, Source.id == Document.source_id)
        .order_by(*order)
    )
    rows = [ItemListRow(*r) for r in session.execute(stmt)]
    return ItemPage(rows, total, page, page_size, total > count_cap)


def item_detail(session: Session, document_id: int) -> ItemDetail | None:
    """Everything stored about one document, or None when there is no such id."""
    row = session.execute(
        select(Document, Source.name)
        .join(Source, Source.id == Document.source_id)
        .where(Document.id == document_id)
    ).first()
    if row is None:
        return None
    doc, source = row
    others = 0
    if doc.cluster_id is not None:
        others = (
            session.scalar(
                select(func.count(Document.id)).where(
                    Document.cluster_id == doc.cluster_id, Document.id != doc.id
                )
            )
            or 0
        )
    mentions = [
        MentionRow(*r)
        for r in session.execute(
            select(Mention.source, Mention.indicator, Mention.query, Mention.found_at)
            .where(Mention.document_id == doc.id)
            .order_by(Mention.found_at, Mention.id)
        )
    ]
    matches = [
        MatchInfo(m.indicator, list(m.terms), m.literal, m.relevant)
        for m in session.scalars(
            select(IndicatorMatch)
            .where(IndicatorMatch.document_id == doc.id)
            .order_by(IndicatorMatch.indicator)
        )
    ]
    sentiment = [
        SentimentRow(r.target, r.model_id, r.label, r.score, dict(r.probabilities), r.evidence)
        for r in session.scalars(
            select(SentimentResult)
            .where(SentimentResult.document_id == doc.id)
            .order_by(SentimentResult.target, SentimentResult.model_id)
        )
    ]
    return ItemDetail(
        doc.id,
        doc.title,
        doc.url,
        source,
        doc.outlet,
        doc.language,
        doc.published_at,
        doc.fetched_at,
        doc.text_origin,
        doc.cluster_id,
        int(others),
        mentions,
        matches,
        sentiment,
    )
