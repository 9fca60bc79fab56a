"""Sogou WeChat article search over the fixture world: `weixin.sogou.com/weixin?type=2&…`.

Pages have the shape of the real capture (sogou_weixin_search_type2_…_EXCERPT.html): head
vars (`oldQuery`, `now`, `ssToken`), `ul.news-list > li[id^="sogou_vr_11002601_box_"]` items
with `<em><!--red_beg-->…<!--red_end--></em>` hits, relative `/link?url=…` links, `p.txt-info`,
`span.all-time-y2` (the outlet stands for the WeChat account) and
`timeConvert('<unix seconds>')` dates; plus Sogou's pager (`#pagebar_container`,
`a#sogou_next`), which the excerpt cut. 10 results a page, newest first, Chinese articles only,
`tsn=5&ft=…&et=…` read as China dates (both inclusive); past page 10 nothing is shown without
login. `/link?url=…` answers 302 to the world's article; `/antispider/` is the CAPTCHA page.

Planted faults (first hit of the affected URL only):
  * a 302 to the antispider CAPTCHA on page 1 of "威海 海鲜" for the window holding 2022-03-15;
  * 429 with Retry-After: 0 on page 1 of "刘公岛 海洋文化" for the window holding 2021-08-15.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import html
from urllib.parse import quote
from zoneinfo import ZoneInfo

from meiyu.demo.fixturesite.corpus import Article, Page, World
from meiyu.demo.fixturesite.sources import FixtureRequest, fault_covers

PAGE_SIZE = 10
MAX_PAGES = 10
CHINA = ZoneInfo("Asia/Shanghai")
TOKEN = "DEDC74C9EFD1EF1025237C923EC051AD264A73AF6A9B8E8C"
_LINK_PREFIX = "dn9a_-gY295K0Rci_xozVX"


def fault_day(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=CHINA)


ANTISPIDER = ("威海 海鲜", fault_day("2022-03-15"))
RATE_LIMITED = ("刘公岛 海洋文化", fault_day("2021-08-15"))

ANTISPIDER_PAGE = """<!DOCTYPE html>
<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>搜狗搜索</title></head>
<body><div class="header"><a href="/" class="logo"><img src="/new/pc/images/logo.png"></a></div>
<div class="content-box">
<p class="p2">用户您好，我们的系统检测到您网络中存在异常访问请求。</p>
<p class="p3">此验证码用于确认这些请求是您的正常行为而不是自动程序发出的，需要您协助验证。</p>
<form name="authform" method="POST" id="seccodeForm" action="/">
<img id="seccodeImage" src="util/seccode.php?tc=1700000000" width="100" height="40"
 alt="请输入图中的验证码">
<input type="text" name="c" value="" class="put-in" id="seccodeInput">
<a href="javascript:void(0);" id="submit" class="btn-submit">提交</a>
</form></div></body></html>
"""


def link_token(url: str) -> str:
    return _LINK_PREFIX + base64.urlsafe_b64encode(url.encode()).decode("ascii").replace("=", ".")


def url_of(token: str) -> str | None:
    if not token.startswith(_LINK_PREFIX):
        return None
    try:
        return base64.urlsafe_b64decode(token.removeprefix(_LINK_PREFIX).replace(".", "=")).decode(
            "utf-8"
        )
    except (binascii.Error, ValueError):
        return None


def _highlight(text: str, terms: list[str]) -> str:
    out = html.escape(text)
    for term in terms:
        t = html.escape(term)
        out = out.replace(t, f"<em><!--red_beg-->{t}<!--red_end--></em>")
    return out


def _item(a: Article, i: int, query: str) -> str:
    terms = query.split()
    quoted = " ".join(quote(t) for t in terms)  # Sogou leaves the spaces raw in its links
    href = f"/link?url={link_token(a.url)}&amp;type=2&amp;query={quoted}&amp;token={TOKEN}"
    summary = a.paragraphs[0]
    if len(summary) > 80:
        summary = summary[:80] + "..."
    stamp = int(a.published.timestamp())
    return f"""
