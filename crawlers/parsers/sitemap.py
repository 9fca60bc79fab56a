"""Sitemaps (sitemaps.org) and Google News sitemaps: index files and URL sets.

Outlets publish one sitemap per day or month under an index; Google's news extension adds
the publication date and title, so an article can be dated and windowed before it is fetched.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from crawlers.parsers import ParseError, check_size

# sitemaps.org allows 50 MB (uncompressed) per file.
MAX_SITEMAP_BYTES = 64 * 1024 * 1024

NS = {
    "sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "news": "http://www.google.com/schemas/sitemap-news/0.9",
}


@dataclass(frozen=True)
class SitemapEntry:
    loc: str
    lastmod: str | None = None
    published: str | None = None  # news:publication_date
    title: str | None = None  # news:title


@dataclass(frozen=True)
class SitemapDoc:
    kind: str  # "index" | "urlset"
    entries: list[SitemapEntry]


def _text(node: etree._Element, path: str) -> str | None:
    found = node.find(path, NS)
    return found.text.strip() if found is not None and found.text else None


def parse(body: bytes, url: str) -> SitemapDoc:
    check_size(body, MAX_SITEMAP_BYTES)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, recover=False
    )
    try:
        root = etree.fromstring(body.lstrip(b"\xef\xbb\xbf \r\n\t"), parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"{url}: not XML ({exc})") from None
    tag = etree.QName(root).localname
    if tag == "sitemapindex":
        entries = [
            SitemapEntry(loc, _text(n, "sm:lastmod"))
            for n in root.findall("sm:sitemap", NS)
            if (loc := _text(n, "sm:loc"))
        ]
        return SitemapDoc("index", entries)
    if tag == "urlset":
        entries = [
            SitemapEntry(
                loc,
                _text(n, "sm:lastmod"),
                _text(n, "news:news/news:publication_date"),
                _text(n, "news:news/news:title"),
            )
            for n in root.findall("sm:url", NS)
            if (loc := _text(n, "sm:loc"))
        ]
        return SitemapDoc("urlset", entries)
    raise ParseError(f"{url}: <{tag}> is neither a sitemap index nor a URL set")
