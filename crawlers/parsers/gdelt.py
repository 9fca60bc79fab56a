"""GDELT DOC 2.0 API (api.gdeltproject.org/api/v2/doc/doc), `format=json`.

`parse` reads `mode=artlist`, following the real capture
../shared/fixtures/sources/gdelt/gdelt_doc_artlist_2026-01.json:
`{"articles": [{url, url_mobile, title, seendate: "YYYYMMDDTHHMMSSZ", socialimage, domain,
language, sourcecountry}]}`; no result at all is `{}`. artlist states no hit count.

`parse_timeline` reads `mode=timelinevolraw`, of which no real capture exists; it follows the
documented shape (blog.gdeltproject.org/gdelt-doc-2-0-api-debuts/):
`{"query_details": {"title": …, "date_resolution": "15m|h|d"}, "timeline": [{"series":
"Article Count", "data": [{"date": "20240101T000000Z", "value": 12, "norm": 123456}]}]}`.

Errors and throttling come back as plain-text bodies, not JSON (often still HTTP 200). The
rate-limit answer ("Please limit requests to one every 5 seconds…") is momentary and is
reported as `blocked` so the request is asked again; any other non-JSON body is a ParseError.

GDELT tokenises titles with spaces around punctuation ("印度专家直言 ： 我们…", "코리안리 , 인도");
`detokenise` undoes what can be undone unambiguously (hyphens and dropped quotes stay as given).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

from crawlers.items import Mention, SearchPage
from crawlers.parsers import ParseError, check_size

SEENDATE_FORMAT = "%Y%m%dT%H%M%SZ"

# date_resolution → bucket length
RESOLUTIONS = {
    "15m": dt.timedelta(minutes=15),
    "m": dt.timedelta(minutes=15),
    "h": dt.timedelta(hours=1),
    "d": dt.timedelta(days=1),
    "w": dt.timedelta(weeks=1),
}

_THROTTLE = re.compile(r"limit requests|too many requests|rate limit", re.IGNORECASE)

# Punctuation GDELT surrounds with spaces. Full-width marks take no space on either side;
# ASCII closing marks none before; ASCII opening marks none after.
_FULLWIDTH = "，。、：；！？（）「」『』【】《》〈〉％・·…｜"
_CLOSING = ",.:;!?%)]}"
_OPENING = "([{"


def seendate_iso(seendate: str) -> str:
    """ "20260121T083000Z" → "2026-01-21T08:30:00+00:00"."""
    try:
        moment = dt.datetime.strptime(seendate.strip(), SEENDATE_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise ParseError(f"seendate {seendate!r} is not YYYYMMDDTHHMMSSZ") from exc
    return moment.isoformat()


def detokenise(title: str) -> str:
    """GDELT's spaced-out title back to the way it was written, as far as that is certain."""
    text = " ".join(title.split())
    text = re.sub(rf" ?([{re.escape(_FULLWIDTH)}]) ?", r"\1", text)
    text = re.sub(rf" ([{re.escape(_CLOSING)}])", r"\1", text)
    text = re.sub(rf"([{re.escape(_OPENING)}]) ", r"\1", text)
    text = re.sub(r"(\d)\.\s(\d)", r"\1.\2", text)  # "1 . 53" → "1. 53" → "1.53"
    return text.strip()


def throttled(body: bytes) -> str | None:
    """GDELT's plain-text rate-limit answer, if that is what the body is."""
    head = body[:500].decode("utf-8", "replace").strip()
    if head and not head.startswith(("{", "[")) and _THROTTLE.search(head):
        return "throttled: " + " ".join(head.split())[:120]
    return None


def _load(body: bytes, url: str) -> dict[str, Any]:
    check_size(body)
    text = body.decode("utf-8-sig", "replace").strip()
    if not text.startswith("{"):
        snippet = " ".join(text.split())[:80] or "empty body"
        raise ParseError(f"not a GDELT JSON answer: {snippet!r}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"malformed JSON ({exc.msg} at {exc.pos})") from exc
    except RecursionError:
        raise ParseError("JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise ParseError("JSON answer is not an object")
    return data


def parse(body: bytes, url: str) -> SearchPage:
    """One `mode=artlist&format=json` answer."""
    reason = throttled(body)
    if reason:
        return SearchPage(blocked=reason)
    data = _load(body, url)
    if not data:
        return SearchPage()  # `{}`: nothing in the window
    articles = data.get("articles")
    if not isinstance(articles, list):
        raise ParseError(f"no 'articles' list (keys: {sorted(data)[:5]})")
    mentions = []
    for art in articles:
        if not isinstance(art, dict) or not art.get("url"):
            raise ParseError(f"article without url: {str(art)[:80]}")
        seendate = art.get("seendate")
        if seendate is not None and not isinstance(seendate, str):
            raise ParseError(f"seendate {seendate!r} is not YYYYMMDDTHHMMSSZ")
        mentions.append(
            Mention(
                url=str(art["url"]).strip(),
                title=detokenise(str(art.get("title") or "")),
                snippet="",
                outlet=str(art.get("domain") or "") or None,
                published=seendate_iso(seendate) if seendate else None,
            )
        )
    return SearchPage(mentions=mentions)


@dataclass
class Timeline:
    """A volume timeline: (bucket start UTC, article count) per bucket."""

    resolution: dt.timedelta = dt.timedelta(days=1)
    buckets: list[tuple[dt.datetime, int]] = field(default_factory=list)
    blocked: str | None = None


def parse_timeline(body: bytes, url: str) -> Timeline:
    """One `mode=timelinevolraw&format=json` answer (`{}` when nothing matched)."""
    reason = throttled(body)
    if reason:
        return Timeline(blocked=reason)
    data = _load(body, url)
    if not data:
        return Timeline()
    series = data.get("timeline")
    if not isinstance(series, list):
        raise ParseError(f"no 'timeline' list (keys: {sorted(data)[:5]})")
    details = data.get("query_details") or {}
    if not isinstance(details, dict):
        raise ParseError(f"'query_details' is a {type(details).__name__}, not an object")
    code = str(details.get("date_resolution") or "d").lower()
    if code not in RESOLUTIONS:
        raise ParseError(f"unknown date_resolution {code!r}")
    counts = next(
        (s for s in series if isinstance(s, dict) and s.get("series") == "Article Count"),
        series[0] if series else {"data": []},
    )
    points = counts.get("data") if isinstance(counts, dict) else None
    if not isinstance(points, list | None):
        raise ParseError(f"timeline data is a {type(points).__name__}, not a list")
    buckets = []
    for point in points or []:
        try:
            when = dt.datetime.strptime(point["date"], SEENDATE_FORMAT).replace(tzinfo=dt.UTC)
            value = int(point["value"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ParseError(f"bad timeline point {str(point)[:80]}") from exc
        buckets.append((when, value))
    return Timeline(resolution=RESOLUTIONS[code], buckets=buckets)
