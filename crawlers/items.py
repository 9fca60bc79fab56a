"""Items the spiders yield, and the typed results the search-page parsers return."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ArticleItem:
    url: str  # canonical URL of the article (its rel=canonical when the page gives one)
    source: str  # config name of the source that found it
    language: str
    outlet: str | None
    title: str
    text: str
    published_at: str | None  # ISO 8601 with offset, None when no date could be read
    fetched_at: str  # ISO 8601, UTC
    feed_url: str | None = None  # the feed or search page the item was found on
    text_origin: str = "article"  # "feed" when the page gave no text and the summary was kept
    indicator: str = ""  # the indicator whose query found it ("" for feed entries)
    query: str = ""
    snippet: str = ""
    link: str = ""  # the link as found (before redirects and rel=canonical)


@dataclass
class Mention:
    """One result on a search page, as the engine shows it."""

    url: str  # link to the article (may be a redirect the engine controls)
    title: str
    snippet: str = ""
    outlet: str | None = None
    published: str | None = None  # as shown: ISO, RFC 822, "2023.05.01.", "3小时前", "2일 전"


@dataclass
class SearchPage:
    """What a parser makes of one search or API response."""

    mentions: list[Mention] = field(default_factory=list)
    total: int | None = None  # the engine's own reported hit count (a volume probe)
    next_url: str | None = None  # absolute URL of the next page, when the page links one
    blocked: str | None = None  # set when the response is an anti-bot/CAPTCHA page: why


@dataclass
class VolumeProbeItem:
    source: str
    indicator: str
    query: str
    window_start: str  # ISO 8601, aware
    window_end: str
    reported_total: int


@dataclass
class KnownMention:
    """A hit whose article is already stored, or already requested in this crawl (found again
    by another query): only the mention (who found it, by which query) is recorded."""

    url: str
    source: str
    indicator: str
    query: str
    snippet: str = ""
