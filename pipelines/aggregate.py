"""Batch stage: monthly series per indicator, written to indicator_values (recompute = same rows).

a29/a68 (kind "volume"): value = matched items in the month. Reprints under other URLs are
items too (the plan counts items); distinct stories (same body fingerprint) are kept beside.
a67 (kind "positive_share"): the share needs sentiment, which is not computed yet, so value
stays empty and n_items holds the month's matched Korean items.
Beside the literal count, details["relevant"] counts the items that speak of the place
(nlp.relevance: not 威海路, not "~을 위해"), and details["relevant_stories"] their stories.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from meiyu.config import Config, IndicatorConfig
from pipelines.analyze import model_available, model_for, model_id
from pipelines.periods import month_key
from pipelines.uncertainty import wilson_interval
from storage.db import transaction
from storage.queries import matched_documents, sentiment_labels
from storage.writes import ValueRecord, delete_stale_values, upsert_values


@dataclass(frozen=True)
class AggregateSummary:
    indicator: str
    months: int
    items: int
    undated: int


def monthly_values(
    session: Session, key: str, ind: IndicatorConfig, cfg: Config
) -> tuple[list[ValueRecord], int]:
    items: dict[str, int] = Counter()  # literal: the plan's definition
    relevant: dict[str, int] = Counter()  # of those (or of ambiguous forms) about the place
    stories: dict[str, set[str]] = defaultdict(set)
    relevant_stories: dict[str, set[str]] = defaultdict(set)
    per_source: dict[str, Counter[str]] = defaultdict(Counter)
    tone: dict[str, Counter[str]] = defaultdict(Counter)  # sentiment of the relevant items
    mid = model_id(model_for(ind)) if model_available(ind) else None
    labels = sentiment_labels(session, key, mid) if mid else {}
    undated = 0
    for row in matched_documents(session, key):
        if row.published_at is None:
            undated += 1  # reported, never guessed into a month
            continue
        month = month_key(row.published_at, cfg.tz)
        if row.relevant:
            relevant[month] += 1
            relevant_stories[month].add(row.story)
            if row.document_id in labels:
                tone[month][labels[row.document_id]] += 1
        if not row.literal:
            continue
        items[month] += 1
        stories[month].add(row.story)
        per_source[month][row.source] += 1
    version = ind.version()
    values = [
        ValueRecord(
            indicator=key,
            period_type="month",
            period=month,
            definition_version=version,
            value=float(items[month]) if ind.kind == "volume" else _share(tone[month]),
            n_items=items[month],
            n_stories=len(stories[month]),
            details={
                "per_source": dict(sorted(per_source[month].items())),
                "relevant": relevant[month],
                "relevant_stories": len(relevant_stories[month]),
                **_tone_details(tone[month], mid),
            },
        )
        for month in sorted(set(items) | set(relevant))
    ]
    return values, undated


def _share(counts: Counter[str]) -> float | None:
    n = sum(counts.values())
    return counts["positive"] / n if n else None


def _tone_details(counts: Counter[str], mid: str | None) -> dict[str, object]:
    """Positive / neutral / negative counts of the scored items, the share's Wilson 95%."""
    if mid is None:
        return {}
    n = sum(counts.values())
    lo, hi = wilson_interval(counts["positive"], n)
    return {
        "sentiment_model": mid,
        "scored": n,
        "positive": counts["positive"],
        "neutral": counts["neutral"],
        "negative": counts["negative"],
        "share_interval": [round(lo, 4), round(hi, 4)] if n else None,
    }


def aggregate_all(cfg: Config, sessions: sessionmaker[Session]) -> list[AggregateSummary]:
    out = []
    for key, ind in cfg.indicators.items():
        with transaction(sessions) as s:
            values, undated = monthly_values(s, key, ind, cfg)
            delete_stale_values(s, key, "month", ind.version(), {v.period for v in values})
            upsert_values(s, values)
        out.append(AggregateSummary(key, len(values), sum(v.n_items for v in values), undated))
    return out
