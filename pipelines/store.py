"""Item pipeline: upsert each document (and who found it) in its own transaction; keep the
crawl-run row with the run's stats.

One transaction per item means a crash or kill loses at most the item in flight, and a
re-crawl upserts by canonical URL instead of duplicating.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler

from crawlers.items import KnownMention, VolumeProbeItem
from storage.db import make_engine, session_factory, transaction
from storage.queries import document_id
from storage.writes import (
    DocumentRecord,
    ensure_source,
    finish_crawl_run,
    record_mention,
    record_volume_probe,
    start_crawl_run,
    upsert_document,
)

# Scrapy stats worth keeping on the run record (prefixes).
_KEPT_STATS = (
    "downloader/request_count",
    "downloader/response_status_count/",
    "downloader/exception_type_count/",
    "retry/",
    "meiyu/",
    "item_scraped_count",
    "response_received_count",
    "log_count/ERROR",
    "log_count/WARNING",
)


class StorePipeline:
    def __init__(self, database_url: str, crawler: Crawler) -> None:
        self.engine = make_engine(database_url)
        self.sessions = session_factory(self.engine)
        self.crawler = crawler
        self.source_ids: dict[str, int] = {}
        self.run_id: int | None = None
        self.started = time.monotonic()
        self.link_doc: dict[str, int] = {}  # link as found → stored document, this run
        self.pending: dict[str, list[KnownMention]] = {}  # found again before it was stored

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        return cls(crawler.settings["MEIYU_DATABASE_URL"], crawler)

    def open_spider(self, spider: Spider | None = None) -> None:
        spider = spider or self.crawler.spider
        sources: list[dict[str, Any]] = getattr(spider, "sources", [])
        with transaction(self.sessions) as s:
            for src in sources:
                self.source_ids[src["name"]] = ensure_source(
                    s, src["name"], src["kind"], src["language"], src["outlet"]
                )
            self.run_id = start_crawl_run(s, [src["name"] for src in sources])
        self.crawler.stats.set_value("meiyu/crawl_run_id", self.run_id)

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if isinstance(item, VolumeProbeItem):
            with transaction(self.sessions) as s:
                record_volume_probe(
                    s,
                    source=item.source,
                    indicator=item.indicator,
                    query=item.query,
                    window_start=dt.datetime.fromisoformat(item.window_start),
                    window_end=dt.datetime.fromisoformat(item.window_end),
                    reported_total=item.reported_total,
                )
            self.crawler.stats.inc_value("meiyu/volume_probes")
            return item
        if isinstance(item, KnownMention):
            self._mention(item)
            return item
        record: DocumentRecord = item
        with transaction(self.sessions) as s:
            outcome, doc_id = upsert_document(
                s, record, self.source_ids[record.source], self.run_id
            )
            record_mention(s, doc_id, record.source, record.indicator, record.query, record.snippet)
        self.crawler.stats.inc_value(f"meiyu/documents_{outcome}")
        if record.link:
            self.link_doc[record.link] = doc_id
            for waiting in self.pending.pop(record.link, []):
                self._mention(waiting)
        return record

    def _mention(self, item: KnownMention) -> None:
        """Record a further mention: by the link's document of this run, or by URL in storage;
        if its article is still being fetched, once it is stored."""
        with transaction(self.sessions) as s:
            doc_id = self.link_doc.get(item.url) or document_id(s, item.url)
            if doc_id is None:
                self.pending.setdefault(item.url, []).append(item)
                return
            record_mention(s, doc_id, item.source, item.indicator, item.query, item.snippet)

    def close_spider(self, spider: Spider | None = None) -> None:
        spider = spider or self.crawler.spider
        stats = self.crawler.stats
        failures: list[str] = getattr(spider, "failures", [])
        if self.pending:
            stats.set_value("meiyu/mentions_unresolved", sum(map(len, self.pending.values())))
        if self.run_id is not None:
            counts = {
                "pages_fetched": stats.get_value("response_received_count", 0),
                "items_seen": stats.get_value("meiyu/items_seen", 0),
                "new": stats.get_value("meiyu/documents_new", 0),
                "updated": stats.get_value("meiyu/documents_updated", 0),
            }
            kept = {
                k: v
                for k, v in stats.get_stats().items()
                if k.startswith(_KEPT_STATS) and isinstance(v, int | float | str)
            }
            kept["duration_seconds"] = round(time.monotonic() - self.started, 3)
            status = "ok" if not failures else "partial"
            with transaction(self.sessions) as s:
                finish_crawl_run(
                    s,
                    self.run_id,
                    status=status,
                    counts=counts,
                    errors=failures + getattr(spider, "warnings", []),
                    stats=kept,
                )
        self.engine.dispose()
