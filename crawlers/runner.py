"""Run the spiders in-process: meiyu's config becomes Scrapy settings here and only here."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings

from crawlers import settings as project_settings
from crawlers.query import Query
from crawlers.spiders import spider_class
from kernel.config import Config, SourceConfig
from kernel.sources import source_kind


@dataclass
class CrawlSummary:
    run_ids: list[int] = field(default_factory=list)
    pages_fetched: int = 0
    items_seen: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    known: int = 0  # hits whose article was already stored (not fetched again)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def settings_for(cfg: Config, log_level: str = "WARNING") -> Settings:
    s = Settings()
    s.setmodule(project_settings, priority="project")
    c = cfg.crawl
    s.setdict(
        {
            "USER_AGENT": c.user_agent,
            "CONCURRENT_REQUESTS": c.concurrent_requests,
            "CONCURRENT_REQUESTS_PER_DOMAIN": c.per_domain_concurrency,
            "MEIYU_RETRY_BACKOFF": c.retry_backoff_seconds,
            "DOWNLOAD_DELAY": c.download_delay,
            "AUTOTHROTTLE_START_DELAY": max(c.download_delay, 0.01),
            "AUTOTHROTTLE_ENABLED": c.download_delay > 0,
            "ROBOTSTXT_OBEY": c.obey_robots_txt,
            "RETRY_TIMES": c.retry_times,
            "DOWNLOAD_TIMEOUT": c.timeout_seconds,
            "HTTPCACHE_ENABLED": c.http_cache,
            "HTTPCACHE_DIR": str(Path(c.jobs_dir or cfg.data_dir) / "httpcache"),
            "MEIYU_PROXY": c.proxy,
            "MEIYU_DATABASE_URL": cfg.database.url,
            "LOG_LEVEL": log_level,
            # The CLI owns the root log handler; Scrapy logs through it.
            "LOG_INSTALL_ROOT_HANDLER": False,
        },
        # Above the project module, below a spider's custom_settings (a source's own pace).
        priority="project",
    )
    return s


def queries_for(
    cfg: Config, source: SourceConfig, since: dt.date, until: dt.date, indicator: str | None
) -> list[dict[str, str]]:
    pairs = [(k, q) for k, q in cfg.queries_for(source) if indicator in (None, k)]
    return [Query(k, q, source.language, since, until, source.timezone).as_dict() for k, q in pairs]


def run_crawl(
    cfg: Config,
    sources: list[SourceConfig],
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    indicator: str | None = None,
    known_urls: set[str] | None = None,
    log_level: str = "WARNING",
) -> CrawlSummary:
    """Crawl `sources` together to completion (blocks; the reactor runs once per process)."""
    until = until or dt.datetime.now(cfg.tz).date()
    since = since or until - dt.timedelta(days=cfg.crawl.window_days - 1)
    base = settings_for(cfg, log_level)
    shared = cfg.crawl.backend == "redis"
    if shared:
        from crawlers import distributed

        distributed.connect(cfg.redis)  # waits while Redis is unreachable, then one line
        worker = distributed.worker_id()
    process = CrawlerProcess(base)
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    crawlers: list[Crawler] = []
    for source in sources:
        kwargs: dict[str, Any] = {"source": source.model_dump(), "known_urls": known_urls}
        kind = source_kind(source.kind)
        if kind.windowed:
            kwargs.update(since=since.isoformat(), until=until.isoformat())
        elif kind.search:
            kwargs["queries"] = queries_for(cfg, source, since, until, indicator)
            if not kwargs["queries"]:
                continue
        cls = spider_class(source.kind)
        extra: dict[str, Any] = {}
        # The same source and window: one crawl, resumed from its JOBDIR or shared in Redis.
        ident = repr(sorted((k, v) for k, v in kwargs.items() if k != "known_urls"))
        if shared:
            key = distributed.crawl_key(cfg.redis.key_prefix, source.name, ident)
            extra.update(distributed.worker_settings(cfg.redis, key, worker))
            cls = distributed.shared(cls)
        elif cfg.crawl.jobs_dir:
            # A killed crawl of the same source and window resumes from its JOBDIR.
            key = hashlib.sha1(ident.encode()).hexdigest()[:10]
            extra["JOBDIR"] = str(Path(cfg.crawl.jobs_dir) / f"{source.name}-{key}")
        if source.download_delay is not None:
            # A source's own pace (GDELT asks for one request every 5 s).
            extra.update(
                DOWNLOAD_DELAY=source.download_delay,
                CONCURRENT_REQUESTS_PER_DOMAIN=1,
                AUTOTHROTTLE_ENABLED=False,
            )
        if extra:
            merged = {**(cls.custom_settings or {}), **extra}
            cls = type(cls.__name__, (cls,), {"custom_settings": merged})
        crawler = process.create_crawler(cls)
        process.crawl(crawler, **kwargs)
        crawlers.append(crawler)
    process.start()
    if shared:
        for crawler in crawlers:
            error = crawler.stats.get_value("meiyu/redis_error") if crawler.stats else None
            if error:
                raise distributed.RedisUnavailable(error)  # what was fetched is stored
    summary = CrawlSummary()
    for crawler in crawlers:
        stats: dict[str, Any] = crawler.stats.get_stats() if crawler.stats else {}
        spider = crawler.spider
        if stats.get("meiyu/crawl_run_id") is not None:
            summary.run_ids.append(stats["meiyu/crawl_run_id"])
        summary.pages_fetched += stats.get("response_received_count", 0)
        summary.items_seen += stats.get("meiyu/items_seen", 0)
        summary.new += stats.get("meiyu/documents_new", 0)
        summary.updated += stats.get("meiyu/documents_updated", 0)
        summary.unchanged += stats.get("meiyu/documents_unchanged", 0)
        summary.known += stats.get("meiyu/known_skipped", 0)
        summary.failures += list(getattr(spider, "failures", []))
        summary.warnings += list(getattr(spider, "warnings", []))
        if stats.get("meiyu/skipped"):
            name = getattr(spider, "source", {}).get("name", crawler.spidercls.name)
            summary.skipped.append(f"{name}: {stats['meiyu/skipped']}")
    return summary
