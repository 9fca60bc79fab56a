"""Batch stage: every indicator's series per day, ISO week, month, quarter and year (local time,
Asia/Shanghai), written to indicator_values (a recompute writes the same rows).

a29/a68 (kind "volume"): value = matched items (the plan counts items: reprints under other URLs
count); distinct stories (reprint clusters) beside, with the exact Poisson 95% interval of the
count. a67 (kind "positive_share"): value = positive / scored among the relevant items, with its
Wilson 95% interval and, where the model's held-out confusion matrix is known, the share
corrected for classifier error (pipelines.correction; from the human audit's matrix once it
has enough items, pipelines.audit).
Beside every value: relevant items (nlp.relevance: not 威海路, not "~을 위해"), per-source
counts, the tone of the relevant items, the search engines' own totals for windows inside the
period, and coverage: all dated documents of the same language and sources in the period, so
that a rise in crawling is not read as a rise in reputation.
Each value carries its definition version (terms, sources, kind, and for shares the model id):
a change of definition starts a new series and leaves the old one as it was.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from kernel.config import Config, IndicatorConfig
from kernel.identity import model_id
from kernel.periods import (
    PERIOD_TYPES,
    TRAILING_WEEKS,
    local_day,
    period_end,
    period_keys,
    period_start,
    weeks_before,
)
from kernel.values import CorrectedShare, Coverage, Trailing, ValueDetails
from nlp.identity import definition_version, model_available, model_for
from pipelines.assess import store_assessments
from pipelines.audit import correction_confusion
from pipelines.correction import ShareCorrector
from pipelines.uncertainty import compare_shares, poisson_interval, verdict, wilson_interval
from storage.db import unit_of_work
from storage.queries import (
    ProbeRow,
    ValueRow,
    matched_documents,
    published_slots,
    sentiment_labels,
    value_series,
    volume_probes,
)
from storage.writes import ValueRecord, delete_stale_values, upsert_values


@dataclass(frozen=True)
class AggregateSummary:
    indicator: str
    months: int
    items: int
    undated: int
    values: int = 0  # rows written over all period types


@dataclass
class _Bucket:
    items: int = 0  # literal: the plan's definition
    stories: set[str] = field(default_factory=set)
    relevant: int = 0
    relevant_stories: set[str] = field(default_factory=set)
    per_source: Counter[str] = field(default_factory=Counter)
    tone: Counter[str] = field(default_factory=Counter)  # sentiment of the relevant items


def read_from(since: dt.date | None) -> dt.date | None:
    """The first local day a partial recompute must read so every period it rewrites is whole:
    the Monday on or before 1 January of `since`'s year (ISO week 1 may start in December)."""
    if since is None:
        return None
    jan1 = dt.date(since.year, 1, 1)
    return jan1 - dt.timedelta(days=jan1.weekday())


def coverage_by_period(
    session: Session, ind: IndicatorConfig, tz: ZoneInfo, start: dt.datetime | None
) -> dict[tuple[str, str], int]:
    days: Counter[dt.date] = Counter()
    for slot, n in published_slots(session, ind.language, ind.sources, start):
        days[local_day(slot, tz)] += n
    out: Counter[tuple[str, str]] = Counter()
    for day, n in days.items():
        for key in period_keys(day):
            out[key] += n
    return out


