"""ORM models: one table per thing the pipeline produces, keyed so that re-runs upsert."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (no tz type) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: meiyu stores aware datetimes only")
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(8))
    outlet: Mapped[str] = mapped_column(String(200))


class CrawlRun(Base):
    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|ok|partial|failed
    sources: Mapped[list[str]] = mapped_column(default=list)
    pages_fetched: Mapped[int] = mapped_column(default=0)
    items_seen: Mapped[int] = mapped_column(default=0)
    documents_new: Mapped[int] = mapped_column(default=0)
    documents_updated: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[str]] = mapped_column(default=list)
    # requests, responses by status, 429s, timeouts, anti-bot pages, parse errors, duration …
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)  # canonical URL
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    outlet: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    published_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    fetched_at: Mapped[dt.datetime]
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    feed_url: Mapped[str | None] = mapped_column(String(2000))
    # "article" when the page text was extracted, "feed" when only the feed summary was usable.
    text_origin: Mapped[str] = mapped_column(String(16), default="article")
    crawl_run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id"))
    # Reprint cluster: the smallest document id of the story's near-duplicates (itself if alone).
    cluster_id: Mapped[int | None] = mapped_column(index=True)

    # The items list (storage/items.list_items) sorts a filter's documents (an indicator's
    # matches) newest first with this narrow index, without reading their wide rows. PostgreSQL
    # also has, from migration 0009 alone (SQLite has no such index types), one in the list's
    # order (published_at DESC NULLS LAST, id DESC) and a trigram index on title for the search.
    __table_args__ = (Index("ix_documents_listing", "id", "published_at", "source_id"),)


class Mention(Base):
    """Which source found a document, for which indicator query (a search hit, a feed entry)."""

    __tablename__ = "mentions"
    __table_args__ = (UniqueConstraint("document_id", "source", "query"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(100))
    indicator: Mapped[str] = mapped_column(String(40), default="")  # "" for feed entries
    query: Mapped[str] = mapped_column(String(500), default="")
    snippet: Mapped[str] = mapped_column(Text, default="")
    found_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class IndicatorMatch(Base):
    __tablename__ = "indicator_matches"
    __table_args__ = (UniqueConstraint("indicator", "document_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator: Mapped[str] = mapped_column(String(40))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    terms: Mapped[list[str]] = mapped_column(default=list)
    definition_version: Mapped[str] = mapped_column(String(40))
    matched_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The plan's literal definition holds (all terms present) …
    literal: Mapped[bool] = mapped_column(default=True)
    # … and the text speaks of the place and topic (nlp.relevance); a Korean text naming the
    # city only by the ambiguous 위해 is relevant without being literal.
    relevant: Mapped[bool] = mapped_column(default=True)
    # A copy of the document's published_at (storage.writes keeps it equal), so that the items
    # list of one indicator reads, newest first, one range of the ordered index that migration
    # 0010 creates per dialect: (indicator, published_at DESC [NULLS LAST], document_id DESC).
    published_at: Mapped[dt.datetime | None]


class SentimentResult(Base):
    __tablename__ = "sentiment_results"
    __table_args__ = (UniqueConstraint("document_id", "model_id", "target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(
        String(100), default=""
    )  # e.g. the entity the score is about
    label: Mapped[str] = mapped_column(String(16))  # positive|neutral|negative
    score: Mapped[float] = mapped_column(Float)
    probabilities: Mapped[dict[str, Any]] = mapped_column(default=dict)
    evidence: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class VolumeProbe(Base):
    """A search engine's own reported hit count for a query and time window."""

    __tablename__ = "volume_probes"
    __table_args__ = (UniqueConstraint("source", "query", "window_start", "window_end"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    indicator: Mapped[str | None] = mapped_column(String(40))
    query: Mapped[str] = mapped_column(String(500))
    window_start: Mapped[dt.datetime]
    window_end: Mapped[dt.datetime]
    reported_total: Mapped[int]
    probed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class IndicatorValue(Base):
    __tablename__ = "indicator_values"
    __table_args__ = (
        UniqueConstraint("indicator", "period_type", "period", "definition_version"),
        Index("ix_indicator_values_lookup", "indicator", "period_type", "period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator: Mapped[str] = mapped_column(String(40))
    period_type: Mapped[str] = mapped_column(String(10))  # month (later: day, week, quarter, year)
    period: Mapped[str] = mapped_column(String(10))  # e.g. 2023-12
    definition_version: Mapped[str] = mapped_column(String(40))
    value: Mapped[float | None] = mapped_column(Float)  # None: not computable yet (no sentiment)
    n_items: Mapped[int]
    n_stories: Mapped[int]
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AssessmentRow(Base):
    """The plan's test of one month or year against the baseline, as `compute` stored it
    (kernel.values.StoredAssessment as JSON, validated when read)."""

    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("indicator", "definition_version", "period", "baseline"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    indicator: Mapped[str] = mapped_column(String(40))
    definition_version: Mapped[str] = mapped_column(String(40))
    period: Mapped[str] = mapped_column(String(10))  # YYYY-MM or YYYY
    baseline: Mapped[str] = mapped_column(String(10))
    verdict: Mapped[str | None] = mapped_column(String(20))  # None: could not be tested
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class JobRun(Base):
    """One firing of a scheduled job. The unique (job_id, slot) row is the lock: of two
    schedulers on one database, only the one that inserts it runs that firing."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job_id", "slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(100))
    slot: Mapped[dt.datetime]  # the scheduled fire time this run stands for
    holder: Mapped[str] = mapped_column(String(200), default="")  # host:pid of the scheduler
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(
        String(20), default="running"
    )  # queued|running|ok|failed|abandoned
    # step, done, total, message: what the running job says it is doing (`meiyu status`)
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class Alert(Base):
    """An early warning (舆情预警): one episode of an unusual day, keyed so re-detection
    finds the same row instead of raising the alert again."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("rule", "indicator", "period_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(String(40))  # negative_spike | share_drop | volume_surge
    indicator: Mapped[str] = mapped_column(String(40))
    period_start: Mapped[str] = mapped_column(String(10))  # local day (or ISO week) it began
    period_end: Mapped[str] = mapped_column(String(10))
    observed: Mapped[float] = mapped_column(Float)  # what was seen (count or share)
    expected: Mapped[float] = mapped_column(Float)  # what the trailing window led to expect
    p_value: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text)  # the Chinese text sent to the channels
    # the items that caused it: [{"document_id", "url", "title", "published_at", "label"}]
    items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    detected_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # per channel name: {"status": "sent"|"failed", "at": iso time, "error": one line}
    deliveries: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuditLabel(Base):
    """A person's label for an item, from an audit file (`meiyu audit import`). Kept beside the
    model's result, never over it: the pair is what the model's in-domain errors are measured on.
    One row per item, indicator and annotator; a corrected label from the same person updates it.
    """

    __tablename__ = "audit_labels"
    __table_args__ = (
        UniqueConstraint("document_id", "indicator", "annotator"),
        Index("ix_audit_labels_indicator", "indicator"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    indicator: Mapped[str] = mapped_column(String(40))
    model_id: Mapped[str] = mapped_column(String(200))  # the model whose label was shown
    model_label: Mapped[str] = mapped_column(String(16))  # the label shown
    human_label: Mapped[str] = mapped_column(String(16))  # positive|neutral|negative
    annotator: Mapped[str] = mapped_column(String(100))
    labelled_at: Mapped[dt.datetime] = mapped_column(default=utcnow)  # when this label was stored
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)  # first import of the row
    source_file: Mapped[str] = mapped_column(String(500), default="")
    note: Mapped[str] = mapped_column(Text, default="")


class User(Base):
    """A dashboard account (`meiyu users add`). There is no default account. The password is
    stored only as the argon2 hash the web layer made; removing an account deletes the row."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # kernel.roles: viewer | analyst | admin
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2 PHC string
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """An API token for scripts (`Authorization: Bearer`), stored as the sha256 of the token:
    the plain token is shown once, when it is made. Revoked tokens are kept, so `meiyu users
    tokens` still shows them; they go with their account."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class WebSession(Base):
    """A dashboard login (migration 0008). The browser's cookie carries a random secret; the row
    is keyed by its sha256, so the table alone lets no one in. Logging out deletes the row;
    `expires_at` is checked on every request; the row goes with its account."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the secret
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))  # what this session's forms must carry
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
