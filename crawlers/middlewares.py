"""Downloader middlewares of our own (retries, throttling and caching are Scrapy's)."""

from __future__ import annotations

from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler


class ConfiguredProxyMiddleware:
    """Send every request through `crawl.proxy` when set; HttpProxyMiddleware does the rest.

    Kept apart from http_proxy/https_proxy so a site-wide proxy setting cannot silently
    redirect a crawl, and so the demo can serve its fixture world behind one local address.
    """

    def __init__(self, proxy: str | None) -> None:
        self.proxy = proxy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConfiguredProxyMiddleware:
        return cls(crawler.settings.get("MEIYU_PROXY"))

    def process_request(self, request: Request, spider: Spider | None = None) -> Any:
        if self.proxy and "proxy" not in request.meta:
            request.meta["proxy"] = self.proxy
        return None
