"""Read side of `meiyu export`: one row per document with everything stored about it, streamed.

The documents come from one query read in partitions (`yield_per`: a server-side cursor on
PostgreSQL, a lazily stepped statement on SQLite); each partition's mentions, matches and
sentiment are fetched by id, so memory stays at one partition whatever the row count.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from storage.models import CrawlRun, Document, IndicatorMatch, Mention, SentimentResult, Source

# Every stored field of a document, its source, and where it was found (mentions).
DOCUMENT_COLUMNS = (
    "document_id",
    "url",
    "source",
    "source_kind",
    "outlet",
    "language",
    "title",
    "text",
    "published_at",
    "fetched_at",
    "content_hash",
    "feed_url",
    "text_origin",
    "crawl_run_id",
    "cluster_id",
    "mentions",
)
MENTION_FIELDS = ("source", "indicator", "query", "snippet", "found_at")
# One indicator's decision about a document and its sentiment under the current model: flat
# columns with --indicator, else a list of these under "indicators".
MATCH_FIELDS = (
    "indicator",
    "definition_version",
    "terms",
    "literal",
    "relevant",
    "sentiment_model",
    "sentiment_label",
    "sentiment_score",
    "sentiment_probabilities",
    "sentiment_evidence",
)
SENTIMENT_CLASSES = ("negative", "neutral", "positive")

Row = dict[str, Any]
S = TypeVar("S", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class ExportFilter:
    """Which documents: an indicator's matches (else all), sources, language, published window."""

    indicator: str | None = None
    sources: tuple[str, ...] = ()
    language: str | None = None
    start: dt.datetime | None = None  # inclusive, aware
    end: dt.datetime | None = None  # exclusive, aware


def columns(indicator: str | None, with_html: bool = False) -> list[str]:
    cols = list(DOCUMENT_COLUMNS) + (list(MATCH_FIELDS) if indicator else ["indicators"])
    return cols + (["html"] if with_html else [])


def _documents(f: ExportFilter) -> Select[*tuple[Any, ...]]:
    stmt = select(
        Document.id,
        Document.url,
        Source.name,
        Source.kind,
        Document.outlet,
        Document.language,
        Document.title,
        Document.text,
        Document.published_at,
        Document.fetched_at,
        Document.content_hash,
        Document.feed_url,
        Document.text_origin,
        Document.crawl_run_id,
        Document.cluster_id,
    ).join(Source, Source.id == Document.source_id)
    return _filtered(stmt, f)


def _filtered(stmt: S, f: ExportFilter) -> S:
    if f.indicator is not None:
        stmt = stmt.join(
            IndicatorMatch,
            and_(
                IndicatorMatch.document_id == Document.id, IndicatorMatch.indicator == f.indicator
            ),
        )
    if f.sources:
        stmt = stmt.where(Source.name.in_(f.sources))
    if f.language is not None:
        stmt = stmt.where(Document.language == f.language)
    if f.start is not None:
        stmt = stmt.where(Document.published_at >= f.start)
    if f.end is not None:
        stmt = stmt.where(Document.published_at < f.end)
    return stmt


def count_rows(session: Session, f: ExportFilter) -> int:
    stmt = select(func.count(Document.id)).join(Source, Source.id == Document.source_id)
    return session.scalar(_filtered(stmt, f)) or 0


def source_outlets(session: Session) -> dict[str, str]:
    """Every stored source's name and outlet (also those no longer in the config)."""
    rows = session.execute(select(Source.name, Source.outlet).order_by(Source.name))
    return {name: outlet for name, outlet in rows}


def iter_batches(
    session: Session, f: ExportFilter, models: dict[str, str], batch: int = 5000
) -> Iterator[list[Row]]:
    """Rows in document-id order, `batch` at a time. `models`: indicator → the model id whose
    sentiment is exported (the current one; results of older models are left out)."""
    # Core rows, not ORM ones: half the cost per row, and the same streaming.
    conn = session.connection()
    result = conn.execute(_documents(f).order_by(Document.id).execution_options(yield_per=batch))
    for part in result.partitions():
        ids = [r[0] for r in part]
        mentions = _mentions(conn, ids)
        matches = _matches(conn, ids, f.indicator, models)
        rows = []
        for r in part:
            row: Row = {
                "document_id": r[0],
                "url": r[1],
                "source": r[2],
                "source_kind": r[3],
                "outlet": r[4],
                "language": r[5],
                "title": r[6],
                "text": r[7],
                "published_at": r[8],
                "fetched_at": r[9],
                "content_hash": r[10],
                "feed_url": r[11],
                "text_origin": r[12],
                "crawl_run_id": r[13],
                "cluster_id": r[14],
                "mentions": mentions.get(r[0], []),
            }
            if f.indicator is None:
                row["indicators"] = matches.get(r[0], [])
            else:
                row.update(matches[r[0]][0])
            rows.append(row)
        yield rows


