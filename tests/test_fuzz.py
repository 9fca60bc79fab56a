"""Fuzzing what reads bytes from the web and the config file (hypothesis): search-page parsers,
the charset decoder, the article extractor, the feed reader, the spiders' callbacks with the
normalise step after them, and the config loader.

Inputs: random bytes; real-looking pages of the fixture world truncated, mutated (hostile
snippets spliced in, bytes flipped, slices cut or repeated) and re-encoded under wrong or
lying charsets and BOMs; plus fixed cases: 100,000-deep nesting and 50 MB bodies. Property:
each returns its value or raises its own documented error (ParseError, NoArticleText,
ConfigError), never anything else; a hang would trip the file's pytest timeout.

The profile is fixed (derandomize=True). MEIYU_FUZZ_EXAMPLES scales the number of cases for a
long run by hand; each test prints how many cases it ran (`pytest -s`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import re
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scrapy import Request, Spider
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from crawlers.dates import parse_date
from crawlers.encoding import decode
from crawlers.items import ArticleItem, KnownMention, SearchPage, VolumeProbeItem
from crawlers.parsers import MAX_PAGE_BYTES, ParseError
from crawlers.parsers.gdelt import Timeline, parse_timeline
from crawlers.parsers.sitemap import SitemapDoc
from crawlers.query import Query
from crawlers.spiders import spider_class
from crawlers.spiders.base import ArticleText, NoArticleText, extract_article
from crawlers.spiders.feeds import read_feed
from kernel.config import Config, config_from_dict, load_config
from kernel.errors import ConfigError
from kernel.sources import OUTLET_KINDS, SEARCH_KINDS, SOURCE_KINDS, resolve
from meiyu.demo.fixturesite.corpus import OUTLETS, World, build_world
from meiyu.demo.fixturesite.sources import FixtureRequest, responders
from pipelines.normalise import NormalisePipeline
from storage.writes import DocumentRecord
from tests.conftest import REPO
from tests.fuzzing import SCALE, profile
from tests.helpers_cli import meiyu_in_process

pytestmark = pytest.mark.timeout(600)

# Search kind → the real host its search requests go to (the fixture world answers there).
SEARCH_HOSTS = {kind: SOURCE_KINDS[kind].hosts[0] for kind in SEARCH_KINDS}
AUTH = {"x-naver-client-id": "test-id", "x-naver-client-secret": "test-secret"}


def _source(kind: str) -> dict[str, Any]:
    # The kind's default language; "article" (a page alone) is read as Korean.
    lang = SOURCE_KINDS[kind].default_language if kind in SOURCE_KINDS else "ko"
    return {
        "name": kind.replace("_", "-"),
        "kind": kind,
        "language": lang,
        "outlet": "fuzz",
        "timezone": "Asia/Shanghai",
        "base_url": f"http://{SEARCH_HOSTS.get(kind, 'news.haibin-daily.test')}",
        "feeds": ["http://news.haibin-daily.test/rss.xml"],
    }


def _query(kind: str) -> Query:
    zh = _source(kind)["language"] == "zh"
    text = "威海 海鲜" if zh else "웨이하이"
    return Query(
        "a29" if zh else "a67",
        text,
        "zh" if zh else "ko",
        dt.date(2023, 11, 1),
        dt.date(2023, 12, 31),
        "Asia/Shanghai",
    )


def _seeds(world: World) -> dict[str, list[tuple[str, bytes]]]:
    """(url, body) of real-looking answers per target, from the fixture world's own servers."""
    answer = responders()
    seeds: dict[str, list[tuple[str, bytes]]] = {}
    for kind, host in SEARCH_HOSTS.items():
        spider = spider_class(kind)(source=_source(kind), queries=[])
        for request in list(spider.search_requests(_query(kind)))[:2]:
            url = request.url.replace("display=100", "display=10")
            page = answer[host](world, FixtureRequest.from_url(url, hit=2, headers=AUTH))
            assert page is not None and page.status == 200, url
            target = "gdelt_timeline" if "timelinevolraw" in url else kind
            seeds.setdefault(target, []).append((url, page.body))
    for outlet in OUTLETS:
        host = f"http://{outlet.host}"
        sitemap = answer[outlet.host](world, FixtureRequest.from_url(f"{host}/sitemap.xml"))
        assert sitemap is not None
        month = re.search(rb"<loc>([^<]+)</loc>", sitemap.body)
        assert month is not None
        urlset = answer[outlet.host](world, FixtureRequest.from_url(month[1].decode()))
        assert urlset is not None
        # a few entries are enough to mutate; whole months only slow each case down
        cut = urlset.body.find(b"</url>", 4000)
        short = urlset.body[: cut + 6] + b"</urlset>" if cut > 0 else urlset.body
        seeds.setdefault("sitemap", []).extend(
            [(f"{host}/sitemap.xml", sitemap.body), (month[1].decode(), short)]
        )
        feed = world.pages[(outlet.host, "/rss.xml")]
        seeds.setdefault("feed", []).append((f"{host}/rss.xml", feed.body))
        articles = [k for k in world.pages if k[0] == outlet.host and k[1].endswith(".html")]
        for key in articles[:2]:
            seeds.setdefault("article", []).append(
                (f"http://{key[0]}{key[1]}", world.pages[key].body)
            )
    return seeds


