"""The Items pages and /api/v1/items against a real uvicorn server (tests/helpers_web.py), on
SQLite and PostgreSQL: documents, mentions, matches, clusters and sentiment stored with the
storage.writes functions a crawl and `meiyu compute` use; each filter narrows the list to what
was seeded, paging keeps the filters, the search is literal, hostile input is 422 or empty,
crawled markup and `javascript:` links stay text, and the detail shows every stored fact."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from sqlalchemy import update

from kernel.config import load_config
from nlp.identity import sentiment_model_id
from storage.models import Document
from storage.writes import (
    DocumentRecord,
    MatchRecord,
    ensure_source,
    record_mention,
    record_sentiment,
    replace_matches,
    upsert_document,
)
from tests.helpers_web import Client, Site, running_site
from web.items import period_bounds, safe_href

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
EVIDENCE = "威海海鲜节今天开幕，游客称赞。"
FILLER = 55
SH = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai, the config's time zone


@dataclass
class Seeded:
    ids: dict[str, int]
    zh_model: str
    ko_model: str


@pytest.fixture
def site(db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Site]:
    with running_site(db_url, tmp_path, caplog) as running:
        yield running


def _seed_items(site: Site) -> Seeded:
    cfg = load_config(site.config)
    zh_model = sentiment_model_id(cfg.indicators["a29"])
    ko_model = sentiment_model_id(cfg.indicators["a67"])
    assert zh_model and ko_model
    fetched = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    docs = {
        # name: (source, language, title, url, published)
        "fest": ("outlet-zh", "zh", "威海海鲜节开幕 100% 满意", "https://a.example/fest",
                 dt.datetime(2023, 12, 10, 9, tzinfo=SH)),
        "road": ("outlet-zh", "zh", "上海威海路海鲜馆 a_b", "https://a.example/road",
                 dt.datetime(2023, 12, 20, 9, tzinfo=SH)),
        "quote": ("baidu-news", "zh", "it's -- 威海海鲜", "https://b.example/quote",
                  dt.datetime(2023, 11, 5, 9, tzinfo=SH)),
        "drop": ("baidu-news", "zh", '"; DROP TABLE documents; -- 威海', "https://b.example/drop",
                 dt.datetime(2023, 11, 6, 9, tzinfo=SH)),
        "script": ("naver-news", "ko", f"{SCRIPT} 웨이하이", "javascript:alert(1)",
                   dt.datetime(2023, 12, 5, 9, tzinfo=SH)),
        # 2024-01-01 01:00 in Shanghai, still 2023 in UTC: January by the config's time zone
        "img": ("naver-news", "ko", f"{IMG} 웨이하이", "https://c.example/img",
                dt.datetime(2023, 12, 31, 17, tzinfo=dt.UTC)),
    }  # fmt: skip
    ids: dict[str, int] = {}
    with site.sessions.begin() as s:
        sources = {
            name: ensure_source(s, name, kind, lang, name)
            for name, kind, lang in (
                ("outlet-zh", "rss", "zh"),
                ("baidu-news", "baidu_news", "zh"),
                ("naver-news", "naver_news", "ko"),
                ("bulk", "rss", "zh"),
            )
        }
        for name, (source, lang, title, url, published) in docs.items():
            record = DocumentRecord(
                url=url,
                source=source,
                outlet=f"{source} outlet",
                title=title,
                text=f"{title} 正文",
                language=lang,
                published_at=published,
                fetched_at=fetched,
                content_hash=f"hash-{name}",
            )
            ids[name] = upsert_document(s, record, sources[source], None)[1]
        for i in range(FILLER):
            record = DocumentRecord(
                url=f"https://bulk.example/{i}",
                source="bulk",
                outlet=None,
                title=f"填充 {i}",
                text="",
                language="zh",
                published_at=dt.datetime(2022, 6, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i),
                fetched_at=fetched,
                content_hash=f"bulk-{i}",
            )
            upsert_document(s, record, sources["bulk"], None)
        record_mention(s, ids["fest"], "outlet-zh", "", "", "")
        record_mention(s, ids["fest"], "baidu-news", "a29", "威海 海鲜", "snippet")
        record_mention(s, ids["script"], "naver-news", "a67", "웨이하이", "")
        s.execute(update(Document).where(Document.id == ids["road"]).values(cluster_id=ids["fest"]))
        s.execute(update(Document).where(Document.id == ids["fest"]).values(cluster_id=ids["fest"]))
        replace_matches(
            s,
            "a29",
            "v1",
            [
                MatchRecord(ids["fest"], ["威海", "海鲜"], literal=True, relevant=True),
                MatchRecord(ids["road"], ["威海", "海鲜"], literal=True, relevant=False),
                MatchRecord(ids["quote"], ["威海", "海鲜"], literal=True, relevant=True),
            ],
        )
        replace_matches(s, "a67", "v1", [MatchRecord(ids["script"], [], False, True)])
        probs = {"negative": 0.1, "neutral": 0.2, "positive": 0.7}
        record_sentiment(s, ids["fest"], zh_model, "a29", "positive", probs, EVIDENCE)
        neg = {"negative": 0.8, "neutral": 0.1, "positive": 0.1}
        record_sentiment(s, ids["quote"], zh_model, "a29", "negative", neg, "威海海鲜")
        # an older model's label is not the indicator's
        record_sentiment(s, ids["quote"], "zh-sentiment@old", "a29", "positive", probs, "")
        record_sentiment(s, ids["script"], ko_model, "a67", "positive", probs, f"{SCRIPT} 웨이하이")
    return Seeded(ids, zh_model, ko_model)


def _viewer(site: Site) -> Client:
    browser = site.client()
    assert browser.login("kim").status == 303
    return browser


def _api(browser: Client, **params: object) -> dict[str, object]:
    reply = browser.get("/api/v1/items?" + urlencode(params))
    assert reply.status == 200, reply.body
    return json.loads(reply.body)


def _ids(browser: Client, **params: object) -> set[int]:
    found = _api(browser, **params)
    items = found["items"]
    assert isinstance(items, list) and found["total"] == len(items)
    return {x["id"] for x in items}


def test_filters_narrow_the_list_to_what_was_stored(site: Site) -> None:
    seeded = _seed_items(site)
    ids = seeded.ids
    browser = _viewer(site)
    assert _api(browser)["total"] == len(ids) + FILLER
    assert _ids(browser, indicator="a29") == {ids["fest"], ids["road"], ids["quote"]}
    assert _ids(browser, indicator="a29", match="relevant") == {ids["fest"], ids["quote"]}
    assert _ids(browser, indicator="a29", match="literal") == {
        ids["fest"],
        ids["road"],
        ids["quote"],
    }
    assert _ids(browser, indicator="a67", match="literal") == set()
    assert _ids(browser, indicator="a67", match="relevant") == {ids["script"]}
    assert _ids(browser, indicator="a29", period="2023-12") == {ids["fest"], ids["road"]}
    assert _ids(browser, indicator="a29", period="2023-11") == {ids["quote"]}
    # month bounds are the config's time zone: 17:00 UTC on Dec 31 is January in Shanghai
    assert _ids(browser, language="ko", period="2024-01") == {ids["img"]}
    assert _ids(browser, language="ko", period="2023-12") == {ids["script"]}
    assert _ids(browser, period="2023-11-05..2023-11-05") == {ids["quote"]}
    assert _ids(browser, period="2023-11-01..2023-12-09") == {
        ids["quote"],
        ids["drop"],
        ids["script"],
    }
    assert _ids(browser, source="baidu-news") == {ids["quote"], ids["drop"]}
    assert _ids(browser, source="no-such-source") == set()
    assert _ids(browser, indicator="a99") == set()
    assert _ids(browser, language="ko") == {ids["script"], ids["img"]}
    # the label of the indicator's current model, not an older model's
    assert _ids(browser, indicator="a29", label="positive") == {ids["fest"]}
    assert _ids(browser, indicator="a29", label="negative") == {ids["quote"]}
    assert _ids(browser, indicator="a67", label="positive") == {ids["script"]}
    assert _ids(browser, cluster=ids["fest"]) == {ids["fest"], ids["road"]}
    assert _ids(browser, q="海鲜节") == {ids["fest"]}
    # newest first
    listed = _api(browser, period="2023-11-01..2023-12-31")["items"]
    assert isinstance(listed, list)
    assert [x["id"] for x in listed] == [
        ids["road"],
        ids["fest"],
        ids["script"],
        ids["drop"],
        ids["quote"],
    ]


def test_search_is_literal_and_breaks_nothing(site: Site) -> None:
    ids = _seed_items(site).ids
    browser = _viewer(site)
    assert _ids(browser, q="%") == {ids["fest"]}  # only the title with a real %
    assert _ids(browser, q="100%") == {ids["fest"]}
    assert _ids(browser, q="_") == {ids["road"]}  # not every title (LIKE's _ is any char)
    assert _ids(browser, q="a_b") == {ids["road"]}
    assert _ids(browser, q="'") == {ids["quote"]}
    assert _ids(browser, q="it's") == {ids["quote"]}
    assert _ids(browser, q="--") == {ids["quote"], ids["drop"]}
    assert _ids(browser, q='"; DROP TABLE') == {ids["drop"]}
    assert _ids(browser, q="' OR 1=1 --") == set()
    assert _ids(browser, q="\\") == set()
    assert _api(browser)["total"] == len(ids) + FILLER  # nothing was dropped
    page = browser.get("/items?" + urlencode({"q": '"; DROP TABLE'}))
    assert page.status == 200 and f'href="/items/{ids["drop"]}"' in page.body
    assert 'value="&#34;; DROP TABLE"' in page.body  # the form keeps the search, escaped


def test_paging_keeps_the_filters(site: Site) -> None:
    _seed_items(site)
    browser = _viewer(site)
    first = _api(browser, source="bulk")
    second = _api(browser, source="bulk", page=2)
    assert first["total"] == second["total"] == FILLER and first["page_size"] == 50
    assert isinstance(first["items"], list) and isinstance(second["items"], list)
    assert len(first["items"]) == 50 and len(second["items"]) == FILLER - 50
    both = {x["id"] for x in first["items"]} | {x["id"] for x in second["items"]}
    assert len(both) == FILLER
    assert _api(browser, source="bulk", page=3)["items"] == []
    assert _api(browser, page=100_000)["items"] == []

    html = browser.get("/items?source=bulk&language=zh")
    assert html.status == 200 and f"共 {FILLER} 条" in html.body
    nxt = re.search(r'<a rel="next" href="([^"]+)"', html.body)
    assert nxt and 'rel="prev"' not in html.body
    link = unescape(nxt.group(1))
    assert "source=bulk" in link and "language=zh" in link and "page=2" in link
    two = browser.get(link)
    assert two.status == 200 and 'rel="next"' not in two.body
    prev = re.search(r'<a rel="prev" href="([^"]+)"', two.body)
    assert prev and "source=bulk" in unescape(prev.group(1))
    assert two.body.count('href="/items/') == FILLER - 50


def test_bad_parameters_are_422_or_empty_never_500(site: Site) -> None:
    _seed_items(site)
    browser = _viewer(site)
    for query in (
        "page=0",
        "page=-1",
        "page=abc",
        "page=100001",
        f"page={10**30}",
        "cluster=abc",
        f"cluster={2**31}",
        f"cluster={10**30}",
        "label=great",
        "match=maybe",
        "period=2023-13",
        "period=2023-12-31..2023-12-01",
        "period=2023-02-30..2023-03-01",
        "period=" + quote("'; DROP TABLE documents; --"),
        "q=" + "x" * 201,
        "indicator=" + "a" * 41,
        "source=" + "s" * 10_000,
        "language=" + "x" * 9,
    ):
        api = browser.get(f"/api/v1/items?{query}")
        assert api.status == 422, (query, api.status)
        page = browser.get(f"/items?{query}")
        assert page.status == 422, (query, page.status)
    for path in (
        "/items/abc",
        "/items/0",
        f"/items/{2**31}",
        f"/items/{10**30}",
        "/api/v1/items/abc",
        f"/api/v1/items/{2**40}",
    ):
        assert browser.get(path).status == 422, path
    assert browser.get("/items/999999").status == 404
    assert "没有这个条目" in browser.get("/items/999999").body
    assert browser.get("/api/v1/items/999999").status == 404
    evil = quote("' OR 1=1; --")
    assert _api(browser, indicator="' OR 1=1; --")["items"] == []
    assert browser.get(f"/api/v1/items?source={evil}&language={quote('zh%')}").status == 200
    assert 400 <= browser.get("/api/v1/items?q=" + "x" * 100_000).status < 500
    assert _api(browser)["total"] == 6 + FILLER


def test_hostile_titles_and_links_stay_text(site: Site) -> None:
    ids = _seed_items(site).ids
    browser = _viewer(site)
    for path in ("/items", "/items?language=ko", f"/items/{ids['script']}", f"/items/{ids['img']}"):
        page = browser.get(path)
        assert page.status == 200, path
        assert "<script" not in page.body and "<img" not in page.body, path
        assert 'href="javascript:' not in page.body.lower(), path
    listing = browser.get("/items?language=ko").body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listing
    assert "&lt;img src=x onerror=alert(1)&gt;" in listing
    detail = browser.get(f"/items/{ids['script']}").body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 웨이하이" in detail
    assert "<code>javascript:alert(1)</code>" in detail and "不可点击" in detail
    good = browser.get(f"/items/{ids['img']}").body
    assert '<a href="https://c.example/img"' in good
    item = json.loads(browser.get(f"/api/v1/items/{ids['script']}").body)
    assert item["title"] == f"{SCRIPT} 웨이하이" and item["url"] == "javascript:alert(1)"
    assert item["sentiment"][0]["evidence"] == f"{SCRIPT} 웨이하이"
    listed = _api(browser, language="ko")["items"]
    assert isinstance(listed, list)
    assert {x["title"] for x in listed} == {f"{SCRIPT} 웨이하이", f"{IMG} 웨이하이"}
    assert safe_href("JavaScript:alert(1)") is None and safe_href("data:text/html,x") is None
    assert safe_href("//evil.example/") is None and safe_href("https://ok.example/") is not None


def test_the_detail_shows_every_stored_fact(site: Site) -> None:
    seeded = _seed_items(site)
    ids = seeded.ids
    browser = _viewer(site)
    page = browser.get(f"/items/{ids['fest']}")
    assert page.status == 200
    body = page.body
    assert "威海海鲜节开幕 100% 满意" in body and "outlet-zh" in body
    assert '<a href="https://a.example/fest"' in body
    assert "2023-12-10 09:00" in body  # local time
    assert EVIDENCE in body and seeded.zh_model in body
    assert "0.700" in body and "正面" in body
    assert f'href="/items?cluster={ids["fest"]}"' in body and "另有 1 条" in body
    assert "baidu-news" in body and "威海 海鲜" in body
    item = json.loads(browser.get(f"/api/v1/items/{ids['fest']}").body)
    assert item["cluster_id"] == ids["fest"] and item["cluster_others"] == 1
    assert [(m["source"], m["indicator"], m["query"]) for m in item["mentions"]] == [
        ("outlet-zh", "", ""),
        ("baidu-news", "a29", "威海 海鲜"),
    ]
    assert item["matches"] == [
        {"indicator": "a29", "terms": ["威海", "海鲜"], "literal": True, "relevant": True}
    ]
    (result,) = item["sentiment"]
    assert result["model_id"] == seeded.zh_model and result["label"] == "positive"
    assert result["probabilities"]["positive"] == 0.7 and result["score"] == 0.7
    assert result["evidence"] == EVIDENCE and result["target"] == "a29"
    assert item["published_at"].startswith("2023-12-10T01:00:00")
    spec = json.loads(browser.get("/api/v1/openapi.json").body)
    assert {"/api/v1/items", "/api/v1/items/{item_id}"} <= set(spec["paths"])


def test_items_need_a_login_and_the_overview_links_to_them(site: Site) -> None:
    ids = _seed_items(site).ids
    anonymous = site.client()
    for path in ("/items", f"/items/{ids['fest']}", "/items?q=x"):
        reply = anonymous.get(path)
        assert (reply.status, reply.header("location")) == (303, "/login"), path
    for path in ("/api/v1/items", f"/api/v1/items/{ids['fest']}"):
        assert anonymous.get(path).status == 401, path
    token = site.token("kim")
    scripted = site.client(Authorization=f"Bearer {token}")
    assert scripted.get("/api/v1/items").status == 200
    browser = _viewer(site)
    overview = browser.get("/").body
    assert 'href="/items?indicator=a29&amp;period=2023-12"' in overview
    assert '<a href="/items">条目</a>' in overview


def test_period_bounds() -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    assert period_bounds("2023-12", tz) == (
        dt.datetime(2023, 11, 30, 16, tzinfo=dt.UTC),
        dt.datetime(2023, 12, 31, 16, tzinfo=dt.UTC),
    )
    assert period_bounds("2023-12-01..2023-12-01", tz) == (
        dt.datetime(2023, 11, 30, 16, tzinfo=dt.UTC),
        dt.datetime(2023, 12, 1, 16, tzinfo=dt.UTC),
    )
    for bad in ("2023", "2023-00", "0000-01", "2023-12-02..2023-12-01", "9999-12-31..9999-12-31"):
        assert period_bounds(bad, tz) is None, bad


def test_a_broad_count_stops_at_its_cap_and_the_page_is_still_right(site: Site) -> None:
    """Past COUNT_CAP the list says "more than" instead of counting every match (on a large
    database the count costs more than the page); the rows are the same either way."""
    from storage.items import ItemFilter, list_items

    ids = _seed_items(site).ids
    with site.sessions() as s:
        full = list_items(s, ItemFilter(), 1, 50)
        capped = list_items(s, ItemFilter(), 1, 50, count_cap=10)
        last = list_items(s, ItemFilter(), 2, 50, count_cap=10)
    assert full.total == len(ids) + FILLER and not full.total_capped
    assert capped.total == 11 and capped.total_capped
    assert capped.rows == full.rows and len(last.rows) == full.total - 50
    page = _viewer(site).get("/items")
    assert page.status == 200 and f"共 {full.total} 条" in page.body


def test_a_pages_bad_parameter_is_a_chinese_page_and_the_apis_is_json(site: Site) -> None:
    """FastAPI's own validation (a wrong type, too long, not a choice): on a page the Chinese
    error page naming the field, in the API FastAPI's JSON list of errors."""
    browser = _viewer(site)
    for path, field in (("/items?page=x", "page"), ("/items?label=good", "label"),
                        ("/indicators/a29?period_type=decade", "period_type")):  # fmt: skip
        reply = browser.get(path)
        assert reply.status == 422, path
        assert "text/html" in (reply.header("content-type") or ""), path
        assert "参数不正确" in reply.body and field in reply.body, path
    reply = browser.get("/api/v1/items?page=x")
    assert reply.status == 422 and "application/json" in (reply.header("content-type") or "")
    assert json.loads(reply.body)["detail"][0]["loc"] == ["query", "page"]
