"""Alerts in the database: the items the rules read, and the alert rows with their per-channel
delivery state. Typed rows out; the rules live in pipelines/alerts/detect.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Alert, Document, IndicatorMatch, SentimentResult, utcnow
from storage.queries import _story_key, scored_relevant


@dataclass(frozen=True)
class AlertItemRow:
    """A matched document as the alert rules see it (label: its sentiment, if asked for)."""

    document_id: int
    published_at: dt.datetime
    title: str
    url: str
    outlet: str | None
    story: str
    label: str | None


def _item_columns() -> tuple[Any, Any, Any, Any, Any, Any]:
    """What an alert says of an item (AlertItemRow without its label)."""
    return (
        Document.id,
        Document.published_at,
        Document.title,
        Document.url,
        Document.outlet,
        _story_key(),
    )


def scored_items(session: Session, indicator: str, model_id: str) -> list[AlertItemRow]:
    """Dated, relevant matches of the indicator with their label from `model_id`."""
    columns = select(*_item_columns(), SentimentResult.label)
    stmt = (
        scored_relevant(columns, indicator, model_id)
        .where(Document.published_at.is_not(None))
        .order_by(Document.published_at, Document.id)
    )
    return [
        AlertItemRow(i, p, t, u, o, s, label) for i, p, t, u, o, s, label in session.execute(stmt)
    ]


def literal_items(session: Session, indicator: str) -> list[AlertItemRow]:
    """Dated matches that meet the plan's literal definition (what a volume indicator counts)."""
    stmt = (
        select(*_item_columns())
        .join(IndicatorMatch, IndicatorMatch.document_id == Document.id)
        .where(
            IndicatorMatch.indicator == indicator,
            IndicatorMatch.literal.is_(True),
            Document.published_at.is_not(None),
        )
        .order_by(Document.published_at, Document.id)
    )
    return [AlertItemRow(i, p, t, u, o, s, None) for i, p, t, u, o, s in session.execute(stmt)]


@dataclass(frozen=True)
class AlertRecord:
    """What detection produces; stored under (rule, indicator, period_start)."""

    rule: str
    indicator: str
    period_start: str  # local day, YYYY-MM-DD (a week's Monday for weekly rules)
    period_end: str
    observed: float
    expected: float
    p_value: float
    message: str
    items: list[dict[str, Any]]


@dataclass(frozen=True)
class AlertRow:
    id: int
    rule: str
    indicator: str
    period_start: str
    period_end: str
    observed: float
    expected: float
    p_value: float
    message: str
    items: list[dict[str, Any]]
    detected_at: dt.datetime
    deliveries: dict[str, Any]


def _row(a: Alert) -> AlertRow:
    return AlertRow(
        a.id,
        a.rule,
        a.indicator,
        a.period_start,
        a.period_end,
        a.observed,
        a.expected,
        a.p_value,
        a.message,
        list(a.items),
        a.detected_at,
        dict(a.deliveries),
    )


def alert_periods(session: Session, rule: str, indicator: str) -> list[tuple[int, str, str]]:
    """(id, period_start, period_end) of the stored alerts of one rule and indicator."""
    stmt = select(Alert.id, Alert.period_start, Alert.period_end).where(
        Alert.rule == rule, Alert.indicator == indicator
    )
    return [(i, s, e) for i, s, e in session.execute(stmt)]


def save_alert(
    session: Session, record: AlertRecord, existing_id: int | None = None
) -> tuple[int, str]:
    """Insert, or update the stored episode `existing_id` (it grew, or late items arrived):
    (id, "new" | "updated" | "unchanged"). Deliveries already made are kept, never repeated."""
    fields = {
        "rule": record.rule,
        "indicator": record.indicator,
        "period_start": record.period_start,
        "period_end": record.period_end,
        "observed": record.observed,
        "expected": record.expected,
        "p_value": record.p_value,
        "message": record.message,
        "items": record.items,
    }
    row = session.get(Alert, existing_id) if existing_id is not None else None
    if row is None:
        row = Alert(**fields, deliveries={})
        session.add(row)
        session.flush()
        return row.id, "new"
    if all(getattr(row, k) == v for k, v in fields.items()):
        return row.id, "unchanged"
    for k, v in fields.items():
        setattr(row, k, v)
    session.flush()
    return row.id, "updated"


def list_alerts(session: Session, since: dt.date | None = None) -> list[AlertRow]:
    """Alerts whose period ends on or after `since`, oldest first."""
    stmt = select(Alert).order_by(Alert.period_start, Alert.rule, Alert.indicator)
    if since is not None:
        stmt = stmt.where(Alert.period_end >= since.isoformat())
    return [_row(a) for a in session.scalars(stmt)]


def record_delivery(session: Session, alert_id: int, channel: str, error: str | None) -> None:
    """One channel's outcome: sent, or failed with a one-line reason (retried next run)."""
    row = session.get(Alert, alert_id)
    if row is None:
        raise LookupError(f"alert {alert_id} does not exist")
    state: dict[str, Any] = {
        "status": "sent" if error is None else "failed",
        "at": utcnow().isoformat(timespec="seconds"),
    }
    state["attempts"] = int(row.deliveries.get(channel, {}).get("attempts", 0)) + 1
    if error is not None:
        state["error"] = error
    # a new dict: JSON columns do not track changes made in place
    row.deliveries = {**row.deliveries, channel: state}
    session.flush()