\t\t<!-- a -->
\t\t<li id="sogou_vr_11002601_box_{i}" d="{a.slug}-{stamp:x}">
<div class="txt-box">
<h3>
<a target="_blank" href="{href}" id="sogou_vr_11002601_title_{i}" uigs="article_title_{i}">\
{_highlight(a.title, terms)}</a>
</h3>
<p class="txt-info" id="sogou_vr_11002601_summary_{i}">{_highlight(summary, terms)}</p>
<div class="s-p">
<span class="all-time-y2">{html.escape(a.outlet.name)}</span><span class="s2"><script>\
document.write(timeConvert('{stamp}'))</script></span>
</div>
</div>
</li>
\t\t<!-- z -->
"""


def _page_href(query: str, page: int, ft: str, et: str) -> str:
    q = quote(query)
    return f"?query={q}&amp;tsn=5&amp;ft={ft}&amp;et={et}&amp;type=2&amp;page={page}&amp;ie=utf8"


def render(
    world: World, query: str, hits: list[Article], page: int, ft: str = "", et: str = ""
) -> bytes:
    """One result page (`hits` is the whole result list of the window)."""
    now = max(a.published for a in world.articles) + dt.timedelta(days=1)
    shown = hits[(page - 1) * PAGE_SIZE : page * PAGE_SIZE] if page <= MAX_PAGES else []
    q = html.escape(query)
    items = "".join(_item(a, i, query) for i, a in enumerate(shown))
    pages = min((len(hits) + PAGE_SIZE - 1) // PAGE_SIZE, MAX_PAGES)
    if shown:
        results = f'<div class="news-box">\n<ul class="news-list">\n{items}\n</ul>\n</div>'
    else:
        results = (
            '<div class="no-sosuo" id="noresult_part1_container"><p class="p1">'
            f"暂无与“<em>{q}</em>”相关的微信公众号文章</p></div>"
        )
    pager = ""
    if pages > 1 and shown:
        links = "".join(
            f"<span>{n}</span>"
            if n == page
            else f'<a id="sogou_page_{n}" href="{_page_href(query, n, ft, et)}" '
            f'uigs="page_{n}">{n}</a>'
            for n in range(1, pages + 1)
        )
        more_hidden = len(hits) > MAX_PAGES * PAGE_SIZE and page == MAX_PAGES
        if page < pages or more_hidden:
            links += (
                f'<a id="sogou_next" href="{_page_href(query, page + 1, ft, et)}" class="np" '
                'uigs="page_next">下一页</a>'
            )
        pager = f'<div class="p-fy" id="pagebar_container">{links}</div>'
    doc = f"""<!doctype html>
<html>
<head>
    <link rel="shortcut icon" href="//www.sogou.com/images/logo/new/favicon.ico?v=4" \
type="image/x-icon">
    <meta http-equiv="Content-Type" content="text/html; charset=utf-8">
    <title>{q}的相关微信公众号文章 – 搜狗微信搜索</title>
    <script>
        var newpage = 1;
        var oldQuery = "{q}";
        var keywords_string = "{q}";
        var keywords = oldQuery.split(' ');
        var now = {int(now.timestamp() * 1000)};
        var  ssToken = "{TOKEN}";
    </script>
</head>
<body>
{results}
{pager}
</body>
</html>
"""
    return doc.encode("utf-8")


def _day(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value).replace(tzinfo=CHINA)
    except ValueError:
        return None


def respond(world: World, request: FixtureRequest) -> Page | None:
    params = {k: v[0] for k, v in request.params.items() if v}
    if request.path.startswith("/antispider"):
        return Page(ANTISPIDER_PAGE.encode("utf-8"), "text/html; charset=utf-8")
    if request.path == "/link":
        url = url_of(params.get("url", ""))
        if url is None:
            return None
        return Page(b"", "text/html; charset=utf-8", 302, {"Location": url})
    if request.path != "/weixin" or params.get("type") != "2":
        return None
    query = " ".join(params.get("query", "").split())
    page = int(params["page"]) if params.get("page", "").isdigit() else 1
    page = max(page, 1)
    start = end = None
    if params.get("tsn") == "5":
        start = _day(params.get("ft", ""))
        last = _day(params.get("et", ""))
        end = last + dt.timedelta(days=1) if last else None
    if page == 1 and request.hit == 1:
        if fault_covers(query, start, end, ANTISPIDER):
            target = "http://weixin.sogou.com/antispider/?from=" + quote(
                request.url.removeprefix("http://weixin.sogou.com"), safe=""
            )
            return Page(b"", "text/html; charset=utf-8", 302, {"Location": target})
        if fault_covers(query, start, end, RATE_LIMITED):
            return Page(b"Too Many Requests", "text/plain", 429, {"Retry-After": "0"})
    hits = world.search(query, "zh", start, end) if query else []
    body = render(world, query, hits, page, params.get("ft", ""), params.get("et", ""))
    return Page(body, "text/html; charset=utf-8")
