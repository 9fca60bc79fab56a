"""Idempotent writes: every re-run of a stage upserts, so nothing is ever duplicated."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kernel.values import StoredAssessment, ValueDetails, to_stored
from storage.models import (
    AssessmentRow,
    CrawlRun,
    Document,
    IndicatorMatch,
    IndicatorValue,
    Mention,
    SentimentResult,
    Source,
    VolumeProbe,
    utcnow,
)


@dataclass(frozen=True)
class DocumentRecord:
    """A normalised document, ready to store (the pipelines' output)."""

    url: str
    source: str
    outlet: str | None
    title: str
    text: str
    language: str
    published_at: dt.datetime | None
    fetched_at: dt.datetime
    content_hash: str
    feed_url: str | None = None
    text_origin: str = "article"
    indicator: str = ""  # provenance: the indicator query that found it ("" for feeds)
    query: str = ""
    snippet: str = ""
    link: str = ""  # the link as found, before redirects and rel=canonical


@dataclass(frozen=True)
class MatchRecord:
    document_id: int
    terms: list[str]
    literal: bool = True
    relevant: bool = True


@dataclass(frozen=True)
class ValueRecord:
    indicator: str
    period_type: str
    period: str
    definition_version: str
    value: float | None
    n_items: int
    n_stories: int
    details: ValueDetails


def _insert(session: Session, table: Any) -> Any:
    """The dialect's INSERT, which has .on_conflict_do_update/.on_conflict_do_nothing."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts are written for SQLite and PostgreSQL, not {name}")


def ensure_source(session: Session, name: str, kind: str, language: str, outlet: str) -> int:
    stmt = _insert(session, Source).values(name=name, kind=kind, language=language, outlet=outlet)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"], set_={"kind": kind, "language": language, "outlet": outlet}
    )
    session.execute(stmt)
    return session.scalars(select(Source.id).where(Source.name == name)).one()


UpsertOutcome = Literal["new", "updated", "unchanged"]


def upsert_document(
    session: Session, doc: DocumentRecord, source_id: int, crawl_run_id: int | None
) -> tuple[UpsertOutcome, int]:
    """Insert by canonical URL, or update when the content changed; never a second row."""
    existing = session.execute(
        select(Document.id, Document.content_hash, Document.published_at).where(
            Document.url == doc.url
        )
    ).first()
    if existing is not None and existing.content_hash == doc.content_hash:
        return "unchanged", existing.id
    values = {
        "url": doc.url,
        "source_id": source_id,
        "outlet": doc.outlet,
        "title": doc.title,
        "text": doc.text,
        "language": doc.language,
        "published_at": doc.published_at,
        "fetched_at": doc.fetched_at,
        "content_hash": doc.content_hash,
        "feed_url": doc.feed_url,
        "text_origin": doc.text_origin,
        "crawl_run_id": crawl_run_id,
    }
    stmt = _insert(session, Document).values(**values)
    changed = {k: stmt.excluded[k] for k in values if k != "url"}
    stmt = stmt.on_conflict_do_update(index_elements=["url"], set_=changed)
    doc_id = session.execute(stmt.returning(Document.id)).scalar_one()
    if existing is not None and existing.published_at != doc.published_at:
        # its matches keep a copy of the date
        session.execute(
            update(IndicatorMatch)
            .where(IndicatorMatch.document_id == doc_id)
            .values(published_at=doc.published_at)
            .execution_options(synchronize_session=False)
        )
    return ("new" if existing is None else "updated"), doc_id


def record_mention(
    session: Session, document_id: int, source: str, indicator: str, query: str, snippet: str
) -> None:
    """Which source (and query) found the document; the first sighting is kept."""
    stmt = _insert(session, Mention).values(
        document_id=document_id,
        source=source,
        indicator=indicator,
        query=query,
        snippet=snippet[:2000],
        found_at=utcnow(),
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["document_id", "source", "query"]))


def start_crawl_run(session: Session, sources: Sequence[str]) -> int:
    run = CrawlRun(sources=list(sources), status="running", errors=[])
    session.add(run)
    session.flush()
    return run.id


def finish_crawl_run(
    session: Session,
    run_id: int,
    *,
    status: str,
    counts: dict[str, int],
    errors: list[str],
    stats: dict[str, Any] | None = None,
) -> None:
    run = session.get_one(CrawlRun, run_id)
    run.finished_at = utcnow()
    run.status = status
    run.pages_fetched = counts.get("pages_fetched", 0)
    run.items_seen = counts.get("items_seen", 0)
    run.documents_new = counts.get("new", 0)
    run.documents_updated = counts.get("updated", 0)
    run.errors = errors[:200]
    run.stats = stats or {}


def replace_matches(
    session: Session, indicator: str, version: str, matches: Iterable[MatchRecord]
) -> int:
    """The indicator's match set becomes exactly `matches` (a recompute, not an append)."""
    session.execute(delete(IndicatorMatch).where(IndicatorMatch.indicator == indicator))
    rows = [
        {
            "indicator": indicator,
            "document_id": m.document_id,
            "terms": m.terms,
            "definition_version": version,
            "matched_at": utcnow(),
            "literal": m.literal,
            "relevant": m.relevant,
        }
        for m in matches
    ]
    if rows:
        session.execute(_insert(session, IndicatorMatch), rows)
        session.execute(
            update(IndicatorMatch)
            .where(IndicatorMatch.indicator == indicator)
            .values(published_at=_published_of(IndicatorMatch.document_id))
            .execution_options(synchronize_session=False)
        )
    return len(rows)


def _published_of(document_id: Any) -> Any:
    """The document's publication date, as a scalar subquery (IndicatorMatch.published_at is its
    copy, for the items list's index)."""
    return select(Document.published_at).where(Document.id == document_id).scalar_subquery()


def upsert_values(session: Session, values: Iterable[ValueRecord], batch: int = 1000) -> int:
    """Insert or replace by (indicator, period type, period, version), in batches."""
    now = utcnow()
    rows = [
        {
            "indicator": v.indicator,
            "period_type": v.period_type,
            "period": v.period,
            "definition_version": v.definition_version,
            "value": v.value,
            "n_items": v.n_items,
            "n_stories": v.n_stories,
            "details": to_stored(v.details),
            "computed_at": now,
        }
        for v in values
    ]
    if not rows:
        return 0
    keys = ["indicator", "period_type", "period", "definition_version"]
    stmt = _insert(session, IndicatorValue)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={k: stmt.excluded[k] for k in rows[0] if k not in keys}
    )
    for i in range(0, len(rows), batch):
        session.execute(stmt, rows[i : i + batch])
    return len(rows)


