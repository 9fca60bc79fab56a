"""Naver Search Open API, news: `GET /v1/search/news.json?query=…&display=100&start=…&sort=date`.

The parser (crawlers.parsers.naver_api) follows the real captures in
../shared/fixtures/sources/naver-api/ (a full 2021 response and a 2026 wire fragment).

Credentials come from the environment only (`NAVER_CLIENT_ID`, `NAVER_CLIENT_SECRET`), sent as
the `X-Naver-Client-Id` / `X-Naver-Client-Secret` headers of the API requests, added at
download time (never on article requests, never in a JOBDIR queue or a log); without them the
source is skipped.

The API has NO date parameters and answers at most 1000 results per query (`start` 1..1000,
`display` ≤ 100, start+display-1 ≤ 1000). So each query is asked newest first (`sort=date`)
and paged by `start` until a page reaches back past the window's start, runs out of results,
or hits the 1000 cap; only items whose pubDate lies in [query.start, query.end) are kept.
A window whose results lie deeper than the newest 1000 of the query cannot be reached through
the API (a warning says so when the cap is hit while still inside or above the window).
The response's `total` (all time, not per window) is recorded as the query's volume probe.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from urllib.parse import urlencode

from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from crawlers.dates import parse_date
from crawlers.items import SearchPage
from crawlers.parsers.naver_api import parse, plain
from crawlers.query import Query
from crawlers.spiders.base import SearchSpider

DISPLAY = 100  # results per request, the API's maximum
MAX_RESULTS = 1000  # the API never pages beyond the 1000th result of a query


class NaverApiSpider(SearchSpider):
    name = "naver_api"
    parser = staticmethod(parse)
    requires_env = ("NAVER_CLIENT_ID", "NAVER_CLIENT_SECRET")

    def api_url(self, query: Query, start: int) -> str:
        params = {"query": query.text, "display": DISPLAY, "start": start, "sort": "date"}
        return f"{self.base_url}/v1/search/news.json?{urlencode(params)}"

    def page_request(self, query: Query, page: int) -> Request:
        return self.search_request(
            self.api_url(query, 1 + DISPLAY * (page - 1)),
            query,
            page,
            auth=True,
            headers={"Accept": "application/json"},
        )

    def auth_headers(self) -> dict[str, str]:
        creds = self.credentials()
        return {
            "X-Naver-Client-Id": creds["NAVER_CLIENT_ID"],
            "X-Naver-Client-Secret": creds["NAVER_CLIENT_SECRET"],
        }

    def search_requests(self, query: Query) -> Iterable[Request]:
        # No date parameters: newest first, the base's keep() drops hits outside the window.
        yield self.page_request(query, 1)

    def next_page(
        self, response: Response, query: Query, page: int, result: SearchPage
    ) -> Request | None:
        if not result.mentions:
            return None
        # `total` comes with every page (a page may hold fewer mentions than items, when an
        # item has no link); without it, a short page is the last.
        last = (
            result.total <= DISPLAY * page
            if result.total is not None
            else len(result.mentions) < DISPLAY
        )
        if last:
            return None
        oldest = self._oldest(result, query)
        if oldest is not None and oldest < query.start:
            return None  # sorted by date: everything further is older than the window
        if DISPLAY * page + DISPLAY > MAX_RESULTS:
            self.crawler.stats.inc_value("meiyu/naver_api/capped")
            self.logger.warning(
                "%s query %r: the API's 1000-result cap reached at %s, older items of the "
                "window are out of its reach",
                self.name,
                query.text,
                oldest.isoformat() if oldest else "?",
            )
            return None
        return self.page_request(query, page + 1)

    @staticmethod
    def _oldest(result: SearchPage, query: Query) -> dt.datetime | None:
        dates = [parse_date(m.published, query.timezone) for m in result.mentions]
        known = [d for d in dates if d is not None]
        return min(known) if known else None

    def search_failed(self, failure: Failure) -> None:
        """The API's own errorCode/errorMessage with the status, when it sent them."""
        request = failure.request  # type: ignore[attr-defined]
        response = getattr(failure.value, "response", None)
        why = self._why(failure)
        if response is not None:
            try:
                data = json.loads(response.body)
                why += f" ({data.get('errorCode', '?')}: {plain(data.get('errorMessage'))})"
            except (ValueError, AttributeError):
                pass
        self._fail(f"{self.name} {request.url} failed: {why}")
