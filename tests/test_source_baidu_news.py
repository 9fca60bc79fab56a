"""Baidu news search: no real capture exists, so the parser is held to the structure documented
in ../shared/fixtures/sources/README.md (hand-written samples of both layouts) and to the
fixture engine; then what one real `meiyu crawl` through the fixture site must show beyond
tests/test_source_conformance.py (this file's CASE): the volume probes of every slice."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from scrapy.http import HtmlResponse, Request
from scrapy.utils.test import get_crawler

from crawlers.parsers.baidu_news import normalise_time, parse
from crawlers.query import Query
from crawlers.spiders.baidu_news import PAGE_SIZE, BaiduNewsSpider
from meiyu.demo.fixturesite.corpus import World
from meiyu.demo.fixturesite.server import FixtureSite
from meiyu.demo.fixturesite.sources import baidu_news as responder
from tests.conftest import SHARED
from tests.helpers_sources import (
    CrawlCase,
    CrawlResult,
    Fault,
    SourceCase,
    aware,
    make_spider,
    stat,
)
from tests.helpers_sources import ask as _ask

README = SHARED / "fixtures" / "sources" / "README.md"
BASE = "http://www.baidu.com"
SOURCE: dict[str, object] = {
    "name": "baidu",
    "kind": "baidu_news",
    "language": "zh",
    "outlet": "百度新闻",
    "base_url": BASE,
    "timezone": "Asia/Shanghai",
}


def _query(text_: str, since: dt.date, until: dt.date) -> Query:
    indicator = "a68" if "刘公岛" in text_ else "a29"
    return Query(indicator, text_, "zh", since, until, "Asia/Shanghai")


# ------------------------------------------------------------------ the documented structure


def test_no_real_capture_exists_yet() -> None:
    """When a real capture is added, this fails: write its conformance test then."""
    if not README.exists():
        pytest.skip("shared captures not present")
    notes = README.read_text(encoding="utf-8")
    section = notes[notes.index("### Baidu news search HTML") :].split("\n### ", 1)[0]
    assert "NOTHING REAL FOUND" in section
    for selector in ("div.result-op.c-container", "mu", "span.c-color-gray2", "span.nums"):
        assert selector in section
    assert not (README.parent / "baidu-news").exists()


MODERN = """<html><head><meta charset="utf-8"><title>百度资讯搜索_威海 海鲜</title></head><body>
<div id="tsn_inner"><span class="nums">百度为您找到相关资讯约1,230,000个</span></div>
<div id="content_left">
<div class="result-op c-container xpath-log new-pmd" tpl="news-normal"
     mu="https://www.example.cn/a/1.html">
 <h3 class="news-title_1YtI1 "><a href="https://www.baidu.com/link?url=abc"><!--s-text-->
  <em>威海</em>开海 <em>海鲜</em>上市<!--/s-text--></a></h3>
 <span class="c-font-normal c-color-text">渔船归港，<em>海鲜</em>价格回落...</span>
 <span class="c-color-gray" aria-label="新闻来源：大众网">大众网</span>
 <span class="c-color-gray2 c-font-normal">3小时前</span>
</div>
<div class="result-op c-container">
 <h3 class="news-title_2Ab">
  <a href="https://news.example.com/2.html" aria-label="标题：第二条"></a></h3>
 <div class="c-summary">摘要二</div>
 <span aria-label="新闻来源：齐鲁网">x</span><span aria-label="发布于：2023年5月1日">y</span>
</div>
</div>
<div id="page"><a class="n" href="/s?tn=news&amp;wd=x&amp;pn=10">下一页 &gt;</a></div>
</body></html>"""

OLDER = """<html><head><meta charset="utf-8"><title>百度新闻搜索</title></head><body>
<div id="header_top_bar"><span class="nums">找到相关资讯约27篇</span></div>
<div id="content_left"><div class="result" id="1">
 <h3 class="c-title"><a href="http://www.example.org/n/3.shtml">刘公岛<em>海洋文化</em>节</a></h3>
 <div class="c-summary c-row"><p class="c-author">威海新闻网&nbsp;&nbsp;2019年05月01日 10:30</p>
 刘公岛举办海洋文化节…</div>
