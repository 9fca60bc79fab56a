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
from urllib.parse import urlencode

from scrapy import Request
from scrapy.http import Response

from crawlers.items import SearchPage
from crawlers.parsers.daum_news import KST, parse
from crawlers.query import Query
from crawlers.spiders.base import SearchSpider


class DaumNewsSpider(SearchSpider):
    name = "daum_news"
    parser = staticmethod(parse)
    links_redirect = True  # v.daum.net/v/… leads to the article: keep the article's URL

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

    def page_request(self, query: Query, page: int) -> Request:
        return self.search_request(self.page_url(query, page), query, page)

    def next_page(
        self, response: Response, query: Query, page: int, result: SearchPage
    ) -> Request | None:
        # Paged while the page links a next one; more than max_pages: the slice is halved.
        more = bool(result.mentions) and result.next_url is not None
        return self.page_or_split(response, query, page, more)
