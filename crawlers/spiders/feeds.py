"""Generic RSS/Atom spider: read outlet feeds (with paging), follow each entry to its article.

Feed trouble (HTTP errors, HTML where a feed should be) is logged and recorded as a failure
of that feed; the rest of the crawl goes on. An article page that cannot be fetched or gives
no text still yields the entry, with the feed's summary as text, so no mention is lost.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urljoin

import feedparser
import trafilatura
from parsel import Selector
from scrapy import Request, Spider
from scrapy.http import Response
from twisted.python.failure import Failure
from w3lib.html import remove_tags, replace_entities
from w3lib.url import canonicalize_url, url_query_cleaner

from crawlers.dates import parse_date
from crawlers.encoding import as_utf8_xml, decode
from crawlers.items import ArticleItem

log = logging.getLogger(__name__)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _clean(html_or_text: str | None) -> str:
    return replace_entities(remove_tags(html_or_text or "")).strip()


def _header_charset(response: Response) -> str | None:
    ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
    for part in ctype.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset":
            return value.strip("\"' ")
    return None


# Query parameters that only say how a reader arrived; they never change the article.
TRACKING_PARAMS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "spm",
    "from",
    "fromrss",
    "rss",
    "ref",
    "share_token",
)


def clean_url(url: str) -> str:
    """Canonical form without tracking parameters or fragment: one article, one URL."""
    cleaned = url_query_cleaner(url, TRACKING_PARAMS, remove=True, keep_fragments=False)
    return canonicalize_url(cleaned, keep_fragments=False)


def canonical_url(page_url: str, html: str) -> str:
    """rel=canonical when the page names one (absolute http/https), else the fetched URL."""
    href = Selector(text=html).css('link[rel="canonical"]::attr(href)').get()
    url = urljoin(page_url, href.strip()) if href else page_url
    if not url.startswith(("http://", "https://")):
        url = page_url
    return clean_url(url)


class FeedSpider(Spider):
    """Crawl the `rss` sources given as `sources` (a list of SourceConfig dicts)."""

    name = "feeds"

    def __init__(self, sources: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sources = sources or []
        self.failures: list[str] = []  # one line per feed that yielded nothing usable
        self.warnings: list[str] = []  # article pages that fell back to the feed summary

    def _fail(self, line: str) -> None:
        log.error(line)
        self.failures.append(line)
        if self.crawler:
            self.crawler.stats.inc_value("meiyu/feeds_failed")

    async def start(self) -> AsyncIterator[Request]:
        for source in self.sources:
            for url in source["feeds"]:
                yield self._feed_request(url, source, page=1)

    def _feed_request(self, url: str, source: dict[str, Any], page: int) -> Request:
        return Request(
            url,
            callback=self.parse_feed,
            errback=self.feed_failed,
            cb_kwargs={"source": source, "page": page},
            meta={"source": source["name"]},
        )

    def feed_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        response = getattr(failure.value, "response", None)
        why = f"HTTP {response.status}" if response is not None else failure.getErrorMessage()
        self._fail(f"feed {request.url} failed: {why}")

    def parse_feed(
        self, response: Response, source: dict[str, Any], page: int
    ) -> Iterator[Request | ArticleItem]:
        """Entries of one feed page, then the next page (RFC 5005 / atom:link rel="next")."""
        text = decode(response.body, _header_charset(response), source["language"])
        parsed = feedparser.parse(as_utf8_xml(text))
        if not parsed.version and not parsed.entries:
            snippet = " ".join(text[:60].split())
            self._fail(f"feed {response.url} failed: not an RSS/Atom feed (starts {snippet!r})")
            return
        self.crawler.stats.inc_value("meiyu/feed_pages")
        for entry in parsed.entries:
            link = (entry.get("link") or "").strip()
            if not link:
                log.warning(
                    "feed %s: entry without link skipped (%r)",
                    response.url,
                    entry.get("title", "")[:60],
                )
                continue
            self.crawler.stats.inc_value("meiyu/items_seen")
            meta = {
                "source": source,
                "feed_url": response.url,
                "link": urljoin(response.url, link),
                "title": _clean(entry.get("title")),
                "summary": _clean(entry.get("summary")),
                "published": entry.get("published") or entry.get("updated"),
            }
            if source.get("follow_articles", True):
                yield Request(
                    meta["link"],
                    callback=self.parse_article,
                    errback=self.article_failed,
                    cb_kwargs={"entry": meta},
                    meta={"source": source["name"]},
                )
            else:
                yield self._item(meta, url=meta["link"], text=meta["summary"], origin="feed")
        next_url = next(
            (lk.get("href") for lk in parsed.feed.get("links", []) if lk.get("rel") == "next"),
            None,
        )
        if next_url and page < int(source.get("max_feed_pages", 50)):
            yield self._feed_request(urljoin(response.url, next_url), source, page + 1)

    def parse_article(self, response: Response, entry: dict[str, Any]) -> Iterator[ArticleItem]:
        """The article's main text (trafilatura), canonical URL and, if the feed had none, date."""
        source = entry["source"]
        html = decode(response.body, _header_charset(response), source["language"])
        extracted = trafilatura.extract(
            html,
            url=response.url,
            output_format="json",
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            favor_precision=True,
        )
        data = json.loads(extracted) if extracted else {}
        body = (data.get("text") or "").strip()
        if not body:
            line = f"article {response.url}: no text extracted, kept the feed summary"
            log.warning(line)
            self.warnings.append(line)
            yield self._item(entry, url=entry["link"], text=entry["summary"], origin="feed")
            return
        yield self._item(
            entry,
            url=canonical_url(response.url, html),
            text=body,
            origin="article",
            page_title=data.get("title"),
            page_date=data.get("date"),
        )

    def article_failed(self, failure: Failure) -> Iterator[ArticleItem]:
        request = failure.request  # type: ignore[attr-defined]
        entry = request.cb_kwargs["entry"]
        response = getattr(failure.value, "response", None)
        why = f"HTTP {response.status}" if response is not None else failure.getErrorMessage()
        line = f"article {request.url} failed ({why}), kept the feed summary"
        log.warning(line)
        self.warnings.append(line)
        yield self._item(entry, url=entry["link"], text=entry["summary"], origin="feed")

    def _item(
        self,
        entry: dict[str, Any],
        *,
        url: str,
        text: str,
        origin: str,
        page_title: str | None = None,
        page_date: str | None = None,
    ) -> ArticleItem:
        source = entry["source"]
        published = parse_date(entry["published"], source["timezone"]) or parse_date(
            page_date, source["timezone"]
        )
        return ArticleItem(
            url=clean_url(url),
            source=source["name"],
            language=source["language"],
            outlet=source.get("outlet"),
            title=entry["title"] or (page_title or "").strip(),
            text=text,
            published_at=published.isoformat() if published else None,
            fetched_at=_now(),
            feed_url=entry["feed_url"],
            text_origin=origin,
        )
