"""Google News RSS search, one feed per query and window slice.

The parser (crawlers/parsers/google_news.py) follows the real capture
../shared/fixtures/sources/google-news-rss/google_news_rss_search_q-TCS_hl-en-IN_2026-09-06_EXCERPT.xml.
Requests: `/rss/search?q=<query>+after:YYYY-MM-DD+before:YYYY-MM-DD&hl=ko&gl=KR&ceid=KR:ko`
(`after:` the first day, `before:` the day after the last: exclusive). A feed holds at most
~100 items and has no paging, so the window is cut into `slice_days` pieces (31 by default,
which keeps the busiest month of the fixture world far under the cap) and a piece that comes
back full is halved and asked again. Item links are news.google.com redirects: the article
request follows them, and the stored URL is the publisher's (its rel=canonical), also when
the publisher's page fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote_plus

from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from crawlers.items import ArticleItem, SearchPage
from crawlers.parsers.google_news import CAP, parse
from crawlers.query import Query
from crawlers.spiders.base import SearchSpider

SPLIT_FLAG = "meiyu_split"
# hl, gl, ceid of the edition searched, by source language.
EDITIONS = {"ko": ("ko", "KR", "KR:ko"), "zh": ("zh-CN", "CN", "CN:zh-Hans")}


class GoogleNewsSpider(SearchSpider):
    name = "google_news"
    parser = staticmethod(parse)
    default_base_url = "https://news.google.com"

    @property
    def slice_days(self) -> int:
        return int(self.source.get("slice_days") or 31)

    def feed_url(self, query: Query) -> str:
        before = query.until + dt.timedelta(days=1)
        q = f"{query.text} after:{query.since.isoformat()} before:{before.isoformat()}"
        hl, gl, ceid = EDITIONS.get(query.language, EDITIONS["ko"])
        return (
            f"{self.base_url}/rss/search?q={quote_plus(q, safe=':')}"
            f"&hl={hl}&gl={gl}&ceid={quote_plus(ceid, safe=':')}"
        )

    def search_requests(self, query: Query) -> Iterable[Request]:
        for piece in query.slices(self.slice_days):
            yield self.search_request(self.feed_url(piece), piece, 1)

    def next_page(
        self, response: Response, query: Query, page: int, result: SearchPage
    ) -> Request | None:
        if len(result.mentions) >= CAP:
            response.meta[SPLIT_FLAG] = True  # the feed is full: some items were cut off
        return None

    def parse_search(self, response: Response, query: Query, page: int) -> Iterator[Any]:
        yield from super().parse_search(response, query, page)
        if response.meta.pop(SPLIT_FLAG, False):
            yield from self.split(query)

    def split(self, query: Query) -> Iterator[Request]:
        for half in self.split_window(query, f"fills the feed ({CAP} items)"):
            yield self.search_request(self.feed_url(half), half, 1)

    def article_failed(self, failure: Failure) -> Iterator[ArticleItem]:
        """Keep the publisher's URL (where the redirect led), never the news.google.com link."""
        response = getattr(failure.value, "response", None)
        request = failure.request  # type: ignore[attr-defined]
        final = response.url if response is not None else request.url
        entry = request.cb_kwargs["entry"]
        if final != entry["link"]:
            request.cb_kwargs["entry"] = {**entry, "link": final}
        yield from super().article_failed(failure)
