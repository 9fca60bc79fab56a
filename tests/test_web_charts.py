"""The overview's changes and trend charts, the indicator page and /api/v1/series/{indicator}
against a real uvicorn server (tests/helpers_web.py) on SQLite and PostgreSQL: the pages show
the stored a29 months (2023-11 = 9, 2023-12 = 17) with their intervals and changes, the charts'
JSON data blocks parse and hold the series, the hostile indicator name stays text, a bad period
type is 422, an unknown indicator 404, and the API's JSON has its documented shape."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from kernel.config import load_config
from reports.series import series_rows
from tests.helpers_web import EVIL_NAME, Client, Site, running_site
from web.indicator import items_period

ESCAPED_NAME = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;海鲜之都"


@pytest.fixture
def site(db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Site]:
    with running_site(db_url, tmp_path, caplog) as running:
        yield running


def _viewer(site: Site) -> Client:
    browser = site.client()
    assert browser.login("kim").status == 303
    return browser


def _data(html: str, block: str) -> Any:
    found = re.search(rf'<script type="application/json" id="{block}">(.*?)</script>', html, re.S)
    assert found, html
    assert "<" not in found.group(1)  # tojson escapes < > &: nothing in it can end the block
    return json.loads(found.group(1))


def _no_raw_markup(html: str) -> None:
    assert "<script>alert" not in html and 'alert("x")</script>' not in html


def test_overview_shows_changes_and_the_trend_data(site: Site) -> None:
    page = _viewer(site).get("/")
    assert page.status == 200
    _no_raw_markup(page.body)
    assert ESCAPED_NAME in page.body
    assert "17（95%：9.9–27）" in page.body
    # 2023-12 against 2023-11 (9 → 17) and against 2022-12, before the observed span
    assert "+8 条（+89%）" in page.body
    assert "无可比数据" in page.body
    assert "较上月、较去年同月" in page.body  # the line saying how they were computed
    assert 'href="/indicators/a29"' in page.body
    assert '<script src="/static/vendor/echarts.min.js"></script>' in page.body
    charts = {c["key"]: c for c in _data(page.body, "overview-data")}
    assert list(charts) == ["a29", "a68", "a67"]
    a29 = charts["a29"]
    assert a29["name"] == EVIL_NAME  # the real name, as data, escaped only in transport
    assert len(a29["months"]) == 24 and a29["months"][-2:] == ["2023-11", "2023-12"]
    assert a29["months"][0] == "2022-01"
    assert a29["values"][-2:] == [9.0, 17.0] and a29["values"][0] is None
    assert a29["lo"][-2:] == [4.1, 9.9] and a29["hi"][-2:] == [17.1, 27.2]
    assert charts["a68"]["months"] == [] and charts["a68"]["values"] == []


def test_the_indicator_page_shows_each_stored_period(site: Site) -> None:
    browser = _viewer(site)
    page = browser.get("/indicators/a29")
    assert page.status == 200
    _no_raw_markup(page.body)
    assert ESCAPED_NAME in page.body
    assert "9（95%：4.1–17）" in page.body and "17（95%：9.9–27）" in page.body
    assert "精确泊松" in page.body  # how the interval was computed
    html = unescape(page.body)
    assert 'href="/items?indicator=a29&period=2023-12"' in html
    chart = _data(page.body, "indicator-data")
    assert chart["periods"] == ["2023-11", "2023-12"]
    assert chart["items"] == [9, 17]
    assert chart["lo"] == [4.1, 9.9] and chart["hi"] == [17.1, 27.2]
    assert chart["links"] == [
        "/items?indicator=a29&period=2023-11",
        "/items?indicator=a29&period=2023-12",
    ]
    # each bar's link is a working items page
    assert browser.get(chart["links"][1]).status == 200
    # the period switch: nothing stored by week, and the page says so
    week = browser.get("/indicators/a29?period_type=week")
    assert week.status == 200 and "尚无已计算的数值" in week.body
    assert browser.get("/indicators/a68").status == 200


def test_bad_period_type_is_422_and_unknown_indicator_404(site: Site) -> None:
    browser = _viewer(site)
    assert browser.get("/indicators/a29?period_type=decade").status == 422
    missing = browser.get("/indicators/a99")
    assert missing.status == 404 and "配置中没有这个指标" in missing.body
    assert browser.get("/api/v1/series/a99").status == 404
    assert browser.get("/api/v1/series/a29?period_type=decade").status == 422
    hostile = browser.get("/indicators/%3Cscript%3E")
    assert hostile.status == 404 and "<script>" not in hostile.body


def test_series_api_is_the_stored_series(site: Site) -> None:
    token = site.token("kim")
    bearer = site.client(Authorization=f"Bearer {token}")
    reply = bearer.get("/api/v1/series/a29")
    assert reply.status == 200 and "application/json" in (reply.header("content-type") or "")
    doc = json.loads(reply.body)
    assert doc["indicator"] == "a29" and doc["name"] == EVIL_NAME
    assert doc["kind"] == "volume" and doc["period_type"] == "month"
    assert [r["period"] for r in doc["rows"]] == ["2023-11", "2023-12"]
    last = doc["rows"][-1]
    assert last["value"] == 17.0 and last["interval"] == [9.9, 27.2]
    assert last["items"] == 17 and last["stories"] == 15
    assert (last["start"], last["end"]) == ("2023-12-01", "2023-12-31")
    assert last["per_source"] == {}
    cfg = load_config(site.config)
    with site.sessions() as s:  # the rows `meiyu series a29` prints
        rows = series_rows(s, "a29", cfg.indicators["a29"], "month")
    for got, want in zip(doc["rows"], rows, strict=True):
        for k in ("items", "items_lo95", "items_hi95", "stories", "relevant", "definition_version"):
            assert got[k] == want[k]
    assert json.loads(bearer.get("/api/v1/series/a29?period_type=year").body)["rows"] == []
    spec = json.loads(bearer.get("/api/v1/openapi.json").body)
    assert "/api/v1/series/{indicator}" in spec["paths"]
    assert "SeriesOut" in spec["components"]["schemas"]
    # the CSV twin is still its own route, not taken by {indicator}
    assert bearer.get("/api/v1/series/a29.csv").status == 403  # analyst's, kim is a viewer


def test_items_period_of_each_period_type() -> None:
    assert items_period("month", "2023-12") == "2023-12"
    assert items_period("day", "2023-12-05") == "2023-12-05..2023-12-05"
    assert items_period("week", "2023-W52") == "2023-12-25..2023-12-31"
    assert items_period("quarter", "2023-Q4") == "2023-10-01..2023-12-31"
    assert items_period("year", "2023") == "2023-01-01..2023-12-31"
    assert dt.date.fromisoformat(items_period("week", "2020-W53")[:10]).isoweekday() == 1


def test_the_pages_follow_a_rewritten_series_at_once(site: Site) -> None:
    """The overview, the indicator page and the API keep what they computed from the stored
    series (web/cache.py) only while the series stay as they were: a recompute that rewrites
    a29's December shows on the next request of each."""
    from kernel.values import read_details
    from storage.models import IndicatorValue
    from storage.writes import ValueRecord, upsert_values

    browser = _viewer(site)
    before = [browser.get(p).body for p in ("/", "/indicators/a29", "/api/v1/indicators")]
    assert all("17（95%：9.9–27）" in b for b in before[:2]) and '"value":17.0' in before[2]
    with site.sessions() as s:
        row = (
            s.query(IndicatorValue)
            .filter_by(indicator="a29", period_type="month", period="2023-12")
            .one()
        )
        record = ValueRecord(
            "a29", "month", "2023-12", row.definition_version, 18.0, 18, row.n_stories,
            read_details(row.details),
        )  # fmt: skip
        upsert_values(s, [record])
        s.commit()
    after = [browser.get(p).body for p in ("/", "/indicators/a29", "/api/v1/indicators")]
    assert all("17（95%：9.9–27）" not in b for b in after[:2])
    assert all("18（95%" in b for b in after[:2]), after[0][-3000:]
    assert '"value":18.0' in after[2] and '"value":17.0' not in after[2]


