"""Google News RSS search: the parser on the real capture and on the fixture feeds, the 100-item
cap and window halving, redirect links resolved to the publisher's URL, and one real
`meiyu crawl` against the fixture site."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.spidermiddlewares.httperror import HttpError
from sqlalchemy import create_engine, text
from twisted.python.failure import Failure

from crawlers.items import ArticleItem, SearchPage
from crawlers.parsers import ParseError
from crawlers.parsers.google_news import CAP, headline, parse
from crawlers.query import Query
from crawlers.spiders.google_news import GoogleNewsSpider
from meiyu.demo.fixturesite.corpus import Page, World
from meiyu.demo.fixturesite.server import FixtureSite
from meiyu.demo.fixturesite.sources import FixtureRequest
from meiyu.demo.fixturesite.sources import google_news as responder
from tests.conftest import SHARED, run_meiyu, write_config

CAPTURES = SHARED / "fixtures" / "sources" / "google-news-rss"
CAPTURE = CAPTURES / "google_news_rss_search_q-TCS_hl-en-IN_2026-09-06_EXCERPT.xml"
BASE = "http://news.google.com"
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
WINDOW = (dt.date(2020, 1, 1), dt.date(2023, 12, 31))
QUERIES = ("웨이하이", "위해시", "威海", "Weihai")
SOURCE: dict[str, object] = {
    "name": "gnews",
    "kind": "google_news",
    "language": "ko",
    "outlet": "Google News",
    "base_url": BASE,
    "timezone": "Asia/Seoul",
}


class _Stats:
    def __init__(self) -> None:
        self.values: Counter[str] = Counter()

    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None:
        self.values[key] += count


def _spider(**extra: object) -> GoogleNewsSpider:
    spider = GoogleNewsSpider(source={**SOURCE, "slice_days": 31, "max_pages": 10, **extra})
    spider.crawler = type("Crawler", (), {"stats": _Stats()})()
    return spider


def _query(text_: str, since: dt.date = WINDOW[0], until: dt.date = WINDOW[1]) -> Query:
    return Query("a67", text_, "ko", since, until, "Asia/Seoul")


def _ask(world: World, url: str, hit: int = 2) -> Page:
    page = responder.respond(world, FixtureRequest.from_url(url, hit=hit))
    assert page is not None
    return page


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
    pieces = [r.cb_kwargs["query"] for r in spider.search_requests(_query("웨이하이"))]
    assert len(pieces) == 48 and pieces[0].until == WINDOW[1] and pieces[-1].since == WINDOW[0]


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
    assert splits >= 1 and spider.crawler.stats.values["meiyu/slices_split"] == splits
    assert sorted(found) == sorted(a.url for a in want)  # nothing lost, nothing twice
    one_day = _query("x", dt.date(2023, 1, 1), dt.date(2023, 1, 1))
    assert list(spider.split(one_day)) == []
    assert spider.crawler.stats.values["meiyu/capped_windows"] == 1


def test_failed_article_keeps_the_publishers_url(world: World) -> None:
    spider = _spider()
    query = _query("웨이하이", dt.date(2023, 12, 1), dt.date(2023, 12, 31))
    url = spider.feed_url(query)
    mention = parse(_ask(world, url).body, url).mentions[0]
    publisher = _ask(world, mention.url).headers["Location"]
    entry = spider.entry(mention, url, query)
    # What Scrapy hands the errback after the redirect: the publisher's request, its 404.
    redirected = Request(publisher, cb_kwargs={"entry": entry})
    response = HtmlResponse(publisher, status=404, body=b"gone", request=redirected)
    failure = Failure(HttpError(response, "Ignoring non-200 response"))
    failure.request = redirected  # type: ignore[attr-defined]
    spider.warnings = []
    items: list[Any] = list(spider.article_failed(failure))
    assert len(items) == 1 and isinstance(items[0], ArticleItem)
    assert items[0].url == publisher and "news.google.com" not in items[0].url
    assert items[0].text == mention.snippet and items[0].title == mention.title


def test_fixture_faults(world: World) -> None:
    spider = _spider()
    url = spider.feed_url(_query("웨이하이", dt.date(2022, 6, 1), dt.date(2022, 6, 30)))
    throttled = _ask(world, url, hit=1)
    assert throttled.status == 429 and throttled.headers["Retry-After"] == "0"
    assert _ask(world, url, hit=2).status == 200
    url = spider.feed_url(_query("위해시", dt.date(2021, 6, 1), dt.date(2021, 6, 30)))
    assert _ask(world, url, hit=1).delay > 2 and _ask(world, url, hit=2).delay == 0


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'{"items": []}',
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"></feed>',
        b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>cut',
    ],
)
def test_malformed_answers_raise(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse(body, f"{BASE}/rss/search?q=x")


def test_unusual_traffic_page_is_blocked() -> None:
    body = (
        b"<html><head><title>https://news.google.com/rss/search</title></head><body>"
        b"<div>Our systems have detected unusual traffic from your computer network.</div>"
        b'<div class="g-recaptcha"></div></body></html>'
    )
    result = parse(body, "https://www.google.com/sorry/index?continue=x")
    assert result.blocked and result.mentions == []


def test_empty_feed_is_no_mentions() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'
    assert parse(body, BASE) == SearchPage()


# ------------------------------------------------------------------ end to end


def test_crawl_end_to_end(tmp_path: Path, site: FixtureSite, world: World) -> None:
    db_url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    cfg = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        search=[SOURCE],  # slice_days left at its default
        crawl={"timeout_seconds": 2, "retry_times": 3, "concurrent_requests": 16},
    )
    planted = {
        q: {a.url for a in world.search(q, "ko", _query(q).start, _query(q).end)} for q in QUERIES
    }
    want = set().union(*planted.values())
    # The default slices keep the busiest feed of the world far under Google's cap.
    busiest = max(
        len(world.search(q, "ko", piece.start, piece.end))
        for q in QUERIES
        for piece in _query(q).slices(31)
    )
    assert 0 < busiest < CAP
    args = (
        "--config",
        str(cfg),
        "crawl",
        "--source",
        "gnews",
        "--since",
        "2020-01-01",
        "--until",
        "2023-12-31",
    )
    first = run_meiyu(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT m.query, d.url, d.published_at, d.title, d.outlet FROM mentions m "
                "JOIN documents d ON d.id = m.document_id WHERE m.source = 'gnews'"
            )
        ).all()
        urls = conn.execute(text("SELECT url FROM documents")).scalars().all()
        probes = conn.execute(text("SELECT count(*) FROM volume_probes")).scalar_one()
        stats = conn.execute(text("SELECT stats FROM crawl_runs")).scalar_one()
    engine.dispose()
    got = {r.url for r in rows}
    assert got == want, (sorted(want - got)[:5], sorted(got - want)[:5])  # nothing lost
    assert not [u for u in urls if "news.google.com" in u]  # publishers' URLs only
    assert all(r.url in planted[r.query] for r in rows)

    def month(moment: dt.datetime) -> str:
        return moment.astimezone(SHANGHAI).strftime("%Y-%m")

    by_url = world.by_url()
    stored = {r.url: r for r in rows}
    assert Counter(
        month(dt.datetime.fromisoformat(str(r.published_at)).replace(tzinfo=UTC))
        for r in stored.values()
    ) == Counter(month(by_url[u].published) for u in want)
    assert all(r.title == by_url[r.url].title for r in rows)  # " - Outlet" cut
    assert all(r.outlet == by_url[r.url].outlet.name for r in rows)
    assert probes == 0  # Google News states no totals

    if isinstance(stats, str):
        stats = json.loads(stats)
    assert stats["downloader/response_status_count/429"] >= 1
    assert stats["downloader/response_status_count/302"] >= len(want)
    assert any("TimeoutError" in k for k in stats if k.startswith("downloader/exception_type"))
    assert stats["retry/count"] >= 2
    assert stats.get("meiyu/slices_split", 0) == 0  # no feed came back full
    assert stats.get("meiyu/parse_errors", 0) == 0

    second = run_meiyu(*args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 new" in second.stdout
