"""Baidu news search over the fixture world: `www.baidu.com/s?tn=news&wd=…`.

No real capture of a Baidu news page exists; the page follows the structure public scrapers
select on (see crawlers/parsers/baidu_news.py): `#content_left` with one
`div.result-op.c-container[mu]` per hit (`h3.news-title_1YtI1 a`, `span.c-color-gray` source,
`span.c-color-gray2` time "2023年5月1日 14:20" in Beijing time, `span.c-font-normal` snippet,
query terms in `<em>`), `span.nums` "百度为您找到相关资讯约1,234个" (the true number of hits in
the window), and a `#page` bar with `下一页`. Parameters honoured: `wd` (or `word`: AND of
space-separated terms; Chinese outlets only), `pn`/`rn` (offset, page size ≤ 50),
`gpc=stf=<start>,<end>|stftype=2` (Unix seconds, both ends inclusive), `rtt` (4: newest first;
anything else is the same order here). No hit at all gives Baidu's "抱歉没有找到" page.

Faults, each on the first hit of a URL only, chosen per page by a checksum of (wd, gpc, pn) so a
crawl meets them the same way every run: the "百度安全验证" page (wappass captcha), an answer
delayed past a 2-second timeout, and a 429 with `Retry-After: 0`.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import zlib
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from meiyu.demo.fixturesite.corpus import Article, Page, World
from meiyu.demo.fixturesite.sources import FixtureRequest

BEIJING = ZoneInfo("Asia/Shanghai")
SLOW_SECONDS = 3.0
FAULTS = ("captcha", "slow", "429") + ("none",) * 6

CAPTCHA_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>百度安全验证</title>
<meta name="viewport" content="width=device-width,initial-scale=1.0">
<link rel="stylesheet" href="https://ppui-static-wap.cdn.bcebos.com/static/touch/css/api/mkdjump_aac6df1.css">
</head><body>
<div class="timeout hide-callback"><div class="timeout-img"></div>
<div class="timeout-title">网络不给力，请稍后重试</div>
<button type="button" class="timeout-button">返回首页</button></div>
<div class="timeout-feedback hide-callback"><div class="timeout-feedback-icon"></div>
<p class="timeout-feedback-title">问题反馈</p></div>
<script src="https://wappass.baidu.com/static/machine/js/api/mkd.js"></script>
<script>location.replace("https://wappass.baidu.com/static/captcha/tuxing.html?&logid=1"
+ "&ak=c27bbc89afca0463650ac9bde68ebe06&backurl=" + encodeURIComponent(location.href)
+ "&signature=0&timestamp=0");</script>
</body></html>
"""


def fault_for(wd: str, gpc: str, pn: str) -> str:
    return FAULTS[zlib.crc32(f"{' '.join(wd.split())}|{gpc}|{pn}".encode()) % len(FAULTS)]


def _html(body: str, status: int = 200) -> Page:
    return Page(body.encode("utf-8"), "text/html;charset=utf-8", status)


