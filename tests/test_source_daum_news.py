"""Daum news search: the parser on the real capture and on the fixture pages, the spider's
request shape and window halving, and what one real `meiyu crawl` against the fixture site must
show beyond tests/test_source_conformance.py (this file's CASE): the lying page met."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from scrapy.http import HtmlResponse, Request

from crawlers.items import Mention, SearchPage
from crawlers.parsers.daum_news import parse, published_from
from crawlers.query import Query
from crawlers.spiders.daum_news import DaumNewsSpider
from meiyu.demo.fixturesite.corpus import World
from meiyu.demo.fixturesite.server import FixtureSite
from meiyu.demo.fixturesite.sources import daum_news as responder
from meiyu.demo.fixturesite.sources import fault_covers
from tests.conftest import SHARED
from tests.helpers_sources import (
    SEOUL,
    WINDOW,
    CrawlCase,
    CrawlResult,
    Fault,
    SourceCase,
    make_spider,
    search_query,
)
from tests.helpers_sources import ask as _ask

CAPTURE = SHARED / "fixtures" / "sources" / "daum-news" / "daum_news_search_2026-03-20.html"
BASE = "http://search.daum.net"
KST = SEOUL
SOURCE: dict[str, object] = {
    "name": "daum",
    "kind": "daum_news",
    "language": "ko",
    "outlet": "Daum",
    "base_url": BASE,
    "timezone": "Asia/Seoul",
}


def _spider(**extra: object) -> DaumNewsSpider:
    spider = make_spider(SOURCE, **{"slice_days": 31, "max_pages": 10, **extra})
    assert isinstance(spider, DaumNewsSpider)
    return spider


def _query(text_: str, since: dt.date = WINDOW[0], until: dt.date = WINDOW[1]) -> Query:
    return search_query(text_, "ko", since, until)


# ------------------------------------------------------------------ the real capture


def test_real_capture() -> None:
    if not CAPTURE.exists():
        pytest.skip("shared captures not present")
    body = CAPTURE.read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    page = parse(body, "https://search.daum.net/search?w=news&q=AI")
    assert page.blocked is None and page.total is None
    assert page.next_url == "https://search.daum.net/search?w=news&q=AI&p=2"  # totalPage: 78
    assert len(page.mentions) == 10
    assert all(re.fullmatch(r"http://v\.daum\.net/v/\d{17}", m.url) for m in page.mentions)
    first = page.mentions[0]
    assert first.url == "http://v.daum.net/v/20260319103436985"
    assert first.title == (
        "[GTC 2026]젠슨황 \"AI 인프라, 쏟은 만큼 번다…에이전틱 AI로 '수익화' 완성\""
    )  # <b> hits joined, entities decoded
    assert first.snippet.startswith("전 세계 인공지능(AI) 산업의 시선이 집중된 'GTC 2026'")
    assert first.outlet == "아시아경제"
    assert [m.outlet for m in page.mentions] == [
        "아시아경제",
        "지디넷코리아",
        "디지털데일리",
        "스포츠경향",
        "조선비즈",
        "이투데이",
        "이데일리",
        "MTN 머니투데이방송",
        "데일리안",
        "뉴스1",
    ]
    # Exact times from the links: "2026.03.19" and "24분전" (page served 10:53:02 KST) alike.
    assert first.published == "2026-03-19T10:34:36+09:00"
    assert page.mentions[2].published == "2026-03-20T10:28:15+09:00"
    published = [dt.datetime.fromisoformat(m.published or "") for m in page.mentions]
    assert all(p.utcoffset() == dt.timedelta(hours=9) for p in published)
    served = dt.datetime(2026, 3, 20, 10, 53, 2, tzinfo=KST)
    assert all(served - dt.timedelta(days=2) < p < served for p in published)


def test_dates_without_a_daum_link() -> None:
    now = dt.datetime(2026, 3, 20, 10, 53, 2, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert published_from("http://x.test/a", "24분전", now) == "2026-03-20T10:29:02+09:00"
    assert published_from("http://x.test/a", "2시간전", now) == "2026-03-20T08:53:02+09:00"
    assert published_from("http://x.test/a", "2026.03.18", now) == "2026.03.18"
    assert published_from("http://x.test/a", "3일전", None) == "3일전"
    assert published_from("http://x.test/a", "", now) is None


# ------------------------------------------------------------------ the fixture pages


def test_spider_asks_for_the_window_in_kst() -> None:
    spider = _spider()
    url = spider.page_url(_query("웨이하이", dt.date(2023, 5, 1), dt.date(2023, 5, 31)), 3)
    params = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{BASE}/search?")
    assert {k: v[0] for k, v in params.items()} == {
        "w": "news",
        "q": "웨이하이",
        "sort": "recency",
        "period": "u",
        "sd": "20230501000000",
        "ed": "20230531235959",
        "p": "3",
    }


def test_fixture_pages_are_the_world_newest_first(world: World) -> None:
    spider = _spider()
    query = _query("웨이하이", dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    want = world.search(query.text, "ko", query.start, query.end)
    assert len(want) > 25
    got = []
    page_no = 1
    while True:
        url = spider.page_url(query, page_no)
        page = _ask(world, url)
        assert page.status == 200 and page.body.startswith(b"\xef\xbb\xbf")
        result = parse(page.body, url)
        got += result.mentions
        if result.next_url is None:
            break
        assert len(result.mentions) == 10
        assert parse_qs(urlsplit(result.next_url).query)["p"] == [str(page_no + 1)]
        page_no += 1
    assert page_no == (len(want) + 9) // 10
    assert [m.title for m in got] == [a.title for a in want]
    assert [m.outlet for m in got] == [a.outlet.name for a in want]
    assert [m.snippet[:20] for m in got] == [a.paragraphs[0][:20] for a in want]
    assert [dt.datetime.fromisoformat(m.published or "") for m in got] == [
        a.published for a in want
    ]
    # Each link is Daum's, redirecting to the article.
    for m, a in zip(got, want, strict=True):
        assert re.fullmatch(r"http://v\.daum\.net/v/\d{17}", m.url)
        hop = _ask(world, m.url)
        assert (hop.status, hop.headers["Location"]) == (302, a.url)


def test_fixture_relative_dates_and_empty_pages(world: World) -> None:
    newest = max(a.published for a in world.articles if a.outlet.language == "ko")
    query = _query("웨이하이", newest.date() - dt.timedelta(days=20), newest.date())
    url = _spider().page_url(query, 1)
    body = _ask(world, url).body.decode("utf-8-sig")
    assert "3시간전" in body  # ServerTime is three hours after the newest article
    result = parse(body.encode(), url)
    assert result.mentions[0].published == newest.astimezone(KST).isoformat()
    empty_url = _spider().page_url(_query("Weihai"), 1)
    empty = parse(_ask(world, empty_url).body, empty_url)
    assert empty.mentions == [] and empty.next_url is None and empty.blocked is None
    beyond = parse(_ask(world, url.replace("p=1", "p=9")).body, url)
    assert beyond.mentions == [] and beyond.next_url is None


def faults(spider: DaumNewsSpider, world: World) -> list[Fault]:
    one_month = (dt.date(2023, 6, 1), dt.date(2023, 6, 30))
    return [
        Fault("429", spider.page_url(_query("웨이하이", *one_month), 1)),
        Fault(
            "slow", spider.page_url(_query("위해시", dt.date(2022, 9, 1), dt.date(2022, 9, 30)), 1)
        ),
    ]


def test_the_lying_page(world: World) -> None:
    spider = _spider()
    # The lying page: no BOM, meta says euc-kr, bytes are UTF-8 — on every hit.
    query = _query("웨이하이", dt.date(2020, 6, 1), dt.date(2020, 6, 30))
    url = spider.page_url(query, 1)
    lying = _ask(world, url, hit=5)
    assert not lying.body.startswith(b"\xef\xbb\xbf") and b"charset=euc-kr" in lying.body
    assert "charset" not in lying.content_type
    lying.body.decode("utf-8")
    result = parse(lying.body, url)
    want = world.search(query.text, "ko", query.start, query.end)
    assert want and [m.title for m in result.mentions] == [a.title for a in want[:10]]


def test_a_window_with_too_many_pages_is_halved() -> None:
    spider = _spider(max_pages=2)
    query = _query("웨이하이", dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    request = Request(spider.page_url(query, 2))
    response = HtmlResponse(request.url, body=b"", request=request)
    full = SearchPage([Mention(f"http://v.daum.net/v/{i}", "t") for i in range(10)], next_url="x")
    assert spider.next_page(response, query, 1, full) is not None
    assert spider.next_page(response, query, 2, full) is None
    assert response.meta["meiyu_split"] is True
    halves = [r.cb_kwargs["query"] for r in spider.split(query)]
    assert [(h.since, h.until) for h in halves] == [
        (dt.date(2023, 7, 3), dt.date(2023, 12, 31)),
        (dt.date(2023, 1, 1), dt.date(2023, 7, 2)),
    ]
    assert list(spider.split(_query("x", dt.date(2023, 1, 1), dt.date(2023, 1, 1)))) == []


# ------------------------------------------------------------------ end to end


def check_crawl(result: CrawlResult, world: World, site: FixtureSite) -> None:
    """After the shared checks (test_source_conformance): busy years were halved, and the
    page whose meta says euc-kr (bytes UTF-8) was met and read right (titles checked there)."""
    assert result.stats["meiyu/slices_split"] >= 1
    lying = []
    for url in site.hits:
        parts = urlsplit(url)
        params = parse_qs(parts.query)
        if parts.hostname == "search.daum.net" and params.get("p") == ["1"]:
            start, end = responder._window(params)
            if fault_covers(params["q"][0], start, end, responder.LYING_CHARSET):
                lying.append(url)
    assert lying  # the page with the euc-kr declaration was met


CASE = SourceCase(
    kind="daum_news",
    search_url=f"{BASE}/search?w=news&q=x",
    malformed=(
        b"",
        b'{"documents": []}',
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"\xef\xbb\xbf<rss><channel><title>Daum</title></channel></rss>",
    ),
    source=SOURCE,
    faults=faults,
    # Yearly pieces and two pages each: busy years are halved until every piece fits.
    walk=_query("웨이하이"),
    walk_source={"slice_days": 366, "max_pages": 2},
    walk_splits=True,
    outlet=lambda a: a.outlet.name,
    crawl=CrawlCase(sources=[{**SOURCE, "slice_days": 366, "max_pages": 2}], check=check_crawl),
)
