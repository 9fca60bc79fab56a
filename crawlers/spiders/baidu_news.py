"""Baidu news search (www.baidu.com/s?tn=news), newest first, one date-range slice at a time.

NO REAL CAPTURE EXISTS of a Baidu news result page (../shared/fixtures/sources/README.md,
Baidu section). The parser (crawlers/parsers/baidu_news.py) follows the structure documented
there from current public scrapers: `div.result-op.c-container` with `mu`, `h3 a`,
`span.c-color-gray` (source), `span.c-color-gray2` (time), `span[class^="c-font-normal"]`
(snippet) and `span.nums` ("百度为您找到相关资讯约N个", stored as a volume probe per slice).

Requests: `wd=<query>&tn=news&rtt=4` (by time) `&pn=0,10,…&rn=10`, the window cut into
`slice_days` pieces given as `gpc=stf=<start unix>,<end unix>|stftype=2` (end = the slice's
last second). The next page is asked while a page is full, up to `max_pages`; a slice still
full at its last page is halved (by days) and asked again, so the page cap loses nothing.
Baidu's "百度安全验证" page, served in place or as a redirect to wappass.baidu.com, counts as a
momentary block: the search page itself is asked again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from scrapy import Request
from scrapy.http import Response

from crawlers.items import SearchPage
from crawlers.parsers.baidu_news import parse
from crawlers.query import Query
from crawlers.spiders.base import SearchSpider

PAGE_SIZE = 10
CAPTCHA_HOSTS = {"wappass.baidu.com"}
HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "zh-CN,zh;q=0.9",
}


class BaiduNewsSpider(SearchSpider):
    name = "baidu_news"
    parser = staticmethod(parse)
    split_stat = "meiyu/baidu_splits"
    capped_stat = "meiyu/baidu_truncated"

    @property
    def split_reason(self) -> str:
        return f"fills all {self.last_page} pages"

    def page_url(self, query: Query, page: int) -> str:
        start = int(query.start.timestamp())
        end = int(query.end.timestamp()) - 1  # the slice's last second
        params = {
            "tn": "news",
            "rtt": "4",
            "bsst": "1",
            "cl": "2",
            "wd": query.text,
            "medium": "0",
            "gpc": f"stf={start},{end}|stftype=2",
            "pn": str((page - 1) * PAGE_SIZE),
            "rn": str(PAGE_SIZE),
        }
        return f"{self.base_url}/s?{urlencode(params, quote_via=quote)}"

    def page_request(self, query: Query, page: int) -> Request:
        return self.search_request(self.page_url(query, page), query, page, headers=HEADERS)

    def parse_search(self, response: Response, query: Query, page: int) -> Iterator[Any]:
        origin = (response.meta.get("redirect_urls") or [None])[0]
        if (
            origin
            and response.request is not None
            and urlsplit(response.url).hostname in CAPTCHA_HOSTS
        ):
            # Sent to the captcha: parse that page as the search page's answer (blocked), so
            # the search page itself, not the captcha, is asked again.
            response = response.replace(url=origin, request=response.request.replace(url=origin))
        yield from super().parse_search(response, query, page)

    def next_page(
        self, response: Response, query: Query, page: int, result: SearchPage
    ) -> Request | None:
        # A full page asks the next; a slice still full at its last page is halved.
        return self.page_or_split(response, query, page, len(result.mentions) >= PAGE_SIZE)
