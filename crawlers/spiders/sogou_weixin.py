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
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from crawlers.items import ArticleItem, KnownMention, SearchPage
from crawlers.parsers.sogou_weixin import parse
from crawlers.query import Query
from crawlers.spiders.base import SearchSpider

COOKIE_ENV = "SOGOU_COOKIE"
SOGOU_MAX_PAGES = 10  # what Sogou shows without login
SPLIT_FLAG = "meiyu_split"
_REDIRECT_META = ("redirect_urls", "redirect_times", "redirect_ttl", "redirect_reasons")


class SogouWeixinSpider(SearchSpider):
    name = "sogou_weixin"
    parser = staticmethod(parse)
    default_base_url = "https://weixin.sogou.com"

    @property
    def slice_days(self) -> int:
        return int(self.source.get("slice_days") or 31)

    @property
    def last_page(self) -> int:
        return min(self.max_pages, SOGOU_MAX_PAGES)

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

    def _request(self, query: Query, page: int) -> Request:
        return self.search_request(self.page_url(query, page), query, page, auth=True)

    def search_requests(self, query: Query) -> Iterable[Request]:
        for piece in query.slices(self.slice_days):
            yield self._request(piece, 1)

    def next_page(
        self, response: Response, query: Query, page: int, result: SearchPage
    ) -> Request | None:
        if not result.mentions or result.next_url is None:
            return None
        if page >= self.last_page:
            response.meta[SPLIT_FLAG] = True  # beyond Sogou's reach: ask for halves instead
            return None
        return self._request(query, page + 1)

    def parse_search(self, response: Response, query: Query, page: int) -> Iterator[Any]:
        redirects = response.meta.get("redirect_urls")
        if redirects and "/antispider" in urlsplit(response.url).path:
            # Asked again later, the search page must be asked, not the CAPTCHA it led to.
            meta = {k: v for k, v in response.meta.items() if k not in _REDIRECT_META}
            assert response.request is not None
            original = response.request.replace(url=redirects[0], meta=meta)
            response = response.replace(request=original)
        yield from super().parse_search(response, query, page)
        if response.meta.pop(SPLIT_FLAG, False):
            yield from self.split(query)

    def split(self, query: Query) -> Iterator[Request]:
        for half in self.split_window(query, f"has more than {self.last_page} pages"):
            yield self._request(half, 1)

    def follow(self, entry: dict[str, Any]) -> Request | ArticleItem | KnownMention | None:
        request = super().follow(entry)
        if isinstance(request, Request) and (
            urlsplit(request.url).hostname == urlsplit(self.base_url).hostname
        ):
            request.meta["meiyu_auth"] = True  # Sogou's /link wants the session
        return request

    def article_failed(self, failure: Failure) -> Iterator[ArticleItem]:
        """Keep the article's URL (where /link led), never Sogou's redirect."""
        response = getattr(failure.value, "response", None)
        request = failure.request  # type: ignore[attr-defined]
        final = response.url if response is not None else request.url
        entry = request.cb_kwargs["entry"]
        if final != entry["link"]:
            request.cb_kwargs["entry"] = {**entry, "link": final}
        yield from super().article_failed(failure)
