"""Google News RSS search: the parser on the real capture and on the fixture feeds, the 100-item
cap and window halving, and what one real `meiyu crawl` against the fixture site must show beyond
tests/test_source_conformance.py (this file's CASE, which also checks that a failed article
keeps the publisher's URL): publishers' outlets, every redirect followed, no feed full."""

from __future__ import annotations

import datetime as dt

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse

from crawlers.items import SearchPage
from crawlers.parsers.google_news import CAP, headline, parse
from crawlers.query import Query
from crawlers.spiders.google_news import GoogleNewsSpider
from meiyu.demo.fixturesite.corpus import World
from meiyu.demo.fixturesite.server import FixtureSite
from tests.conftest import SHARED
from tests.helpers_sources import (
    UTC,
    WINDOW,
    CrawlCase,
    CrawlResult,
    Fault,
    SourceCase,
    make_spider,
    search_query,
    stat,
)
from tests.helpers_sources import ask as _ask

CAPTURES = SHARED / "fixtures" / "sources" / "google-news-rss"
CAPTURE = CAPTURES / "google_news_rss_search_q-TCS_hl-en-IN_2026-09-06_EXCERPT.xml"
BASE = "http://news.google.com"
QUERIES = ("웨이하이", "위해시", "威海", "Weihai")
SOURCE: dict[str, object] = {
    "name": "gnews",
    "kind": "google_news",
    "language": "ko",
    "outlet": "Google News",
    "base_url": BASE,
    "timezone": "Asia/Seoul",
}


def _spider(**extra: object) -> GoogleNewsSpider:
    spider = make_spider(SOURCE, **{"slice_days": 31, "max_pages": 10, **extra})
    assert isinstance(spider, GoogleNewsSpider)
    return spider


def _query(text_: str, since: dt.date = WINDOW[0], until: dt.date = WINDOW[1]) -> Query:
    return search_query(text_, "ko", since, until)


# ------------------------------------------------------------------ the real capture


def test_real_capture() -> None:
    if not CAPTURE.exists():
        pytest.skip("shared captures not present")
    body = CAPTURE.read_bytes()
    assert body.rstrip().count(b"\n") == 0  # one line, as Google sends it
    page = parse(body, "https://news.google.com/rss/search?q=TCS&hl=en-IN&gl=IN&ceid=IN:en")
    assert page.blocked is None and page.total is None and page.next_url is None
    assert len(page.mentions) == 2
    first, second = page.mentions
    assert first.title == (
        "Google, TCS, and the physics of air-cooling a large data centre | Explained"
    )
    assert first.outlet == "The Hindu"
    assert second.title == (
        "TCS’ HyperVault to establish large-scale AI data center campus in Telangana"
    )
    assert second.outlet == "Tata Consultancy Services"
    for m in page.mentions:
        assert m.url.startswith("https://news.google.com/rss/articles/CBMi")
        assert m.url.endswith("?oc=5")
        assert m.snippet == m.title  # the description minus the outlet's <font>
    assert first.published == "Sun, 06 Sep 2026 06:41:32 GMT"
    assert second.published == "Sat, 05 Sep 2026 13:29:39 GMT"


def test_headline_keeps_dashes_that_are_not_the_outlet() -> None:
    assert headline("A - B - The Hindu", "The Hindu") == "A - B"
    assert headline("A - B", "The Hindu") == "A - B"
    assert headline("A - B", None) == "A - B"


# ------------------------------------------------------------------ the fixture feeds


def test_spider_asks_for_after_and_before() -> None:
    spider = _spider()
    url = spider.feed_url(_query("威海", dt.date(2023, 5, 1), dt.date(2023, 5, 31)))
    assert url == (
        f"{BASE}/rss/search?q=%E5%A8%81%E6%B5%B7+after:2023-05-01+before:2023-06-01"
        "&hl=ko&gl=KR&ceid=KR:ko"
    )


