"""Sogou WeChat article search (weixin.sogou.com/weixin?type=2), over a date window.

The parser (crawlers/parsers/sogou_weixin.py) follows the real capture
../shared/fixtures/sources/sogou-weixin/sogou_weixin_search_type2_2026-09-05_EXCERPT.html.
Requests: `/weixin?type=2&query=<query>&ie=utf8&tsn=5&ft=YYYY-MM-DD&et=YYYY-MM-DD&page=<n>`
(10 results a page; `tsn=5` is the custom date range, `ft`/`et` both inclusive, China time).
Without login Sogou serves about 10 pages, so the window is cut into `slice_days` pieces and a
piece that still has a next page at the last reachable page is halved and asked again.

Sogou answers bursts with a redirect to its antispider CAPTCHA; the page is asked again later
(the search URL, not the CAPTCHA's). An optional `SOGOU_COOKIE` (e.g. SUID/SNUID of a browser
session) is sent as the Cookie header of search and /link requests when set, added at download
time only (AuthHeadersMiddleware): it is never logged, queued in a JOBDIR, cached or sent on
to the article's host. Result links are Sogou's `/link?url=…` redirects, followed to the
article; the stored URL is where they lead (the article's rel=canonical), also when the article
page fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

from scrapy import Request
from scrapy.http import Response

from crawlers.items import ArticleItem, KnownMention, SearchPage
from crawlers.parsers.sogou_weixin import parse
from crawlers.query import Query
from crawlers.spiders.base import SearchSpider

COOKIE_ENV = "SOGOU_COOKIE"
SOGOU_MAX_PAGES = 10  # what Sogou shows without login
_REDIRECT_META = ("redirect_urls", "redirect_times", "redirect_ttl", "redirect_reasons")


class SogouWeixinSpider(SearchSpider):
    name = "sogou_weixin"
    parser = staticmethod(parse)
    links_redirect = True  # /link?url=… leads to the article: keep the article's URL

    @property
    def last_page(self) -> int:
        return min(self.max_pages, SOGOU_MAX_PAGES)  # beyond Sogou's reach: halve the slice

    def auth_headers(self) -> dict[str, str]:
        cookie = os.environ.get(COOKIE_ENV, "").strip()
        return {"Cookie": cookie} if cookie else {}

    def page_url(self, query: Query, page: int) -> str:
        params = {
            "type": "2",
            "query": query.text,
            "ie": "utf8",
            "tsn": "5",
            "ft": query.since.isoformat(),
            "et": query.until.isoformat(),
            "page": str(page),
        }
        return f"{self.base_url}/weixin?{urlencode(params)}"

    def page_request(self, query: Query, page: int) -> Request:
        return self.search_request(self.page_url(query, page), query, page, auth=True)

    def next_page(
        self, response: Response, query: Query, page: int, result: SearchPage
    ) -> Request | None:
        more = bool(result.mentions) and result.next_url is not None
        return self.page_or_split(response, query, page, more)

    def parse_search(self, response: Response, query: Query, page: int) -> Iterator[Any]:
        redirects = response.meta.get("redirect_urls")
        if redirects and "/antispider" in urlsplit(response.url).path:
            # Asked again later, the search page must be asked, not the CAPTCHA it led to.
            meta = {k: v for k, v in response.meta.items() if k not in _REDIRECT_META}
            assert response.request is not None
            original = response.request.replace(url=redirects[0], meta=meta)
            response = response.replace(request=original)
        yield from super().parse_search(response, query, page)

    def follow(self, entry: dict[str, Any]) -> Request | ArticleItem | KnownMention | None:
        request = super().follow(entry)
        if isinstance(request, Request) and (
            urlsplit(request.url).hostname == urlsplit(self.base_url).hostname
        ):
            request.meta["meiyu_auth"] = True  # Sogou's /link wants the session
        return request
