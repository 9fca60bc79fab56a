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
    "crawlers.middlewares.AuthHeadersMiddleware": 560,
}
ITEM_PIPELINES = {
    "pipelines.normalise.NormalisePipeline": 100,
    "pipelines.store.StorePipeline": 300,
}
