"""Naver Search Open API, news (`/v1/search/news.json`): one JSON response → SearchPage.

Follows the real captures in ../shared/fixtures/sources/naver-api/ (a full response of 2021 and
a wire fragment of 2026: tab indents, `\\/` escapes) and the documented format
(https://developers.naver.com/docs/serviceapi/search/news/news.md):

    {"lastBuildDate": "Tue, 30 Mar 2021 23:56:02 +0900", "total": 326606, "start": 1,
     "display": 10, "items": [{"title", "originallink", "link", "description", "pubDate"}]}

`title`/`description` carry `<b>…</b>` around the hits and HTML entities (`&quot;`, `&amp;`).
`link` is Naver's copy when the outlet is a partner, otherwise the publisher URL; `originallink`
is the publisher URL and may be empty, so the mention links to `originallink`, else `link`.
`pubDate` is RFC 822 with the +0900 offset, kept as shown. Errors come as
`{"errorMessage": …, "errorCode": "SE01"}` (HTTP 4xx): such a body raises ParseError.
The API has no next link (paging by `start` is computed by the spider).
"""

from __future__ import annotations

import json
from typing import Any

from w3lib.html import remove_tags, replace_entities

from crawlers.encoding import decode
from crawlers.items import Mention, SearchPage
from crawlers.parsers import ParseError, check_size


def plain(text: Any) -> str:
    """`<b>` tags out, entities resolved, whitespace (U+00A0 included) collapsed."""
    if not isinstance(text, str):
        return ""
    return " ".join(replace_entities(remove_tags(text)).split())


def _str(value: Any) -> str:
    """A string field, stripped; anything else (a number, null, a list) is absent."""
    return value.strip() if isinstance(value, str) else ""


def parse(body: bytes, url: str) -> SearchPage:
    check_size(body)
    text = decode(body, "utf-8", "ko")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"not JSON ({exc.__class__.__name__}: {exc})") from None
    except RecursionError:
        raise ParseError("not JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise ParseError(f"expected a JSON object, got {type(data).__name__}")
    if "errorCode" in data or "errorMessage" in data:
        raise ParseError(
            f"API error {data.get('errorCode', '?')}: {plain(data.get('errorMessage'))}"
        )
    items = data.get("items")
    if not isinstance(items, list):
        raise ParseError("no `items` list: not a Naver news search response")
    mentions: list[Mention] = []
    for item in items:
        if not isinstance(item, dict):
            raise ParseError(f"item is a {type(item).__name__}, not an object")
        link = _str(item.get("originallink")) or _str(item.get("link"))
        if not link:
            continue  # nothing to follow
        mentions.append(
            Mention(
                url=link,
                title=plain(item.get("title")),
                snippet=plain(item.get("description")),
                outlet=None,  # the API names no press; the publisher is the link's host
                published=_str(item.get("pubDate")) or None,
            )
        )
    total = data.get("total")
    try:
        reported = int(total) if total is not None else None
    except (TypeError, ValueError, OverflowError):
        raise ParseError(f"`total` is not a number: {str(total)[:40]!r}") from None
    return SearchPage(mentions=mentions, total=reported)
