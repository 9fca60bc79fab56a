"""Outlet sitemaps (sitemap index → monthly/daily URL sets, Google News extension): every
article of the window, for outlets without a usable feed and for backfill beyond a feed's
last few dozen entries. Everything is stored; the indicators filter at the match stage."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any
from zoneinfo import ZoneInfo

from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from crawlers.dates import parse_date
from crawlers.parsers import ParseError
from crawlers.parsers.sitemap import MAX_SITEMAP_BYTES, SitemapEntry, parse
from crawlers.spiders.base import ArticleSpider, http_link, join_link


def _day_start(day: str | None, tz: str) -> dt.datetime | None:
    if not day:
        return None
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(), ZoneInfo(tz))


class SitemapSpider(ArticleSpider):
    name = "sitemap"

    def __init__(self, since: str | None = None, until: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        tz = self.source.get("timezone", "Asia/Shanghai")
        self.start_at = _day_start(since, tz)
        until_start = _day_start(until, tz)
        self.end_at = until_start + dt.timedelta(days=1) if until_start else None

    async def start(self) -> AsyncIterator[Request]:
        for url in self.source["feeds"]:
            yield self._sitemap_request(url)

    def _sitemap_request(self, url: str) -> Request:
        return Request(
            url,
            callback=self.parse_sitemap,
            errback=self.sitemap_failed,
            meta={"source": self.source["name"], "download_maxsize": MAX_SITEMAP_BYTES},
        )

    def sitemap_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self._fail(f"sitemap {request.url} failed: {self._why(failure)}")

    def _in_window(self, text: str | None) -> bool:
        moment = parse_date(text, self.source["timezone"])
        if moment is None:
            return True  # undated: fetch, the article page may carry the date
        if self.start_at and moment < self.start_at:
            return False
        return not (self.end_at and moment >= self.end_at)

    def _child_needed(self, lastmod: str | None) -> bool:
        """A child sitemap's lastmod is its newest entry: older children can be skipped."""
        moment = parse_date(lastmod, self.source["timezone"])
        return moment is None or self.start_at is None or moment >= self.start_at

    def parse_sitemap(self, response: Response) -> Iterator[Any]:
        try:
            doc = parse(response.body, response.url)
        except ParseError as exc:
            self._fail(f"sitemap {response.url}: {exc}", "meiyu/parse_errors")
            return
        self.crawler.stats.inc_value("meiyu/sitemap_pages")
        if doc.kind == "index":
            for child in doc.entries:
                url = join_link(response.url, child.loc)
                if http_link(url) is None:
                    self.logger.warning(
                        "sitemap %s: child %r is no http(s) URL", response.url, child.loc[:200]
                    )
                elif self._child_needed(child.lastmod):
                    yield self._sitemap_request(url)
            return
        for entry in doc.entries:
            if self._in_window(entry.published or entry.lastmod):
                followed = self.follow(self._entry(entry, response.url))
                if followed is not None:
                    yield followed

    def _entry(self, entry: SitemapEntry, sitemap_url: str) -> dict[str, Any]:
        return {
            "source": self.source,
            "feed_url": sitemap_url,
            "link": entry.loc,
            "title": entry.title or "",
            "summary": "",
            "snippet": "",
            "outlet": None,
            "published": entry.published or entry.lastmod,
            "indicator": "",
            "query": "",
        }
