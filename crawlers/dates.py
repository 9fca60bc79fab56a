"""Dates from feeds and pages to aware UTC datetimes.

Absolute forms (RFC 822, ISO 8601 incl. GDELT's 20240101T000000Z, "2023.05.01.",
"2023年5月1日") and the relative ones search pages show ("3小时前", "昨天", "2일 전", "어제")
via dateparser. A date without zone gets the source's zone; relative dates count back from
`now` (the fetch time). Implausible results (before 1990, or in the future) are refused.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from zoneinfo import ZoneInfo

import dateparser

_BASIC_ISO = re.compile(r"^(\d{8})T(\d{6})Z$")
EARLIEST = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)


def parse_date(
    text: str | None, default_tz: str, now: dt.datetime | None = None
) -> dt.datetime | None:
    if not text or not text.strip():
        return None
    text = text.strip()
    now = now or dt.datetime.now(dt.UTC)
    parsed: dt.datetime | None = None
    if m := _BASIC_ISO.match(text):
        try:
            parsed = dt.datetime.strptime(m[1] + m[2], "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
        except ValueError:  # "20231301T250000Z": the shape of a date, but none
            return None
    else:
        try:
            parsed = email.utils.parsedate_to_datetime(text)  # RFC 822, the RSS norm: fast path
        except OverflowError:  # "Sat, 25 Nov 2222222023 …": no such year
            return None
        except (TypeError, ValueError, IndexError):
            parsed = _dateparser(text, default_tz, now)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(default_tz))
    try:
        parsed = parsed.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31 at -12:00 is past the last representable day
        return None
    if not EARLIEST <= parsed <= now + dt.timedelta(days=1):
        return None
    return parsed


def _dateparser(text: str, default_tz: str, now: dt.datetime) -> dt.datetime | None:
    try:
        return dateparser.parse(
            text,
            languages=["zh", "ko", "en"],
            settings={
                "TIMEZONE": default_tz,
                "RETURN_AS_TIMEZONE_AWARE": True,
                "PREFER_DAY_OF_MONTH": "first",
                "DATE_ORDER": "YMD",
                "RELATIVE_BASE": now.astimezone(ZoneInfo(default_tz)).replace(tzinfo=None),
            },
        )
    except (OverflowError, ValueError):  # "0001-01-01T00:00:00+14:00": before year 1 in UTC
        return None
