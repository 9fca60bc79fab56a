"""What every spider shares: following an entry (feed item or search hit) to its article page,
and, for search sources, running an indicator's queries over a window with pagination.

An article page that cannot be fetched or gives no text still yields the entry with its
summary/snippet as text, so no mention is lost. Trouble with a feed or search page is logged,
counted in the crawl stats and recorded as a failure of that request; the crawl goes on.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urljoin

import trafilatura
from parsel import Selector
from scrapy import Request, Spider
from scrapy.http import Response
from twisted.python.failure import Failure
from w3lib.html import remove_tags, replace_entities
from w3lib.url import canonicalize_url, url_query_cleaner

from crawlers.dates import parse_date
from crawlers.encoding import decode
from crawlers.items import ArticleItem, KnownMention, Mention, SearchPage, VolumeProbeItem
from crawlers.parsers import ParseError
from crawlers.query import Query
from kernel.sources import SOURCE_KINDS

log = logging.getLogger(__name__)

# How often an anti-bot/CAPTCHA answer is asked again before the page counts as failed.
BLOCKED_RETRIES = 2

# response.meta flag set by next_page: the page's slice is to be halved (SearchSpider.split).
SPLIT_FLAG = "meiyu_split"

# Article pages larger than this keep the entry's summary instead of going to the extractor:
# trafilatura spends about half a second and twelve times the page in memory per MB, and no
# news article needs 5 MB of HTML.
MAX_ARTICLE_BYTES = 5 * 1024 * 1024

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


def http_link(url: str) -> str | None:
    """The cleaned URL if it is a well-formed http(s) URL, else None (javascript:, data:,
    "http://[::1", a port beyond 65535: nothing to fetch or to link to)."""
    try:
        cleaned = clean_url(url)
    except ValueError:
        return None
    return cleaned if cleaned.startswith(("http://", "https://")) else None


def join_link(base: str, href: str) -> str:
    """`href` resolved against `base`; a malformed href is kept as it is (follow drops it)."""
    try:
        return urljoin(base, href)
    except ValueError:
        return href


def canonical_url(page_url: str, html: str) -> str:
    """rel=canonical when the page names one (absolute http/https), else the fetched URL."""
    href = Selector(text=html).css('link[rel="canonical"]::attr(href)').get()
    url = join_link(page_url, href.strip()) if href else page_url
    return http_link(url) or clean_url(page_url)


def clean_text(html_or_text: str | None) -> str:
    return " ".join(replace_entities(remove_tags(html_or_text or "")).split())


def header_charset(response: Response) -> str | None:
    ctype = (response.headers.get(b"Content-Type") or b"").decode("latin-1")
    for part in ctype.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset":
            return value.strip("\"' ")
    return None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class NoArticleText(Exception):
    """The article page gave no usable text (too large, nothing extracted): keep the summary."""


@dataclass(frozen=True)
class ArticleText:
    url: str  # the page's canonical URL
    text: str
    title: str | None
    date: str | None


def extract_article(
    body: bytes, url: str, charset: str | None = None, language: str | None = None
) -> ArticleText:
    """The main text, title and date of an article page (trafilatura), decoded by our charset
    rules; NoArticleText when there is none or the page is too large to try."""
    if len(body) > MAX_ARTICLE_BYTES:
        raise NoArticleText(f"{len(body):,} bytes, over the {MAX_ARTICLE_BYTES:,}-byte limit")
    html = decode(body, charset, language)
    extracted = trafilatura.extract(
        html,
        url=url,
        output_format="json",
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
    )
    data = json.loads(extracted) if extracted else {}
    text = (data.get("text") or "").strip()
    if not text:
        raise NoArticleText("no text extracted")
    return ArticleText(canonical_url(url, html), text, data.get("title"), data.get("date"))


class ArticleSpider(Spider):
    """Base: follows entries to article pages; keeps failures and warnings for the run record."""

    # Entries link to the engine's redirect (news.google.com, Sogou's /link, v.daum.net):
    # an article page that fails is stored with the URL the redirect led to as its link too.
    links_redirect: ClassVar[bool] = False

    def __init__(
        self,
        source: dict[str, Any] | None = None,
        known_urls: set[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source: dict[str, Any] = source or {}
        # Articles already stored are not fetched again (a killed crawl resumes cheaply,
        # a re-crawl is quick); their new mentions are still recorded.
        self.known_urls: set[str] = known_urls or set()
        self.requested: set[str] = set()  # article links requested in this crawl
        self.failures: list[str] = []  # requests that yielded nothing usable
        self.warnings: list[str] = []  # article pages that fell back to the summary

    @property
    def sources(self) -> list[dict[str, Any]]:
        """The sources this spider writes for (the store pipeline registers them)."""
        return [self.source] if self.source else []

    def _fail(self, line: str, stat: str = "meiyu/failures") -> None:
        log.error(line)
        self.failures.append(line)
        self.crawler.stats.inc_value(stat)

    def _why(self, failure: Failure) -> str:
        response = getattr(failure.value, "response", None)
        return f"HTTP {response.status}" if response is not None else failure.getErrorMessage()

    def follow(self, entry: dict[str, Any]) -> Request | ArticleItem | KnownMention | None:
        """The article request for an entry (or the entry itself, when articles are not followed);
        None for an entry without an http(s) link (logged and counted).

        `entry` holds: source, link, title, summary, published, feed_url, indicator, query.
        """
        self.crawler.stats.inc_value("meiyu/items_seen")
        link = http_link(entry["link"])
        if link is None:
            self.crawler.stats.inc_value("meiyu/bad_links")
            log.warning(
                "entry of %s without an http(s) link skipped: %r",
                entry["feed_url"],
                entry["link"][:200],
            )
            return None
        if link in self.known_urls or link in self.requested:
            # Stored before, or requested already for another query of this crawl: the
            # article is not fetched twice, but this query's mention is kept.
            stat = "meiyu/known_skipped" if link in self.known_urls else "meiyu/found_again"
            self.crawler.stats.inc_value(stat)
            return KnownMention(
                link,
                entry["source"]["name"],
                entry.get("indicator", ""),
                entry.get("query", ""),
                entry.get("snippet", ""),
            )
        self.requested.add(link)
        if not entry["source"].get("follow_articles", True):
            return self._item(entry, url=entry["link"], text=entry["summary"], origin="feed")
        return Request(
            entry["link"],
            callback=self.parse_article,
            errback=self.article_failed,
            cb_kwargs={"entry": entry},
            meta={"source": entry["source"]["name"]},
        )

    def parse_article(self, response: Response, entry: dict[str, Any]) -> Iterator[ArticleItem]:
        """The article's main text (trafilatura), canonical URL and, if the entry had none, date."""
        source = entry["source"]
        try:
            page = extract_article(
                response.body, response.url, header_charset(response), source["language"]
            )
        except NoArticleText as exc:
            self._warn(f"article {response.url}: {exc}, kept the summary")
            yield self._item(entry, url=response.url, text=entry["summary"], origin="feed")
            return
        yield self._item(
            entry,
            url=page.url,
            text=page.text,
            origin="article",
            page_title=page.title,
            page_date=page.date,
        )

    def article_failed(self, failure: Failure) -> Iterator[ArticleItem]:
        request = failure.request  # type: ignore[attr-defined]
        entry = request.cb_kwargs["entry"]
        if self.links_redirect:
            # Keep where the link led (the publisher's page), never the engine's hop.
            response = getattr(failure.value, "response", None)
            final = response.url if response is not None else request.url
            if final != entry["link"]:
                entry = {**entry, "link": final}
        self._warn(f"article {request.url} failed ({self._why(failure)}), kept the summary")
        # request.url is where redirects led (a publisher's page, not a news.google.com or
        # sogou.com hop), which is the better identity for the stored item.
        yield self._item(entry, url=request.url, text=entry["summary"], origin="feed")

    def _warn(self, line: str) -> None:
        log.warning(line)
        self.warnings.append(line)
        self.crawler.stats.inc_value("meiyu/article_fallbacks")

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
            outlet=entry.get("outlet") or source.get("outlet"),
            title=entry["title"] or (page_title or "").strip(),
            text=text,
            published_at=published.isoformat() if published else None,
            fetched_at=_now(),
            feed_url=entry["feed_url"],
            text_origin=origin,
            indicator=entry.get("indicator", ""),
            query=entry.get("query", ""),
            snippet=entry.get("snippet", ""),
            link=clean_url(entry["link"]),
        )


