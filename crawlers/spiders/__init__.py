"""Spiders, one per kind of source. `SPIDERS` maps a source's `kind` in the config to its class
(imported lazily, so one broken or heavy source module cannot stop the others)."""

from __future__ import annotations

import importlib
from typing import Any

SPIDERS: dict[str, str] = {
    "rss": "crawlers.spiders.feeds:FeedSpider",
    "sitemap": "crawlers.spiders.sitemap:SitemapSpider",
    "naver_api": "crawlers.spiders.naver_api:NaverApiSpider",
    "naver_news": "crawlers.spiders.naver_news:NaverNewsSpider",
    "daum_news": "crawlers.spiders.daum_news:DaumNewsSpider",
    "gdelt": "crawlers.spiders.gdelt:GdeltSpider",
    "google_news": "crawlers.spiders.google_news:GoogleNewsSpider",
    "baidu_news": "crawlers.spiders.baidu_news:BaiduNewsSpider",
    "sogou_weixin": "crawlers.spiders.sogou_weixin:SogouWeixinSpider",
}
# Kinds that read a list of outlet URLs (feeds/sitemaps) rather than running queries.
OUTLET_KINDS = {"rss", "sitemap"}


def spider_class(kind: str) -> Any:
    module, _, name = SPIDERS[kind].partition(":")
    return getattr(importlib.import_module(module), name)
