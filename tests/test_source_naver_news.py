"""Naver news search HTML: parser on the real captures (two sds-comps layouts) and on the fixture
pages, the spider's slicing/paging/date precision, and what a real `meiyu crawl` against the
fixture site must show beyond tests/test_source_conformance.py (this file's CASE): later pages
asked, every planted fault met and asked again."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from crawlers.dates import parse_date
from crawlers.items import Mention
from crawlers.parsers import ParseError
from crawlers.parsers.naver_news import parse
from crawlers.query import Query
from crawlers.spiders.naver_news import NaverNewsSpider, page_timestamp
from meiyu.demo.fixturesite.corpus import Page, World
from meiyu.demo.fixturesite.server import FixtureSite
from meiyu.demo.fixturesite.sources import naver_news as fixture
from tests.conftest import SHARED
from tests.helpers_sources import (
    SEOUL,
    CrawlCase,
    CrawlResult,
    Fault,
    SourceCase,
    ask,
    make_spider,
    walk,
)
from tests.helpers_sources import capture as read_capture

CAPTURES = SHARED / "fixtures" / "sources" / "naver-html"
HOST = "search.naver.com"
QUERIES = ["웨이하이", "위해시", "威海", "Weihai"]  # a67's name forms, as meiyu.toml defines them
SOURCE: dict[str, object] = {
    "name": "naver-news",
    "kind": "naver_news",
    "language": "ko",
    "outlet": "네이버 뉴스검색",
    "timezone": "Asia/Seoul",
    "base_url": "http://search.naver.com",
}
SEARCH_URL = "https://search.naver.com/search.naver?where=news&query=x"
WIDE = Query("a67", "웨이하이", "ko", dt.date(2021, 1, 1), dt.date(2021, 12, 31), "Asia/Seoul")


def capture(name: str) -> bytes:
    return read_capture(CAPTURES / name)


def search_url(params: dict[str, str]) -> str:
    return f"http://{HOST}{fixture.PATH}?{urlencode(params)}"


def search(world: World, params: dict[str, str], hit: int = 2) -> Page:
    return ask(world, search_url(params), hit=hit, headers={})


def params(q: str, since: dt.date, until: dt.date, start: int = 1) -> dict[str, str]:
    return {
        "where": "news",
        "query": q,
        "sort": "1",
        "ds": f"{since:%Y.%m.%d}",
        "de": f"{until:%Y.%m.%d}",
        "nso": f"so:dd,p:from{since:%Y%m%d}to{until:%Y%m%d},a:all",
        "start": str(start),
    }


# ------------------------------------------------------------------ real captures


def test_real_2025_layout() -> None:
    result = parse(capture("naver_news_search_2025-04-28_sds.html"), SEARCH_URL)
    assert result.total is None and result.blocked is None and result.next_url is None
    assert len(result.mentions) == 10
    first, second = result.mentions[:2]
    assert first.title == "불황에도 매출 25% 상승…성공비결 인건비 ‘다이어트’"
    assert first.url == "https://biz.heraldcorp.com/article/10471898?ref=naver"
    assert first.outlet == "헤럴드경제"
    assert first.published == "5일 전"  # not the print position "19면 1단" shown before it
    # <mark> highlights joined back into the words
    assert second.title == "페이히어, 프랜차이즈용 '수발주 관리' 서비스 출시"
    assert second.snippet.startswith("사진=페이히어 제공 통합 매장 관리 플랫폼 페이히어가")
    assert second.outlet == "데일리한국"
    # a cluster's related articles (other presses, body2 titles) are not separate results
    assert second.url == "https://daily.hankooki.com/news/articleView.html?idxno=1205884"
    assert [m.published for m in result.mentions] == [
        "5일 전",
        "1주 전",
        "4일 전",
        "1주 전",
        "1주 전",
        "3주 전",
        "3주 전",
        "3주 전",
        "2주 전",
        "8시간 전",
    ]
    assert [m.outlet for m in result.mentions][5:8] == ["이데일리", "신아일보", "국민일보"]
    _common_checks(result.mentions)


def test_real_2026_layout() -> None:
    result = parse(capture("naver_news_search_2026-05-24_sds.html"), SEARCH_URL)
    assert result.total is None and result.blocked is None
    assert len(result.mentions) == 10
    second = result.mentions[1]
    assert second.title == "[기고] '속도의 게임'에 돌입한 AI 반도체"
    assert second.url == "https://www.mk.co.kr/article/12056608"
    assert second.outlet == "매일경제"
    assert second.published == "1분 전"  # after "A22면 1단", before "네이버뉴스"
    assert second.snippet.startswith("미세공정 확보로는 한계 새 계산규격 선점이 관건")
    assert "R&D" in second.snippet  # &amp; resolved
    assert [m.published for m in result.mentions] == ["1분 전"] * 3 + ["2분 전"] * 3 + [
        "3분 전"
    ] * 4
    assert [m.outlet for m in result.mentions][:3] == ["한국경제", "매일경제", "신아일보"]
    _common_checks(result.mentions)


def _common_checks(mentions: list[Mention]) -> None:
    now = dt.datetime.now(dt.UTC)
    for m in mentions:
        assert m.url.startswith("http") and "naver.com" not in m.url  # original article URLs
        assert m.title and m.snippet and m.outlet
        when = parse_date(m.published, "Asia/Seoul")  # relative: against now
        assert when is not None and now - dt.timedelta(days=31) < when <= now
    assert len({m.url for m in mentions}) == len(mentions)


# ------------------------------------------------------------------ fixture pages


def test_fixture_page_parses_to_the_world(world: World) -> None:
    since, until = dt.date(2021, 1, 1), dt.date(2021, 12, 31)
    start = dt.datetime(2021, 1, 1, tzinfo=SEOUL)
    hits = world.search("웨이하이", "ko", start, start.replace(year=2022))
    assert len(hits) > 20
    page1 = search(world, params("웨이하이", since, until))
    assert b"fds-news-item-list-tab" in page1.body and b"news_tit" not in page1.body
    result = parse(page1.body, SEARCH_URL)
    assert result.total is None and result.blocked is None
    assert [m.url for m in result.mentions] == [a.url for a in hits[:10]]
    assert [m.title for m in result.mentions] == [a.title for a in hits[:10]]
    assert [m.outlet for m in result.mentions] == [a.outlet.name for a in hits[:10]]
    assert [m.published for m in result.mentions] == [
        f"{a.published.astimezone(SEOUL):%Y.%m.%d}." for a in hits[:10]
    ]
    assert all("웨이하이" in m.snippet for m in result.mentions)
    page3 = parse(search(world, params("웨이하이", since, until, start=21)).body, SEARCH_URL)
    assert [m.url for m in page3.mentions] == [a.url for a in hits[20:30]]
    # ds/de alone (no nso) give the same period
    alone = {k: v for k, v in params("웨이하이", since, until).items() if k != "nso"}
    assert parse(search(world, alone).body, SEARCH_URL).mentions == result.mentions


def test_fixture_no_result_page(world: World) -> None:
    page = search(world, params("Weihai", dt.date(2020, 1, 1), dt.date(2023, 12, 31)))
    result = parse(page.body, SEARCH_URL)
    assert result.mentions == [] and result.blocked is None
    beyond = search(world, params("웨이하이", dt.date(2021, 1, 1), dt.date(2021, 1, 31), 91))
    assert parse(beyond.body, SEARCH_URL).mentions == []


ANTIBOT = params("웨이하이", dt.date(2021, 6, 1), dt.date(2021, 6, 30))
LIMITED = params("위해시", dt.date(2022, 1, 1), dt.date(2022, 3, 31))
SLOW = params("웨이하이", dt.date(2023, 9, 1), dt.date(2023, 9, 30))


def test_faults_sit_on_the_first_pages_of_their_query(world: World) -> None:
    assert parse(search(world, ANTIBOT, hit=2).body, SEARCH_URL).mentions
    # the faults sit on first pages of their query only
    assert search(world, {**SLOW, "start": "11"}, hit=1).delay == 0
    assert search(world, {**SLOW, "query": "위해시"}, hit=1).delay == 0


def test_not_the_news_tab_is_parse_error(world: World) -> None:
    page = search(
        world,
        {**params("웨이하이", dt.date(2021, 1, 1), dt.date(2021, 12, 31)), "where": "nexearch"},
    )
    with pytest.raises(ParseError, match="not a Naver news search page"):
        parse(page.body, SEARCH_URL)


# ------------------------------------------------------------------ spider logic


def spider(**source: object) -> NaverNewsSpider:
    made = make_spider(SOURCE, **source)
    assert isinstance(made, NaverNewsSpider)
    return made


def test_spider_slices_the_window_and_pages_on_full_pages(world: World) -> None:
    s = spider(slice_days=31)
    query = Query("a67", "웨이하이", "ko", dt.date(2023, 1, 1), dt.date(2023, 3, 31), "Asia/Seoul")
    requests = list(s.search_requests(query))
    got = [parse_qs(urlsplit(r.url).query) for r in requests]
    assert [(p["ds"], p["de"]) for p in got] == [
        (["2023.03.01"], ["2023.03.31"]),
        (["2023.01.29"], ["2023.02.28"]),
        (["2023.01.01"], ["2023.01.28"]),
    ]
    assert got[0]["nso"] == ["so:dd,p:from20230301to20230331,a:all"]
    assert all(p["where"] == ["news"] and p["sort"] == ["1"] and p["start"] == ["1"] for p in got)
    assert urlsplit(requests[0].url).netloc == HOST and urlsplit(requests[0].url).path == (
        "/search.naver"
    )

    wide = WIDE
    s = spider(slice_days=366)
    [one] = list(s.search_requests(wide))
    done = walk(world, s, [one])
    for page, request in enumerate(done.searched[1:], 2):
        assert _params(request.url)["start"] == [str(1 + 10 * (page - 1))]
    planted = world.search("웨이하이", "ko", wide.start, wide.end)
    assert [r.url for r in done.followed] == [a.url for a in planted]
    assert len(done.searched) == len(planted) // 10 + 1  # the last, short (or empty) page ends it


def _params(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_page_timestamp_refines_a_shown_day() -> None:
    html = (
        '<html><head><meta property="article:published_time" '
        'content="2023-05-01T10:20:00+09:00"></head><body></body></html>'
    )
    assert page_timestamp(html, "2023.05.01.", "Asia/Seoul") == dt.datetime(
        2023, 5, 1, 10, 20, tzinfo=SEOUL
    )
    assert page_timestamp(html, "2023.05.02.", "Asia/Seoul") is None  # disagrees: not used
    assert page_timestamp(html, None, "Asia/Seoul") is None
    ld = (
        '<script type="application/ld+json">{"@type": "NewsArticle", '
        '"datePublished": "2023-05-01T00:20:00+09:00"}</script>'
    )
    assert page_timestamp(ld, "2023.05.01.", "Asia/Seoul") == dt.datetime(
        2023, 5, 1, 0, 20, tzinfo=SEOUL
    )
    now = dt.datetime.now(SEOUL).replace(microsecond=0) - dt.timedelta(hours=3, minutes=10)
    recent = f'<time datetime="{now.isoformat()}">'
    assert page_timestamp(recent, "3시간 전", "Asia/Seoul") == now
    assert page_timestamp(recent, "5일 전", "Asia/Seoul") is None


# ------------------------------------------------------------------ end to end


def check_crawl(result: CrawlResult, world: World, site: FixtureSite) -> None:
    """After the shared checks (test_source_conformance): a67's name forms over sixteen
    quarters, later pages asked, each planted fault met and asked again."""
    config = result.config
    queries = [q for _, q in config.queries_for(config.source("naver-news"))]
    assert queries == QUERIES  # a67's name forms
    window = result.window("naver-news")
    articles = {a.url for found in result.planted(world, "naver-news").values() for a in found}
    pages = [q.start for q in window.slices(92)]
    assert len(articles) > 200 and len(pages) == 16
    [run] = result.runs
    stats = run.stats
    assert stats["meiyu/search_pages"] > len(pages) * len(queries)  # later pages were asked
    naver = [u for u in site.hits if urlsplit(u).hostname == HOST]
    assert any("start=11" in u for u in naver)
    for fault_query, day in (
        (fixture.ANTIBOT_QUERY, fixture.ANTIBOT_DAY),
        (fixture.RATE_LIMITED_QUERY, fixture.RATE_LIMITED_DAY),
        (fixture.SLOW_QUERY, fixture.SLOW_DAY),
    ):
        met = [u for u in naver if _met(u, fault_query, day)]
        assert met and all(site.hits[u] >= 2 for u in met), (fault_query, day)


def _met(url: str, query: str, day: dt.date) -> bool:
    p = _params(url)
    if p.get("query") != [query] or p.get("start") != ["1"]:
        return False
    since = dt.datetime.strptime(p["ds"][0], "%Y.%m.%d").date()
    until = dt.datetime.strptime(p["de"][0], "%Y.%m.%d").date()
    return since <= day <= until


CASE = SourceCase(
    kind="naver_news",
    search_url=SEARCH_URL,
    malformed=(
        b"<html><body><h1>\xff\xfe Welcome</h1><div><p>Not a search page <<<>>></div>",
        "<html><head><title>네이버</title></head><body><p>검색</p></body></html>".encode(),
        b'{"items": []}',
        b"",
    ),
    source=SOURCE,
    faults=lambda spider, world: [
        Fault("blocked", search_url(ANTIBOT)),
        Fault("429", search_url(LIMITED)),
        Fault("slow", search_url(SLOW)),
    ],
    blocked=fixture.ANTIBOT_PAGE.encode(),
    says="비정상적인",
    # A year in one slice, paged by start=1, 11, 21, … while pages come back full.
    walk=WIDE,
    walk_source={"slice_days": 366},
    dates="day",  # Naver shows the day ("2021.05.01.")
    outlet=lambda a: a.outlet.name,
    # Quarter slices (not the default month) so that slices hold more than one page of ten.
    crawl=CrawlCase(sources=[{**SOURCE, "slice_days": 92}], check=check_crawl),
)