def _probe_totals(
    probes: Iterable[ProbeRow], tz: ZoneInfo
) -> dict[tuple[str, str], dict[str, int]]:
    """Engine totals of windows lying wholly inside a period, summed per source."""
    out: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for p in probes:
        first = local_day(p.window_start, tz)
        last = local_day(p.window_end - dt.timedelta(microseconds=1), tz)
        for (ptype, period), (ptype2, period2) in zip(
            period_keys(first), period_keys(last), strict=True
        ):
            if ptype == ptype2 and period == period2:
                out[(ptype, period)][p.source] += p.reported_total
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def series_values(
    session: Session,
    key: str,
    ind: IndicatorConfig,
    tz: ZoneInfo,
    since: dt.date | None = None,
    coverage_cache: dict[object, dict[tuple[str, str], int]] | None = None,
) -> tuple[list[ValueRecord], int]:
    first_day = read_from(since)
    start = dt.datetime.combine(first_day, dt.time(), tz) if first_day else None
    mid = model_id(model_for(ind)) if model_available(ind) else None
    labels = sentiment_labels(session, key, mid) if mid else {}
    # the in-domain audit's matrix once it is large enough, else the model's held-out one
    confusion = correction_confusion(session, key, ind, mid, tz) if mid else None
    corrector = ShareCorrector(confusion) if confusion else None
    buckets: dict[tuple[str, str], _Bucket] = defaultdict(_Bucket)
    undated = 0
    for row in matched_documents(session, key, start):
        if row.published_at is None:
            undated += 1  # reported, never guessed into a period
            continue
        label = labels.get(row.document_id) if row.relevant else None
        for pkey in period_keys(local_day(row.published_at, tz)):
            b = buckets[pkey]
            if row.relevant:
                b.relevant += 1
                b.relevant_stories.add(row.story)
                if label is not None:
                    b.tone[label] += 1
            if row.literal:
                b.items += 1
                b.stories.add(row.story)
                b.per_source[row.source] += 1
    cache = {} if coverage_cache is None else coverage_cache
    scope = (ind.language, tuple(ind.sources or ()), start)  # a29 and a68 share one scan
    if scope not in cache:
        cache[scope] = coverage_by_period(session, ind, tz, start)
    coverage = cache[scope]
    probes = _probe_totals(volume_probes(session, key), tz)
    version = definition_version(ind)
    stored_weeks = value_series(session, key, version, "week") if mid else {}
    values = []
    for (ptype, period), b in sorted(buckets.items()):
        if first_day and period_start(ptype, period) < first_day:
            continue  # partly read: left as stored
        total = coverage.get((ptype, period), 0)
        coverage_value = None
        if total:
            lo, hi = wilson_interval(min(b.items, total), total)
            coverage_value = Coverage(
                documents=total,
                share=round(b.items / total, 5),
                share_interval=(round(lo, 5), round(hi, 5)),
            )
        tone = _tone_details(b.tone, mid, corrector) if mid is not None else {}
        if mid is not None and ind.kind == "positive_share" and ptype == "week":
            tone["trailing"] = _trailing(period, b.tone, buckets, stored_weeks, first_day)
        details = ValueDetails(
            interval=_rounded(poisson_interval(b.items), 3),
            per_source=dict(sorted(b.per_source.items())),
            relevant=b.relevant,
            relevant_stories=len(b.relevant_stories),
            coverage=coverage_value,
            reported_totals=probes.get((ptype, period)),
            **tone,
        )
        values.append(
            ValueRecord(
                indicator=key,
                period_type=ptype,
                period=period,
                definition_version=version,
                value=float(b.items) if ind.kind == "volume" else _share(b.tone),
                n_items=b.items,
                n_stories=len(b.stories),
                details=details,
            )
        )
    return values, undated


def _rounded(pair: tuple[float, float], digits: int) -> tuple[float, float]:
    return round(pair[0], digits), round(pair[1], digits)


