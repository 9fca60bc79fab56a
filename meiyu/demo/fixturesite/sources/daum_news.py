"""Daum news search over the fixture world: `search.daum.net/search?w=news&q=…&sd=…&ed=…&p=…`.

Pages have the shape of the real capture (daum_news_search_2026-03-20.html): UTF-8 with a BOM,
`var ServerTime`, `ul.c-list-basic > li[data-docid]` items, `pageNavigation: { totalPage,
currentPage }`, 10 results a page, newest first (sort=recency), `sd`/`ed` read in KST (`ed`
inclusive to the second). Items link `http://v.daum.net/v/<KST time><3 digits>` like Daum does;
`v.daum.net` answers those with a 302 to the world's article (Daum shows its own copy there).

Planted faults (first hit of the affected URL only, except the charset one):
  * 429 with Retry-After: 0 on page 1 of "웨이하이" for the window holding 2023-06-15;
  * a slow answer (3 s) on page 1 of "위해시" for the window holding 2022-09-15;
  * a lying declaration on page 1 of "웨이하이" for the window holding 2020-06-15: no BOM,
    `<meta … charset=euc-kr>` over UTF-8 bytes (as Naver pages have done), on every hit.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import quote

from meiyu.demo.fixturesite.corpus import Article, Page, World
from meiyu.demo.fixturesite.sources import FixtureRequest, fault_covers

PAGE_SIZE = 10
KST = dt.timezone(dt.timedelta(hours=9))
BOM = "\ufeff"
_VID = re.compile(r"^/v/(\d{17})$")


def fault_day(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=KST)


RATE_LIMITED = ("웨이하이", fault_day("2023-06-15"))
SLOW = ("위해시", fault_day("2022-09-15"))
LYING_CHARSET = ("웨이하이", fault_day("2020-06-15"))


_IDS: dict[int, tuple[World, dict[str, str], dict[str, str]]] = {}


def _ids(world: World) -> tuple[dict[str, str], dict[str, str]]:
    """v.daum.net ids: KST time to the second + 3 digits, unique over the world."""
    cached = _IDS.get(id(world))
    if cached is not None and cached[0] is world:
        return cached[1], cached[2]
    by_id: dict[str, str] = {}
    by_url: dict[str, str] = {}
    for a in world.articles:
        stamp = a.published.astimezone(KST).strftime("%Y%m%d%H%M%S")
        n = int(re.sub(r"\D", "", a.slug)) * 37 % 1000
        while f"{stamp}{n:03d}" in by_id:
            n = (n + 1) % 1000
        by_id[f"{stamp}{n:03d}"] = a.url
        by_url[a.url] = f"{stamp}{n:03d}"
    _IDS[id(world)] = (world, by_id, by_url)
    return by_id, by_url


def daum_link(world: World, article: Article) -> str:
    return f"http://v.daum.net/v/{_ids(world)[1][article.url]}"


def server_time(world: World) -> dt.datetime:
    """'Now' on the fixture pages: three hours after the newest Korean article."""
    newest = max(a.published for a in world.articles if a.outlet.language == "ko")
    return (newest + dt.timedelta(hours=3)).astimezone(KST).replace(microsecond=0)


def _shown_date(published: dt.datetime, now: dt.datetime) -> str:
    age = now - published
    if dt.timedelta(0) <= age < dt.timedelta(hours=1):
        return f"{int(age.total_seconds() // 60)}분전"
    if dt.timedelta(0) <= age < dt.timedelta(days=1):
        return f"{int(age.total_seconds() // 3600)}시간전"
    return published.astimezone(KST).strftime("%Y.%m.%d")


def _highlight(text: str, terms: list[str]) -> str:
    out = html.escape(text)
    for term in terms:
        out = out.replace(html.escape(term), f"<b>{html.escape(term)}</b>")
    return out


def _item(world: World, a: Article, rank: int, terms: list[str], now: dt.datetime) -> str:
    link = daum_link(world, a)
    docid = f"26{_ids(world)[1][a.url][-10:]}{a.slug[-4:]}"
    snippet = a.paragraphs[0]
    if len(snippet) > 110:
        snippet = snippet[:110] + "..."
    outlet = html.escape(a.outlet.name)
    log = f"onclick='smartLog(this, \"dc=DNS&p=4&d={docid}&pg=1&r={rank}&rc=10\", event);'"
    return f"""<li data-docid="{docid}"> <div class="c-tit-doc"> <div class="area_tit"> \
