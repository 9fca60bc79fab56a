"""Search-page parsers: bytes of one response in, a SearchPage out. Pure, so they are tested
on real captures (../shared/fixtures/sources) and on the project's fixture pages alike.

Each module `crawlers/parsers/<kind>.py` defines `parse(body: bytes, url: str) -> SearchPage`
and raises ParseError when the response is not what the source returns. Attributes are read
with XPath (`@href`), never with `.attrib`: that builds a dict of all of a tag's attributes,
which lxml refuses (KeyError) when a broken page leaves a mangled name such as `{}"`.
"""

from __future__ import annotations

# A result page or API answer is well under 2 MB; anything this large is not one, and parsing
# it would hold the crawl for seconds and hundreds of MB (Scrapy's DOWNLOAD_MAXSIZE stops
# such bodies first; this keeps the parsers safe on their own).
MAX_PAGE_BYTES = 16 * 1024 * 1024


class ParseError(ValueError):
    """The response is not what this source returns (malformed, truncated, another page)."""


def check_size(body: bytes, limit: int = MAX_PAGE_BYTES) -> None:
    """ParseError for a body over `limit` bytes, before any work is spent on it."""
    if len(body) > limit:
        raise ParseError(f"response of {len(body):,} bytes is over the {limit:,}-byte limit")