def _trailing(
    week: str,
    tone: Counter[str],
    buckets: dict[tuple[str, str], _Bucket],
    stored: dict[str, ValueRow],
    first_day: dt.date | None,
) -> Trailing:
    """This week's positive share against the TRAILING_WEEKS weeks before it, pooled (weeks
    without items count as none): two-proportion z-test and Newcombe's interval. Weeks this
    run did not read (a partial recompute) are taken as stored."""
    x0 = n0 = 0
    for w in weeks_before(week, TRAILING_WEEKS + 1)[:-1]:
        if ("week", w) in buckets and not (first_day and period_start("week", w) < first_day):
            counts = buckets[("week", w)].tone
            x0 += counts["positive"]
            n0 += sum(counts.values())
        elif w in stored:
            d = stored[w].details
            x0 += d.tone("positive")
            n0 += sum(d.tone(label) for label in ("positive", "neutral", "negative"))
    x1, n1 = tone["positive"], sum(tone.values())
    out = Trailing(weeks=TRAILING_WEEKS, positive=x0, scored=n0, interval=wilson_interval(x0, n0))
    if not (n1 and n0):
        return out
    c = compare_shares(x1, n1, x0, n0)
    return out.model_copy(
        update={
            "difference": c.difference,
            "difference_interval": c.difference_interval,
            "p_value": c.p_value,
            "verdict": verdict(c.difference > 0, c.p_value),
        }
    )


def monthly_values(
    session: Session, key: str, ind: IndicatorConfig, tz: ZoneInfo
) -> tuple[list[ValueRecord], int]:
    values, undated = series_values(session, key, ind, tz)
    return [v for v in values if v.period_type == "month"], undated


def _share(counts: Counter[str]) -> float | None:
    n = sum(counts.values())
    return counts["positive"] / n if n else None


def _tone_details(
    counts: Counter[str], mid: str, corrector: ShareCorrector | None
) -> dict[str, Any]:
    """Positive / neutral / negative counts of the scored items, the share's Wilson 95%, and
    the share corrected for the model's measured errors where they are known."""
    n = sum(counts.values())
    out: dict[str, Any] = {
        "sentiment_model": mid,
        "scored": n,
        "positive": counts["positive"],
        "neutral": counts["neutral"],
        "negative": counts["negative"],
        "share_interval": _rounded(wilson_interval(counts["positive"], n), 4) if n else None,
    }
    if corrector is not None and n:
        c = corrector.correct(counts)
        if c is not None:
            out["corrected"] = CorrectedShare(
                share=round(c.share, 4),
                interval=_rounded(c.interval, 4),
                shares=c.shares,
                method="confusion-matrix correction, bootstrap 95%",
                confusion=corrector.confusion.source,
            )
    return out


def aggregate_all(
    cfg: Config, sessions: sessionmaker[Session], since: dt.date | None = None
) -> list[AggregateSummary]:
    """All period types of every indicator, one transaction per indicator. With `since`, only
    the periods from the start of that year on are recomputed (older ones stay as stored)."""
    out = []
    first_day = read_from(since)
    coverage_cache: dict[object, dict[tuple[str, str], int]] = {}
    for key, ind in cfg.indicators.items():
        values, undated = unit_of_work(
            sessions, store_series, key, ind, cfg.tz, since, first_day, coverage_cache
        )
        months = [v for v in values if v.period_type == "month"]
        out.append(
            AggregateSummary(key, len(months), sum(v.n_items for v in months), undated, len(values))
        )
    return out


def store_series(
    s: Session,
    key: str,
    ind: IndicatorConfig,
    tz: ZoneInfo,
    since: dt.date | None,
    first_day: dt.date | None,
    coverage_cache: dict[object, dict[tuple[str, str], int]],
) -> tuple[list[ValueRecord], int]:
    """One indicator's series, every period type, as one unit of work (stale periods dropped)."""
    values, undated = series_values(s, key, ind, tz, since, coverage_cache)
    version = definition_version(ind)
    for ptype in PERIOD_TYPES:
        keep = {v.period for v in values if v.period_type == ptype}
        delete_stale_values(s, key, ptype, version, keep, _first_key(ptype, first_day))
    upsert_values(s, values)
    store_assessments(s, key, ind, tz)  # the plan's test of every month and year, for reports
    return values, undated


def _first_key(ptype: str, first_day: dt.date | None) -> str | None:
    """The first period key of a type that starts on or after first_day."""
    if first_day is None:
        return None
    day = first_day
    while True:
        period = dict(period_keys(day))[ptype]
        if period_start(ptype, period) >= first_day:
            return period
        day = period_end(ptype, period)
