"""舆情预警: find unusual days in the stored items and group them into alert episodes.

The rules (thresholds from `[alerts]` in the config, defaults in brackets; days and weeks are
local to the config's time zone):

- negative_spike (positive_share indicators, e.g. a67). Per day, k = the relevant items the
  indicator's sentiment model labelled negative. λ = the mean daily count over the
  `window_days` [28] days before that day, at least `floor_per_window` [1] item per window, so
  that after a quiet month a single negative item is not an alert. The day alerts when
  k ≥ `negative_min_count` [3] and the Poisson tail P(X ≥ k | λ) < `alpha` [0.001].
- share_drop (positive_share). Per ISO week (Monday–Sunday), the positive share of the scored
  items against the `share_weeks` [8] weeks before it, pooled. The week alerts when it and
  its baseline each have ≥ `share_min_items` [10] scored items, its share is lower by
  ≥ `share_min_drop` [0.15] and the one-sided two-proportion z-test gives p < `share_alpha`
  [0.01].
- volume_surge (volume indicators, e.g. a29, a68). Per day, k = new stories among the literal
  matches: a story and its reprints are one event, counted on the day it first appeared.
  λ as above; the day alerts when k ≥ `volume_min_count` [5] and P(X ≥ k | λ) < `alpha`.

Alerting days (weeks) whose starts lie at most `merge_days` [7] apart are one episode and one
alert: period = first to last alerting day, items = every item the rule counts on the days of
the period. A day is tested only when its whole trailing window lies after the indicator's
first stored item: no history is not a quiet history.

Why these numbers: tested on all 365 days of a year, α = 0.001 gives about 0.4 false days a
year per rule and indicator if counts were Poisson; news counts are over-dispersed (one story
brings others), which the minimum counts and the floor absorb. Detection is a pure function
of what is stored, so running it again finds the same episodes (the store keys them).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from scipy import stats
from sqlalchemy.orm import Session

from kernel.alerts import NEGATIVE_SPIKE, SHARE_DROP, VOLUME_SURGE
from kernel.config import AlertsConfig, Config
from kernel.identity import model_id
from nlp.identity import model_available, model_for
from pipelines.uncertainty import compare_shares
from storage.alerts import AlertItemRow, literal_items, scored_items


@dataclass(frozen=True)
class DayTest:
    """One alerting day: k observed against the trailing mean λ."""

    day: dt.date
    observed: int
    expected: float  # λ
    p_value: float


@dataclass(frozen=True)
class WeekTest:
    """One alerting week (day = its Monday): x/n positive against the baseline's x0/n0."""

    day: dt.date
    positive: int
    scored: int
    baseline_positive: int
    baseline_scored: int
    p_value: float

    @property
    def share(self) -> float:
        return self.positive / self.scored

    @property
    def baseline_share(self) -> float:
        return self.baseline_positive / self.baseline_scored


class _Dated(Protocol):
    @property
    def day(self) -> dt.date: ...


T = TypeVar("T", bound=_Dated)


@dataclass(frozen=True)
class Finding:
    """One episode of one rule for one indicator, with the items that caused it."""

    rule: str
    indicator: str
    start: dt.date
    end: dt.date  # last day of the period (a week's Sunday for share_drop)
    observed: float  # items / stories in the period, or its positive share
    expected: float  # what the trailing window led to expect for the same period
    p_value: float  # the smallest of its days' (weeks') p-values
    tests: Sequence[DayTest | WeekTest]
    items: list[dict[str, Any]] = field(default_factory=list)


def _daily_finding(
    rule: str, indicator: str, group: Sequence[DayTest], items: list[dict[str, Any]]
) -> Finding:
    """An episode of alerting days: its items, what the trailing rate expected over its days,
    and the smallest p of its days."""
    start, end = group[0].day, group[-1].day
    days = (end - start).days + 1
    return Finding(
        rule,
        indicator,
        start,
        end,
        float(len(items)),
        group[0].expected * days,
        min(t.p_value for t in group),
        group,
        items,
    )


