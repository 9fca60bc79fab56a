"""Naver Search Open API (news): parser on the real captures and on the fixture API, the spider's
window/paging/cap logic, and a real `meiyu crawl` against the fixture site."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
from scrapy import Request
from scrapy.http import TextResponse
from scrapy.utils.test import get_crawler
from sqlalchemy import create_engine, select

from crawlers.dates import parse_date
from crawlers.items import VolumeProbeItem
from crawlers.parsers import ParseError
from crawlers.parsers.naver_api import parse
from crawlers.query import Query
from crawlers.spiders.naver_api import NaverApiSpider
from kernel.config import load_config
from meiyu.demo.fixturesite.corpus import Page, World
from meiyu.demo.fixturesite.server import FixtureSite
from meiyu.demo.fixturesite.sources import FixtureRequest
from meiyu.demo.fixturesite.sources import naver_api as fixture
from storage.models import CrawlRun, Document, Mention, VolumeProbe
from tests.conftest import SHARED, run_meiyu, write_config

CAPTURES = SHARED / "fixtures" / "sources" / "naver-api"
HOST = "openapi.naver.com"
QUERIES = ["웨이하이", "위해시", "威海", "Weihai"]  # a67's name forms, as meiyu.toml defines them
SHANGHAI = ZoneInfo("Asia/Shanghai")
SEOUL = ZoneInfo("Asia/Seoul")
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


def capture(name: str) -> bytes:
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"real capture {path} not present")
    return path.read_bytes()


def api(
    world: World, params: dict[str, object], headers: dict[str, str] | None = None, hit: int = 2
) -> Page:
    query = urlencode(params)
    page = fixture.respond(
        world,
        FixtureRequest(
            url=f"http://{HOST}{fixture.PATH}?{query}",
            host=HOST,
            path=fixture.PATH,
            params=parse_qs(query, keep_blank_values=True),
            headers=AUTH if headers is None else headers,
            hit=hit,
        ),
    )
    assert page is not None
    return page


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


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body><h1>\xff\xfe Welcome</h1></body></html>",
        b'{"lastBuildDate":"Tue, 30 Mar 2021 23:56:02 +0900","total":3,"items":[{"title"',
        b"[]",
        b'{"total": 3}',
        b"",
    ],
)
def test_malformed_is_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse(body, "http://openapi.naver.com/v1/search/news.json")


def test_fixture_rate_limit_on_first_hit_only(world: World) -> None:
    params = {"query": "웨이하이", "display": 100, "start": 101, "sort": "date"}
    first = api(world, params, hit=1)
    assert first.status == 429 and first.headers == {"Retry-After": "0"}
    assert api(world, params, hit=2).status == 200


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
    crawler = get_crawler(NaverApiSpider)
    made = NaverApiSpider.from_crawler(crawler, source=dict(SOURCE), queries=[])
    assert isinstance(made, NaverApiSpider)
    return made


def answer(world: World, request: Request) -> TextResponse:
    parts = urlsplit(request.url)
    headers = {k.decode().lower(): v[0].decode() for k, v in request.headers.items()}
    if request.meta.get("meiyu_auth"):  # what AuthHeadersMiddleware adds at download time
        headers.update(
            {
                "x-naver-client-id": CREDS["NAVER_CLIENT_ID"],
                "x-naver-client-secret": CREDS["NAVER_CLIENT_SECRET"],
            }
        )
    page = fixture.respond(
        world,
        FixtureRequest(request.url, HOST, parts.path, parse_qs(parts.query), headers, hit=2),
    )
    assert page is not None and page.status == 200
    return TextResponse(request.url, body=page.body, request=request, encoding="utf-8")


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
    out = list(s.parse_search(answer(world, first), query, 1))
    probes = [o for o in out if isinstance(o, VolumeProbeItem)]
    assert [p.reported_total for p in probes] == [len(world.search("웨이하이", "ko"))]
    followed = [o for o in out if isinstance(o, Request) and o.callback == s.parse_article]
    planted = world.search("웨이하이", "ko", query.start, query.end)
    assert planted and [r.url for r in followed] == [a.url for a in planted]
    # the articles' requests never carry the credentials
    assert all(b"X-Naver-Client-Secret" not in r.headers for r in followed)
    # page 1 reaches back before June 2023: no page 2
    assert not [o for o in out if isinstance(o, Request) and o.callback == s.parse_search]
    assert s.crawler.stats.get_value("meiyu/outside_window") == 100 - len(planted)


def test_spider_pages_on_while_inside_the_window(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = spider(monkeypatch)
    query = Query("a67", "웨이하이", "ko", dt.date(2020, 1, 1), dt.date(2023, 12, 31), "Asia/Seoul")
    request = next(iter(s.search_requests(query)))
    urls: list[str] = []
    page = 1
    while True:
        out = list(s.parse_search(answer(world, request), query, page))
        urls += [o.url for o in out if isinstance(o, Request) and o.callback == s.parse_article]
        nxt = [o for o in out if isinstance(o, Request) and o.callback == s.parse_search]
        if not nxt:
            break
        [request] = nxt
        page += 1
        assert parse_qs(urlsplit(request.url).query)["start"] == [str(1 + 100 * (page - 1))]
        assert request.meta["meiyu_auth"] and b"X-Naver-Client-Secret" not in request.headers
    assert page == 3  # 203 results: pages 1, 101, 201; the short third page ends it
    assert urls == [a.url for a in world.search("웨이하이", "ko", query.start, query.end)]


def test_spider_stops_at_the_1000_cap(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    s = spider(monkeypatch)
    base = world.search("웨이하이", language="ko")
    many = [dataclasses.replace(a, slug=f"{a.slug}c{i}") for i in range(6) for a in base]
    big = World(sorted(many, key=lambda a: (a.published, a.slug)))
    query = Query("a67", "웨이하이", "ko", dt.date(2020, 1, 1), dt.date(2023, 12, 31), "Asia/Seoul")
    request: Request | None = next(iter(s.search_requests(query)))
    pages = 0
    followed = 0
    while request is not None:
        pages += 1
        out = list(s.parse_search(answer(big, request), query, pages))
        followed += sum(isinstance(o, Request) and o.callback == s.parse_article for o in out)
        nxt = [o for o in out if isinstance(o, Request) and o.callback == s.parse_search]
        request = nxt[0] if nxt else None
    assert pages == 10 and followed == 1000  # the rest of the window is out of the API's reach
    assert s.crawler.stats.get_value("meiyu/naver_api/capped") == 1


# ------------------------------------------------------------------ end to end


def _rows(
    db_url: str,
) -> tuple[list[tuple[str, dt.datetime | None, str]], list[VolumeProbe], list[CrawlRun]]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        mentions = [
            (r.url, r.published_at, r.query)
            for r in conn.execute(
                select(Document.url, Document.published_at, Mention.query)
                .join(Mention, Mention.document_id == Document.id)
                .where(Mention.source == SOURCE["name"])
            )
        ]
        probes = list(conn.execute(select(VolumeProbe)).all())
        runs = list(conn.execute(select(CrawlRun).order_by(CrawlRun.id)).all())
    engine.dispose()
    return mentions, probes, runs  # type: ignore[return-value]


def test_crawl_stores_every_planted_article(
    tmp_path: Path, site: FixtureSite, world: World
) -> None:
    db_url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    cfg = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        search=[SOURCE],
        crawl={"timeout_seconds": 2, "retry_times": 3, "concurrent_requests": 16},
    )
    args = (
        "--config",
        str(cfg),
        "crawl",
        "--source",
        "naver-api",
        "--since",
        "2020-01-01",
        "--until",
        "2023-12-31",
    )
    window = Query("a67", "", "ko", dt.date(2020, 1, 1), dt.date(2023, 12, 31), "Asia/Seoul")
    config = load_config(cfg, env={})
    queries = [q for _, q in config.queries_for(config.source("naver-api"))]
    assert queries == QUERIES  # a67's name forms
    planted = {q: world.search(q, "ko", window.start, window.end) for q in queries}
    # No date filter, a 1000 cap: the whole window fits under it for every query.
    assert all(len(world.search(q, "ko")) < fixture.MAX_RESULTS for q in queries)
    articles = {a.url: a for found in planted.values() for a in found}

    first = run_meiyu(*args, env=CREDS)
    assert first.returncode == 0, first.stderr
    mentions, probes, runs = _rows(db_url)
    assert {url for url, _, _ in mentions} == set(articles)
    for q in queries:  # each name form's mentions, query by query
        assert {url for url, _, query in mentions if query == q} == {a.url for a in planted[q]}
    stored = {url: published for url, published, _ in mentions}
    assert all(stored[u] == a.published for u, a in articles.items())  # pubDate's exact time
    by_month = Counter(p.astimezone(SHANGHAI).strftime("%Y-%m") for p in stored.values() if p)
    assert by_month == Counter(
        a.published.astimezone(SHANGHAI).strftime("%Y-%m") for a in articles.values()
    )
    assert {(p.query, p.reported_total) for p in probes} == {
        (q, len(world.search(q, "ko"))) for q in queries
    }
    assert all(p.window_start == window.start and p.window_end == window.end for p in probes)
    [run] = runs
    assert run.status == "ok" and not run.errors
    assert run.stats["downloader/response_status_count/429"] >= 1  # planted on start=101
    assert sum(v for k, v in run.stats.items() if k.startswith("retry/reason_count/429")) >= 1
    assert run.stats["meiyu/volume_probes"] == len(queries)
    rate_limited = [u for u in site.hits if u.startswith(f"http://{HOST}/") and "start=101" in u]
    assert rate_limited and all(site.hits[u] >= 2 for u in rate_limited)
    for secret in CREDS.values():
        assert secret not in first.stdout + first.stderr
        assert secret not in repr(run)

    second = run_meiyu(*args, env=CREDS)
    assert second.returncode == 0, second.stderr
    assert "0 new" in second.stdout
    again, _, runs = _rows(db_url)
    assert len({u for u, _, _ in again}) == len(articles)
    assert all(secret not in repr(r) for r in runs for secret in CREDS.values())


@pytest.mark.parametrize("present", [{}, {"NAVER_CLIENT_ID": "test-id"}])
def test_without_credentials_the_source_is_skipped(
    tmp_path: Path, site: FixtureSite, present: dict[str, str]
) -> None:
    db_url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    cfg = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        search=[SOURCE],
        crawl={"timeout_seconds": 2},
    )
    before = sum(n for u, n in site.hits.items() if urlsplit(u).hostname == HOST)
    env = {"NAVER_CLIENT_ID": "", "NAVER_CLIENT_SECRET": "", **present}
    proc = run_meiyu(
        "--config",
        str(cfg),
        "crawl",
        "--source",
        "naver-api",
        "--since",
        "2023-01-01",
        "--until",
        "2023-12-31",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    output = proc.stdout + proc.stderr
    assert "skipped" in output and "NAVER_CLIENT_SECRET" in output
    assert ("NAVER_CLIENT_ID" in output) == (not present)  # only what is missing is named
    assert "test-id" not in output
    assert sum(n for u, n in site.hits.items() if urlsplit(u).hostname == HOST) == before
    _, _, runs = _rows(db_url)
    assert all("test-id" not in repr(r) for r in runs)


def test_wrong_credentials_are_a_clear_failure(tmp_path: Path, site: FixtureSite) -> None:
    db_url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    cfg = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        search=[SOURCE],
        crawl={"timeout_seconds": 2},
    )
    env = {"NAVER_CLIENT_ID": "test-id", "NAVER_CLIENT_SECRET": "wrong-secret-123"}
    proc = run_meiyu(
        "--config",
        str(cfg),
        "crawl",
        "--source",
        "naver-api",
        "--indicator",
        "a67",
        "--since",
        "2023-01-01",
        "--until",
        "2023-12-31",
        env=env,
    )
    assert proc.returncode == 1
    assert "HTTP 401 (024: NID AUTH Result Invalid" in proc.stderr
    assert "wrong-secret-123" not in proc.stdout + proc.stderr
    _, _, runs = _rows(db_url)
    assert runs[-1].status == "partial"
    assert all("wrong-secret-123" not in repr(r) for r in runs)