def _among(column: Any, ids: Sequence[int]) -> Any:
    """The batch's ids (ascending): a range when they are dense (a full export; cheap to compile
    and to look up), else the list (a sparse filter would drag in the rows between)."""
    if ids and ids[-1] - ids[0] < 2 * len(ids):
        return column.between(ids[0], ids[-1])
    return column.in_(ids)


def _mentions(conn: Connection, ids: Sequence[int]) -> dict[int, list[Row]]:
    out: dict[int, list[Row]] = defaultdict(list)
    stmt = (
        select(
            Mention.document_id,
            Mention.source,
            Mention.indicator,
            Mention.query,
            Mention.snippet,
            Mention.found_at,
        )
        .where(_among(Mention.document_id, ids))
        .order_by(Mention.document_id, Mention.id)
    )
    for doc_id, *values in conn.execute(stmt):
        out[doc_id].append(dict(zip(MENTION_FIELDS, values, strict=True)))
    return out


def _matches(
    conn: Connection, ids: Sequence[int], indicator: str | None, models: dict[str, str]
) -> dict[int, list[Row]]:
    stmt = (
        select(
            IndicatorMatch.document_id,
            IndicatorMatch.indicator,
            IndicatorMatch.definition_version,
            IndicatorMatch.terms,
            IndicatorMatch.literal,
            IndicatorMatch.relevant,
        )
        .where(_among(IndicatorMatch.document_id, ids))
        .order_by(IndicatorMatch.document_id, IndicatorMatch.indicator)
    )
    if indicator is not None:
        stmt = stmt.where(IndicatorMatch.indicator == indicator)
    wanted = {k: m for k, m in models.items() if indicator in (None, k)}
    scores = _sentiments(conn, ids, wanted)
    out: dict[int, list[Row]] = defaultdict(list)
    for doc_id, key, version, terms, literal, relevant in conn.execute(stmt):
        s = scores.get((doc_id, key))
        out[doc_id].append(
            {
                "indicator": key,
                "definition_version": version,
                "terms": list(terms or []),
                "literal": literal,
                "relevant": relevant,
                "sentiment_model": wanted.get(key) if s else None,
                "sentiment_label": s[0] if s else None,
                "sentiment_score": s[1] if s else None,
                "sentiment_probabilities": s[2] if s else None,
                "sentiment_evidence": s[3] if s else None,
            }
        )
    return out


def _sentiments(
    conn: Connection, ids: Sequence[int], models: dict[str, str]
) -> dict[tuple[int, str], tuple[str, float, dict[str, float | None], str | None]]:
    if not models:
        return {}
    stmt = select(
        SentimentResult.document_id,
        SentimentResult.target,
        SentimentResult.label,
        SentimentResult.score,
        SentimentResult.probabilities,
        SentimentResult.evidence,
    ).where(
        _among(SentimentResult.document_id, ids),
        or_(
            *(
                and_(SentimentResult.target == key, SentimentResult.model_id == mid)
                for key, mid in models.items()
            )
        ),
    )
    out = {}
    for doc_id, target, label, score, probs, evidence in conn.execute(stmt):
        probs = probs or {}
        classes = {c: (float(probs[c]) if c in probs else None) for c in SENTIMENT_CLASSES}
        out[(doc_id, target)] = (label, score, classes, evidence)
    return out


@dataclass
class CrawlHistory:
    """What the crawl runs say about collection: how many, when, and which sources failed."""

    runs: int = 0
    first_started: dt.datetime | None = None
    last_finished: dt.datetime | None = None
    by_status: dict[str, int] = field(default_factory=dict)
    # source name → (runs that failed or were partial, first error line)
    troubled: dict[str, tuple[int, str]] = field(default_factory=dict)


def crawl_history(session: Session) -> CrawlHistory:
    h = CrawlHistory()
    for status, n, first, last in session.execute(
        select(
            CrawlRun.status,
            func.count(CrawlRun.id),
            func.min(CrawlRun.started_at),
            func.max(CrawlRun.finished_at),
        ).group_by(CrawlRun.status)
    ):
        h.by_status[status] = n
        h.runs += n
        h.first_started = min(filter(None, (h.first_started, first)), default=None)
        h.last_finished = max(filter(None, (h.last_finished, last)), default=None)
    stmt = (
        select(CrawlRun.sources, CrawlRun.errors)
        .where(CrawlRun.status.in_(("partial", "failed")))
        .order_by(CrawlRun.id)
    )
    for sources, errors in session.execute(stmt.execution_options(yield_per=500)):
        for name in sources or []:
            n, first_error = h.troubled.get(name, (0, ""))
            h.troubled[name] = (n + 1, first_error or next(iter(errors or []), ""))
    return h