<div class="inner_header"> <a href="https://v.daum.net/channel/{len(outlet)}/home" \
class="item-writer" target="_blank"> <div class="wrap_thumb ty_r2"> <span class="thumb_bf"> \
<img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7" \
width="20" height="20" alt=""> </span> </div> <strong class="tit_item" title="{outlet}"> \
<span class="txt_info">{outlet}</span> </strong> </a> </div> </div> <div class="area_other"> \
<div class="gem-share-menu"> <button type="button" class="btn_menu"><span class="ico-pmp">\
개별문서메뉴</span></button> </div> </div> </div> <div class="c-item-content"> \
<div class="item-bundle-mid"> <div class="item-title"> <strong class="tit-g clamp-g"> \
<a href="{link}" target="_blank" {log}> {_highlight(a.title, terms)} </a> </strong> </div> \
<div class="item-contents"> <p class="conts-desc clamp-g2"> <a href="{link}" target="_blank" \
{log}> {_highlight(snippet, terms)} </a> </p> <span class="gem-subinfo"> \
<span class="txt_info">{_shown_date(a.published, now)}</span> </span> </div> </div> </div> </li>"""


def render(
    world: World,
    query: str,
    hits: list[Article],
    page: int,
    *,
    charset: str = "utf-8",
    bom: bool = True,
) -> bytes:
    """One result page (`hits` is the whole result list of the window)."""
    terms = query.split()
    now = server_time(world)
    chunk = hits[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    total_pages = (len(hits) + PAGE_SIZE - 1) // PAGE_SIZE
    q = html.escape(query)
    if chunk:
        items = "".join(
            _item(world, a, (page - 1) * PAGE_SIZE + i, terms, now)
            for i, a in enumerate(chunk, start=1)
        )
        results = f'<ul class="c-list-basic"> {items} </ul>'
    else:
        results = (
            '<div class="c-no-result"> <p class="desc_info"><strong class="tit_info">'
            f"&#39;{q}&#39;에 대한 검색결과가 없습니다.</strong></p> </div>"
        )
    doc = f"""<!doctype html>
<html xmlns="http://www.w3.org/1999/xhtml" lang="ko">
<head profile="http://a9.com/-/spec/opensearch/1.1/">
<meta http-equiv="content-Type" content="text/html;charset={charset}" />
<meta property="og:title" content="{q} &ndash; Daum 검색" />
<meta property="og:url" content="https://search.daum.net/search?w=news&amp;q={quote(query)}" />
<title>{q} &ndash; Daum 검색</title>
<script type="text/javascript">
var ServerTime = "{now:%Y%m%d%H%M%S}";
var utf8Query = encodeURIComponent("{q}");
var topQuery = "{q}";
var param_w = "news";
var displayInfo = {{"SER":[{{"code":"DNS","doc_count":{len(chunk)}}}]}};
</script>
</head>
<body>
<div disp-attr="DNS" class="g_comp">
<div id="dnsColl"> <div class="card_comp"> <h2 class="screen_out">다음뉴스</h2> {results} \
<div class="card_comp"> <div class="compo-paging ty_array ty_research"></div> </div> </div> \
<script> SG.ready('#dnsColl', function() {{ SG.use.collection({{ name: 'dns-news-p', data: {{ \
platform: 'pc', chartData: [], rootId: 'dnsColl', pageNavigation: {{ totalPage: {total_pages}, \
currentPage: {page} }} }} }}); }}); </script></div>
</div>
</body>
</html>
"""
    return ((BOM if bom else "") + doc).encode("utf-8")


def _window(request_params: dict[str, list[str]]) -> tuple[dt.datetime | None, dt.datetime | None]:
    def at(key: str) -> dt.datetime | None:
        value = (request_params.get(key) or [""])[0]
        try:
            return dt.datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=KST)
        except ValueError:
            return None

    start, last = at("sd"), at("ed")
    return start, (last + dt.timedelta(seconds=1) if last else None)


def respond(world: World, request: FixtureRequest) -> Page | None:
    if request.host == "v.daum.net":
        m = _VID.match(request.path)
        url = _ids(world)[0].get(m.group(1)) if m else None
        if url is None:
            return None
        return Page(b"", "text/html; charset=utf-8", 302, {"Location": url})
    if request.path != "/search" or (request.params.get("w") or [""])[0] != "news":
        return None
    query = (request.params.get("q") or [""])[0].strip()
    page_param = (request.params.get("p") or ["1"])[0]
    page = int(page_param) if page_param.isdigit() and int(page_param) > 0 else 1
    start, end = (
        _window(request.params)
        if (request.params.get("period") or [""])[0] == "u"
        else (None, None)
    )
    if page == 1 and request.hit == 1 and fault_covers(query, start, end, RATE_LIMITED):
        return Page(b"Too Many Requests", "text/plain", 429, {"Retry-After": "0"})
    hits = world.search(query, "ko", start, end) if query else []
    lying = page == 1 and fault_covers(query, start, end, LYING_CHARSET)
    body = render(world, query, hits, page, charset="euc-kr" if lying else "utf-8", bom=not lying)
    delay = 3.0 if page == 1 and request.hit == 1 and fault_covers(query, start, end, SLOW) else 0.0
    ctype = "text/html" if lying else "text/html; charset=utf-8"
    return Page(body, ctype, delay=delay)
