"""Pipelines: Scrapy item pipelines (normalise, store) and the batch stages after the crawl
(match, aggregate).

Owns the flow from items to stored rows to indicator values. It calls `nlp/` for labels and
`storage/` for every read and write; it never fetches from the web and never renders reports.
"""
