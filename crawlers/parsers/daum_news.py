"""Daum news search result pages (search.daum.net/search?w=news&q=…), as HTML.

Follows the real capture ../shared/fixtures/sources/daum-news/daum_news_search_2026-03-20.html
(UTF-8 with BOM): items `ul.c-list-basic > li[data-docid]`, title and link
`div.item-title strong.tit-g a` (hits in `<b>`), snippet `div.item-contents p.conts-desc a`,
press `div.c-tit-doc strong.tit_item span.txt_info` (or `strong.tit_item[title]`), date
`div.item-contents span.gem-subinfo span.txt_info` ("2026.03.19" or "24분전", "1시간전").

Dates: a Daum link `v.daum.net/v/<YYYYMMDDhhmmss><3 digits>` carries the article's time in KST
to the second (the capture's "24분전" item links …20260320102815… on a page served at
10:53:02), so that is used first; then a relative date resolved against the page's own
`var ServerTime = "YYYYMMDDhhmmss"`; else the date as shown. The page states no hit count;
its `pageNavigation: { totalPage: N, currentPage: C }` says whether a next page exists.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from parsel import Selector

from crawlers.encoding import decode
from crawlers.items import Mention, SearchPage
from crawlers.parsers import ParseError, check_size

PAGE_SIZE = 10
KST = dt.timezone(dt.timedelta(hours=9))

_DAUM_LINK = re.compile(r"v\.daum\.net/v/(\d{14})\d{3}\b")
_SERVER_TIME = re.compile(r"""var\s+ServerTime\s*=\s*["'](\d{14})["']""")
_PAGE_NAV = re.compile(
    r"pageNavigation\s*:\s*\{\s*totalPage\s*:\s*(\d+)\s*,\s*currentPage\s*:\s*(\d+)"
)
_RELATIVE = re.compile(r"^(\d+)\s*(초|분|시간|일)\s*전$")
_ABSOLUTE = re.compile(r"^\d{4}\.\d{1,2}\.\d{1,2}\.?$")
_UNITS = {"초": "seconds", "분": "minutes", "시간": "hours", "일": "days"}
# Present on every Daum search page (og:url, OpenSearch link, the news collection).
_MARKERS = ("search.daum.net", "Daum 검색", 'id="dnsColl"')


def _text(sel: Selector | None) -> str:
    if sel is None:
        return ""
    return " ".join("".join(sel.css("::text").getall()).split())


def _kst(stamp: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=KST)
    except ValueError:
        return None


def published_from(href: str, shown: str, server_time: dt.datetime | None) -> str | None:
    """ISO 8601 from the Daum link, else a relative date against ServerTime, else as shown."""
    m = _DAUM_LINK.search(href)
    if m and (moment := _kst(m.group(1))) is not None:
        return moment.isoformat()
    rel = _RELATIVE.match(shown)
    if rel and server_time is not None:
        try:
            delta = dt.timedelta(**{_UNITS[rel.group(2)]: int(rel.group(1))})
            return (server_time - delta).isoformat()
        except OverflowError:
            pass  # "99999999999일전": no such date, kept as shown
    return shown or None


def with_page(url: str, page: int) -> str:
    parts = urlsplit(url)
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "p"]
    return urlunsplit(parts._replace(query=urlencode([*params, ("p", str(page))])))


def parse(body: bytes, url: str) -> SearchPage:
    check_size(body)
    html = decode(body, None, "ko")
    head = html[:200_000]
    if "<html" not in head.lower() or not any(m in html for m in _MARKERS):
        raise ParseError("not a Daum search page")
    sel = Selector(text=html)
    st = _SERVER_TIME.search(html)
    server_time = _kst(st.group(1)) if st else None

    mentions = []
    for li in sel.css("ul.c-list-basic > li[data-docid]"):
        link = li.css("div.item-title strong.tit-g a")
        href = (link.xpath("@href").get() or "").strip() if link else ""
        if not href:
            continue
        shown = ""
        for info in li.css("div.item-contents span.gem-subinfo span.txt_info::text").getall():
            info = info.strip()
            if _ABSOLUTE.match(info) or _RELATIVE.match(info):
                shown = info
                break
        outlet = (
            li.css("div.c-tit-doc strong.tit_item span.txt_info::text").get()
            or li.css("strong.tit_item::attr(title)").get()
        )
        snippet = li.css("div.item-contents p.conts-desc a")
        mentions.append(
            Mention(
                url=href,
                title=_text(link[0]),
                snippet=_text(snippet[0]) if snippet else "",
                outlet=(outlet or "").strip() or None,
                published=published_from(href, shown, server_time),
            )
        )

    next_url = None
    nav = _PAGE_NAV.search(html)
    if nav:
        total_pages, current = int(nav.group(1)), int(nav.group(2))
        if current < total_pages:
            next_url = with_page(url, current + 1)
    elif len(mentions) >= PAGE_SIZE:
        page = dict(parse_qsl(urlsplit(url).query)).get("p") or "1"
        next_url = with_page(url, int(page) + 1 if page.isdigit() else 2)
    return SearchPage(mentions=mentions, total=None, next_url=next_url)
