"""Calendar periods in the configured time zone (Asia/Shanghai): month keys and their bounds."""

from __future__ import annotations

import datetime as dt
import functools
import re
from zoneinfo import ZoneInfo

from kernel.errors import UserError


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


PERIOD_TYPES = ("day", "week", "month", "quarter", "year")
FREQ_ALIASES = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}


@functools.lru_cache(maxsize=8192)
def period_keys(day: dt.date) -> tuple[tuple[str, str], ...]:
    """Every period a local day belongs to: 2023-12-31, 2023-W52, 2023-12, 2023-Q4, 2023.

    Weeks are ISO weeks (Monday first), so a week's year can differ from its days' year.
    """
    iso = day.isocalendar()
    return (
        ("day", day.isoformat()),
        ("week", f"{iso.year}-W{iso.week:02d}"),
        ("month", f"{day.year}-{day.month:02d}"),
        ("quarter", f"{day.year}-Q{(day.month - 1) // 3 + 1}"),
        ("year", f"{day.year}"),
    )


def local_day(moment: dt.datetime, tz: ZoneInfo) -> dt.date:
    return moment.astimezone(tz).date()


def period_start(period_type: str, period: str) -> dt.date:
    """First local day of a period key (inverse of period_keys)."""
    if period_type == "day":
        return dt.date.fromisoformat(period)
    if period_type == "week":
        year, week = period.split("-W")
        return dt.date.fromisocalendar(int(year), int(week), 1)
    if period_type == "month":
        return dt.date(int(period[:4]), int(period[5:7]), 1)
    if period_type == "quarter":
        return dt.date(int(period[:4]), 3 * int(period[-1]) - 2, 1)
    return dt.date(int(period), 1, 1)


def period_end(period_type: str, period: str) -> dt.date:
    """The day after the period's last local day."""
    start = period_start(period_type, period)
    if period_type == "day":
        return start + dt.timedelta(days=1)
    if period_type == "week":
        return start + dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[period_type]
    m = start.month - 1 + months
    return dt.date(start.year + m // 12, m % 12 + 1, 1)


_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def period_months(period: str) -> list[str]:
    """'2023' → 12 months, '2023-Q2' → 3, '2023-06' → 1 (YYYY-MM keys)."""
    if m := _YEAR.match(period):
        return [f"{m[1]}-{mo:02d}" for mo in range(1, 13)]
    if m := _QUARTER.match(period):
        q = int(m[2])
        return [f"{m[1]}-{mo:02d}" for mo in range(3 * q - 2, 3 * q + 1)]
    if (m := _MONTH.match(period)) and 1 <= int(m[2]) <= 12:
        return [period]
    raise UserError(f"--period: expected YYYY, YYYY-Qn or YYYY-MM, got {period!r}")


# The weekly brief compares a week with the pooled weeks before it (stored with each week).
TRAILING_WEEKS = 8


def weeks_before(week: str, n: int) -> list[str]:
    """The n ISO weeks ending with (and including) `week`, oldest first."""
    start = period_start("week", week)
    return [dict(period_keys(start - dt.timedelta(weeks=i)))["week"] for i in range(n)][::-1]
