"""Naver news search HTML (`search.naver.com/search.naver?where=news&query=…`) → SearchPage.

Follows the two real captures in ../shared/fixtures/sources/naver-html/ (2025-04 and 2026-05,
the "sds-comps" layout; the old `ul.list_news > li.bx` / `a.news_tit` markup is gone). Hashed
utility classes change between builds, so only the design system's own names are used:

* title: `span.sds-comps-text-type-headline1`; its parent `a[href]` is the ORIGINAL article URL;
* item container: the nearest ancestor of the headline that also holds the press block
  (`.sds-comps-profile-info-title-text`): the press/date block is a sibling of the title block;
* snippet: `span.sds-comps-text-type-body1` in the container;
* press: `.sds-comps-profile-info-title-text` (an `a` to media.naver.com/press/… or the outlet) in
  the item's first profile (`[data-sds-comp="Profile"]`; later profiles are a cluster's
  related articles);
* date: the `span.sds-comps-profile-info-subtext` of that profile that reads as a date —
  relative ("5일 전", "3시간 전", "1주 전") or absolute ("2025.04.23."); others are the print
  position ("A22면 1단") or the "네이버뉴스" link. Kept as shown.

No total count is rendered (total=None); paging (`start=1+10·(page-1)`) is computed by the
spider. A page without results is a no-result page (`api_noresult_wrap`) or an anti-bot page
(blocked); anything else without headlines raises ParseError.
"""

from __future__ import annotations

import re

from parsel import Selector

from crawlers.encoding import decode
from crawlers.items import Mention, SearchPage
from crawlers.parsers import ParseError, check_size

PAGE_SIZE = 10

_HEADLINE = "span.sds-comps-text-type-headline1"
_PRESS_CLASS = "sds-comps-profile-info-title-text"
# XPath: the nearest ancestor holding a press block (reverse axis: [1] is the closest).
_CONTAINER = (
    f"ancestor::*[.//*[contains(concat(' ', normalize-space(@class), ' '), ' {_PRESS_CLASS} ')]][1]"
)
_DATE = re.compile(
    r"^(\d{4}\.\s?\d{1,2}\.\s?\d{1,2}\.?"  # 2025.04.23.
    r"|\d+\s*(초|분|시간|일|주|개월|달|년)\s*전"  # 5일 전
    r"|어제|오늘|방금\s*전?)$"
)
# Words of Naver's abuse-protection and CAPTCHA pages (never seen on a result page's text
# outside scripts, and only looked for when a page has no results).
_BLOCKED_MARKERS = (
    "비정상적인",
    "자동입력 방지",
    "자동 입력 방지",
    "보안문자",
    "서비스 이용이 제한",
    "일시적으로 제한",
    "captcha",
)
_NO_RESULT_MARKERS = ("api_noresult_wrap", "검색결과가 없습니다")


def _text(sel: Selector | None) -> str:
    if sel is None:
        return ""
    return " ".join(" ".join(sel.css("::text").getall()).split())


def _joined(sel: Selector) -> str:
    """Text of an element whose highlights (<mark>) split words: joined without spaces."""
    return " ".join("".join(sel.css("::text").getall()).split())


def parse(body: bytes, url: str) -> SearchPage:
    check_size(body)
    html = decode(body, None, "ko")
    sel = Selector(text=html, type="html")
    headlines = sel.css(_HEADLINE)
    if not headlines:
        return _empty(sel, html)
    mentions: list[Mention] = []
    seen: set[str] = set()
    for headline in headlines:
        href = (headline.xpath("ancestor::a[@href][1]/@href").get() or "").strip()
        if not href or href.startswith(("#", "javascript:")) or href in seen:
            continue
        seen.add(href)
        container = headline.xpath(_CONTAINER)
        item = container[0] if container else headline
        profiles = item.css('[data-sds-comp="Profile"], .sds-comps-profile')
        profile = profiles[0] if profiles else item
        press = profile.css(f".{_PRESS_CLASS}")
        snippet = item.css("span.sds-comps-text-type-body1")
        date = next(
            (
                t
                for t in (_text(s) for s in profile.css("span.sds-comps-profile-info-subtext"))
                if _DATE.match(t)
            ),
            None,
        )
        mentions.append(
            Mention(
                url=href,
                title=_joined(headline),
                snippet=_joined(snippet[0]) if snippet else "",
                outlet=(_text(press[0]) or None) if press else None,
                published=date,
            )
        )
    return SearchPage(mentions=mentions, total=None)


def _empty(sel: Selector, html: str) -> SearchPage:
    visible = " ".join(
        sel.xpath("//body//text()[not(ancestor::script or ancestor::style)]").getall()
    )
    lowered = visible.lower()
    for marker in _BLOCKED_MARKERS:
        if marker in lowered:
            return SearchPage(blocked=f"anti-bot page ({marker!r})")
    if any(marker in html for marker in _NO_RESULT_MARKERS):
        return SearchPage()
    title = " ".join((sel.css("title::text").get() or "").split())
    raise ParseError(
        f"no news results, no no-result notice: not a Naver news search page (title {title!r})"
    )
