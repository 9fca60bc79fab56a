"""Daum news search (search.daum.net/search?w=news), newest first over a date window.

The parser (crawlers/parsers/daum_news.py) follows the real capture
../shared/fixtures/sources/daum-news/daum_news_search_2026-03-20.html. Requests:
`/search?w=news&q=<query>&sort=recency&period=u&sd=YYYYMMDDhhmmss&ed=YYYYMMDDhhmmss&p=<page>`
(10 results a page, `sd`/`ed` in KST, `ed` inclusive to the second). Daum states no hit count,
so a backfill cuts the window into `slice_days` pieces and pages with `p` while the page says
there is a next one; a piece that still has more pages after `max_pages` is halved and asked
again, so a busy window loses nothing. Results link Daum's own article pages
(`v.daum.net/v/<KST time>…`), which carry the exact time of the item.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlencode

from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from crawlers.items import ArticleItem, SearchPage
from crawlers.parsers.daum_news import KST, parse
from crawlers.query import Query
from crawlers.spiders.base import SearchSpider

SPLIT_FLAG = "meiyu_split"


class DaumNewsSpider(SearchSpider):
    name = "daum_news"
    parser = staticmethod(parse)
    default_base_url = "https://search.daum.net"

    @property
    def slice_days(self) -> int:
        return int(self.source.get("slice_days") or 31)

    def page_url(self, query: Query, page: int) -> str:
        start = query.start.astimezone(KST)
        last = (query.end - dt.timedelta(seconds=1)).astimezone(KST)
        params = {
            "w": "news",
            "q": query.text,
            "sort": "recency",
            "period": "u",
            "sd": start.strftime("%Y%m%d%H%M%S"),
            "ed": last.strftime("%Y%m%d%H%M%S"),
            "p": str(page),
        }
        return f"{self.base_url}/search?{urlencode(params)}"

    def search_requests(self, query: Query) -> Iterable[Request]:
        for piece in query.slices(self.slice_days):
            yield self.search_request(self.page_url(piece, 1), piece, 1)

    def next_page(
        self, response: Response, query: Query, page: int, result: SearchPage
    ) -> Request | None:
        if not result.mentions or result.next_url is None:
            return None
        if page >= self.max_pages:
            response.meta[SPLIT_FLAG] = True  # more than max_pages: ask for halves instead
            return None
        return self.search_request(self.page_url(query, page + 1), query, page + 1)

    def parse_search(self, response: Response, query: Query, page: int) -> Iterator[Any]:
        yield from super().parse_search(response, query, page)
        if response.meta.pop(SPLIT_FLAG, False):
            yield from self.split(query)

    def split(self, query: Query) -> Iterator[Request]:
        for half in self.split_window(query, f"has more than {self.max_pages} pages"):
            yield self.search_request(self.page_url(half, 1), half, 1)

    def article_failed(self, failure: Failure) -> Iterator[ArticleItem]:
        """Keep the article's own URL (after Daum's redirect), not the v.daum.net link."""
        response = getattr(failure.value, "response", None)
        request = failure.request  # type: ignore[attr-defined]
        final = response.url if response is not None else request.url
        entry = request.cb_kwargs["entry"]
        if final != entry["link"]:
            request.cb_kwargs["entry"] = {**entry, "link": final}
        yield from super().article_failed(failure)
