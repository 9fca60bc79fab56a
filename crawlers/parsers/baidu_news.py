"""Baidu news search result pages (www.baidu.com/s?tn=news&wd=…).

NO REAL CAPTURE EXISTS (../shared/fixtures/sources/README.md, Baidu section: the only
candidate found was compressed bytes saved as text). This parser follows the structure that
current public scrapers select on, as documented there:

* result: `div.result-op.c-container` (older layout: `div.result`), real URL in its `mu`
  attribute (preferred), title link `h3[class^="news-title"] a` / `h3 a` (hits in `<em>`);
* source: `span.c-color-gray` or `[aria-label^="新闻来源"]` (older: `p.c-author` "source  time");
* time: `span.c-color-gray2` (or `[aria-label^="发布于"]`), absolute "2023年5月1日" /
  "2023年5月1日 14:20" or relative "3小时前", "昨天 14:20";
* snippet: `span[class^="c-font-normal"]` / `[class*="summary"]`;
* total: `span.nums` "百度为您找到相关资讯约1,230,000个" (older: "找到相关资讯约N篇");
  a "抱歉没有找到…相关的资讯" page is a total of 0;
* next page: the `下一页` link in `#page` (the spider computes `pn` itself).

Baidu's anti-bot answer is its "百度安全验证" page (captcha at wappass.baidu.com): `blocked`.
Absolute times are Beijing time and come out as ISO with +08:00; relative ones as shown.
"""

from __future__ import annotations

import re

from parsel import Selector, SelectorList

from crawlers.encoding import decode
from crawlers.items import Mention, SearchPage
from crawlers.parsers import ParseError, check_size

_TOTAL = re.compile(r"找到相关(?:资讯|新闻|结果)约?\s*([\d,，]+)\s*[个篇条]")
_ABSOLUTE = re.compile(
    r"^(\d{4})\s*[年\-/.]\s*(\d{1,2})\s*[月\-/.]\s*(\d{1,2})\s*日?(?:\s*(\d{1,2}):(\d{2}))?$"
)
_NESTED = (
    "ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' result ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' result-op ')]"
)
_NO_RESULTS = ("抱歉没有找到", "抱歉，没有找到", "没有找到与")


def _text(sel: Selector | SelectorList[Selector] | None) -> str:
    if sel is None:
        return ""
    return " ".join("".join(sel.css("::text").getall()).split())


def _label(value: str | None, prefix: str) -> str:
    """aria-label "新闻来源：海滨日报" → "海滨日报"."""
    value = (value or "").strip()
    for sep in ("：", ":"):
        if value.startswith(prefix) and sep in value:
            return value.split(sep, 1)[1].strip()
    return ""


def normalise_time(shown: str) -> str:
    """'2023年5月1日 14:20' → '2023-05-01T14:20:00+08:00'; '2023年5月1日' → '2023-05-01';
    anything else (relative times, 'x月x日' without a year) as shown."""
    shown = " ".join(shown.replace("\xa0", " ").split())
    m = _ABSOLUTE.match(shown)
    if not m:
        return shown
    year, month, day, hour, minute = m.groups()
    date = f"{int(year):04d}-{int(month):02d}-{int(day):02d}"
    if hour is None:
        return date
    return f"{date}T{int(hour):02d}:{int(minute):02d}:00+08:00"


def is_captcha(html: str, url: str = "") -> bool:
    head = html[:5000]
    return (
        "wappass.baidu.com" in url
        or "百度安全验证" in head
        or "wappass.baidu.com/static/captcha" in html
    )


def parse(body: bytes, url: str) -> SearchPage:
    check_size(body)
    html = decode(body, None, "zh")
    if not html.strip():
        raise ParseError("empty body")
    sel = Selector(text=html, type="html")
    results = sel.css("div.result-op.c-container, div.result.c-container, div.result")
    if not results and is_captcha(html, url):
        return SearchPage(blocked="Baidu 百度安全验证 (captcha at wappass.baidu.com)")

    total: int | None = None
    nums = sel.css("span.nums, .nums_text, .nums")
    m = _TOTAL.search(_text(nums[0]) if nums else "") or _TOTAL.search(_text(sel.css("body")))
    if m:
        total = int(re.sub(r"[,，]", "", m.group(1)))
    elif any(phrase in html for phrase in _NO_RESULTS):
        total = 0

    if not results and total is None:
        title = _text(sel.css("title")[0]) if sel.css("title") else ""
        raise ParseError(f"not a Baidu news result page (title {title[:40]!r})")

    mentions: list[Mention] = []
    for item in results:
        # `div.result` may nest inside `div.result-op`; take the outermost only.
        if item.xpath(_NESTED):
            continue
        mentions.append(_mention(item))
    next_href = sel.xpath("//div[@id='page']//a[contains(., '下一页')]/@href").get()
    return SearchPage(mentions=mentions, total=total, next_url=next_href)


def _mention(item: Selector) -> Mention:
    link = item.css('h3[class^="news-title"] a, h3 a')
    href = (item.xpath("@mu").get() or "").strip() or (link.xpath("@href").get() or "").strip()
    title = _text(link[0]) if link else ""
    if not title:
        title = _label(link.xpath("@aria-label").get() if link else None, "标题")
    if not href or not title:
        raise ParseError(f"result without link or title: {item.get()[:120]!r}")

    outlet = _text(item.css("span.c-color-gray")[0]) if item.css("span.c-color-gray") else ""
    outlet = outlet or _label(
        item.css('[aria-label^="新闻来源"]').xpath("@aria-label").get(), "新闻来源"
    )
    shown = _text(item.css("span.c-color-gray2")[0]) if item.css("span.c-color-gray2") else ""
    shown = shown or _label(item.css('[aria-label^="发布于"]').xpath("@aria-label").get(), "发布于")
    if not outlet and item.css("p.c-author"):
        # older layout: <p class="c-author">新京报&nbsp;&nbsp;2019年05月01日 10:30</p>
        parts = re.split(r"\s{2,}|\xa0+", "".join(item.css("p.c-author ::text").getall()).strip())
        parts = [p.strip() for p in parts if p.strip()]
        if parts:
            outlet = parts[0]
            shown = shown or " ".join(parts[1:])

    snippet_sel = item.css('span[class^="c-font-normal"], [class*="summary"], div.c-summary')
    snippet = _text(snippet_sel[0]) if snippet_sel else ""
    if not snippet:
        snippet = _label(item.css('[aria-label^="摘要"]').xpath("@aria-label").get(), "摘要")
    return Mention(
        url=href,
        title=title,
        snippet=snippet,
        outlet=outlet or None,
        published=normalise_time(shown) if shown else None,
    )
