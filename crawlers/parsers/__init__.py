"""Search-page parsers: bytes of one response in, a SearchPage out. Pure, so they are tested
on real captures (../shared/fixtures/sources) and on the project's fixture pages alike.

Each module `crawlers/parsers/<kind>.py` defines `parse(body: bytes, url: str) -> SearchPage`
and raises ParseError when the response is not what the source returns.
"""

from __future__ import annotations


class ParseError(ValueError):
    """The response is not what this source returns (malformed, truncated, another page)."""