def delete_stale_values(
    session: Session,
    indicator: str,
    period_type: str,
    version: str,
    keep: set[str],
    from_period: str | None = None,
) -> None:
    """Drop periods of the current version that no longer have data (a recompute is exact);
    with from_period, only periods from that key on (keys of one type sort as they run)."""
    stmt = delete(IndicatorValue).where(
        IndicatorValue.indicator == indicator,
        IndicatorValue.period_type == period_type,
        IndicatorValue.definition_version == version,
    )
    if from_period is not None:
        stmt = stmt.where(IndicatorValue.period >= from_period)
    if keep:
        stmt = stmt.where(IndicatorValue.period.not_in(keep))
    session.execute(stmt)


def record_volume_probe(
    session: Session,
    *,
    source: str,
    indicator: str | None,
    query: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
    reported_total: int,
) -> None:
    stmt = _insert(session, VolumeProbe).values(
        source=source,
        indicator=indicator,
        query=query,
        window_start=window_start,
        window_end=window_end,
        reported_total=reported_total,
        probed_at=utcnow(),
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["source", "query", "window_start", "window_end"],
            set_={"reported_total": reported_total, "probed_at": utcnow(), "indicator": indicator},
        )
    )


def record_sentiment(
    session: Session,
    document_id: int,
    model_id: str,
    target: str,
    label: str,
    scores: dict[str, float],
    evidence: str,
) -> None:
    stmt = _insert(session, SentimentResult).values(
        document_id=document_id,
        model_id=model_id,
        target=target,
        label=label,
        score=scores.get("positive", 0.0),
        probabilities=scores,
        evidence=evidence,
        created_at=utcnow(),
    )
    session.execute(
        stmt.on_conflict_do_nothing(index_elements=["document_id", "model_id", "target"])
    )


def replace_assessments(
    session: Session, indicator: str, version: str, rows: Sequence[StoredAssessment]
) -> int:
    """The indicator's stored tests for this definition version become exactly `rows`."""
    session.execute(
        delete(AssessmentRow).where(
            AssessmentRow.indicator == indicator, AssessmentRow.definition_version == version
        )
    )
    now = utcnow()
    values = [
        {
            "indicator": r.indicator,
            "definition_version": r.definition_version,
            "period": r.period,
            "baseline": r.baseline,
            "verdict": r.assessment.verdict if r.assessment else None,
            "payload": to_stored(r, exclude_none=False),
            "computed_at": now,
        }
        for r in rows
    ]
    if values:
        session.execute(_insert(session, AssessmentRow), values)
    return len(values)