SEEDS = _seeds(build_world())

# Spliced into real pages: markup that opens and never closes, entities, charsets declared
# wrongly, controls, bidi overrides, numbers beyond any range, JSON and XML structure.
HOSTILE = [
    b"\x00",
    b"\x00" * 64,
    b"\x1b[31m\x7f\x08",
    "\u202e\u2066\u200b\ufeff".encode(),
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\xed\xa0\x80",  # a UTF-16 surrogate, invalid in UTF-8
    "威海海鲜".encode("gb18030"),
    "웨이하이".encode("cp949"),
    b"<div>" * 200,
    b"</div>" * 50,
    b"<script>alert(1)</script>",
    b"<img src=x onerror=alert(1)>",
    b"<!--",
    b"<![CDATA[",
    b"]]>",
    b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>",
    b"&e;&#0;&#x110000;&#xD800;&lol;&amp",
    b'<meta charset="undefined">',
    b'<meta charset="euc-kr">',
    b'<meta charset="gbk">',
    b'<meta charset="utf-7">',
    b'<?xml version="1.0" encoding="utf-16"?>',
    b'<?xml version="1.0" encoding="bogus"?>',
    b'<link rel="canonical" href="http://[::1">',
    b'<link rel="canonical" href="javascript:alert(1)">',
    b'href="http://x:99999/"',
    b'href="http://[::1/"',
    b"9" * 400,
    b"1e400",
    b"-1",
    b"NaN",
    b"null",
    b"[" * 100,
    b"{" * 100,
    b'"',
    b"\\u0000",
    b'"seendate": 5,',
    b'"total": 1e400,',
    b'"items": {},',
    b'"url": null,',
    b"timeConvert('99999999999')",
    b'<span class="s2" t="99999999999">',
    "99999999999일전".encode(),
    "99999999999일 전".encode(),
    b'var ServerTime = "20231231235959";',
    "找到相关资讯约99999999999999999999999个".encode(),
    "2023年13月45日 99:99".encode(),
    "百度安全验证".encode(),
    "抱歉没有找到".encode(),
    "검색결과가 없습니다".encode(),
    b"limit requests to one every 5 seconds",
    b"<rss><channel><item><link>",
    b"<feed xmlns='http://www.w3.org/2005/Atom'><entry><link href='http://[x'/>",
]
ENCODINGS = [
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "utf-16-be",
    "utf-32",
    "gb18030",
    "gbk",
    "big5",
    "cp949",
    "euc-kr",
    "shift_jis",
    "latin-1",
    "cp1252",
    "koi8-r",
]
BOMS = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]


@st.composite
def truncated(draw: st.DrawFn, seeds: list[tuple[str, bytes]]) -> bytes:
    body = draw(st.sampled_from(seeds))[1]
    return body[: draw(st.integers(0, len(body)))]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[tuple[str, bytes]]) -> bytes:
    body = bytearray(draw(st.sampled_from(seeds))[1])
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["splice", "splice", "flip", "delete", "repeat", "cut"]))
        i = draw(st.integers(0, len(body)))
        if op == "splice":
            body[i:i] = draw(st.sampled_from(HOSTILE) | st.binary(min_size=1, max_size=24))
        elif op == "flip" and i < len(body):
            body[i] = draw(st.integers(0, 255))
        elif op == "delete":
            del body[i : i + draw(st.integers(1, 512))]
        elif op == "repeat":
            chunk = bytes(body[i : i + draw(st.integers(1, 64))])
            body[i:i] = chunk * draw(st.integers(2, 50))
        elif op == "cut":
            del body[i:]
    return bytes(body)


