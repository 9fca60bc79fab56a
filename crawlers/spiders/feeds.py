"""Generic RSS/Atom spider: one outlet's feeds (with paging), each entry followed to its article.

A feed that errors or is not a feed (HTML where XML should be) is recorded as a failure of that
feed; the other feeds go on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urljoin

import feedparser
from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from crawlers.encoding import as_utf8_xml, decode
from crawlers.spiders.base import ArticleSpider, clean_text, header_charset


class FeedSpider(ArticleSpider):
    name = "rss"

    async def start(self) -> AsyncIterator[Request]:
        for url in self.source["feeds"]:
            yield self._feed_request(url, page=1)

    def _feed_request(self, url: str, page: int) -> Request:
        return Request(
            url,
            callback=self.parse_feed,
            errback=self.feed_failed,
            cb_kwargs={"page": page},
            meta={"source": self.source["name"]},
        )

    def feed_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self._fail(f"feed {request.url} failed: {self._why(failure)}")

    def parse_feed(self, response: Response, page: int) -> Iterator[Any]:
        """Entries of one feed page, then the next page (RFC 5005 / atom:link rel="next")."""
        source = self.source
        text = decode(response.body, header_charset(response), source["language"])
        parsed = feedparser.parse(as_utf8_xml(text))
        if not parsed.version and not parsed.entries:
            snippet = " ".join(text[:60].split())
            self._fail(
                f"feed {response.url} failed: not an RSS/Atom feed (starts {snippet!r})",
                "meiyu/parse_errors",
            )
            return
        self.crawler.stats.inc_value("meiyu/feed_pages")
        for entry in parsed.entries:
            link = (entry.get("link") or "").strip()
            if not link:
                self.logger.warning("feed %s: entry without link skipped", response.url)
                continue
            yield self.follow(self._entry(entry, link, response.url))
        next_url = next(
            (lk.get("href") for lk in parsed.feed.get("links", []) if lk.get("rel") == "next"),
            None,
        )
        if next_url and page < int(source.get("max_feed_pages", 50)):
            yield self._feed_request(urljoin(response.url, next_url), page + 1)

    def _entry(self, entry: Any, link: str, feed_url: str) -> dict[str, Any]:
        summary = clean_text(entry.get("summary"))
        return {
            "source": self.source,
            "feed_url": feed_url,
            "link": urljoin(feed_url, link),
            "title": clean_text(entry.get("title")),
            "summary": summary,
            "snippet": summary,
            "outlet": None,
            "published": entry.get("published") or entry.get("updated"),
            "indicator": "",
            "query": "",
        }
