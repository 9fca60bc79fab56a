"""Naver news search, HTML: `search.naver.com/search.naver?where=news&query=…&sort=1&ds=…&de=…
&nso=so:dd,p:from{YYYYMMDD}to{YYYYMMDD},a:all&start=…`.

The parser (crawlers.parsers.naver_news) follows the real captures in
../shared/fixtures/sources/naver-html/ (2025-04 and 2026-05 "sds-comps" layouts).

The window is cut into slices of the source's `slice_days` (newest first, dates in the source's
time zone, KST for Naver), each asked newest first and paged by `start` (1, 11, 21, …, ten
results a page) while a page comes back full, up to `max_pages` pages per slice. No total is
shown, so no volume probe. Anti-bot pages are retried by the base.

Naver shows dates by the day ("2023.05.01.") or relatively ("5일 전"); where the article page
states a machine timestamp (article:published_time, JSON-LD datePublished, <time datetime>)
within that day, the timestamp is kept instead, so monthly counts in another zone stay right.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from parsel import Selector
from scrapy import Request
from scrapy.http import Response

from crawlers.dates import parse_date
from crawlers.encoding import decode
from crawlers.items import ArticleItem, SearchPage
from crawlers.parsers.naver_news import PAGE_SIZE, parse
from crawlers.query import Query
from crawlers.spiders.base import SearchSpider, header_charset

_ABSOLUTE_DAY = re.compile(r"^(\d{4})\.\s?(\d{1,2})\.\s?(\d{1,2})\.?$")
_RELATIVE = re.compile(r"^(\d+)\s*(초|분|시간|일|주|개월|달|년)\s*전$")
_UNIT = {
    "초": dt.timedelta(seconds=1),
    "분": dt.timedelta(minutes=1),
    "시간": dt.timedelta(hours=1),
    "일": dt.timedelta(days=1),
    "주": dt.timedelta(days=7),
    "개월": dt.timedelta(days=31),
    "달": dt.timedelta(days=31),
    "년": dt.timedelta(days=366),
}
_PAGE_TIMESTAMPS = (
    'meta[property="article:published_time"]::attr(content)',
    'meta[name="article:published_time"]::attr(content)',
    'meta[itemprop="datePublished"]::attr(content)',
    'meta[name="pubdate"]::attr(content)',
    "time[datetime]::attr(datetime)",
)


class NaverNewsSpider(SearchSpider):
    name = "naver_news"
    parser = staticmethod(parse)

    def page_url(self, query: Query, start: int) -> str:
        params = {
            "where": "news",
            "query": query.text,
            "sort": "1",  # latest first
            "ds": f"{query.since:%Y.%m.%d}",
            "de": f"{query.until:%Y.%m.%d}",
            "nso": f"so:dd,p:from{query.since:%Y%m%d}to{query.until:%Y%m%d},a:all",
            "start": str(start),
        }
        return f"{self.base_url}/search.naver?{urlencode(params)}"

    def page_request(self, query: Query, page: int) -> Request:
        return self.search_request(self.page_url(query, 1 + PAGE_SIZE * (page - 1)), query, page)

    def next_page(
        self, response: Response, query: Query, page: int, result: SearchPage
    ) -> Request | None:
        # A full page asks the next (up to max_pages per slice: no halving, no total shown).
        if len(result.mentions) < PAGE_SIZE:
            return None
        return self.page_request(query, page + 1)

    def parse_article(self, response: Response, entry: dict[str, Any]) -> Iterator[ArticleItem]:
        html = decode(response.body, header_charset(response), self.source["language"])
        precise = page_timestamp(html, entry.get("published"), self.source["timezone"])
        if precise is not None:
            entry = {**entry, "published": precise.isoformat()}
        yield from super().parse_article(response, entry)


def page_timestamp(html: str, shown: str | None, timezone: str) -> dt.datetime | None:
    """The article page's own timestamp, when the search page showed only a day (or a relative
    time) and the page's timestamp agrees with it; None otherwise."""
    if not shown:
        return None
    shown = shown.strip()
    tz = ZoneInfo(timezone)
    day = _ABSOLUTE_DAY.match(shown)
    relative = _RELATIVE.match(shown)
    if not day and not relative:
        return None
    for found in _candidates(html):
        moment = _aware(found)
        if moment is None:
            continue
        if day:
            y, m, d = (int(g) for g in day.groups())
            if moment.astimezone(tz).date() == dt.date(y, m, d):
                return moment
        elif relative:
            approx = parse_date(shown, timezone)
            unit = _UNIT[relative.group(2)]
            if approx is not None and abs(moment - approx) <= unit + dt.timedelta(minutes=1):
                return moment
    return None


def _candidates(html: str) -> Iterator[str]:
    sel = Selector(text=html, type="html")
    for css in _PAGE_TIMESTAMPS:
        for value in sel.css(css).getall():
            yield value.strip()
    for script in sel.css('script[type="application/ld+json"]::text').getall():
        try:
            data = json.loads(script)
        except ValueError:
            continue
        for obj in data if isinstance(data, list) else [data]:
            if isinstance(obj, dict) and isinstance(obj.get("datePublished"), str):
                yield obj["datePublished"].strip()


def _aware(value: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