@st.composite
def reencoded(draw: st.DrawFn, seeds: list[tuple[str, bytes]]) -> bytes:
    """The page in another encoding than it says (or says nothing), BOM or not."""
    text = decode(draw(st.sampled_from(seeds))[1])
    if draw(st.booleans()):
        declared = draw(st.sampled_from(ENCODINGS + ["undefined", "x-bogus"]))
        text = re.sub(r"charset=[\"']?[\w-]+", f"charset={declared}", text, count=1)
        text = re.sub(r"encoding=[\"'][\w-]+[\"']", f'encoding="{declared}"', text, count=1)
    body = text.encode(draw(st.sampled_from(ENCODINGS)), "replace")
    return draw(st.sampled_from(BOMS)) + body


# Values put where a page has a value: element text, an attribute, a JSON value.
SLOT = re.compile(
    rb'>([^<>]{1,300})<|="([^"]{0,300})"|:\s*("(?:[^"\\]|\\.){0,300}"|-?\d[\d.eE+-]*|null)'
)
VALUES = [
    b"5",
    b"null",
    b"true",
    b"1e400",
    b"-1",
    b"[]",
    b"{}",
    b'{"a": []}',
    b'"\\u0000"',
    b'""',
    b'"' + b"9" * 30 + b'"',
    b"99999999999",
    b"99999999999999999999",
    b"NaN",
    b"",
    "99999999999일 전".encode(),
    "99999999999일전".encode(),
    "3시간 전".encode(),
    "2023年13月45日 99:99".encode(),
    "昨天 25:61".encode(),
    b"20231301T250000Z",
    b"javascript:alert(1)",
    b"http://[::1",
    b"http://x:99999/",
    b"//",
    b"#",
    b"?page=x",
    b"<script>alert(1)</script>",
    b"\x00\x1f\x7f",
    "\u202e\u200b".encode(),
    b"&#0;&#xD800;&bogus;",
    b"a" * 5000,
]


@st.composite
def swapped(draw: st.DrawFn, seeds: list[tuple[str, bytes]]) -> bytes:
    """A real page with some of its values (texts, attributes, JSON values) replaced."""
    body = draw(st.sampled_from(seeds))[1]
    slots = [m.span(m.lastindex or 0) for m in SLOT.finditer(body)]
    if not slots:
        return body
    chosen = sorted(set(draw(st.lists(st.sampled_from(slots), min_size=1, max_size=6))))
    out, at = [], 0
    for start, end in chosen:
        if start < at:
            continue
        out += [body[at:start], draw(st.sampled_from(VALUES))]
        at = end
    return b"".join(out) + body[at:]


def bodies(seeds: list[tuple[str, bytes]]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=4096),
        truncated(seeds),
        mutated(seeds),
        swapped(seeds),
        reencoded(seeds),
    )


def urls(seeds: list[tuple[str, bytes]]) -> st.SearchStrategy[str]:
    odd = [
        "https://example.org/",
        "http://weixin.sogou.com/antispider/?from=x",
        "http://search.daum.net/search?w=news&p=abc",
        "http://h.test/s?page=x&pn=-1",
    ]
    return st.sampled_from([u for u, _ in seeds] + odd)


# ------------------------------------------------------------------ parsers


PARSERS: dict[str, tuple[Callable[[bytes, str], Any], type]] = {
    kind: (resolve(str(SOURCE_KINDS[kind].parser)).parse, SearchPage) for kind in SEARCH_HOSTS
}
PARSERS["gdelt_timeline"] = (parse_timeline, Timeline)
PARSERS["sitemap"] = (resolve(str(SOURCE_KINDS["sitemap"].parser)).parse, SitemapDoc)


def _check_result(result: Any, kind: type) -> None:
    assert isinstance(result, kind)
    if isinstance(result, SearchPage):
        assert result.blocked is None or isinstance(result.blocked, str)
        assert result.total is None or isinstance(result.total, int)
        assert result.next_url is None or isinstance(result.next_url, str)
        for m in result.mentions:
            assert isinstance(m.url, str) and isinstance(m.title, str)
            assert isinstance(m.snippet, str)
            assert m.published is None or isinstance(m.published, str)
            assert m.outlet is None or isinstance(m.outlet, str)
    elif isinstance(result, SitemapDoc):
        assert all(isinstance(e.loc, str) for e in result.entries)


