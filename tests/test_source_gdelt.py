"""GDELT DOC 2.0 API: the parser on the real artlist capture and on the fixture API, the
window splitting at the 250 cap, and what one real `meiyu crawl` of a Korean and a Chinese
source must show beyond tests/test_source_conformance.py (this file's CASE): the day probes."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pytest

from crawlers.parsers import ParseError
from crawlers.parsers.gdelt import Timeline, detokenise, parse, parse_timeline
from crawlers.query import Query
from crawlers.spiders.gdelt import MAX_RECORDS, GdeltSpider, probe_windows, split_window
from meiyu.demo.fixturesite.corpus import World
from meiyu.demo.fixturesite.server import FixtureSite
from meiyu.demo.fixturesite.sources import gdelt as responder
from tests.conftest import SHARED
from tests.helpers_sources import (
    SHANGHAI,
    UTC,
    WINDOW,
    CrawlCase,
    CrawlResult,
    Fault,
    SourceCase,
    make_spider,
)
from tests.helpers_sources import ask as _ask
from tests.helpers_sources import aware as _utc

CAPTURE = SHARED / "fixtures" / "sources" / "gdelt" / "gdelt_doc_artlist_2026-01.json"
BASE = "http://api.gdeltproject.org"
SOURCES: dict[str, dict[str, object]] = {
    language: {
        "name": f"gdelt-{language}",
        "kind": "gdelt",
        "language": language,
        "outlet": "GDELT",
        "base_url": BASE,
        "timezone": tz,
    }
    for language, tz in (("zh", "Asia/Shanghai"), ("ko", "Asia/Seoul"))
}


def _spider(language: str, slice_days: int = 31) -> GdeltSpider:
    spider = make_spider(SOURCES[language], slice_days=slice_days)
    assert isinstance(spider, GdeltSpider)
    return spider


def _query(text_: str, language: str, tz: str = "Asia/Shanghai") -> Query:
    return Query("a29", text_, language, *WINDOW, tz)


# ------------------------------------------------------------------ the real capture


def test_real_artlist_capture() -> None:
    if not CAPTURE.exists():
        pytest.skip("shared captures not present")
    body = CAPTURE.read_bytes()
    raw = json.loads(body)["articles"]
    page = parse(body, "https://api.gdeltproject.org/api/v2/doc/doc?mode=artlist&format=json")
    assert page.blocked is None and page.total is None and page.next_url is None
    assert len(page.mentions) == len(raw) == 250
    assert [m.url for m in page.mentions] == [a["url"] for a in raw]
    assert all(m.url.startswith(("http://", "https://")) for m in page.mentions)
    assert [m.outlet for m in page.mentions] == [a["domain"] for a in raw]
    published = [dt.datetime.fromisoformat(m.published or "") for m in page.mentions]
    assert all(p.utcoffset() == dt.timedelta(0) for p in published)
    assert min(published) == dt.datetime(2026, 1, 12, 5, 45, tzinfo=UTC)
    assert max(published) == dt.datetime(2026, 1, 23, 3, 15, tzinfo=UTC)
    by_url = {m.url: m for m in page.mentions}
    ko = by_url["https://www.etoday.co.kr/news/view/2548228"]
    assert ko.title == "코리안리, 인도 지점 개점식 개최…현지 영업 본격화"
    assert ko.published == "2026-01-22T02:15:00+00:00"
    zh = next(m for m in page.mentions if m.title.startswith("印度专家直言"))
    assert zh.title == "印度专家直言：我们指望中国技术，但人家凭啥给？"
    assert zh.outlet == "163.com"
    # Every title is tidied of GDELT's spaced punctuation, nothing else lost.
    assert all(m.title and "  " not in m.title and " ，" not in m.title for m in page.mentions)
    langs = Counter(a["language"] for a in raw)
    assert (langs["Chinese"], langs["Korean"]) == (47, 13)


def test_detokenise_keeps_what_is_ambiguous() -> None:
    assert detokenise("立讯精密 ， 仲裁追讨1 . 53亿元款项") == "立讯精密，仲裁追讨1.53亿元款项"
    assert detokenise("Merz in Indien : Deutschland - Plan") == "Merz in Indien: Deutschland - Plan"
    assert detokenise(" 「 微特稿 」 西班牙 ") == "「微特稿」西班牙"
    assert detokenise("몰려 ( 전재 ) ") == "몰려 (전재)"


# ------------------------------------------------------------------ the fixture API


def test_fixture_artlist_is_the_world_in_date_order(world: World) -> None:
    query = _query("刘公岛 海洋文化", "zh")
    url = _spider("zh").api_url(query, "artlist", query.start, query.end)
    assert "sourcelang%3Achinese" in url and "maxrecords=250" in url and "sort=DateAsc" in url
    assert "startdatetime=20191231160000" in url and "enddatetime=20231231155959" in url
    page = _ask(world, url)
    assert page.status == 200 and page.content_type.startswith("application/json")
    result = parse(page.body, url)
    want = sorted(world.search(query.text, "zh", query.start, query.end), key=lambda a: a.published)
    assert 0 < len(want) < MAX_RECORDS
    assert [m.url for m in result.mentions] == [a.url for a in want]
    assert [m.title for m in result.mentions] == [a.title for a in want]  # de-tokenised
    assert [m.outlet for m in result.mentions] == [a.outlet.host for a in want]
    assert [dt.datetime.fromisoformat(m.published or "") for m in result.mentions] == [
        a.published for a in want
    ]


def test_fixture_caps_at_250_and_the_spider_splits(world: World) -> None:
    query = _query("威海 海鲜", "zh")
    spider = _spider("zh")
    want = world.search(query.text, "zh", query.start, query.end)
    assert len(want) > MAX_RECORDS  # the window is too busy for one answer
    first = parse(_ask(world, spider.api_url(query, "artlist", query.start, query.end)).body, "")
    assert len(first.mentions) == MAX_RECORDS
    oldest = sorted(want, key=lambda a: a.published)[:MAX_RECORDS]
    assert [m.url for m in first.mentions] == [a.url for a in oldest]  # DateAsc, cut off

    # Split as the spider does until every piece is under the cap: the union is everything.
    found: list[str] = []
    pending = [(query.start, query.end)]
    pieces = 0
    while pending:
        start, end = pending.pop()
        got = parse(_ask(world, spider.api_url(query, "artlist", start, end)).body, "").mentions
        if len(got) >= MAX_RECORDS:
            halves = split_window(start, end)
            assert halves is not None
            pending.extend(halves)
            continue
        pieces += 1
        found += [m.url for m in got]
    assert pieces >= 2
    assert sorted(found) == sorted(a.url for a in want)  # nothing lost, nothing twice


def test_split_window_rounds_to_days_then_hours() -> None:
    start = dt.datetime(2019, 12, 31, 16, tzinfo=UTC)
    end = start + dt.timedelta(days=1461)
    halves = split_window(start, end)
    assert halves is not None
    (a, mid), (mid2, b) = halves
    assert (a, b, mid) == (start, end, mid2)
    assert mid.time() == dt.time(0) and start < mid < b
    halves = split_window(start, start + dt.timedelta(days=1))
    assert halves is not None and halves[0][1] == dt.datetime(2020, 1, 1, 4, tzinfo=UTC)
    halves = split_window(start, start + dt.timedelta(hours=1))
    assert halves is not None and halves[0][1] == start + dt.timedelta(minutes=30)
    assert split_window(start, start + dt.timedelta(minutes=15)) is None


def test_fixture_timeline_counts_each_day(world: World) -> None:
    query = _query("웨이하이", "ko", "Asia/Seoul")
    url = _spider("ko").api_url(query, "timelinevolraw", query.start, query.end)
    assert "mode=timelinevolraw" in url and "sourcelang%3Akorean" in url
    timeline = parse_timeline(_ask(world, url).body, url)
    assert timeline.blocked is None and timeline.resolution == dt.timedelta(days=1)
    want = world.search(query.text, "ko", query.start, query.end)
    assert sum(v for _, v in timeline.buckets) == len(want)
    days = [d for d, _ in timeline.buckets]
    assert days[0] == dt.datetime(2019, 12, 31, tzinfo=UTC)  # 00:00 KST is 15:00 UTC the day before
    assert days[-1] == dt.datetime(2023, 12, 31, tzinfo=UTC)
    assert len(days) == len(set(days)) == 1462
    per_day = Counter(a.published.astimezone(UTC).date() for a in want)
    assert {d.date(): v for d, v in timeline.buckets if v} == dict(per_day)
    with pytest.raises(ParseError):
        parse(_ask(world, url).body, url)  # a timeline is not an artlist
    empty = _ask(world, url.replace("%EC%9B%A8%EC%9D%B4%ED%95%98%EC%9D%B4", "Weihai"))
    assert empty.body == b"{}" and parse_timeline(empty.body, url).buckets == []
    assert parse(b"{}", url).mentions == []


def test_probe_windows_clip_and_merge_empty_days() -> None:
    day = dt.timedelta(days=1)
    d0 = dt.datetime(2019, 12, 31, tzinfo=UTC)
    counts = [2, 0, 0, 0, 1, 0, 3]
    timeline = Timeline(day, [(d0 + i * day, n) for i, n in enumerate(counts)])
    start = dt.datetime(2020, 1, 1, tzinfo=SHANGHAI)  # 2019-12-31 16:00 UTC
    end = start + 6 * day
    windows = probe_windows(timeline, start, end)
    assert windows == [
        (start.astimezone(UTC), d0 + day, 2),
        (d0 + day, d0 + 4 * day, 0),
        (d0 + 4 * day, d0 + 5 * day, 1),
        (d0 + 5 * day, d0 + 6 * day, 0),
        (d0 + 6 * day, end.astimezone(UTC), 3),
    ]


def faults(spider: GdeltSpider, world: World) -> list[Fault]:
    """The fault of each (mode, query), by checksum: the plain-text throttle on artlist of
    "Weihai", a 429 on artlist of 위해시, a slow timeline of 웨이하이 (first hit only)."""
    query = _query("Weihai", "ko")
    return [
        Fault("blocked", spider.api_url(query, "artlist", query.start, query.end), "throttled"),
        Fault("429", spider.api_url(_query("위해시", "ko"), "artlist", query.start, query.end)),
        Fault(
            "slow",
            spider.api_url(_query("웨이하이", "ko"), "timelinevolraw", query.start, query.end),
        ),
    ]


def test_throttling_and_faults(world: World) -> None:
    assert responder.fault_for("artlist", "Weihai") == "throttle"
    assert responder.fault_for("artlist", "위해시") == "429"
    assert responder.fault_for("timelinevolraw", "웨이하이") == "slow"
    [throttle, _, _] = faults(_spider("ko"), world)
    page = _ask(world, throttle.url, hit=1)
    assert page.status == 200 and page.content_type.startswith("text/plain")
    result = parse(page.body, throttle.url)
    assert parse_timeline(page.body, throttle.url).blocked == result.blocked
    assert _ask(world, throttle.url, hit=2).body == b"{}"  # gone on the second ask


def test_malformed_timeline_raises() -> None:
    with pytest.raises(ParseError):
        parse_timeline(b'{"articles": []}', "")
    with pytest.raises(ParseError):
        parse_timeline(b'{"timeline": [{"series": "Article Count", "data": [{"date": 1}]}]}', "")
    with pytest.raises(ParseError):
        parse_timeline(b"Invalid query.\n", "")


# ------------------------------------------------------------------ end to end

CRAWLED = [
    # One slice: 威海 海鲜's 380 hits come back capped at 250 and must be split.
    {**SOURCES["zh"], "slice_days": 2000},
    {**SOURCES["ko"], "slice_days": 800},
]


def check_crawl(result: CrawlResult, world: World, site: FixtureSite) -> None:
    """After the shared checks (test_source_conformance): the volume probes are the days of
    each query's window, summing to the engine's hits; both sources met every fault."""
    queries = {
        "gdelt-zh": [_query(q, "zh") for q in ("威海 海鲜", "刘公岛 海洋文化")],
        "gdelt-ko": [
            _query(q, "ko", "Asia/Seoul") for q in ("웨이하이", "위해시", "威海", "Weihai")
        ],
    }
    probes = result.probes
    for name, qs in queries.items():
        planted = result.planted(world, name)
        assert sorted(planted) == sorted(q.text for q in qs)
        for q in qs:
            mine = sorted(
                (_utc(p.window_start), _utc(p.window_end), p.reported_total)
                for p in probes
                if p.source == name and p.query == q.text
            )
            total = len(planted[q.text])
            if total == 0:
                assert mine == []  # GDELT answers {} for a query without hits
                continue
            assert sum(n for _, _, n in mine) == total
            assert mine[0][0] == q.start and mine[-1][1] == q.end
            assert all(a[1] == b[0] for a, b in zip(mine, mine[1:], strict=False))  # no gaps
            assert all(b - a <= dt.timedelta(days=1) for a, b, n in mine if n)

    stat = result.stat
    assert stat("downloader/response_status_count/429") >= 2  # both sources met one
    assert stat("retry/reason_count/429") >= 2
    assert stat("meiyu/antibot") >= 2  # the plain-text throttle, on artlist and timeline
    assert stat("TimeoutError") >= 2
    assert stat("meiyu/gdelt_splits") >= 1


CASE = SourceCase(
    kind="gdelt",
    search_url="http://api.gdeltproject.org/api/v2/doc/doc",
    malformed=(
        b"<html><body>Not Found</body></html>",
        b"The specified phrase is too short.\n",
        b"",
        b'{"articles": [{"url": "http://a.test/1", "title": "x"',
        b'{"articles": {"url": "http://a.test/1"}}',
        b'{"articles": [{"title": "no url"}]}',
        b'{"articles": [{"url": "http://a.test/1", "seendate": "2026-01-01"}]}',
        b"[1, 2]",
    ),
    source=SOURCES["zh"],
    faults=faults,
    blocked=responder.THROTTLE_TEXT,
    says="throttled",
    # Four years in one slice: 380 hits, capped at 250, split until every piece fits.
    walk=_query("威海 海鲜", "zh"),
    walk_source={"slice_days": 2000},
    walk_splits=True,
    outlet=lambda a: a.outlet.host,  # the domain
    crawl=CrawlCase(sources=CRAWLED, probes=True, check=check_crawl),
)
