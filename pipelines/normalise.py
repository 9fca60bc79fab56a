"""Item pipeline: check and normalise a crawled item into a storable DocumentRecord."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from typing import Any

from itemadapter import ItemAdapter
from scrapy import Spider
from scrapy.exceptions import DropItem

from crawlers.items import ArticleItem, KnownMention, VolumeProbeItem
from nlp.fingerprint import content_hash
from nlp.language import route
from nlp.normalise import tidy
from storage.writes import DocumentRecord

log = logging.getLogger(__name__)


_SURROGATE = re.compile("[\ud800-\udfff]")


def no_nul(text: str) -> str:
    """Crawled text as both databases store it: PostgreSQL text cannot hold NUL (SQLite could,
    but one page must store the same text on both), and a lone surrogate (a feed's &#xD800;)
    is no character in UTF-8 at all."""
    return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))


def to_record(item: ArticleItem) -> DocumentRecord:
    # A title is one line: a newline in it would split a list line or a robot's markdown link.
    title = " ".join(tidy(no_nul(item.title)).split())
    text = normalise_paragraphs(no_nul(item.text))
    if not title and not text:
        raise DropItem(f"{item.url}: neither title nor text")
    published = dt.datetime.fromisoformat(item.published_at) if item.published_at else None
    return DocumentRecord(
        url=item.url,
        source=item.source,
        outlet=no_nul(item.outlet) if item.outlet else item.outlet,
        title=title,
        text=text,
        # A Korean page served by a Chinese source is stored (and matched) as Korean.
        language=route(item.language, title, text).language,
        published_at=published,
        fetched_at=dt.datetime.fromisoformat(item.fetched_at),
        # Story identity is the body: reprints carry other titles ("转载", outlet suffixes).
        content_hash=content_hash(text or title, title if text else ""),
        feed_url=item.feed_url,
        text_origin=item.text_origin,
        indicator=item.indicator,
        query=item.query,
        snippet=tidy(no_nul(item.snippet)),
        link=item.link,
    )


def normalise_paragraphs(text: str) -> str:
    """Tidy each paragraph, keep paragraph breaks (the Chinese relevance window uses them)."""
    paragraphs = (tidy(p) for p in text.replace("\r\n", "\n").split("\n"))
    return "\n".join(p for p in paragraphs if p)


class NormalisePipeline:
    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if isinstance(item, KnownMention):
            return dataclasses.replace(item, snippet=tidy(no_nul(item.snippet)))
        if isinstance(item, VolumeProbeItem):
            return item  # stored as it is
        if not isinstance(item, ArticleItem):
            raise DropItem(f"unexpected item type {type(item).__name__}: {ItemAdapter(item)!r}")
        return to_record(item)