@pytest.mark.parametrize("target", sorted(PARSERS))
def test_parsers_return_a_page_or_raise_parse_error(target: str) -> None:
    parse, kind = PARSERS[target]
    seeds = SEEDS[target]
    for url, body in seeds:  # the seeds themselves are good pages
        _check_result(parse(body, url), kind)
    ran = 0

    @profile(150)
    @given(body=bodies(seeds), url=urls(seeds))
    def check(body: bytes, url: str) -> None:
        nonlocal ran
        ran += 1
        try:
            result = parse(body, url)
        except ParseError as exc:
            assert str(exc)
            return
        _check_result(result, kind)

    check()
    print(f"fuzz {target}: {ran} cases")
    assert ran >= min(SCALE or 150, 100)


def test_decode_always_gives_text() -> None:
    ran = 0

    @profile(200)
    @given(
        body=st.binary(max_size=2048) | mutated(SEEDS["article"]),
        charset=st.none()
        | st.sampled_from(ENCODINGS + ["undefined", "idna", "zlib", "rot13"])
        | st.text(max_size=12),
        language=st.sampled_from([None, "zh", "ko", "xx"]),
    )
    @example(body=b"abc\x80", charset="undefined", language=None)  # found by the fuzz: fixed
    @example(body=b"", charset="\x00", language=None)  # found by the fuzz: fixed
    def check(body: bytes, charset: str | None, language: str | None) -> None:
        nonlocal ran
        ran += 1
        assert isinstance(decode(body, charset, language), str)

    check()
    print(f"fuzz decode: {ran} cases")
    assert ran >= min(SCALE or 200, 100)


def test_dates_as_shown_give_a_moment_or_none() -> None:
    """Every date string a page shows goes through parse_date before the window check."""
    ran = 0

    @profile(200)
    @given(
        shown=st.sampled_from([v.decode("utf-8", "replace") for v in VALUES])
        | st.text(max_size=40)
        | st.text(alphabet="0123456789TZ:+-.年月日시간분전 ", max_size=30),
        zone=st.sampled_from(["Asia/Shanghai", "Asia/Seoul", "UTC"]),
    )
    @example(shown="Sat, 25 Nov 2222222023 16:34:00 GMT", zone="UTC")  # found by the fuzz
    @example(shown="20231301T250000Z", zone="UTC")  # found by the fuzz: fixed
    @example(shown="Fri, 31 Dec 9999 23:59:59 -1200", zone="UTC")
    @example(shown="0001-01-01T00:00:00+14:00", zone="Asia/Seoul")
    def check(shown: str, zone: str) -> None:
        nonlocal ran
        ran += 1
        moment = parse_date(shown, zone)
        assert moment is None or moment.tzinfo is not None

    check()
    print(f"fuzz dates: {ran} cases")
    assert ran >= min(SCALE or 200, 100)


# ------------------------------------------------------------------ article extraction, feeds


def test_article_extraction_returns_text_or_no_article_text() -> None:
    seeds = SEEDS["article"]
    for url, body in seeds:
        assert extract_article(body, url).text
    ran = 0

    @profile(100)
    @given(
        body=bodies(seeds),
        url=urls(seeds),
        charset=st.none() | st.sampled_from(ENCODINGS + ["undefined"]),
        language=st.sampled_from(["zh", "ko"]),
    )
    def check(body: bytes, url: str, charset: str | None, language: str) -> None:
        nonlocal ran
        ran += 1
        try:
            page = extract_article(body, url, charset, language)
        except NoArticleText:
            return
        assert isinstance(page, ArticleText) and page.text
        assert page.url.startswith(("http://", "https://"))

    check()
    print(f"fuzz article extraction: {ran} cases")
    assert ran >= min(SCALE or 100, 100)


def test_feed_reader_returns_entries_or_parse_error() -> None:
    seeds = SEEDS["feed"]
    for _, body in seeds:
        assert read_feed(body, None, "zh").entries
    ran = 0

    @profile(120)
    @given(body=bodies(seeds), language=st.sampled_from(["zh", "ko"]))
    def check(body: bytes, language: str) -> None:
        nonlocal ran
        ran += 1
        try:
            parsed = read_feed(body, None, language)
        except ParseError:
            return
        for entry in parsed.entries:
            assert isinstance(entry.get("link", ""), str)

    check()
    print(f"fuzz feed reader: {ran} cases")
    assert ran >= min(SCALE or 120, 100)


