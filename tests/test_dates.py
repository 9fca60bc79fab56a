"""Dates as sources show them: absolute, zoneless, compact ISO, and relative forms."""

from __future__ import annotations

import datetime as dt

import pytest

from crawlers.dates import parse_date

NOW = dt.datetime(2025, 4, 28, 4, 25, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("Tue, 30 Mar 2021 22:46:00 +0900", "Asia/Seoul", dt.datetime(2021, 3, 30, 13, 46)),
        ("2023-05-04 10:00:00", "Asia/Shanghai", dt.datetime(2023, 5, 4, 2, 0)),
        ("2023.05.01.", "Asia/Seoul", dt.datetime(2023, 4, 30, 15, 0)),
        ("2023年5月1日", "Asia/Shanghai", dt.datetime(2023, 4, 30, 16, 0)),
        ("20240101T083000Z", "Asia/Shanghai", dt.datetime(2024, 1, 1, 8, 30)),
        ("3小时前", "Asia/Shanghai", dt.datetime(2025, 4, 28, 1, 25)),
        ("昨天", "Asia/Shanghai", dt.datetime(2025, 4, 27, 4, 25)),
        ("2일 전", "Asia/Seoul", dt.datetime(2025, 4, 26, 4, 25)),
        ("3시간 전", "Asia/Seoul", dt.datetime(2025, 4, 28, 1, 25)),
        ("어제", "Asia/Seoul", dt.datetime(2025, 4, 27, 4, 25)),
    ],
)
def test_forms(text: str, tz: str, expected: dt.datetime) -> None:
    assert parse_date(text, tz, now=NOW) == expected.replace(tzinfo=dt.UTC)


@pytest.mark.parametrize("text", ["", "garbage", "1799", "2031-01-01", None])
def test_refused(text: str | None) -> None:
    assert parse_date(text, "Asia/Shanghai", now=NOW) is None
