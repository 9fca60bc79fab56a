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
from urllib.parse import quote_plus

from scrapy import Request
from scrapy.http import Response

from crawlers.items import SearchPage
from crawlers.parsers.google_news import CAP, parse
from crawlers.query import Query
from crawlers.spiders.base import SearchSpider

# hl, gl, ceid of the edition searched, by source language.
EDITIONS = {"ko": ("ko", "KR", "KR:ko"), "zh": ("zh-CN", "CN", "CN:zh-Hans")}


class GoogleNewsSpider(SearchSpider):
    name = "google_news"
    parser = staticmethod(parse)
    links_redirect = True  # news.google.com links: keep the publisher's URL
    split_reason = f"fills the feed ({CAP} items)"

    def feed_url(self, query: Query) -> str:
        before = query.until + dt.timedelta(days=1)
        q = f"{query.text} after:{query.since.isoformat()} before:{before.isoformat()}"
        hl, gl, ceid = EDITIONS.get(query.language, EDITIONS["ko"])
        return (
            f"{self.base_url}/rss/search?q={quote_plus(q, safe=':')}"
            f"&hl={hl}&gl={gl}&ceid={quote_plus(ceid, safe=':')}"
        )

    def page_request(self, query: Query, page: int) -> Request:
        return self.search_request(self.feed_url(query), query, page)  # one page: the feed

    def next_page(
        self, response: Response, query: Query, page: int, result: SearchPage
    ) -> Request | None:
        if len(result.mentions) >= CAP:
            self.split_instead(response)  # the feed is full: some items were cut off
        return None