</div></div></body></html>"""


def test_documented_modern_layout() -> None:
    page = parse(MODERN.encode(), "https://www.baidu.com/s?tn=news&wd=x")
    assert page.blocked is None and page.total == 1_230_000
    assert page.next_url == "/s?tn=news&wd=x&pn=10"
    first, second = page.mentions
    assert first.url == "https://www.example.cn/a/1.html"  # `mu`, not Baidu's redirect
    assert first.title == "威海开海 海鲜上市"
    assert first.snippet == "渔船归港，海鲜价格回落..."
    assert (first.outlet, first.published) == ("大众网", "3小时前")
    assert second.url == "https://news.example.com/2.html"  # no `mu`: the title link
    assert second.title == "第二条"  # from aria-label
    assert (second.snippet, second.outlet, second.published) == ("摘要二", "齐鲁网", "2023-05-01")


def test_documented_older_layout() -> None:
    page = parse(OLDER.encode("utf-8"), "https://www.baidu.com/s?tn=news&word=x")
    assert page.total == 27 and len(page.mentions) == 1
    m = page.mentions[0]
    assert (m.url, m.title) == ("http://www.example.org/n/3.shtml", "刘公岛海洋文化节")
    assert (m.outlet, m.published) == ("威海新闻网", "2019-05-01T10:30:00+08:00")


def test_times_as_baidu_shows_them() -> None:
    assert normalise_time("2023年5月1日 14:20") == "2023-05-01T14:20:00+08:00"
    assert normalise_time("2023年12月31日") == "2023-12-31"
    assert normalise_time("昨天 14:20") == "昨天 14:20"
    assert normalise_time("5月1日") == "5月1日"  # no year: left to the date parser


# ------------------------------------------------------------------ the fixture engine


def test_fixture_pages_are_the_world_newest_first(world: World) -> None:
    spider = BaiduNewsSpider(source=SOURCE)
    query = _query("威海 海鲜", dt.date(2023, 1, 1), dt.date(2023, 6, 30))
    want = world.search(query.text, "zh", query.start, query.end)
    assert len(want) > 2 * PAGE_SIZE
    url = spider.page_url(query, 1)
    params = parse_qs(urlsplit(url).query)
    assert params["tn"] == ["news"] and params["rtt"] == ["4"] and params["pn"] == ["0"]
    assert params["gpc"] == [
        f"stf={int(query.start.timestamp())},{int(query.end.timestamp()) - 1}|stftype=2"
    ]
    got = []
    for page_no in range(1, 10):
        result = parse(_ask(world, spider.page_url(query, page_no)).body, url)
        assert result.total == len(want)  # the true number of hits for the window
        got += result.mentions
        if len(result.mentions) < PAGE_SIZE:
            assert result.next_url is None
            break
        assert result.next_url and f"pn={page_no * PAGE_SIZE}" in result.next_url
    assert [m.url for m in got] == [a.url for a in want]
    assert [m.title for m in got] == [a.title for a in want]
    assert [m.outlet for m in got] == [a.outlet.name for a in want]
    assert [dt.datetime.fromisoformat(m.published or "") for m in got] == [
        a.published.replace(second=0) for a in want
    ]
    assert all(
        m.snippet and m.snippet[:10] in a.paragraphs[0] for m, a in zip(got, want, strict=True)
    )


def test_fixture_empty_window_and_totals_with_commas(world: World) -> None:
    spider = BaiduNewsSpider(source=SOURCE)
    empty = _query("刘公岛 海洋文化", dt.date(2019, 1, 1), dt.date(2019, 1, 31))
    result = parse(_ask(world, spider.page_url(empty, 1)).body, "")
    assert result.mentions == [] and result.total == 0
    page = _ask(
        world, spider.page_url(_query("威海 海鲜", dt.date(2020, 1, 1), dt.date(2023, 12, 31)), 1)
    )
    assert "百度为您找到相关资讯约380个".encode() in page.body
    older = "<span class='nums'>找到相关资讯约1,234,567篇</span>".encode()
    assert parse(older, "").total == 1234567


def faults(spider: BaiduNewsSpider, world: World) -> list[Fault]:
    """The first month slices of 威海 海鲜 that meet each planted fault (first hit only)."""
    found: dict[str, Fault] = {}
    since = dt.date(2020, 1, 1)
    while len(found) < 3 and since < dt.date(2024, 1, 1):
        query = _query("威海 海鲜", since, since + dt.timedelta(days=30))
        url = spider.page_url(query, 1)
        params = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}
        fault = responder.fault_for(params["wd"], params["gpc"], params["pn"])
        if fault == "captcha":
            found.setdefault(fault, Fault("blocked", url, says="安全验证"))
        elif fault == "slow":
            found.setdefault(fault, Fault("slow", url))
        elif fault == "429":
            found.setdefault(fault, Fault("429", url))
        since += dt.timedelta(days=31)
    return list(found.values())


def test_the_slow_answer_still_holds_the_page(world: World) -> None:
    [slow] = [f for f in faults(BaiduNewsSpider(source=SOURCE), world) if f.fault == "slow"]
    page = _ask(world, slow.url, hit=1)
    assert page.delay > 2 and parse(page.body, "").mentions


# ------------------------------------------------------------------ the spider


def test_a_slice_is_halved_by_days() -> None:
    spider = make_spider(SOURCE)
    q = _query("威海 海鲜", dt.date(2023, 1, 1), dt.date(2023, 3, 31))
    second, first = (r.cb_kwargs["query"] for r in spider.split(q))  # newer half first
    assert (first.since, first.until) == (dt.date(2023, 1, 1), dt.date(2023, 2, 14))
    assert (second.since, second.until) == (dt.date(2023, 2, 15), dt.date(2023, 3, 31))
    assert list(spider.split(_query("x", dt.date(2023, 1, 1), dt.date(2023, 1, 1)))) == []
    assert stat(spider, "meiyu/baidu_splits") == stat(spider, "meiyu/baidu_truncated") == 1


def test_redirect_to_the_captcha_retries_the_search_page() -> None:
    crawler = get_crawler(BaiduNewsSpider)
    spider = BaiduNewsSpider.from_crawler(crawler, source=SOURCE)
    query = _query("威海 海鲜", dt.date(2023, 1, 1), dt.date(2023, 1, 31))
    search = spider.page_url(query, 1)
    captcha = "https://wappass.baidu.com/static/captcha/tuxing.html?&ak=x&backurl=y"
    request = Request(captcha, meta={"redirect_urls": [search]})
    response = HtmlResponse(
        captcha, body=responder.CAPTCHA_PAGE.encode(), request=request, encoding="utf-8"
    )
    out = list(spider.parse_search(response, query, 1))
    assert len(out) == 1 and isinstance(out[0], Request)
    assert out[0].url == search and out[0].meta["meiyu_blocked_tries"] == 1
    assert crawler.stats is not None and crawler.stats.get_value("meiyu/antibot") == 1


# ------------------------------------------------------------------ end to end


def check_crawl(result: CrawlResult, world: World, site: FixtureSite) -> None:
    """After the shared checks (test_source_conformance): a snippet on every mention, the
    engine's total stored for every slice asked (quarters and split halves), splits made."""
    assert all(r.snippet for r in result.mentions)
    queries = [
        _query(q, dt.date(2020, 1, 1), dt.date(2023, 12, 31))
        for q in ("威海 海鲜", "刘公岛 海洋文化")
    ]
    probes = result.probes
    quarters = {q.text: q.slices(92) for q in queries}
    for q in queries:
        mine = {
            (aware(p.window_start), aware(p.window_end)): p.reported_total
            for p in probes
            if p.query == q.text
        }
        for piece in quarters[q.text]:
            assert mine[(piece.start, piece.end)] == len(
                world.search(q.text, "zh", piece.start, piece.end)
            )
        assert all(p.indicator == q.indicator for p in probes if p.query == q.text)
    assert len(probes) > sum(len(v) for v in quarters.values())  # split halves probed too
    assert all(p.source == "baidu" for p in probes)
    assert result.stats["meiyu/baidu_splits"] >= 1


CASE = SourceCase(
    kind="baidu_news",
    search_url="https://www.baidu.com/s?tn=news&wd=x",
    malformed=(
        b"",
        b'{"errno": 0, "data": []}',
        "<html><head><title>百度一下，你就知道</title></head><body>home</body></html>".encode(),
        b'<div id="content_left"><div class="result-op c-container"><h3>no link</h3></div></div>',
    ),
    source=SOURCE,
    faults=faults,
    blocked=responder.CAPTCHA_PAGE.encode(),
    says="安全验证",
    # Quarters and two pages each: busy quarters fill both pages and are halved.
    walk=_query("威海 海鲜", dt.date(2020, 1, 1), dt.date(2023, 12, 31)),
    walk_source={"slice_days": 92, "max_pages": 2},
    walk_splits=True,
    dates="minute",
    outlet=lambda a: a.outlet.name,
    crawl=CrawlCase(
        # Quarter slices and two pages per slice: busy quarters of 威海 海鲜 fill both pages and
        # are split in halves; every page of every slice is a computed pn.
        sources=[{**SOURCE, "slice_days": 92, "max_pages": 2}],
        probes=True,
        dates="minute",
        check=check_crawl,
    ),
)
