"""Item pipeline: check and normalise a crawled item into a storable DocumentRecord."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from itemadapter import ItemAdapter
from scrapy import Spider
from scrapy.exceptions import DropItem

from crawlers.items import ArticleItem, KnownMention, VolumeProbeItem
from nlp.fingerprint import content_hash
from nlp.normalise import tidy
from storage.writes import DocumentRecord

log = logging.getLogger(__name__)


def to_record(item: ArticleItem) -> DocumentRecord:
    title = tidy(item.title)
    text = normalise_paragraphs(item.text)
    if not title and not text:
        raise DropItem(f"{item.url}: neither title nor text")
    published = dt.datetime.fromisoformat(item.published_at) if item.published_at else None
    return DocumentRecord(
        url=item.url,
        source=item.source,
        outlet=item.outlet,
        title=title,
        text=text,
        language=item.language,
        published_at=published,
        fetched_at=dt.datetime.fromisoformat(item.fetched_at),
        # Story identity is the body: reprints carry other titles ("转载", outlet suffixes).
        content_hash=content_hash(text or title, title if text else ""),
        feed_url=item.feed_url,
        text_origin=item.text_origin,
        indicator=item.indicator,
        query=item.query,
        snippet=tidy(item.snippet),
        link=item.link,
    )


def normalise_paragraphs(text: str) -> str:
    """Tidy each paragraph, keep paragraph breaks (the Chinese relevance window uses them)."""
    paragraphs = (tidy(p) for p in text.replace("\r\n", "\n").split("\n"))
    return "\n".join(p for p in paragraphs if p)


class NormalisePipeline:
    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if isinstance(item, VolumeProbeItem | KnownMention):
            return item  # stored as it is
        if not isinstance(item, ArticleItem):
            raise DropItem(f"unexpected item type {type(item).__name__}: {ItemAdapter(item)!r}")
        return to_record(item)
