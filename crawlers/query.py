"""A search query of one indicator over one time window, as the search spiders receive it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Query:
    indicator: str
    text: str  # what is typed into the engine, e.g. "威海 海鲜"
    language: str  # "zh" | "ko"
    since: dt.date  # first day, inclusive
    until: dt.date  # last day, inclusive
    timezone: str = "Asia/Shanghai"  # the zone the engine's date parameters are read in

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.since, dt.time(), ZoneInfo(self.timezone))

    @property
    def end(self) -> dt.datetime:
        """Exclusive end: midnight after `until`."""
        return dt.datetime.combine(
            self.until + dt.timedelta(days=1), dt.time(), ZoneInfo(self.timezone)
        )

    def slices(self, days: int) -> list[Query]:
        """The window cut into consecutive pieces of at most `days` days (newest first),
        for engines that cap results per request (GDELT 250, Naver 1000)."""
        out = []
        end = self.until
        while end >= self.since:
            start = max(self.since, end - dt.timedelta(days=days - 1))
            out.append(Query(self.indicator, self.text, self.language, start, end, self.timezone))
            end = start - dt.timedelta(days=1)
        return out

    def halves(self) -> tuple[Query, Query] | None:
        """The window's days in two halves (newer first); None for a single day."""
        if self.since >= self.until:
            return None
        mid = self.since + (self.until - self.since) // 2
        newer = Query(
            self.indicator,
            self.text,
            self.language,
            mid + dt.timedelta(days=1),
            self.until,
            self.timezone,
        )
        older = Query(self.indicator, self.text, self.language, self.since, mid, self.timezone)
        return newer, older

    def as_dict(self) -> dict[str, str]:
        return {
            "indicator": self.indicator,
            "text": self.text,
            "language": self.language,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "timezone": self.timezone,
        }

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> Query:
        return cls(
            d["indicator"],
            d["text"],
            d["language"],
            dt.date.fromisoformat(d["since"]),
            dt.date.fromisoformat(d["until"]),
            d.get("timezone", "Asia/Shanghai"),
        )
