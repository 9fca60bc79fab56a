"""Human audit labels in the database: the items an audit samples from, the facts an audit
file is checked against, and the labels themselves. Model results are read, never written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import AuditLabel, Document, IndicatorMatch, SentimentResult, Source, utcnow
from storage.queries import scored_relevant


@dataclass(frozen=True)
class Candidate:
    """A month's relevant item with the current model's result, not audited yet."""

    document_id: int
    title: str
    published_at: dt.datetime
    outlet: str | None
    source: str
    label: str
    evidence: str | None


@dataclass(frozen=True)
class AuditRecord:
    """One checked row of an audit file, ready to store."""

    document_id: int
    indicator: str
    model_id: str
    model_label: str
    human_label: str
    annotator: str
    note: str


@dataclass(frozen=True)
class LabelRow:
    document_id: int
    annotator: str
    human_label: str
    published_at: dt.datetime | None


def candidates(
    session: Session,
    indicator: str,
    model_id: str,
    start: dt.datetime,
    end: dt.datetime,
    include_audited: bool = False,
) -> list[Candidate]:
    """Relevant items published in [start, end) scored by `model_id`, without an audit label
    for the indicator (a second round of the same month adds new items), in id order.
    `include_audited` keeps the labelled ones: the dashboard labels one sample item by item,
    and the sample must not change under it with every label."""
    audited = select(AuditLabel.document_id).where(AuditLabel.indicator == indicator)
    columns = select(
        Document.id,
        Document.title,
        Document.published_at,
        Document.outlet,
        Source.name,
        SentimentResult.label,
        SentimentResult.evidence,
    )
    stmt = (
        scored_relevant(columns, indicator, model_id)
        .join(Source, Source.id == Document.source_id)
        .where(
            Document.published_at >= start,
            Document.published_at < end,
            Document.published_at.is_not(None),
        )
        .order_by(Document.id)
    )
    if not include_audited:
        stmt = stmt.where(Document.id.not_in(audited))
    return [Candidate(*r) for r in session.execute(stmt)]  # type: ignore[arg-type]


def existing_documents(session: Session, ids: Iterable[int]) -> set[int]:
    wanted = sorted(set(ids))
    found: set[int] = set()
    for i in range(0, len(wanted), 500):
        found |= set(
            session.scalars(select(Document.id).where(Document.id.in_(wanted[i : i + 500])))
        )
    return found


def matched_for(session: Session, indicator: str, ids: Iterable[int]) -> set[int]:
    """Of these documents, those the indicator counts as relevant items."""
    wanted = sorted(set(ids))
    found: set[int] = set()
    for i in range(0, len(wanted), 500):
        found |= set(
            session.scalars(
                select(IndicatorMatch.document_id).where(
                    IndicatorMatch.indicator == indicator,
                    IndicatorMatch.relevant.is_(True),
                    IndicatorMatch.document_id.in_(wanted[i : i + 500]),
                )
            )
        )
    return found


def model_labels(
    session: Session, indicator: str, ids: Iterable[int]
) -> dict[tuple[int, str], str]:
    """(document id, model id) → the stored label, for every model that scored them."""
    wanted = sorted(set(ids))
    out: dict[tuple[int, str], str] = {}
    for i in range(0, len(wanted), 500):
        stmt = select(
            SentimentResult.document_id, SentimentResult.model_id, SentimentResult.label
        ).where(
            SentimentResult.target == indicator,
            SentimentResult.document_id.in_(wanted[i : i + 500]),
        )
        out.update({(doc, mid): label for doc, mid, label in session.execute(stmt)})
    return out


def store_labels(
    session: Session, records: Sequence[AuditRecord], source_file: str
) -> dict[str, int]:
    """Insert or update by (document, indicator, annotator); an identical row is left as it is,
    so importing the same file twice changes nothing. The caller commits (one unit)."""
    counts = {"new": 0, "updated": 0, "unchanged": 0}
    now = utcnow()
    for r in records:
        row = session.scalars(
            select(AuditLabel).where(
                AuditLabel.document_id == r.document_id,
                AuditLabel.indicator == r.indicator,
                AuditLabel.annotator == r.annotator,
            )
        ).one_or_none()
        if row is None:
            session.add(
                AuditLabel(
                    document_id=r.document_id,
                    indicator=r.indicator,
                    model_id=r.model_id,
                    model_label=r.model_label,
                    human_label=r.human_label,
                    annotator=r.annotator,
                    labelled_at=now,
                    imported_at=now,
                    source_file=source_file,
                    note=r.note,
                )
            )
            counts["new"] += 1
            continue
        same = (row.human_label, row.note, row.model_id, row.model_label) == (
            r.human_label,
            r.note,
            r.model_id,
            r.model_label,
        )
        if same:
            counts["unchanged"] += 1
            continue
        if row.human_label != r.human_label:
            row.labelled_at = now
        row.human_label, row.note = r.human_label, r.note
        row.model_id, row.model_label = r.model_id, r.model_label
        row.source_file = source_file
        counts["updated"] += 1
    session.flush()
    return counts


def labels(session: Session, indicator: str) -> list[LabelRow]:
    """Every human label of the indicator, with the item's publication time."""
    stmt = (
        select(
            AuditLabel.document_id,
            AuditLabel.annotator,
            AuditLabel.human_label,
            Document.published_at,
        )
        .join(Document, Document.id == AuditLabel.document_id)
        .where(AuditLabel.indicator == indicator)
        .order_by(AuditLabel.document_id, AuditLabel.annotator)
    )
    return [LabelRow(*r) for r in session.execute(stmt)]


def label_counts(
    session: Session, indicator: str, model_id: str, start: dt.datetime, end: dt.datetime
) -> dict[str, int]:
    """The model's labels of the relevant items published in [start, end): an audit stratum's
    population, so each audited item can stand for its share of the month."""
    columns = select(SentimentResult.label, func.count()).select_from(Document)
    stmt = (
        scored_relevant(columns, indicator, model_id)
        .where(Document.published_at >= start, Document.published_at < end)
        .group_by(SentimentResult.label)
    )
    return {label: int(n) for label, n in session.execute(stmt)}


@dataclass(frozen=True)
class TrainingRow:
    document_id: int
    indicator: str
    title: str
    evidence: str
    human_label: str
    annotator: str


def training_rows(session: Session, indicators: Sequence[str]) -> list[TrainingRow]:
    """Audited items of these indicators with the sentences the model was shown (the evidence
    of the shown model's result), for `nlp train-sentiment --include-audit`."""
    stmt = (
        select(
            AuditLabel.document_id,
            AuditLabel.indicator,
            Document.title,
            func.coalesce(SentimentResult.evidence, ""),
            AuditLabel.human_label,
            AuditLabel.annotator,
        )
        .join(Document, Document.id == AuditLabel.document_id)
        .join(
            SentimentResult,
            (SentimentResult.document_id == AuditLabel.document_id)
            & (SentimentResult.model_id == AuditLabel.model_id)
            & (SentimentResult.target == AuditLabel.indicator),
            isouter=True,
        )
        .where(AuditLabel.indicator.in_(list(indicators)))
        .order_by(AuditLabel.document_id, AuditLabel.indicator, AuditLabel.annotator)
    )
    return [TrainingRow(*r) for r in session.execute(stmt)]