def poisson_tail(k: int, lam: float) -> float:
    """P(X ≥ k) for X ~ Poisson(λ)."""
    return float(stats.poisson.sf(k - 1, lam))


def trailing_mean(
    counts: Mapping[dt.date, int], day: dt.date, window_days: int, floor_per_window: float
) -> float:
    """Mean daily count over the window_days before `day` (missing days are zero), floored."""
    total = sum(counts.get(day - dt.timedelta(days=i), 0) for i in range(1, window_days + 1))
    return max(total, floor_per_window) / window_days


def spike_days(
    counts: Mapping[dt.date, int],
    history_from: dt.date,
    *,
    window_days: int,
    floor_per_window: float,
    min_count: int,
    alpha: float,
) -> list[DayTest]:
    """The days whose count is improbably high for a Poisson of the trailing mean."""
    out = []
    for day in sorted(counts):
        k = counts[day]
        if k < min_count or day - dt.timedelta(days=window_days) < history_from:
            continue
        lam = trailing_mean(counts, day, window_days, floor_per_window)
        p = poisson_tail(k, lam)
        if p < alpha:
            out.append(DayTest(day, k, lam, p))
    return out


def share_drop_weeks(
    weekly: Mapping[dt.date, tuple[int, int]],
    history_from: dt.date,
    *,
    weeks: int,
    min_items: int,
    min_drop: float,
    alpha: float,
) -> list[WeekTest]:
    """Weeks (keyed by Monday, value (positive, scored)) whose positive share fell."""
    out = []
    for monday in sorted(weekly):
        x, n = weekly[monday]
        if n < min_items or monday - dt.timedelta(weeks=weeks) < history_from:
            continue
        before = [weekly.get(monday - dt.timedelta(weeks=i), (0, 0)) for i in range(1, weeks + 1)]
        x0, n0 = sum(b[0] for b in before), sum(b[1] for b in before)
        if n0 < min_items:
            continue
        test = compare_shares(x, n, x0, n0)
        drop = -test.difference
        one_sided = test.p_value / 2 if drop > 0 else 1 - test.p_value / 2
        if drop >= min_drop - 1e-12 and one_sided < alpha:
            out.append(WeekTest(monday, x, n, x0, n0, one_sided))
    return out


def episodes(tests: Sequence[T], merge_days: int) -> list[list[T]]:
    """Group alerting days (weeks) whose starts are at most merge_days apart."""
    groups: list[list[T]] = []
    for t in sorted(tests, key=lambda t: t.day):
        if groups and (t.day - groups[-1][-1].day).days <= merge_days:
            groups[-1].append(t)
        else:
            groups.append([t])
    return groups


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _local_day(row: AlertItemRow, tz: ZoneInfo) -> dt.date:
    return row.published_at.astimezone(tz).date()


def _item(row: AlertItemRow, tz: ZoneInfo, **extra: Any) -> dict[str, Any]:
    return {
        "document_id": row.document_id,
        "day": _local_day(row, tz).isoformat(),
        "published_at": row.published_at.astimezone(dt.UTC).isoformat(),
        "title": row.title,
        "url": row.url,
        "outlet": row.outlet,
        "label": row.label,
        **extra,
    }


def negative_spikes(
    indicator: str, rows: Sequence[AlertItemRow], tz: ZoneInfo, cfg: AlertsConfig
) -> list[Finding]:
    """negative_spike over the scored items of one indicator (rows: every label)."""
    if not rows:
        return []
    negatives = [r for r in rows if r.label == "negative"]
    counts = Counter(_local_day(r, tz) for r in negatives)
    first = min(_local_day(r, tz) for r in rows)
    tests = spike_days(
        counts,
        first,
        window_days=cfg.window_days,
        floor_per_window=cfg.floor_per_window,
        min_count=cfg.negative_min_count,
        alpha=cfg.alpha,
    )
    out = []
    for group in episodes(tests, cfg.merge_days):
        start, end = group[0].day, group[-1].day
        items = [_item(r, tz) for r in negatives if start <= _local_day(r, tz) <= end]
        out.append(_daily_finding(NEGATIVE_SPIKE, indicator, group, items))
    return out