def test_the_series_version_is_asked_at_most_once_per_recheck(site: Site) -> None:
    """`meiyu serve` asks the version once a second (meiyu.cli.serve.SERIES_RECHECK), not on
    every request: a rewritten series shows once that much time has passed, not before."""
    from storage.models import IndicatorValue
    from web.cache import SeriesCache

    now = [100.0]
    cache = SeriesCache(recheck=5.0, clock=lambda: now[0])
    computed: list[int] = []

    def compute() -> int:
        computed.append(1)
        return len(computed)

    def get() -> int:
        with site.sessions() as s:  # a request's own session
            return cache.get(s, "k", compute)

    assert get() == 1
    with site.sessions.begin() as w:  # what upsert_values does to a rewritten row
        rewritten = {"value": 99.0, "computed_at": dt.datetime.now(dt.UTC)}
        w.query(IndicatorValue).filter_by(period_type="month").update(rewritten)
    now[0] = 104.9
    assert get() == 1 and cache.version_reads == 1
    now[0] = 105.0
    assert get() == 2 and cache.version_reads == 2
    assert get() == 2 and cache.hits == 2


def test_a_new_alert_shows_on_the_cached_overview(site: Site) -> None:
    """The overview's month alerts come from the same cache: raising or growing an alert
    changes storage.queries.series_version, so the next overview shows it."""
    from storage.alerts import AlertRecord, save_alert

    browser = _viewer(site)
    assert "海鲜节负面报道激增测试" not in browser.get("/").body
    record = AlertRecord(
        "negative_spike", "a29", "2023-12-20", "2023-12-20", 3, 0.4, 0.01,
        "海鲜节负面报道激增测试", [],
    )  # fmt: skip
    with site.sessions() as s:
        alert_id, _ = save_alert(s, record)
        s.commit()
    assert "海鲜节负面报道激增测试" in browser.get("/").body
    grown = dataclasses.replace(record, observed=5, message="海鲜节负面报道激增测试，已增至 5 条")
    with site.sessions() as s:
        save_alert(s, grown, alert_id)
        s.commit()
    assert "已增至 5 条" in browser.get("/").body
