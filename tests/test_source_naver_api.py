"""Naver Search Open API (news): parser on the real captures and on the fixture API, the spider's
window/paging/cap logic, and what a real `meiyu crawl` against the fixture site must show beyond
tests/test_source_conformance.py (this file's CASE): the totals, the credentials."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from scrapy import Request

from crawlers.dates import parse_date
from crawlers.items import VolumeProbeItem
from crawlers.parsers import ParseError
from crawlers.parsers.naver_api import parse
from crawlers.query import Query
from crawlers.spiders.naver_api import NaverApiSpider
from meiyu.demo.fixturesite.corpus import Page, World
from meiyu.demo.fixturesite.server import FixtureSite
from meiyu.demo.fixturesite.sources import naver_api as fixture
from tests.conftest import SHARED
from tests.helpers_sources import (
    SEOUL,
    CrawlCase,
    CrawlResult,
    Fault,
    SourceCase,
    answer,
    ask,
    crawl,
    make_spider,
    search_query,
    stat,
    walk,
)
from tests.helpers_sources import capture as read_capture

CAPTURES = SHARED / "fixtures" / "sources" / "naver-api"
HOST = "openapi.naver.com"
QUERIES = ["웨이하이", "위해시", "威海", "Weihai"]  # a67's name forms, as meiyu.toml defines them
CREDS = {"NAVER_CLIENT_ID": "test-id", "NAVER_CLIENT_SECRET": "test-secret"}
SOURCE: dict[str, object] = {
    "name": "naver-api",
    "kind": "naver_api",
    "language": "ko",
    "outlet": "네이버 검색 API",
    "timezone": "Asia/Seoul",
    "base_url": "http://openapi.naver.com",
}
AUTH = {"x-naver-client-id": "test-id", "x-naver-client-secret": "test-secret"}
# 203 hits over four years: three pages of 100.
WALK = search_query("웨이하이", "ko")


def capture(name: str) -> bytes:
    return read_capture(CAPTURES / name)


def api_url(params: dict[str, object]) -> str:
    return f"http://{HOST}{fixture.PATH}?{urlencode(params)}"


def api(
    world: World, params: dict[str, object], headers: dict[str, str] | None = None, hit: int = 2
) -> Page:
    return ask(world, api_url(params), hit=hit, headers=AUTH if headers is None else headers)


# ------------------------------------------------------------------ real captures


def test_real_full_response() -> None:
    result = parse(capture("news_query-IU_2021-03-30.json"), "https://openapi.naver.com/x")
    assert result.total == 326606
    assert result.next_url is None and result.blocked is None
    assert len(result.mentions) == 10
    first, second = result.mentions[0], result.mentions[1]
    # <b> gone, &quot; resolved, the U+00A0 of item 1 collapsed
    assert first.title == (
        "'볼륨' 아이유 \"'코인' 일 중독이었던 내 20대 빗댄 곡…1위보다 롱런 더 중요..."
    )
    assert first.snippet.startswith("사진=아이유 '코인' 뮤직비디오 영상캡처 가수 아이유가")
    assert "\xa0" not in first.snippet
    assert first.url == "http://www.newsinside.kr/news/articleView.html?idxno=1105992"
    # partner outlet: originallink (publisher) is followed, not the news.naver.com copy
    assert second.url == "https://hankookilbo.com/News/Read/A2021033021570003604?did=NA"
    assert not any("naver.com" in m.url for m in result.mentions)
    assert all(
        "<b>" not in m.title + m.snippet and "&quot;" not in m.title for m in result.mentions
    )
    assert [m.published for m in result.mentions][:2] == [
        "Tue, 30 Mar 2021 22:46:00 +0900",
        "Tue, 30 Mar 2021 22:15:00 +0900",
    ]
    dates = [d for m in result.mentions if (d := parse_date(m.published, "Asia/Seoul"))]
    assert len(dates) == 10
    assert dates == sorted(dates, reverse=True)  # as sorted by the API (sort=date)
    assert dates[0] == dt.datetime(2021, 3, 30, 22, 46, tzinfo=SEOUL)
    assert dates[-1] == dt.datetime(2021, 3, 30, 19, 53, tzinfo=SEOUL)


def test_real_wire_fragment() -> None:
    fragment = capture("news_wire_fragment_2026-02-12.txt")
    with pytest.raises(ParseError):
        parse(fragment, "https://openapi.naver.com/x")  # not a whole response
    whole = b"{\n\t" + fragment.rstrip() + b"\n\t\t}\n\t]\n}"
    result = parse(whole, "https://openapi.naver.com/x")
    assert result.total == 5353803
    [mention] = result.mentions
    assert mention.title == "강원FC 아시아 무대 16강 경쟁 끝까지 간다"
    assert mention.url == "https://www.kado.net/news/articleView.html?idxno=2033937"  # not sports
    assert "AFC(아시아축구연맹)" in mention.snippet and mention.snippet.endswith("...")
    assert parse_date(mention.published, "Asia/Seoul") == dt.datetime(
        2026, 2, 12, 14, 30, tzinfo=SEOUL
    )


# ------------------------------------------------------------------ fixture API


def test_fixture_pages_parse_to_the_world(world: World) -> None:
    hits = world.search("웨이하이", language="ko")
    assert 100 < len(hits) < fixture.MAX_RESULTS
    page1 = api(world, {"query": "웨이하이", "display": 100, "start": 1, "sort": "date"})
    assert page1.status == 200 and page1.content_type.startswith("application/json")
    body = page1.body.decode()
    # the wire style of the real API
    assert '\n\t"total":' in body and "<b>웨이하이<\\/b>" in body and "http:\\/\\/www." in body
    result = parse(page1.body, "http://openapi.naver.com/v1/search/news.json")
    assert result.total == len(hits)
    assert [m.url for m in result.mentions] == [a.url for a in hits[:100]]
    assert [m.title for m in result.mentions] == [a.title for a in hits[:100]]
    assert all(
        parse_date(m.published, "Asia/Seoul") == a.published.replace(second=0)
        for m, a in zip(result.mentions, hits, strict=False)
    )
    items = json.loads(page1.body)["items"]
    assert any(not i["originallink"] for i in items)  # fallback to link exercised
    assert any(i["link"].startswith("https://n.news.naver.com/") for i in items)  # Naver copy
    last = api(world, {"query": "웨이하이", "display": 100, "start": 201, "sort": "date"})
    assert [m.url for m in parse(last.body, "x").mentions] == [a.url for a in hits[200:300]]
    none = api(world, {"query": "Weihai", "display": 100, "start": 1, "sort": "date"})
    empty = parse(none.body, "x")
    assert empty.total == 0 and empty.mentions == []


@pytest.mark.parametrize(
    ("params", "headers", "status", "code"),
    [
        ({"query": "웨이하이"}, {}, 401, "024"),
        ({"query": "웨이하이"}, {**AUTH, "x-naver-client-secret": "nope"}, 401, "024"),
        ({"query": ""}, None, 400, "SE01"),
        ({"query": "웨이하이", "display": 101}, None, 400, "SE02"),
        ({"query": "웨이하이", "start": 1001}, None, 400, "SE03"),
        ({"query": "웨이하이", "sort": "new"}, None, 400, "SE04"),
    ],
)
def test_fixture_errors_are_api_errors(
    world: World, params: dict[str, object], headers: dict[str, str] | None, status: int, code: str
) -> None:
    page = api(world, params, headers)
    assert page.status == status
    assert json.loads(page.body)["errorCode"] == code
    with pytest.raises(ParseError, match=code):
        parse(page.body, "x")


def test_fixture_caps_at_1000_results(world: World) -> None:
    """A query with more than 1000 hits: `total` counts them all, paging stops at the 1000th."""
    base = world.search("웨이하이", language="ko")
    many = [dataclasses.replace(a, slug=f"{a.slug}c{i}") for i in range(6) for a in base]
    big = World(sorted(many, key=lambda a: (a.published, a.slug)))
    assert len(many) > 1000
    top = api(big, {"query": "웨이하이", "display": 100, "start": 901, "sort": "date"})
    result = parse(top.body, "x")
    assert result.total == len(many) and len(result.mentions) == 100
    assert (
        len(
            parse(api(big, {"query": "웨이하이", "display": 100, "start": 1000}).body, "x").mentions
        )
        == 1
    )
    assert api(big, {"query": "웨이하이", "start": 1001}).status == 400


# ------------------------------------------------------------------ spider logic


def spider(monkeypatch: pytest.MonkeyPatch) -> NaverApiSpider:
    for name, value in CREDS.items():
        monkeypatch.setenv(name, value)
    made = make_spider(SOURCE)
    assert isinstance(made, NaverApiSpider)
    return made


def test_spider_keeps_the_window_and_stops_early(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = spider(monkeypatch)
    query = Query("a67", "웨이하이", "ko", dt.date(2023, 6, 1), dt.date(2023, 8, 31), "Asia/Seoul")
    [first] = list(s.search_requests(query))
    # credentials are added at download time only (never stored in the Request)
    assert first.meta["meiyu_auth"] and b"X-Naver-Client-Id" not in first.headers
    assert s.auth_headers() == {
        "X-Naver-Client-Id": "test-id",
        "X-Naver-Client-Secret": "test-secret",
    }
    assert parse_qs(urlsplit(first.url).query) == {
        "query": ["웨이하이"],
        "display": ["100"],
        "start": ["1"],
        "sort": ["date"],
    }
    response = answer(world, first, s)  # credentials added as at download time
    assert response.status == 200
    out = list(s.parse_search(response, query, 1))
    probes = [o for o in out if isinstance(o, VolumeProbeItem)]
    assert [p.reported_total for p in probes] == [len(world.search("웨이하이", "ko"))]
    followed = [o for o in out if isinstance(o, Request) and o.callback == s.parse_article]
    planted = world.search("웨이하이", "ko", query.start, query.end)
    assert planted and [r.url for r in followed] == [a.url for a in planted]
    # the articles' requests never carry the credentials
    assert all(b"X-Naver-Client-Secret" not in r.headers for r in followed)
    # page 1 reaches back before June 2023: no page 2
    assert not [o for o in out if isinstance(o, Request) and o.callback == s.parse_search]
    assert stat(s, "meiyu/outside_window") == 100 - len(planted)


def test_spider_pages_on_while_inside_the_window(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = spider(monkeypatch)
    query = WALK
    done = walk(world, s, s.search_requests(query))
    for page, request in enumerate(done.searched[1:], 2):
        assert parse_qs(urlsplit(request.url).query)["start"] == [str(1 + 100 * (page - 1))]
        assert request.meta["meiyu_auth"] and b"X-Naver-Client-Secret" not in request.headers
    assert len(done.searched) == 3  # 203 results: pages 1, 101, 201; the short third ends it
    urls = [r.url for r in done.followed]
    assert urls == [a.url for a in world.search("웨이하이", "ko", query.start, query.end)]


def test_spider_stops_at_the_1000_cap(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    s = spider(monkeypatch)
    base = world.search("웨이하이", language="ko")
    many = [dataclasses.replace(a, slug=f"{a.slug}c{i}") for i in range(6) for a in base]
    big = World(sorted(many, key=lambda a: (a.published, a.slug)))
    done = walk(big, s, s.search_requests(WALK))
    pages, followed = len(done.searched), len(done.followed)
    assert pages == 10 and followed == 1000  # the rest of the window is out of the API's reach
    assert stat(s, "meiyu/naver_api/capped") == 1


# ------------------------------------------------------------------ end to end


def check_crawl(result: CrawlResult, world: World, site: FixtureSite) -> None:
    """After the shared checks of the crawl (test_source_conformance): a67's name forms, each
    under the 1000 cap; the totals probed; the planted 429s asked again."""
    config = result.config
    queries = [q for _, q in config.queries_for(config.source("naver-api"))]
    assert queries == QUERIES  # a67's name forms
    # No date filter, a 1000 cap: the whole window fits under it for every query.
    assert all(len(world.search(q, "ko")) < fixture.MAX_RESULTS for q in queries)
    window = result.window("naver-api")
    assert {(p.query, p.reported_total) for p in result.probes} == {
        (q, len(world.search(q, "ko"))) for q in queries
    }
    assert all(p.window_start == window.start and p.window_end == window.end for p in result.probes)
    [run] = result.runs
    assert run.stats["meiyu/volume_probes"] == len(queries)
    rate_limited = [u for u in site.hits if u.startswith(f"http://{HOST}/") and "start=101" in u]
    assert rate_limited and all(site.hits[u] >= 2 for u in rate_limited)


@pytest.mark.parametrize("present", [{}, {"NAVER_CLIENT_ID": "test-id"}])
def test_without_credentials_the_source_is_skipped(
    tmp_path: Path, site: FixtureSite, present: dict[str, str]
) -> None:
    before = sum(n for u, n in site.hits.items() if urlsplit(u).hostname == HOST)
    env = {"NAVER_CLIENT_ID": "", "NAVER_CLIENT_SECRET": "", **present}
    result = crawl(
        tmp_path,
        site,
        [SOURCE],
        since=dt.date(2023, 1, 1),
        settings={"timeout_seconds": 2},
        env=env,
        twice=False,
    )
    proc = result.first
    assert proc.returncode == 0, proc.stderr
    output = proc.stdout + proc.stderr
    assert "skipped" in output and "NAVER_CLIENT_SECRET" in output
    assert ("NAVER_CLIENT_ID" in output) == (not present)  # only what is missing is named
    assert "test-id" not in output
    assert sum(n for u, n in site.hits.items() if urlsplit(u).hostname == HOST) == before
    assert all("test-id" not in repr(r) for r in result.runs)


def test_wrong_credentials_are_a_clear_failure(tmp_path: Path, site: FixtureSite) -> None:
    env = {"NAVER_CLIENT_ID": "test-id", "NAVER_CLIENT_SECRET": "wrong-secret-123"}
    result = crawl(
        tmp_path,
        site,
        [SOURCE],
        since=dt.date(2023, 1, 1),
        settings={"timeout_seconds": 2},
        env=env,
        args=("--indicator", "a67"),
        twice=False,
    )
    proc = result.first
    assert proc.returncode == 1
    assert "HTTP 401 (024: NID AUTH Result Invalid" in proc.stderr
    assert "wrong-secret-123" not in proc.stdout + proc.stderr
    assert result.runs[-1].status == "partial"
    assert all("wrong-secret-123" not in repr(r) for r in result.runs)


CASE = SourceCase(
    kind="naver_api",
    search_url="http://openapi.naver.com/v1/search/news.json",
    malformed=(
        b"<html><body><h1>\xff\xfe Welcome</h1></body></html>",
        b'{"lastBuildDate":"Tue, 30 Mar 2021 23:56:02 +0900","total":3,"items":[{"title"',
        b"[]",
        b'{"total": 3}',
        b"",
    ),
    source=SOURCE,
    env=CREDS,
    # The first hit of every page from start=101 on answers 429.
    faults=lambda spider, world: [
        Fault(
            "429",
            api_url({"query": "웨이하이", "display": 100, "start": 101, "sort": "date"}),
            headers=AUTH,
        )
    ],
    walk=WALK,
    dates="minute",  # pubDate to the minute
    pieces=1,  # no date parameters: one query over the window, newest first
    crawl=CrawlCase(
        sources=[SOURCE],
        env=CREDS,
        secrets=tuple(CREDS.values()),
        probes=True,
        check=check_crawl,
    ),
)
