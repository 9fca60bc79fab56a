"""openapi.naver.com in the fixture world: the news search API (`/v1/search/news.json`).

Answers like the real API (https://developers.naver.com/docs/serviceapi/search/news/news.md)
in the wire style of the captures in ../shared/fixtures/sources/naver-api/: tab-indented JSON,
`"key":"value"`, slashes escaped as `\\/`, `<b>` around the hits, `&quot;`/`&amp;` entities,
RFC 822 `pubDate` in +0900. Korean outlets only (Naver indexes Korean news).

* Credentials: the `X-Naver-Client-Id` / `X-Naver-Client-Secret` headers must be
  CLIENT_ID / CLIENT_SECRET, else 401 with the API's authentication error (errorCode 024).
* Parameters: `query` (required, SE01), `display` 1..100 (default 10, SE02), `start` 1..1000
  (default 1, SE03), `sort` sim|date (default sim, SE04); errors are HTTP 400 JSON bodies.
  No date parameters exist. At most the first 1000 results of a query are reachable;
  `total` counts all of them.
* `link` is a Naver copy (n.news.naver.com, not served here) for the partner outlet, the
  publisher URL otherwise; `originallink` is the publisher URL, empty for some items of the
  non-partner outlet (then `link` is the publisher URL).
* Fault: the first request of every second page (`start=101`) gets 429 with `Retry-After: 0`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import json
from typing import Any
from zoneinfo import ZoneInfo

from meiyu.demo.fixturesite.corpus import Article, Page, World
from meiyu.demo.fixturesite.sources import FixtureRequest

PATH = "/v1/search/news.json"
CLIENT_ID = "test-id"
CLIENT_SECRET = "test-secret"
MAX_RESULTS = 1000
RATE_LIMITED_START = 101  # the first hit of every page starting here answers 429
PARTNERS = {"hanbando": "990"}  # outlet → Naver press id: items link to Naver's copy
NO_ORIGINALLINK_EVERY = 5  # every 5th item of a non-partner outlet has originallink ""
SEOUL = ZoneInfo("Asia/Seoul")
JSON_TYPE = "application/json;charset=utf-8"


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Page:
    body = json.dumps(
        {"errorMessage": message, "errorCode": code}, ensure_ascii=False, separators=(",", ":")
    )
    return Page(body.encode("utf-8"), JSON_TYPE, status, headers or {})


def _int(params: dict[str, list[str]], name: str, default: int) -> int | None:
    values = params.get(name)
    if not values:
        return default
    try:
        return int(values[0])
    except ValueError:
        return None


def respond(world: World, request: FixtureRequest) -> Page | None:
    if request.path != PATH:
        return error(404, "SE05", "Invalid search api (존재하지 않는 검색 api 입니다.)")
    if (
        request.headers.get("x-naver-client-id") != CLIENT_ID
        or request.headers.get("x-naver-client-secret") != CLIENT_SECRET
    ):
        return error(
            401,
            "024",
            "NID AUTH Result Invalid (1000) : Authentication failed. (인증에 실패했습니다.)",
        )
    params = request.params
    query = (params.get("query") or [""])[0].strip()
    if not query:
        return error(400, "SE01", "Incorrect query request (잘못된 쿼리요청입니다.)")
    display = _int(params, "display", 10)
    if display is None or not 1 <= display <= 100:
        return error(400, "SE02", "Invalid display value (부적절한 display 값입니다.)")
    start = _int(params, "start", 1)
    if start is None or not 1 <= start <= MAX_RESULTS:
        return error(400, "SE03", "Invalid start value (부적절한 start 값입니다.)")
    sort = (params.get("sort") or ["sim"])[0]
    if sort not in ("sim", "date"):
        return error(400, "SE04", "Invalid sort value (부적절한 sort 값입니다.)")
    if start == RATE_LIMITED_START and request.hit == 1:
        return error(
            429, "012", "Rate limit exceeded. (속도 제한을 초과했습니다.)", {"Retry-After": "0"}
        )

    hits = world.search(query, language="ko")  # newest first
    terms = query.split()
    if sort == "sim":
        hits = sorted(hits, key=lambda a: -sum(a.full_text.count(t) for t in terms))
    reachable = hits[:MAX_RESULTS]
    chunk = reachable[start - 1 : start - 1 + display]
    index = {a.url: n for n, a in enumerate(world.articles)}
    doc = {
        "lastBuildDate": email.utils.format_datetime(dt.datetime.now(SEOUL).replace(microsecond=0)),
        "total": len(hits),
        "start": start,
        "display": len(chunk),
        "items": [_item(a, terms, index[a.url]) for a in chunk],
    }
    return Page(wire_json(doc).encode("utf-8"), JSON_TYPE)


def wire_json(doc: dict[str, Any]) -> str:
    """The API's own serialisation: tabs, no space after ':', '/' escaped."""
    text = json.dumps(doc, ensure_ascii=False, indent="\t", separators=(",", ":"))
    return text.replace("/", "\\/")


def _escape(text: str) -> str:
    return html.escape(text, quote=False).replace('"', "&quot;")


def bold(text: str, terms: list[str]) -> str:
    out = _escape(text)
    for term in terms:
        out = out.replace(_escape(term), f"<b>{_escape(term)}</b>")
    return out


def _description(a: Article, limit: int = 120) -> str:
    body = " ".join(a.paragraphs)
    return body if len(body) <= limit else body[:limit].rstrip() + "... "


def _item(a: Article, terms: list[str], serial: int) -> dict[str, str]:
    oid = PARTNERS.get(a.outlet.source)
    if oid is not None:
        original, link = (
            a.url,
            f"https://n.news.naver.com/mnews/article/{oid}/{serial:010d}?sid=104",
        )
    elif serial % NO_ORIGINALLINK_EVERY == 0:
        original, link = "", a.url
    else:
        original, link = a.url, a.url
    return {
        "title": bold(a.title, terms),
        "originallink": original,
        "link": link,
        "description": bold(_description(a), terms),
        "pubDate": email.utils.format_datetime(a.published.astimezone(SEOUL)),
    }
