"""Scrapy project defaults; `crawlers.runner.settings_for` layers meiyu's config over them."""

BOT_NAME = "meiyu"
SPIDER_MODULES = ["crawlers.spiders"]
NEWSPIDER_MODULE = "crawlers.spiders"

ROBOTSTXT_OBEY = True
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.5
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
RETRY_ENABLED = True
RETRY_TIMES = 2
DOWNLOAD_TIMEOUT = 30
# Per-page size limits: a larger body is cancelled (the request fails, the crawl goes on).
# Sitemap requests allow 64 MiB (the sitemaps.org limit is 50 MB uncompressed).
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# No control port listening beside a crawl.
EXTENSIONS = {"scrapy.extensions.remote_control.RemoteControl": None}
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"

DOWNLOADER_MIDDLEWARES = {
    # Before Scrapy's HttpProxyMiddleware (750), which reads request.meta["proxy"].
    "crawlers.middlewares.ConfiguredProxyMiddleware": 740,
    # Scrapy's retries, with a wait (Retry-After or exponential) before each.
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.BackoffRetryMiddleware": 550,
    # Next to the downloader, after HttpCacheMiddleware (900): credentials are added last and
    # taken off the request before the cache, retries and redirects see it again.
    "crawlers.middlewares.AuthHeadersMiddleware": 950,
}
ITEM_PIPELINES = {
    "pipelines.normalise.NormalisePipeline": 100,
    "pipelines.store.StorePipeline": 300,
}
