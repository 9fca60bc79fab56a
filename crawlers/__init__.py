"""Crawlers: the Scrapy project (settings, items, spiders, middlewares) that fetches media items.

Owns fetching and parsing: bytes from the web in, typed items out. It must not open the
database or analyse text — items go to `pipelines/`, which normalise and store them.
meiyu's config becomes Scrapy settings in one place (`crawlers.runner`).
"""