# ------------------------------------------------------------------ spider callbacks


CALLBACK_KINDS = [*sorted(SEARCH_HOSTS), *sorted(OUTLET_KINDS), "article"]


def _spider(kind: str) -> Spider:
    cls = spider_class("rss" if kind == "article" else kind)
    spider: Spider = cls.from_crawler(get_crawler(cls), source=_source(kind), queries=[])
    return spider


def _callback_output(spider: Spider, kind: str, url: str, body: bytes) -> Iterator[Any]:
    request = Request(url, meta={"source": "fuzz"})
    response = Response(url, body=body, headers={"Content-Type": "text/html"}, request=request)
    if kind == "rss":
        return spider.parse_feed(response, page=1)  # type: ignore[attr-defined]
    if kind == "sitemap":
        return spider.parse_sitemap(response)  # type: ignore[attr-defined]
    if kind == "article":
        entry = {
            "source": spider.source,  # type: ignore[attr-defined]
            "feed_url": "http://news.haibin-daily.test/rss.xml",
            "link": url,
            "title": "",
            "summary": "摘要 \x00 <b>",
            "snippet": "",
            "outlet": None,
            "published": "Tue, 05 Dec 2023 10:00:00 +0800",
            "indicator": "",
            "query": "",
        }
        return spider.parse_article(response, entry)  # type: ignore[attr-defined]
    if kind == "gdelt" and "timelinevolraw" in url:
        return spider.parse_volume(response, _query(kind))  # type: ignore[attr-defined]
    return spider.parse_search(response, _query(kind), 1)  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", CALLBACK_KINDS)
def test_spider_callbacks_never_raise_and_store_clean_records(kind: str) -> None:
    """What the crawl does with a page: parse, keep, follow, normalise. Any exception here
    would be a spider error that drops the rest of the page."""
    seeds = SEEDS.get(kind) or SEEDS["feed" if kind == "rss" else kind]
    if kind == "gdelt":
        seeds = seeds + SEEDS["gdelt_timeline"]
    spider = _spider(kind)
    normalise = NormalisePipeline()
    ran = 0

    @profile(25)
    @given(body=bodies(seeds), url=st.sampled_from([u for u, _ in seeds]))
    def check(body: bytes, url: str) -> None:
        nonlocal ran
        ran += 1
        for out in _callback_output(spider, kind, url, body):
            assert isinstance(out, Request | ArticleItem | KnownMention | VolumeProbeItem), out
            if isinstance(out, Request):
                assert out.url.startswith(("http://", "https://"))
            elif isinstance(out, ArticleItem):
                record = normalise.process_item(out)
                assert isinstance(record, DocumentRecord)
                fields = (record.title, record.text, record.snippet, record.outlet or "")
                assert not any("\x00" in f for f in fields)
                for f in (*fields, record.url, record.link):
                    f.encode("utf-8")  # no lone surrogates: both databases take it
                assert "\n" not in record.title
            elif isinstance(out, KnownMention):
                assert "\x00" not in normalise.process_item(out).snippet

    check()
    print(f"fuzz spider callback {kind}: {ran} cases")
    assert ran >= min(SCALE or 25, 25)


# ------------------------------------------------------------------ fixed hostile cases


def _nested(n: int) -> dict[str, bytes]:
    return {
        "html": b"<html><head><title>t</title></head><body>"
        + b"<div>" * n
        + "威海海鲜".encode()
        + b"</div>" * n
        + b"</body></html>",
        "xml": b"<?xml version='1.0'?><rss version='2.0'><channel>"
        + b"<item>" * n
        + b"</item>" * n
        + b"</channel></rss>",
        "json": b'{"items": '
        + b"[" * n
        + b"]" * n
        + b', "articles": '
        + b'{"a":' * n
        + b"1"
        + b"}" * n
        + b"}",
    }


def test_deeply_nested_pages() -> None:
    """100,000 levels of <div>, <item>, JSON arrays and objects: an answer or our error."""
    for body in _nested(100_000).values():
        for parse, kind in PARSERS.values():
            with contextlib.suppress(ParseError):
                _check_result(parse(body, "http://h.test/s?q=1"), kind)
        with contextlib.suppress(ParseError):
            read_feed(body, None, "zh")
        with contextlib.suppress(NoArticleText):
            assert extract_article(body, "http://h.test/a.html", None, "zh").text
        assert decode(body) == body.decode()


