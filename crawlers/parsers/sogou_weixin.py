"""Sogou WeChat article search (weixin.sogou.com/weixin?type=2&query=…), as HTML.

Follows the real capture
../shared/fixtures/sources/sogou-weixin/sogou_weixin_search_type2_2026-09-05_EXCERPT.html:
items `ul.news-list > li[id^="sogou_vr_11002601_box_"]`, title `div.txt-box h3 a` (hits in
`<em><!--red_beg-->…<!--red_end--></em>`), link a relative `/link?url=…` redirect of Sogou's
(not the mp.weixin.qq.com URL), snippet `p.txt-info`, account (the outlet) `span.all-time-y2`,
date Unix seconds in `<script>document.write(timeConvert('1673084815'))</script>` inside
`span.s2` (given as ISO 8601 UTC). The excerpt has no pager; the next page is Sogou's
`a#sogou_next` (`?…&page=N`), or, on a page without pager, a full page of 10 implies one.
No hit count is read. Sogou's anti-bot answer is its antispider CAPTCHA page
(`/antispider/…`, "用户您好，我们的系统检测到您网络中存在异常访问请求…") → `blocked`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from parsel import Selector

from crawlers.encoding import decode
from crawlers.items import Mention, SearchPage
from crawlers.parsers import ParseError, check_size

PAGE_SIZE = 10
ANTISPIDER_TEXT = "我们的系统检测到您网络中存在异常访问请求"
_TIME = re.compile(r"timeConvert\(\s*['\"]?(\d{9,11})['\"]?\s*\)")
_MARKERS = ("搜狗微信", "weixin.sogou.com", "sogou_vr_11002601", 'class="news-list"')


def _text(sel: Selector) -> str:
    return " ".join("".join(sel.css("::text").getall()).split())


def _published(li: Selector) -> str | None:
    s2 = li.css("span.s2")
    if not s2:
        return None
    stamp = s2.xpath("@t").get() or ""
    if not stamp.isdigit():
        m = _TIME.search(s2.get() or "")
        stamp = m.group(1) if m else ""
    if not stamp:
        return _text(s2[0]) or None
    try:
        return dt.datetime.fromtimestamp(int(stamp), dt.UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return None  # a stamp beyond any calendar: the hit is kept, undated


def with_page(url: str, page: int) -> str:
    parts = urlsplit(url)
    params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page"]
    return urlunsplit(parts._replace(query=urlencode([*params, ("page", str(page))])))


def parse(body: bytes, url: str) -> SearchPage:
    check_size(body)
    html = decode(body, None, "zh")
    if "/antispider" in urlsplit(url).path or ANTISPIDER_TEXT in html:
        return SearchPage(blocked="Sogou antispider CAPTCHA")
    if "<html" not in html[:5000].lower() or not any(m in html for m in _MARKERS):
        raise ParseError("not a Sogou WeChat search page")
    sel = Selector(text=html)
    mentions = []
    for li in sel.css('ul.news-list > li[id^="sogou_vr_11002601_box_"]'):
        link = li.css("div.txt-box h3 a")
        href = (link.xpath("@href").get() or "").strip() if link else ""
        if not href:
            continue
        snippet = li.css("p.txt-info")
        account = li.css("span.all-time-y2::text").get()
        mentions.append(
            Mention(
                url=href,
                title=_text(link[0]),
                snippet=_text(snippet[0]) if snippet else "",
                outlet=(account or "").strip() or None,
                published=_published(li),
            )
        )
    next_url = None
    nxt = sel.css("a#sogou_next::attr(href)").get()
    if nxt:
        with contextlib.suppress(ValueError):  # a malformed href ("http://[x"): no next page
            next_url = urljoin(url, nxt.strip())
    elif not sel.css("#pagebar_container") and len(mentions) >= PAGE_SIZE:
        page = dict(parse_qsl(urlsplit(url).query)).get("page") or "1"
        next_url = with_page(url, int(page) + 1 if page.isdigit() else 2)
    return SearchPage(mentions=mentions, next_url=next_url)
