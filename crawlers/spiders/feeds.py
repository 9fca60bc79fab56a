"""Generic RSS/Atom spider: one outlet's feeds (with paging), each entry followed to its article.

A feed that errors or is not a feed (HTML where XML should be) is recorded as a failure of that
feed; the other feeds go on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import feedparser
from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from crawlers.encoding import as_utf8_xml, decode
from crawlers.parsers import ParseError, check_size
from crawlers.spiders.base import ArticleSpider, clean_text, header_charset, http_link, join_link

# Feeds are a few hundred KB. feedparser's fallback parser takes seconds per MB of markup that
# is not well-formed XML, so larger bodies, and bodies that do not open as a feed, are refused.
MAX_FEED_BYTES = 4 * 1024 * 1024
_FEED_ROOTS = ("<rss", "<feed", "<rdf", ":feed")


def read_feed(body: bytes, charset: str | None, language: str | None) -> Any:
    """feedparser's reading of an RSS/Atom body; ParseError when it is none (or too large)."""
    check_size(body, MAX_FEED_BYTES)
    text = decode(body, charset, language)
    head = text[:8192].lower()
    if not any(root in head for root in _FEED_ROOTS):
        snippet = " ".join(text[:60].split())
        raise ParseError(f"not an RSS/Atom feed (starts {snippet!r})")
    try:
        parsed = feedparser.parse(as_utf8_xml(text))
    except ValueError as exc:  # feedparser itself trips on some references, e.g. &#xD800;
        raise ParseError(f"unreadable feed ({type(exc).__name__}: {exc})"[:200]) from None
    if not parsed.version and not parsed.entries:
        snippet = " ".join(text[:60].split())
        raise ParseError(f"not an RSS/Atom feed (starts {snippet!r})")
    return parsed


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
        try:
            parsed = read_feed(response.body, header_charset(response), source["language"])
        except ParseError as exc:
            self._fail(f"feed {response.url} failed: {exc}", "meiyu/parse_errors")
            return
        self.crawler.stats.inc_value("meiyu/feed_pages")
        for entry in parsed.entries:
            link = (entry.get("link") or "").strip()
            if not link:
                self.logger.warning("feed %s: entry without link skipped", response.url)
                continue
            followed = self.follow(self._entry(entry, link, response.url))
            if followed is not None:
                yield followed
        next_url = next(
            (lk.get("href") for lk in parsed.feed.get("links", []) if lk.get("rel") == "next"),
            None,
        )
        if next_url and page < int(source.get("max_feed_pages", 50)):
            url = join_link(response.url, next_url)
            if http_link(url) is not None:
                yield self._feed_request(url, page + 1)

    def _entry(self, entry: Any, link: str, feed_url: str) -> dict[str, Any]:
        summary = clean_text(entry.get("summary"))
        return {
            "source": self.source,
            "feed_url": feed_url,
            "link": join_link(feed_url, link),
            "title": clean_text(entry.get("title")),
            "summary": summary,
            "snippet": summary,
            "outlet": None,
            "published": entry.get("published") or entry.get("updated"),
            "indicator": "",
            "query": "",
        }
