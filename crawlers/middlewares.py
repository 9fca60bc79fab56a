"""Downloader middlewares of our own (retries, throttling and caching are Scrapy's)."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

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
    at download time only, and take them off again when the answer comes: the secrets never sit
    in a JOBDIR queue, the HTTP cache's request_headers, a retried or redirected copy, or a
    logged Request. Only requests to the engine's own host get them (a redirect elsewhere
    does not)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AuthHeadersMiddleware:
        return cls(crawler)

    def _headers(self) -> dict[str, str]:
        return getattr(self.crawler.spider, "auth_headers", dict)()

    def process_request(self, request: Request, spider: Spider | None = None) -> Any:
        spider = self.crawler.spider
        if request.meta.get("meiyu_auth") and spider is not None:
            base = getattr(spider, "base_url", "")
            if base and urlsplit(request.url).hostname != urlsplit(base).hostname:
                return None
            for name, value in self._headers().items():
                request.headers[name] = value
        return None

    def _strip(self, request: Request) -> None:
        if request.meta.get("meiyu_auth"):
            for name in self._headers():
                request.headers.pop(name, None)

    def process_response(
        self, request: Request, response: Response, spider: Spider | None = None
    ) -> Response:
        self._strip(request)
        return response

    def process_exception(
        self, request: Request, exception: Exception, spider: Spider | None = None
    ) -> None:
        self._strip(request)
