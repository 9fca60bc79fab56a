"""Dates from feeds and pages to aware UTC datetimes; a date without zone gets the source's."""

from __future__ import annotations

import datetime as dt
import email.utils
from zoneinfo import ZoneInfo

import dateparser


def parse_date(text: str | None, default_tz: str) -> dt.datetime | None:
    if not text or not text.strip():
        return None
    text = text.strip()
    parsed: dt.datetime | None
    try:
        parsed = email.utils.parsedate_to_datetime(text)  # RFC 822, the RSS norm: fast path
    except (TypeError, ValueError, IndexError):
        parsed = dateparser.parse(
            text,
            settings={
                "TIMEZONE": default_tz,
                "RETURN_AS_TIMEZONE_AWARE": True,
                "PREFER_DAY_OF_MONTH": "first",
                "DATE_ORDER": "YMD",
            },
        )
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(default_tz))
    return parsed.astimezone(dt.UTC)