class SearchSpider(ArticleSpider):
    """Base of the query-driven sources: each indicator query, over a window, page by page.

    A subclass sets `name` (its kind in kernel.sources, which also gives the engine's default
    address), `parser` (a crawlers.parsers module's `parse`), optionally `requires_env`
    (credentials), and implements `page_request(query, page)`.

    By default the window is cut into `slice_days` pieces, each asked from its first page
    (`search_requests`), and a page is followed by the next-page link the parser found
    (`next_page`). Engines whose paging is computed override `next_page`, most with
    `page_or_split`: the next page while there are more results, or, at the last page the
    engine shows (`last_page`), the slice halved (`split_instead`): its halves are asked after
    the page's hits, so a busy window loses nothing.
    """

    parser: staticmethod[[bytes, str], SearchPage]
    requires_env: ClassVar[tuple[str, ...]] = ()
    default_base_url: ClassVar[str] = ""  # "": the kind's real address (kernel.sources)
    # Stats counted when a slice is halved, and when a single day still has more than shown.
    split_stat: ClassVar[str] = "meiyu/slices_split"
    capped_stat: ClassVar[str] = "meiyu/capped_windows"

    def __init__(
        self,
        source: dict[str, Any] | None = None,
        queries: list[dict[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(source=source, **kwargs)
        self.queries = [Query.from_dict(q) for q in queries or []]

    @property
    def base_url(self) -> str:
        kind = SOURCE_KINDS.get(self.name)
        default = self.default_base_url or (kind.base_url if kind else None) or ""
        return (self.source.get("base_url") or default).rstrip("/")

    @property
    def max_pages(self) -> int:
        return int(self.source.get("max_pages", 10))

    @property
    def slice_days(self) -> int:
        return int(self.source.get("slice_days") or 31)

    @property
    def last_page(self) -> int:
        """The last result page of a slice that is asked; a slice with more is halved."""
        return self.max_pages

    @property
    def split_reason(self) -> str:
        """Why a slice is halved, for the log line of a single day that cannot be."""
        return f"has more than {self.last_page} pages"

    def credentials(self) -> dict[str, str]:
        """Secrets from the environment only; never logged, never stored."""
        return {name: os.environ.get(name, "") for name in self.requires_env}

    async def start(self) -> AsyncIterator[Request]:
        missing = [k for k, v in self.credentials().items() if not v]
        if missing:
            log.warning(
                "source %s skipped: set %s in the environment",
                self.source.get("name"),
                " and ".join(missing),
            )
            self.crawler.stats.set_value("meiyu/skipped", f"missing {', '.join(missing)}")
            return
        for query in self.queries:
            for request in self.search_requests(query):
                yield request

    def search_requests(self, query: Query) -> Iterable[Request]:
        """The first page of each `slice_days` piece of the query's window, newest first."""
        for piece in query.slices(self.slice_days):
            yield self.page_request(piece, 1)

    def page_request(self, query: Query, page: int) -> Request:
        """The request of the query's `page`th result page (1: the first)."""
        raise NotImplementedError

    def search_request(
        self, url: str, query: Query, page: int = 1, auth: bool = False, **kwargs: Any
    ) -> Request:
        """A search-page request that comes back to parse_search (kwargs go to Request);
        with auth=True, auth_headers() are added when it is sent."""
        return Request(
            url,
            callback=self.parse_search,
            errback=self.search_failed,
            cb_kwargs={"query": query, "page": page},
            meta={"source": self.source.get("name"), "meiyu_auth": auth},
            **kwargs,
        )

    def parse_search(self, response: Response, query: Query, page: int) -> Iterator[Any]:
        try:
            result = type(self).parser(response.body, response.url)
        except ParseError as exc:
            self._fail(f"{self.name} {response.url}: unparsable ({exc})", "meiyu/parse_errors")
            return
        if result.blocked:
            self.crawler.stats.inc_value("meiyu/antibot")
            tries = response.meta.get("meiyu_blocked_tries", 0)
            assert response.request is not None
            if tries < BLOCKED_RETRIES:
                # Anti-bot pages are often momentary: ask again later, not at once.
                self.logger.warning(
                    "%s %s: blocked (%s), retrying", self.name, response.url, result.blocked
                )
                # After a redirect to the CAPTCHA page, ask the search page again, not the CAPTCHA.
                first_url = (response.meta.get("redirect_urls") or [response.request.url])[0]
                yield response.request.replace(
                    url=first_url,
                    dont_filter=True,
                    meta={**response.meta, "meiyu_blocked_tries": tries + 1},
                    priority=response.request.priority - 10,
                )
                return
            self._fail(
                f"{self.name} {response.url}: blocked ({result.blocked})", "meiyu/antibot_failures"
            )
            return
        self.crawler.stats.inc_value("meiyu/search_pages")
        if result.total is not None and page == 1:
            yield VolumeProbeItem(
                source=self.source["name"],
                indicator=query.indicator,
                query=query.text,
                window_start=query.start.isoformat(),
                window_end=query.end.isoformat(),
                reported_total=result.total,
            )
        for mention in result.mentions:
            if not self.keep(mention, query):
                self.crawler.stats.inc_value("meiyu/outside_window")
                continue
            followed = self.follow(self.entry(mention, response.url, query))
            if followed is not None:
                yield followed
        nxt = self.next_page(response, query, page, result)
        if nxt is not None and page < self.max_pages:
            yield nxt
        if response.meta.pop(SPLIT_FLAG, False):
            yield from self.split(query)

    def page_or_split(
        self, response: Response, query: Query, page: int, more: bool
    ) -> Request | None:
        """For next_page: the next page while there are `more` results; at the last page
        shown, None, and the slice is halved once this page's hits are out."""
        if not more:
            return None
        if page >= self.last_page:
            self.split_instead(response)
            return None
        return self.page_request(query, page + 1)

    def split_instead(self, response: Response) -> None:
        """For next_page: this page's slice holds more than the engine shows; ask its halves."""
        response.meta[SPLIT_FLAG] = True

    def split(self, query: Query) -> Iterator[Request]:
        """The first pages of the query's halves (none for a single day: logged, counted)."""
        for half in self.split_window(query, self.split_reason):
            yield self.page_request(half, 1)

    def split_window(self, query: Query, why: str) -> tuple[Query, ...]:
        """For engines that cap results per window: the two halves to ask instead, newer
        first, or, for a single day that is still capped, nothing (logged and counted, not
        silently lost)."""
        halves = query.halves()
        if halves is None:
            self.crawler.stats.inc_value(self.capped_stat)
            self.logger.warning(
                "%s: %r on %s %s; the rest is out of reach", self.name, query.text, query.since, why
            )
            return ()
        self.crawler.stats.inc_value(self.split_stat)
        return halves

    def keep(self, mention: Mention, query: Query) -> bool:
        """Whether a hit belongs to the query's window (for engines that cannot filter by date:
        a hit with a readable date outside [start, end) is dropped)."""
        when = parse_date(mention.published, query.timezone)
        return when is None or query.start <= when < query.end

    def auth_headers(self) -> dict[str, str]:
        """Credential headers, added at download time (AuthHeadersMiddleware) so they are never
        written into a JOBDIR queue or a log line."""
        return {}

    def next_page(
        self, response: Response, query: Query, page: int, result: SearchPage
    ) -> Request | None:
        if result.next_url and result.mentions:
            url = join_link(response.url, result.next_url)
            if http_link(url) is not None:
                return self.search_request(url, query, page + 1)
        return None

    def entry(self, mention: Mention, page_url: str, query: Query) -> dict[str, Any]:
        return {
            "source": self.source,
            "feed_url": page_url,
            "link": join_link(page_url, mention.url),
            # Parsers give text already: reading it as HTML again would drop a headline's
            # "<script>" or "A<B and C>D" (the API had escaped them), so spaces only.
            "title": " ".join(mention.title.split()),
            "summary": " ".join(mention.snippet.split()),
            "snippet": " ".join(mention.snippet.split()),
            "outlet": mention.outlet,
            "published": mention.published,
            "indicator": query.indicator,
            "query": query.text,
        }

    def search_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self._fail(f"{self.name} {request.url} failed: {self._why(failure)}")