def _window(gpc: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    m = re.search(r"stf=(\d+),(\d+)", gpc)
    if not m:
        return None, None
    start, end = (dt.datetime.fromtimestamp(int(x), dt.UTC) for x in m.groups())
    return start, end + dt.timedelta(seconds=1)  # inclusive end → World.search's exclusive end


def respond(world: World, request: FixtureRequest) -> Page | None:
    if request.path != "/s":
        return None
    p = {k: v[-1] for k, v in request.params.items()}
    if p.get("tn") != "news":
        return None
    wd = (p.get("wd") or p.get("word") or "").strip()
    gpc = p.get("gpc", "")
    try:
        pn = max(0, int(p.get("pn", "0") or 0))
        rn = min(50, max(1, int(p.get("rn", "10") or 10)))
    except ValueError:
        pn, rn = 0, 10
    if request.hit == 1:
        fault = fault_for(wd, gpc, str(pn))
        if fault == "captcha":
            return _html(CAPTCHA_PAGE)
        if fault == "429":
            page = _html("<html><body>Too Many Requests</body></html>", 429)
            page.headers["Retry-After"] = "0"
            return page
        if fault == "slow":
            answer = _answer(world, wd, gpc, pn, rn, p)
            answer.delay = SLOW_SECONDS
            return answer
    return _answer(world, wd, gpc, pn, rn, p)


def _answer(world: World, wd: str, gpc: str, pn: int, rn: int, p: dict[str, str]) -> Page:
    start, end = _window(gpc)
    hits = world.search(wd, "zh", start, end) if wd else []
    head = f"""<!DOCTYPE html>
<html><head><meta http-equiv="content-type" content="text/html;charset=utf-8">
<title>百度资讯搜索_{html.escape(wd)}</title></head>
<body class="news-body"><div id="wrapper"><div id="head"><form id="form" action="/s">
<input id="kw" name="wd" value="{html.escape(wd, quote=True)}"></form></div>
<div id="wrapper_wrapper"><div id="container" class="container_s">
"""
    if not hits:
        body = (
            head + f'<div id="content_left"><div class="nors"><div class="norsSuggest">'
            f'<h3 class="norsTitle">抱歉，没有找到与“<em>{html.escape(wd)}</em>”相关的资讯。'
            "</h3></div></div></div></div></div></div></body></html>"
        )
        return _html(body)
    shown = hits[pn : pn + rn]
    items = "\n".join(_item(a, wd, pn + i + 1) for i, a in enumerate(shown))
    pager = ""
    if pn + rn < len(hits):
        nxt = {**p, "pn": str(pn + rn)}
        href = html.escape("/s?" + urlencode(nxt, quote_via=quote), quote=True)
        pager = f'<a class="n" href="{href}">下一页 &gt;</a>'
    body = (
        head
        + '<div id="tsn_inner"><div class="head_nums_cont_outer"><div class="head_nums_cont_inner">'
        f'<div class="nums"><span class="nums">百度为您找到相关资讯约{len(hits):,}个</span></div>'
        '</div></div></div>\n<div id="content_left">\n'
        + items
        + f'\n</div>\n<div id="page"><div class="page-inner_2jZi2">{pager}</div></div>'
        "\n</div></div></div></body></html>"
    )
    return _html(body)


def _mark(text: str, terms: list[str]) -> str:
    out = html.escape(text)
    for term in terms:
        out = out.replace(html.escape(term), f"<em>{html.escape(term)}</em>")
    return out


def _item(a: Article, wd: str, rank: int) -> str:
    terms = wd.split()
    when = a.published.astimezone(BEIJING)
    shown = f"{when.year}年{when.month}月{when.day}日 {when:%H:%M}"
    lead = a.paragraphs[0] if a.paragraphs else ""
    snippet = lead[:80] + ("..." if len(lead) > 80 else "")
    url = html.escape(a.url, quote=True)
    source = html.escape(a.outlet.name)
    title_label = html.escape(a.title, quote=True)
    snippet_label = html.escape(snippet, quote=True)
    return "\n".join(
        [
            '<div class="result-op c-container xpath-log new-pmd" srcid="200"'
            f' id="{rank}" tpl="news-normal" mu="{url}" data-op="{{\'y\':\'FF3FBDFF\'}}">',
            '<div class="c-row"><h3 class="news-title_1YtI1 ">'
            f'<a href="{url}" target="_blank" class="news-title-font_1xS-F" data-click="{{}}"'
            f' aria-label="标题：{title_label}">'
            f"<!--s-text-->{_mark(a.title, terms)}<!--/s-text--></a></h3>",
            '<div class="c-row c-gap-top-small"><div class="c-span-last c-span12">',
            f'<span class="c-font-normal c-color-text" aria-label="摘要：{snippet_label}">'
            f"<!--s-text-->{_mark(snippet, terms)}<!--/s-text--></span>",
            '<div class="news-source_Xj4Dv">'
            f'<a href="{url}" target="_blank" class="source-link_Ft1ov">',
            f'<span class="c-color-gray" aria-label="新闻来源：{source}">{source}</span></a>',
            '<span class="c-color-gray2 c-font-normal c-gap-right-xsmall"'
            f' aria-label="发布于：{shown}">{shown}</span></div>',
            "</div></div></div></div>",
        ]
    )
