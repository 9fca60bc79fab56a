"""Items the spiders yield: one media item (a feed entry followed to its article page)."""

from __future__ import annotations

from dataclasses import dataclass


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
    feed_url: str | None = None
    text_origin: str = "article"  # "feed" when the page gave no text and the summary was kept
