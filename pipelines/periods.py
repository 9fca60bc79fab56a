"""Calendar periods in the configured time zone (Asia/Shanghai): month keys and their bounds."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def month_key(moment: dt.datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m")


def month_bounds(year: int, month: int, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a local calendar month, as aware UTC datetimes."""
    start = dt.datetime(year, month, 1, tzinfo=tz)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def previous_months(year: int, month: int, n: int) -> list[str]:
    """The n month keys ending with (and including) year-month, oldest first."""
    keys = []
    y, m = year, month
    for _ in range(n):
        keys.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return keys[::-1]
