"""Item pipeline: upsert each document in its own transaction and keep the crawl-run row.

One transaction per item means a crash or kill loses at most the item in flight, and a
re-crawl upserts by canonical URL instead of duplicating.
"""

from __future__ import annotations

from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler

from storage.db import make_engine, session_factory, transaction
from storage.writes import (
    DocumentRecord,
    ensure_source,
    finish_crawl_run,
    start_crawl_run,
    upsert_document,
)


class StorePipeline:
    def __init__(self, database_url: str, crawler: Crawler) -> None:
        self.engine = make_engine(database_url)
        self.sessions = session_factory(self.engine)
        self.crawler = crawler
        self.source_ids: dict[str, int] = {}
        self.run_id: int | None = None

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

    def process_item(self, record: DocumentRecord, spider: Spider | None = None) -> DocumentRecord:
        with transaction(self.sessions) as s:
            outcome = upsert_document(s, record, self.source_ids[record.source], self.run_id)
        self.crawler.stats.inc_value(f"meiyu/documents_{outcome}")
        return record

    def close_spider(self, spider: Spider | None = None) -> None:
        spider = spider or self.crawler.spider
        stats = self.crawler.stats
        failures: list[str] = getattr(spider, "failures", [])
        if self.run_id is not None:
            counts = {
                "pages_fetched": stats.get_value("response_received_count", 0),
                "items_seen": stats.get_value("meiyu/items_seen", 0),
                "new": stats.get_value("meiyu/documents_new", 0),
                "updated": stats.get_value("meiyu/documents_updated", 0),
            }
            status = "ok" if not failures else "partial"
            with transaction(self.sessions) as s:
                finish_crawl_run(
                    s,
                    self.run_id,
                    status=status,
                    counts=counts,
                    errors=failures + getattr(spider, "warnings", []),
                )
        self.engine.dispose()
