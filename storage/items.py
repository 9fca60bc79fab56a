"""The dashboard's item reads: a filtered, paged list of documents and one document's detail
(its cluster, the mentions that found it, its scores). Filters are bound parameters only; the
free-text search is a LIKE with its own metacharacters escaped, so `%` finds a literal `%`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Select, exists, func, select
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


def _match_conds(f: ItemFilter) -> list[Any]:
    """The filter's conditions on IndicatorMatch."""
    conds: list[Any] = []
    if f.indicator is not None:
        conds.append(IndicatorMatch.indicator == f.indicator)
    if f.match == "literal":
        conds.append(IndicatorMatch.literal.is_(True))
    elif f.match == "relevant":
        conds.append(IndicatorMatch.relevant.is_(True))
    return conds


def _label_conds(f: ItemFilter, doc_id: Any) -> list[Any]:
    """The sentiment label the filter asks for, of the document `doc_id` names."""
    if f.label is None:
        return []
    sub = select(SentimentResult.id).where(
        SentimentResult.document_id == doc_id, SentimentResult.label == f.label
    )
    if f.indicator is not None:
        sub = sub.where(SentimentResult.target == f.indicator)
    if f.model_id is not None:
        sub = sub.where(SentimentResult.model_id == f.model_id)
    return [exists(sub)]


def _document_conds(f: ItemFilter) -> list[Any]:
    """The filter's conditions on the columns of documents (the period apart: the caller knows
    which copy of the date it reads)."""
    conds: list[Any] = []
    if f.source is not None:
        source_id = select(Source.id).where(Source.name == f.source).scalar_subquery()
        conds.append(Document.source_id == source_id)
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


def _period(published: Any, f: ItemFilter) -> list[Any]:
    conds: list[Any] = []
    if f.start is not None:
        conds.append(published >= f.start)
    if f.end is not None:
        conds.append(published < f.end)
    return conds


@dataclass(frozen=True)
class _Listing:
    """The ids a filter selects, with the date they are paged by (columns id, published);
    indexed: whether every condition is in the ordered index, so that the page and the capped
    count each cost one short index range."""

    ids: Select[int, dt.datetime | None]
    indexed: bool


def _newest_first(sub: Any) -> tuple[Any, ...]:
    """The list's order, on a subquery of a _Listing's ids."""
    return (sub.c.published.desc().nulls_last(), sub.c.id.desc())


def _listing(f: ItemFilter) -> _Listing:
    """With an indicator, the walk starts from its matches: their copy of the date and the
    ordered index of migration 0010 give the page from one index range, and the documents are
    read only for conditions on their own columns. Without one, the documents are walked newest
    first through ix_documents_recent (PostgreSQL) / ix_documents_listing."""
    if f.indicator is not None:
        doc_id = IndicatorMatch.document_id
        label = _label_conds(f, doc_id)
        ids = select(doc_id.label("id"), IndicatorMatch.published_at.label("published")).where(
            *_match_conds(f), *_period(IndicatorMatch.published_at, f), *label
        )
        doc_conds = _document_conds(f)
        if doc_conds:
            ids = ids.join(Document, Document.id == doc_id).where(*doc_conds)
        return _Listing(ids, indexed=not doc_conds and not label)
    conds = [
        *_document_conds(f),
        *_period(Document.published_at, f),
        *_label_conds(f, Document.id),
    ]
    if f.match != "any":  # by any indicator's match
        match = IndicatorMatch.document_id == Document.id
        conds.append(exists(select(IndicatorMatch.id).where(match, *_match_conds(f))))
    ids = select(Document.id.label("id"), Document.published_at.label("published")).where(*conds)
    return _Listing(ids, indexed=not conds)


def _page_ids(
    session: Session, listing: _Listing, offset: int, page_size: int, count_cap: int
) -> tuple[list[int], int]:
    """The page's ids in order, and the count up to count_cap + 1.

    A filter the ordered index does not hold (a search, a label, a source…) is first read
    once, up to count_cap + 1 rows, counted and paged in the same query: when it has no more
    than count_cap rows that is the whole answer (one scan of the trigram index instead of two,
    for a search). Otherwise, as for an indexed filter, the count stops at the cap and the page
    is the newest-first walk."""
    limited = listing.ids.limit(count_cap + 1).subquery()
    total: int | None = None
    if not listing.indexed:
        rows = session.execute(
            select(limited.c.id, func.count().over())
            .order_by(*_newest_first(limited))
            .limit(page_size)
            .offset(offset)
        ).all()
        if rows:
            total = int(rows[0][1])
            if total <= count_cap:
                return [int(r[0]) for r in rows], total
    if total is None:
        total = int(session.scalar(select(func.count()).select_from(limited)) or 0)
    if offset >= total and total <= count_cap:  # past the end (a capped count has no end)
        return [], total
    walk = listing.ids.subquery()
    chosen = select(walk.c.id).order_by(*_newest_first(walk)).limit(page_size).offset(offset)
    return [int(i) for i in session.scalars(chosen)], total


def list_items(
    session: Session,
    f: ItemFilter,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    count_cap: int = COUNT_CAP,
) -> ItemPage:
    """One page of the documents `f` selects, newest first (undated last), with the total
    counted up to `count_cap` (beyond it, total is count_cap + 1 and total_capped is set).

    Two steps, so that the sort reads only a narrow index (see _listing, _page_ids) and the
    wide columns are fetched for the page's rows alone."""
    ids, total = _page_ids(session, _listing(f), (page - 1) * page_size, page_size, count_cap)
    rows: list[ItemListRow] = []
    if ids:
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
            .join(Source, Source.id == Document.source_id)
            .where(Document.id.in_(ids))
        )
        found = {r[0]: ItemListRow(*r) for r in session.execute(stmt)}
        rows = [found[i] for i in ids if i in found]
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