def share_drops(
    indicator: str, rows: Sequence[AlertItemRow], tz: ZoneInfo, cfg: AlertsConfig
) -> list[Finding]:
    """share_drop over the scored items of one indicator."""
    if not rows:
        return []
    weekly: dict[dt.date, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        week = weekly[monday(_local_day(r, tz))]
        week[0] += r.label == "positive"
        week[1] += 1
    tests = share_drop_weeks(
        {k: (v[0], v[1]) for k, v in weekly.items()},
        monday(min(_local_day(r, tz) for r in rows)),
        weeks=cfg.share_weeks,
        min_items=cfg.share_min_items,
        min_drop=cfg.share_min_drop,
        alpha=cfg.share_alpha,
    )
    out = []
    for group in episodes(tests, cfg.merge_days):
        start, end = group[0].day, group[-1].day + dt.timedelta(days=6)
        period = [r for r in rows if start <= _local_day(r, tz) <= end]
        # the items that pulled the share down: negative first, then neutral
        order = {"negative": 0, "neutral": 1}
        pulled = sorted(
            (r for r in period if r.label in order),
            key=lambda r: (order[r.label or ""], r.published_at),
        )
        out.append(
            Finding(
                SHARE_DROP,
                indicator,
                start,
                end,
                sum(t.positive for t in group) / sum(t.scored for t in group),
                group[0].baseline_share,
                min(t.p_value for t in group),
                group,
                [_item(r, tz) for r in pulled],
            )
        )
    return out


def volume_surges(
    indicator: str, rows: Sequence[AlertItemRow], tz: ZoneInfo, cfg: AlertsConfig
) -> list[Finding]:
    """volume_surge over the literal matches of one indicator: new stories per day."""
    if not rows:
        return []
    stories: dict[str, list[AlertItemRow]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r.published_at):  # each story's first item first
        stories[r.story].append(r)
    first_day = {s: _local_day(docs[0], tz) for s, docs in stories.items()}
    counts = Counter(first_day.values())
    tests = spike_days(
        counts,
        min(first_day.values()),
        window_days=cfg.window_days,
        floor_per_window=cfg.floor_per_window,
        min_count=cfg.volume_min_count,
        alpha=cfg.alpha,
    )
    out = []
    for group in episodes(tests, cfg.merge_days):
        start, end = group[0].day, group[-1].day
        items = [
            _item(docs[0], tz, documents=len(docs))
            for s, docs in stories.items()
            if start <= first_day[s] <= end
        ]
        out.append(_daily_finding(VOLUME_SURGE, indicator, group, items))
    return out


def detect(cfg: Config, session: Session) -> list[Finding]:
    """Every rule over every indicator it applies to, from what `meiyu compute` stored."""
    found: list[Finding] = []
    for key, ind in cfg.indicators.items():
        if ind.kind == "positive_share":
            if not model_available(ind):
                continue  # no sentiment, no negatives to count
            rows = scored_items(session, key, model_id(model_for(ind)))
            found += negative_spikes(key, rows, cfg.tz, cfg.alerts)
            found += share_drops(key, rows, cfg.tz, cfg.alerts)
        else:
            found += volume_surges(key, literal_items(session, key), cfg.tz, cfg.alerts)
    return found


def same_episode(
    stored: Sequence[tuple[int, str, str]], start: dt.date, end: dt.date, merge_days: int
) -> int | None:
    """The stored alert (id, start, end) a finding continues: the same start, else one whose
    period lies within merge_days of it (the episode grew, or late items moved its start)."""
    for alert_id, s, _ in stored:
        if s == start.isoformat():
            return alert_id
    gap = dt.timedelta(days=merge_days)
    for alert_id, s, e in sorted(stored, key=lambda p: p[1]):
        if dt.date.fromisoformat(s) - gap <= end and start <= dt.date.fromisoformat(e) + gap:
            return alert_id
    return None