def test_a_50_mb_page_is_refused_by_size_not_parsed() -> None:
    """One 50 MB body: every parser, the extractor and the feed reader say so at once; a
    valid 50 MB sitemap (the sitemaps.org maximum) is still read."""
    para = ("<p>" + "威海国际海鲜美食节开幕，游客品尝当季海鲜。" * 20 + "</p>\n").encode()
    body = (
        b"<html><body><article>"
        + para * (50_000_000 // len(para) + 1)
        + b"</article></body></html>"
    )
    assert len(body) >= 50_000_000 > MAX_PAGE_BYTES
    for target, (parse, _) in PARSERS.items():
        if target == "sitemap":
            with pytest.raises(ParseError):  # under its 64 MiB limit, but no sitemap
                parse(body, "http://h.test/sitemap.xml")
            continue
        with pytest.raises(ParseError, match="over the"):
            parse(body, "http://h.test/s?q=1")
    with pytest.raises(NoArticleText, match="over the"):
        extract_article(body, "http://h.test/a.html", "utf-8", "zh")
    with pytest.raises(ParseError, match="over the"):
        read_feed(body, "utf-8", "zh")
    del body
    entry = (
        "<url><loc>http://h.test/{:07d}.html</loc><lastmod>2023-12-05</lastmod>"
        + " " * 900
        + "</url>"
    )
    n = 50_000_000 // len(entry.format(0))
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(entry.format(i) for i in range(n))
        + "</urlset>"
    ).encode()
    assert len(sitemap) >= 49_000_000
    doc = importlib.import_module("crawlers.parsers.sitemap").parse(sitemap, "http://h.test/")
    assert len(doc.entries) == n


# ------------------------------------------------------------------ config


SHIPPED = (REPO / "meiyu.toml").read_text(encoding="utf-8")
SHIPPED_LINES = SHIPPED.splitlines()
TOML_BITS = [
    "[database]",
    "[crawl]",
    "[[sources]]",
    "[indicators.a29]",
    "[[alerts.channels]]",
    'url = "postgresql://u:s3cr3t@h:x/db"',
    'kind = "nope"',
    "all_of = []",
    'all_of = [[""]]',
    "concurrent_requests = -1",
    'timezone = "Mars/Olympus"',
    'name = "../../x"',
    "a.b.c.d = 1",
    "x = 1979-05-27T07:32:00Z",
    "x = inf",
    "x = nan",
    'x = [1, "a", {b = 2}]',
    "x = {",
    '"\\u0000" = 1',
    "= 1",
    "[[indicators]]",
    "indicators = 5",
    'sources = "x"',
    "[sources]",
    'url_env = "https://hook.test/key"',
    'compute = "99 99 * * *"',
    'x = """',
    "x = '''",
    "\x00",
    "\ufeff",
    "\u202e",
]


@st.composite
def toml_texts(draw: st.DrawFn) -> str:
    lines = list(SHIPPED_LINES)
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines)))
        op = draw(st.sampled_from(["insert", "insert", "delete", "replace", "cut"]))
        if op == "insert":
            lines.insert(i, draw(st.sampled_from(TOML_BITS) | st.text(max_size=30)))
        elif op == "delete" and i < len(lines):
            del lines[i]
        elif op == "replace" and i < len(lines) and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            value = draw(st.sampled_from(TOML_BITS) | st.text(max_size=20))
            lines[i] = f"{key}= {value.split('=', 1)[-1]}"
        elif op == "cut":
            lines = lines[:i]
    return "\n".join(lines)


def _one_line(exc: ConfigError) -> None:
    text = str(exc)
    assert text and "\n" not in text and "s3cr3t" not in text, text


def test_config_loader_on_random_toml(tmp_path: Path) -> None:
    path = tmp_path / "meiyu.toml"
    ran = 0

    @profile(200)
    @given(text=toml_texts() | st.text(max_size=400))
    def check(text: str) -> None:
        nonlocal ran
        ran += 1
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            assert isinstance(load_config(path, env={}), Config)
        except ConfigError as exc:
            _one_line(exc)

    check()
    print(f"fuzz config TOML: {ran} cases")
    assert ran >= min(SCALE or 200, 100)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.dates()
    | st.datetimes(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["name", "kind", "url", "feeds", "all_of", "x"]) | st.text(max_size=6),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
