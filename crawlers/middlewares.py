"""Downloader middlewares of our own (retries, throttling and caching are Scrapy's)."""

from __future__ import annotations

import asyncio
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import Response
from scrapy.settings import BaseSettings


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


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware, waiting before each retry: the server's Retry-After when it
    gives one (429/503), else `MEIYU_RETRY_BACKOFF` × 2^(attempt-1), capped at one minute.

    Retrying a rate-limited server at once only earns the next 429.
    """

    cap_seconds = 60.0

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.base = settings.getfloat("MEIYU_RETRY_BACKOFF", 1.0)

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Request | Response:
        result = super().process_response(request, response)
        if isinstance(result, Request):
            await self._pause(result, response)
        return result

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception, spider: Spider | None = None
    ) -> Request | Response | None:
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            await self._pause(result, None)
        return result

    async def _pause(self, retry: Request, response: Response | None) -> None:
        attempt = int(retry.meta.get("retry_times", 1))
        delay = self.base * 2 ** (attempt - 1)
        if response is not None:
            header = (response.headers.get(b"Retry-After") or b"").decode("latin-1").strip()
            if header.isdigit():
                delay = float(header)
        delay = min(delay, self.cap_seconds)
        if delay > 0:
            self.crawler.stats.inc_value("meiyu/backoff_seconds", delay)
            await asyncio.sleep(delay)


class AuthHeadersMiddleware:
    """Add a search spider's credential headers to its requests marked meta["meiyu_auth"],
    at download time only: the secrets never sit in a JOBDIR queue or in a logged Request."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AuthHeadersMiddleware:
        return cls(crawler)

    def process_request(self, request: Request, spider: Spider | None = None) -> Any:
        spider = self.crawler.spider
        if request.meta.get("meiyu_auth") and spider is not None:
            headers: dict[str, str] = getattr(spider, "auth_headers", dict)()
            for name, value in headers.items():
                request.headers[name] = value
        return None
