"""Run the spiders in-process: meiyu's config becomes Scrapy settings here and only here."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from crawlers import settings as project_settings
from crawlers.spiders.feeds import FeedSpider
from meiyu.config import Config, SourceConfig


@dataclass
class CrawlSummary:
    run_id: int | None
    pages_fetched: int
    items_seen: int
    new: int
    updated: int
    unchanged: int
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def settings_for(cfg: Config, log_level: str = "WARNING") -> Settings:
    s = Settings()
    s.setmodule(project_settings, priority="project")
    c = cfg.crawl
    s.setdict(
        {
            "USER_AGENT": c.user_agent,
            "CONCURRENT_REQUESTS": c.concurrent_requests,
            "DOWNLOAD_DELAY": c.download_delay,
            "AUTOTHROTTLE_START_DELAY": max(c.download_delay, 0.01),
            "AUTOTHROTTLE_ENABLED": c.download_delay > 0,
            "ROBOTSTXT_OBEY": c.obey_robots_txt,
            "RETRY_TIMES": c.retry_times,
            "DOWNLOAD_TIMEOUT": c.timeout_seconds,
            "MEIYU_PROXY": c.proxy,
            "MEIYU_DATABASE_URL": cfg.database.url,
            "LOG_LEVEL": log_level,
            # The CLI owns the root log handler; Scrapy logs through it.
            "LOG_INSTALL_ROOT_HANDLER": False,
        },
        priority="cmdline",
    )
    return s


def run_crawl(cfg: Config, sources: list[SourceConfig], log_level: str = "WARNING") -> CrawlSummary:
    """Crawl `sources` to completion (blocks; the Twisted reactor runs once per process)."""
    process = CrawlerProcess(settings_for(cfg, log_level))
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    crawler = process.create_crawler(FeedSpider)
    rss = [s.model_dump() for s in sources if s.kind == "rss"]
    process.crawl(crawler, sources=rss)
    process.start()
    stats: dict[str, Any] = crawler.stats.get_stats() if crawler.stats else {}
    spider = crawler.spider
    return CrawlSummary(
        run_id=stats.get("meiyu/crawl_run_id"),
        pages_fetched=stats.get("response_received_count", 0),
        items_seen=stats.get("meiyu/items_seen", 0),
        new=stats.get("meiyu/documents_new", 0),
        updated=stats.get("meiyu/documents_updated", 0),
        unchanged=stats.get("meiyu/documents_unchanged", 0),
        failures=list(getattr(spider, "failures", [])),
        warnings=list(getattr(spider, "warnings", [])),
    )
