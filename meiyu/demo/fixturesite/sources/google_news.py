"""Google News RSS search over the fixture world: `news.google.com/rss/search?q=…&hl=ko…`.

Feeds have the shape of the real capture (google_news_rss_search_…_EXCERPT.xml): one line,
`<generator>NFE/5.0</generator>`, items titled "headline - Outlet", linked to an opaque
`/rss/articles/CBMi…?oc=5` redirect, `pubDate` in GMT, `<source url>` and an escaped-HTML
description. `q` takes the terms (all must match) plus `after:YYYY-MM-DD` (inclusive) and
`before:YYYY-MM-DD` (exclusive), read in the edition's zone (gl=KR: Asia/Seoul); `hl` picks the
language (ko, zh-*). At most 100 items, newest first, no paging — a busier window is cut off.
`/rss/articles/<id>` answers 302 to the article (the id encodes its URL, as Google's older ids
did). Links are plain http here (the fixture is served through a plain-http proxy).

Planted faults (first hit of the affected URL only):
  * 429 with Retry-After: 0 for "웨이하이" on the window holding 2022-06-15;
  * a slow answer (3 s) for "위해시" on the window holding 2021-06-15.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import html
from urllib.parse import quote_plus
from zoneinfo import ZoneInfo

from meiyu.demo.fixturesite.corpus import Article, Page, World
from meiyu.demo.fixturesite.sources import FixtureRequest, fault_covers

CAP = 100
ZONES = {"KR": "Asia/Seoul", "CN": "Asia/Shanghai"}
_PREFIX = b"\x08\x13\x22"  # base64 "CBMi"
_SUFFIX = b"\xd2\x01\x00"


def fault_day(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=ZoneInfo("Asia/Seoul"))


RATE_LIMITED = ("웨이하이", fault_day("2022-06-15"))
SLOW = ("위해시", fault_day("2021-06-15"))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def article_id(url: str) -> str:
    raw = url.encode()
    payload = _PREFIX + _varint(len(raw)) + raw + _SUFFIX
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")


def url_of(article_id_: str) -> str | None:
    try:
        payload = base64.urlsafe_b64decode(article_id_ + "=" * (-len(article_id_) % 4))
    except (binascii.Error, ValueError):
        return None
    if not payload.startswith(_PREFIX):
        return None
    n, shift, i = 0, 0, len(_PREFIX)
    while i < len(payload):
        byte = payload[i]
        n |= (byte & 0x7F) << shift
        shift += 7
        i += 1
        if not byte & 0x80:
            break
    raw = payload[i : i + n]
    return raw.decode("utf-8", "replace") if len(raw) == n else None


def _gmt(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _item(a: Article) -> str:
    link = f"http://news.google.com/rss/articles/{article_id(a.url)}?oc=5"
    outlet = a.outlet.name
    description = (
        f'<a href="{link}" target="_blank">{html.escape(a.title)}</a>'
        f'&nbsp;&nbsp;<font color="#6f6f6f">{html.escape(outlet)}</font>'
    )
    return (
        f"<item><title>{html.escape(a.title)} - {html.escape(outlet)}</title>"
        f"<link>{html.escape(link)}</link>"
        f'<guid isPermaLink="false">{article_id(a.url)}</guid>'
        f"<pubDate>{_gmt(a.published)}</pubDate>"
        f"<description>{html.escape(description, quote=False)}</description>"
        f'<source url="http://{a.outlet.host}">{html.escape(outlet)}</source></item>'
    )


def render(world: World, q: str, hl: str, gl: str, ceid: str, hits: list[Article]) -> bytes:
    newest = max(a.published for a in world.articles)
    home = (
        f"https://news.google.com/search?q={quote_plus(q, safe=':')}"
        f"&amp;hl={hl}&amp;gl={gl}&amp;ceid={ceid}"
    )
    name = (
        "Google 뉴스"
        if hl.startswith("ko")
        else "Google 新闻"
        if hl.startswith("zh")
        else ("Google News")
    )
    doc = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
        f"<generator>NFE/5.0</generator><title>&quot;{html.escape(q)}&quot; - {name}</title>"
        f"<link>{home}</link><language>{html.escape(hl)}</language>"
        "<webMaster>news-webmaster@google.com</webMaster>"
        "<copyright>Copyright © 2024 Google. All rights reserved.</copyright>"
        f"<lastBuildDate>{_gmt(newest + dt.timedelta(days=1))}</lastBuildDate>"
        f"<description>{name}</description>" + "".join(_item(a) for a in hits) + "</channel></rss>"
    )
    return doc.encode("utf-8")


def read_q(q: str, zone: str) -> tuple[str, dt.datetime | None, dt.datetime | None]:
    """Terms and the [after, before) window of a `q` like "웨이하이 after:2023-01-01 before:…"."""
    terms, start, end = [], None, None
    for token in q.split():
        key, _, value = token.partition(":")
        if key in ("after", "before") and value:
            try:
                day = dt.datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(zone))
            except ValueError:
                continue
            if key == "after":
                start = day
            else:
                end = day
        else:
            terms.append(token)
    return " ".join(terms), start, end


def respond(world: World, request: FixtureRequest) -> Page | None:
    if request.path.startswith("/rss/articles/"):
        url = url_of(request.path.removeprefix("/rss/articles/"))
        if url is None:
            return None
        return Page(b"", "text/html; charset=UTF-8", 302, {"Location": url})
    if request.path != "/rss/search":
        return None
    q = (request.params.get("q") or [""])[0]
    hl = (request.params.get("hl") or ["en-US"])[0]
    gl = (request.params.get("gl") or ["US"])[0]
    ceid = (request.params.get("ceid") or [f"{gl}:{hl}"])[0]
    terms, start, end = read_q(q, ZONES.get(gl, "UTC"))
    if request.hit == 1 and fault_covers(terms, start, end, RATE_LIMITED):
        return Page(b"Too Many Requests", "text/plain", 429, {"Retry-After": "0"})
    language = "ko" if hl.startswith("ko") else "zh" if hl.startswith("zh") else None
    hits = world.search(terms, language, start, end)[:CAP] if terms else []
    delay = 3.0 if request.hit == 1 and fault_covers(terms, start, end, SLOW) else 0.0
    return Page(
        render(world, q, hl, gl, ceid, hits),
        "application/xml; charset=utf-8",
        delay=delay,
    )