CONFIG_KEYS = {
    "timezone": st.text(max_size=20) | st.just("Asia/Shanghai"),
    "database": st.fixed_dictionaries(
        {
            "url": st.sampled_from(
                ["sqlite:///x.db", "postgresql://u:s3cr3t@h/db", "mysql://u:s3cr3t@h/db"]
            )
            | json_values
        }
    ),
    "crawl": st.dictionaries(
        st.sampled_from(["concurrent_requests", "proxy", "timeout_seconds", "jobs_dir", "backend"]),
        json_values,
        max_size=3,
    ),
    "sources": st.lists(
        st.dictionaries(
            st.sampled_from(["name", "kind", "language", "outlet", "feeds", "base_url"]),
            json_values | st.sampled_from(["rss", "zh", "ko", "x", "http://h.test/f.xml"]),
            max_size=6,
        ),
        max_size=2,
    )
    | json_values,
    "indicators": st.dictionaries(st.text(max_size=8), json_values, max_size=2) | json_values,
    "alerts": st.fixed_dictionaries({"channels": st.lists(json_values, max_size=2)}),
}


def test_config_from_dict_on_random_structures() -> None:
    base = load_config(REPO / "meiyu.toml", env={}).model_dump()
    ran = 0

    @profile(200)
    @given(
        override=st.fixed_dictionaries({}, optional=CONFIG_KEYS),
        env=st.dictionaries(
            st.sampled_from(
                [
                    "MEIYU_DATABASE_URL",
                    "MEIYU_CRAWL__PROXY",
                    "MEIYU_X",
                    "MEIYU___",
                    "MEIYU_CRAWL__CONCURRENT_REQUESTS",
                    "MEIYU_SOURCES__0__NAME",
                    "MEIYU_INDICATORS__A29__ALL_OF",
                    "MEIYU_TIMEZONE__X",
                ]
            ),
            st.text(alphabet=string.printable, max_size=20)
            | st.sampled_from(["[1,2]", "{a=1}", "postgresql://u:s3cr3t@h:x/db"]),
            max_size=3,
        ),
        fresh=st.booleans(),
    )
    @example(override={"indicators": {"\n": None}}, env={}, fresh=False)  # found: fixed
    @example(override={"timezone": "US"}, env={}, fresh=False)  # found: fixed
    def check(override: dict[str, Any], env: dict[str, str], fresh: bool) -> None:
        nonlocal ran
        ran += 1
        raw = override if fresh else {**base, **override}
        try:
            assert isinstance(config_from_dict(raw, env=env), Config)
        except ConfigError as exc:
            _one_line(exc)

    check()
    print(f"fuzz config structures: {ran} cases")
    assert ran >= min(SCALE or 200, 100)


def test_config_nested_too_deeply_is_one_line(tmp_path: Path) -> None:
    for text in (
        "a = " + "[" * 50_000 + "]" * 50_000,
        "a" + ".a" * 100_000 + " = 1",
        "a = " + "{b = " * 5000 + "1" + "}" * 5000,
    ):
        path = tmp_path / "deep.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            load_config(path, env={})
        _one_line(caught.value)
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(ConfigError):
        config_from_dict(deep)


def test_config_check_with_a_hostile_file_is_one_line_exit_2(tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.toml"
    hostile.write_text(
        SHIPPED.replace("[database]", '[database]\nurl = "mysql://u:s3cr3t@db.test/x"\n#', 1)
        + '\n[indicators."../../escape"]\nname = "x"\n',
        encoding="utf-8",
    )
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00[\x00d\x00b\x00]" + bytes(range(256)))
    for path in (hostile, binary, tmp_path):
        proc = meiyu_in_process("--config", str(path), "config", "check")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
        assert "s3cr3t" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("kind", ["sogou_weixin", "naver_news", "rss"])
def test_entries_with_links_that_are_no_http_url_are_skipped(kind: str) -> None:
    """Found by the fuzz: "http://[::1" made urlsplit raise inside follow()."""
    spider = _spider(kind)
    for link in ("http://[::1/x", "http://x.test:99999/", "javascript:alert(1)", "5", ""):
        entry = {
            "source": spider.source,  # type: ignore[attr-defined]
            "feed_url": "http://h.test/f",
            "link": link,
            "title": "t",
            "summary": "",
            "snippet": "",
            "outlet": None,
            "published": None,
        }
        assert spider.follow(entry) is None  # type: ignore[attr-defined]
    assert spider.crawler.stats.get_value("meiyu/bad_links") == 5