def test_fixture_feed_is_the_world_newest_first(world: World) -> None:
    spider = _spider()
    query = _query("웨이하이", dt.date(2022, 1, 1), dt.date(2022, 12, 31))
    want = world.search(query.text, "ko", query.start, query.end)
    assert 10 < len(want) < CAP
    url = spider.feed_url(query)
    page = _ask(world, url)
    assert page.status == 200 and page.body.count(b"\n") == 0
    result = parse(page.body, url)
    assert [m.title for m in result.mentions] == [a.title for a in want]  # " - Outlet" cut
    assert [m.outlet for m in result.mentions] == [a.outlet.name for a in want]
    assert [m.published for m in result.mentions] == [
        a.published.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT") for a in want
    ]
    for m, a in zip(result.mentions, want, strict=True):
        assert m.url.startswith(f"{BASE}/rss/articles/CBMi") and m.url.endswith("?oc=5")
        assert a.url not in m.url  # opaque, like Google's
        hop = _ask(world, m.url)
        assert (hop.status, hop.headers["Location"]) == (302, a.url)
    assert _ask(world, spider.feed_url(_query("Weihai"))).status == 200
    assert parse(_ask(world, spider.feed_url(_query("Weihai"))).body, url).mentions == []


def test_fixture_feed_caps_at_100_and_the_spider_halves(world: World) -> None:
    spider = _spider()
    query = _query("웨이하이")  # the whole four years in one feed
    want = world.search(query.text, "ko", query.start, query.end)
    assert len(want) > CAP
    found: list[str] = []
    pending = [query]
    splits = 0
    while pending:
        piece = pending.pop()
        url = spider.feed_url(piece)
        result = parse(_ask(world, url).body, url)
        request = Request(url)
        response = HtmlResponse(url, body=b"", request=request)
        assert spider.next_page(response, piece, 1, result) is None
        if response.meta.get("meiyu_split"):
            assert len(result.mentions) == CAP  # cut off: newest first, the rest missing
            halves = [r.cb_kwargs["query"] for r in spider.split(piece)]
            assert len(halves) == 2 and halves[0].until == piece.until
            assert halves[1].since == piece.since
            assert halves[1].until + dt.timedelta(days=1) == halves[0].since
            pending += halves
            splits += 1
            continue
        found += [_ask(world, m.url).headers["Location"] for m in result.mentions]
    assert splits >= 1 and stat(spider, "meiyu/slices_split") == splits
    assert sorted(found) == sorted(a.url for a in want)  # nothing lost, nothing twice
    one_day = _query("x", dt.date(2023, 1, 1), dt.date(2023, 1, 1))
    assert list(spider.split(one_day)) == []
    assert stat(spider, "meiyu/capped_windows") == 1


def test_empty_feed_is_no_mentions() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'
    assert parse(body, BASE) == SearchPage()


# ------------------------------------------------------------------ end to end


def check_crawl(result: CrawlResult, world: World, site: FixtureSite) -> None:
    """After the shared checks (test_source_conformance): the default slices keep the busiest
    feed under the cap (no split), every news.google.com redirect was followed, and each
    document's outlet is the publisher named by the feed's <source>."""
    planted = result.planted(world, "gnews")
    want = {a.url for found in planted.values() for a in found}
    # The default slices keep the busiest feed of the world far under Google's cap.
    busiest = max(
        len(world.search(q, "ko", piece.start, piece.end))
        for q in QUERIES
        for piece in _query(q).slices(31)
    )
    assert 0 < busiest < CAP
    by_url = world.by_url()
    assert all(r.outlet == by_url[r.url].outlet.name for r in result.mentions)
    stats = result.stats
    assert stats["downloader/response_status_count/302"] >= len(want)
    assert stats.get("meiyu/slices_split", 0) == 0  # no feed came back full


def faults(spider: GoogleNewsSpider, world: World) -> list[Fault]:
    return [
        Fault(
            "429", spider.feed_url(_query("웨이하이", dt.date(2022, 6, 1), dt.date(2022, 6, 30)))
        ),
        Fault("slow", spider.feed_url(_query("위해시", dt.date(2021, 6, 1), dt.date(2021, 6, 30)))),
    ]


CASE = SourceCase(
    kind="google_news",
    search_url=f"{BASE}/rss/search?q=x",
    malformed=(
        b"",
        b'{"items": []}',
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"></feed>',
        b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>cut',
    ),
    source=SOURCE,
    faults=faults,
    blocked=(
        b"<html><head><title>https://news.google.com/rss/search</title></head><body>"
        b"<div>Our systems have detected unusual traffic from your computer network.</div>"
        b'<div class="g-recaptcha"></div></body></html>'
    ),
    # The four years in one feed: cut off at 100 items, halved until every piece fits.
    walk=_query("웨이하이"),
    walk_source={"slice_days": 2000},
    walk_splits=True,
    outlet=lambda a: a.outlet.name,
    crawl=CrawlCase(sources=[SOURCE], check=check_crawl),  # slice_days left at its default
)
