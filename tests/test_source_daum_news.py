"""Daum news search: the parser on the real capture and on the fixture pages, the spider's
request shape and window halving, and one real `meiyu crawl` against the fixture site."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from crawlers.parsers import ParseError
from crawlers.parsers.daum_news import parse, published_from
from crawlers.query import Query
from crawlers.spiders.daum_news import DaumNewsSpider
from meiyu.demo.fixturesite.corpus import Page, World
from meiyu.demo.fixturesite.server import FixtureSite
from meiyu.demo.fixturesite.sources import FixtureRequest
from meiyu.demo.fixturesite.sources import daum_news as responder
from tests.conftest import SHARED, run_meiyu, write_config

CAPTURE = SHARED / "fixtures" / "sources" / "daum-news" / "daum_news_search_2026-03-20.html"
BASE = "http://search.daum.net"
KST = ZoneInfo("Asia/Seoul")
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
WINDOW = (dt.date(2020, 1, 1), dt.date(2023, 12, 31))
QUERIES = ("웨이하이", "위해시", "威海", "Weihai")


def _spider(**extra: object) -> DaumNewsSpider:
    source = {
        "name": "daum",
        "kind": "daum_news",
        "language": "ko",
        "outlet": "Daum",
        "base_url": BASE,
        "timezone": "Asia/Seoul",
        "slice_days": 31,
        "max_pages": 10,
        **extra,
    }
    return DaumNewsSpider(source=source)


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
    pieces = [r.cb_kwargs["query"] for r in spider.search_requests(_query("웨이하이"))]
    assert len(pieces) == 48 and pieces[0].until == WINDOW[1] and pieces[-1].since == WINDOW[0]


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


def test_fixture_faults(world: World) -> None:
    spider = _spider()
    one_month = (dt.date(2023, 6, 1), dt.date(2023, 6, 30))
    url = spider.page_url(_query("웨이하이", *one_month), 1)
    throttled = _ask(world, url, hit=1)
    assert throttled.status == 429 and throttled.headers["Retry-After"] == "0"
    assert _ask(world, url, hit=2).status == 200
    url = spider.page_url(_query("위해시", dt.date(2022, 9, 1), dt.date(2022, 9, 30)), 1)
    assert _ask(world, url, hit=1).delay > 2 and _ask(world, url, hit=2).delay == 0
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


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'{"documents": []}',
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        b"\xef\xbb\xbf<rss><channel><title>Daum</title></channel></rss>",
    ],
)
def test_malformed_answers_raise(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse(body, f"{BASE}/search?w=news&q=x")


def test_a_window_with_too_many_pages_is_halved() -> None:
    from scrapy.http import HtmlResponse, Request

    from crawlers.items import Mention, SearchPage

    spider = _spider(max_pages=2)
    query = _query("웨이하이", dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    request = Request(spider.page_url(query, 2))
    response = HtmlResponse(request.url, body=b"", request=request)
    full = SearchPage([Mention(f"http://v.daum.net/v/{i}", "t") for i in range(10)], next_url="x")
    assert spider.next_page(response, query, 1, full) is not None
    assert spider.next_page(response, query, 2, full) is None
    assert response.meta["meiyu_split"] is True

    class Stats:
        def inc_value(self, key: str) -> None:
            pass

    spider.crawler = type("C", (), {"stats": Stats()})()
    halves = [r.cb_kwargs["query"] for r in spider.split(query)]
    assert [(h.since, h.until) for h in halves] == [
        (dt.date(2023, 7, 3), dt.date(2023, 12, 31)),
        (dt.date(2023, 1, 1), dt.date(2023, 7, 2)),
    ]
    assert list(spider.split(_query("x", dt.date(2023, 1, 1), dt.date(2023, 1, 1)))) == []


# ------------------------------------------------------------------ end to end


def test_crawl_end_to_end(tmp_path: Path, site: FixtureSite, world: World) -> None:
    db_url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    # Yearly pieces and two pages each: busy years are halved until every piece fits.
    source = {
        "name": "daum",
        "kind": "daum_news",
        "language": "ko",
        "outlet": "Daum",
        "base_url": BASE,
        "timezone": "Asia/Seoul",
        "slice_days": 366,
        "max_pages": 2,
    }
    cfg = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        search=[source],
        crawl={"timeout_seconds": 2, "retry_times": 3, "concurrent_requests": 16},
    )
    planted = {
        q: {a.url for a in world.search(q, "ko", _query(q).start, _query(q).end)} for q in QUERIES
    }
    want = set().union(*planted.values())
    args = (
        "--config",
        str(cfg),
        "crawl",
        "--source",
        "daum",
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
                "SELECT m.query, d.url, d.published_at, d.title FROM mentions m "
                "JOIN documents d ON d.id = m.document_id WHERE m.source = 'daum'"
            )
        ).all()
        probes = conn.execute(text("SELECT count(*) FROM volume_probes")).scalar_one()
        stats = conn.execute(text("SELECT stats FROM crawl_runs")).scalar_one()
    engine.dispose()
    got = {r.url for r in rows}
    assert got == want, (sorted(want - got)[:5], sorted(got - want)[:5])
    assert all(r.url in planted[r.query] for r in rows)

    def month(moment: dt.datetime) -> str:
        return moment.astimezone(SHANGHAI).strftime("%Y-%m")

    by_url = world.by_url()
    stored = {r.url: r for r in rows}
    assert Counter(
        month(dt.datetime.fromisoformat(str(r.published_at)).replace(tzinfo=UTC))
        for r in stored.values()
    ) == Counter(month(by_url[u].published) for u in want)
    assert all(r.title == by_url[r.url].title for r in rows)  # the lying page included
    assert probes == 0  # Daum states no totals

    if isinstance(stats, str):
        import json

        stats = json.loads(stats)
    assert stats["downloader/response_status_count/429"] >= 1
    assert any("TimeoutError" in k for k in stats if k.startswith("downloader/exception_type"))
    assert stats["retry/count"] >= 2
    assert stats["meiyu/slices_split"] >= 1
    assert stats.get("meiyu/parse_errors", 0) == 0
    lying = []
    for url in site.hits:
        parts = urlsplit(url)
        params = parse_qs(parts.query)
        if parts.hostname == "search.daum.net" and params.get("p") == ["1"]:
            start, end = responder._window(params)
            if responder._covers(params["q"][0], start, end, responder.LYING_CHARSET):
                lying.append(url)
    assert lying  # the page with the euc-kr declaration was met

    second = run_meiyu(*args)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 new" in second.stdout
