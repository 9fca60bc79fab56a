"""search.naver.com in the fixture world: the news tab (`/search.naver?where=news&query=…`).

Renders the 2026 "sds-comps" result list of ../shared/fixtures/sources/naver-html/
(`div.fds-news-item-list-tab > div` items: profile block with press, print position, date and
"네이버뉴스" link, then the title/snippet block whose anchors point at the ORIGINAL article),
with the design system's stable class names and made-up hashed ones beside them (as the real
page has: parsers must not rely on those). Korean outlets only.

* Parameters: `query`; `sort` 1 = latest (also `nso=so:dd`), 2 = oldest, else relevance;
  the period from `nso=…,p:from{YYYYMMDD}to{YYYYMMDD},…` or else `ds`/`de` (YYYY.MM.DD),
  whole days in KST; `start` = 1 + 10·(page-1). Ten results a page, no total shown.
  Dates are absolute ("2023.05.01."): every article of the world is older than a week.
* No results: the no-result notice (`div.api_noresult_wrap`).
* Faults, each only on the first hit of the URL: an anti-bot page (HTTP 200; its wording is
  an imitation, no real capture exists) for the first page of query 웨이하이 whose period holds
  ANTIBOT_DAY; a 429 with `Retry-After: 0` for the first page of query 위해시 whose period holds
  RATE_LIMITED_DAY; a response delayed SLOW_SECONDS (past a 2 s crawl timeout) for the first
  page of query 웨이하이 whose period holds SLOW_DAY.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from zoneinfo import ZoneInfo

from meiyu.demo.fixturesite.corpus import Article, Page, World
from meiyu.demo.fixturesite.sources import FixtureRequest

PATH = "/search.naver"
PAGE_SIZE = 10
SEOUL = ZoneInfo("Asia/Seoul")
HTML_TYPE = "text/html; charset=UTF-8"
ANTIBOT_QUERY, ANTIBOT_DAY = "웨이하이", dt.date(2021, 6, 15)
RATE_LIMITED_QUERY, RATE_LIMITED_DAY = "위해시", dt.date(2022, 3, 15)
SLOW_QUERY, SLOW_DAY, SLOW_SECONDS = "웨이하이", dt.date(2023, 9, 15), 3.0
PARTNERS = {"hanbando": "990"}  # outlet → Naver press id (a "네이버뉴스" copy exists)
PRINT_POSITION_EVERY = 3  # every 3rd item shows a print position ("A12면 1단") before the date
_NSO_PERIOD = re.compile(r"p:from(\d{8})to(\d{8})")


def respond(world: World, request: FixtureRequest) -> Page | None:
    if request.path != PATH:
        return None
    params = request.params
    query = (params.get("query") or [""])[0].strip()
    if (params.get("where") or [""])[0] != "news" or not query:
        return Page(_document(query, "<p>통합검색</p>").encode("utf-8"), HTML_TYPE)
    try:
        start = max(1, int((params.get("start") or ["1"])[0]))
    except ValueError:
        start = 1
    since, until = _period(params)
    first_page = start == 1
    if request.hit == 1 and first_page and _holds(since, until, ANTIBOT_DAY, ANTIBOT_QUERY, query):
        return Page(ANTIBOT_PAGE.encode("utf-8"), HTML_TYPE)
    if (
        request.hit == 1
        and first_page
        and _holds(since, until, RATE_LIMITED_DAY, RATE_LIMITED_QUERY, query)
    ):
        return Page(b"Too Many Requests", "text/plain", 429, {"Retry-After": "0"})
    delay = (
        SLOW_SECONDS
        if request.hit == 1 and first_page and _holds(since, until, SLOW_DAY, SLOW_QUERY, query)
        else 0.0
    )

    start_at = dt.datetime.combine(since, dt.time(), SEOUL) if since else None
    end_at = dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), SEOUL) if until else None
    hits = world.search(query, language="ko", start=start_at, end=end_at)  # newest first
    sort = (params.get("sort") or ["0"])[0]
    nso = (params.get("nso") or [""])[0]
    if sort == "2" or "so:da" in nso:
        hits = hits[::-1]
    elif sort != "1" and "so:dd" not in nso:
        terms = query.split()
        hits = sorted(hits, key=lambda a: -sum(a.full_text.count(t) for t in terms))
    chunk = hits[start - 1 : start - 1 + PAGE_SIZE]
    index = {a.url: n for n, a in enumerate(world.articles)}
    if chunk:
        items = "".join(_item(a, query.split(), index[a.url]) for a in chunk)
        body = _result_list(items)
    else:
        body = _no_result(query)
    return Page(_document(query, body).encode("utf-8"), HTML_TYPE, delay=delay)


def _period(params: dict[str, list[str]]) -> tuple[dt.date | None, dt.date | None]:
    found = _NSO_PERIOD.search((params.get("nso") or [""])[0])
    if found:
        return (
            dt.datetime.strptime(found.group(1), "%Y%m%d").date(),
            dt.datetime.strptime(found.group(2), "%Y%m%d").date(),
        )

    def day(name: str) -> dt.date | None:
        value = (params.get(name) or [""])[0].strip().rstrip(".")
        try:
            return dt.datetime.strptime(value, "%Y.%m.%d").date() if value else None
        except ValueError:
            return None

    return day("ds"), day("de")


def _holds(
    since: dt.date | None, until: dt.date | None, day: dt.date, fault_query: str, query: str
) -> bool:
    return (
        query == fault_query and (since is None or since <= day) and (until is None or day <= until)
    )


def _mark(text: str, terms: list[str]) -> str:
    out = html.escape(text, quote=False)
    for term in terms:
        out = out.replace(html.escape(term), f"<mark>{html.escape(term)}</mark>")
    return out


def _snippet(a: Article, limit: int = 110) -> str:
    body = " ".join(a.paragraphs)
    return body if len(body) <= limit else body[:limit].rstrip() + "... "


def _subtext(inner: str) -> str:
    return (
        '<span class="sds-comps-base-layout sds-comps-full-layout sds-comps-divider '
        'sds-comps-divider-dot" data-sds-comp="DotDivider"></span>'
        '<span class="sds-comps-text sds-comps-text-type-body2 sds-comps-text-weight-sm '
        f'sds-comps-profile-info-subtext">{inner}</span>'
    )


def _plain_subtext(text: str) -> str:
    return _subtext(
        '<div class="sds-comps-base-layout sds-comps-inline-layout Tq0fVb3XwLh8nRk2pZaE">'
        '<span class="sds-comps-text sds-comps-text-ellipsis sds-comps-text-ellipsis-1 '
        f'sds-comps-text-type-body2 sds-comps-text-weight-sm">{html.escape(text)}</span></div>'
    )


def _item(a: Article, terms: list[str], serial: int) -> str:
    oid = PARTNERS.get(a.outlet.source)
    press_url = f"https://media.naver.com/press/{oid}" if oid else f"http://{a.outlet.host}"
    press = html.escape(a.outlet.name)
    url = html.escape(a.url)
    shown = a.published.astimezone(SEOUL)
    subtexts = ""
    if serial % PRINT_POSITION_EVERY == 0:
        subtexts += _plain_subtext(f"A{serial % 28 + 1}면 1단")
    subtexts += _plain_subtext(f"{shown:%Y.%m.%d}.")
    if oid:
        subtexts += _subtext(
            f'<a nocr="1" href="https://n.news.naver.com/mnews/article/{oid}/{serial:010d}'
            '?sid=104" class="fender-ui_3a7c91e2 Tq0fVb3XwLh8nRk2pZaE" target="_blank" '
            'data-heatmap-target=".nav"><span class="sds-comps-text sds-comps-text-ellipsis '
            'sds-comps-text-ellipsis-1 sds-comps-text-type-body2 sds-comps-text-weight-sm">'
            "네이버뉴스</span></a>"
        )
    cr = f"a=nws*e.kep&amp;r={serial % 10 + 1}&amp;i=880000BC_{serial:024d}"
    return f"""<div class="sds-comps-vertical-layout sds-comps-full-layout kR8vPz2QmYc6HwLs0TfD">\
<div class="sds-comps-horizontal-layout sds-comps-full-layout sds-comps-profile type-basic size-lg \
title-color-g10 Nw3eXc7JpQ1aZb5KdM9r" data-sds-comp="Profile">\
<div class="sds-comps-horizontal-layout sds-comps-inline-layout sds-comps-profile-source">\
<div class="sds-comps-horizontal-layout sds-comps-inline-layout sds-comps-profile-source-thumb">\
<a nocr="1" href="{press_url}" class="fender-ui_3a7c91e2" target="_blank" \
data-heatmap-target=".prof"><div class="sds-comps-horizontal-layout sds-comps-inline-layout \
sds-comps-profile-thumbnail type-basic size-lg" data-sds-comp="ProfileThumbnail">\
<img width="24" height="24" alt="{press}의 프로필 이미지" loading="lazy" \
src="https://search.pstatic.net/common/?type=f54_54"></div></a></div>\
<div class="sds-comps-horizontal-layout sds-comps-inline-layout sds-comps-profile-info-title">\
<span class="sds-comps-text sds-comps-text-ellipsis sds-comps-text-ellipsis-1 \
sds-comps-text-type-body2 sds-comps-text-weight-sm sds-comps-profile-info-title-text">\
<a nocr="1" href="{press_url}" class="fender-ui_3a7c91e2 Ue4rHb8YsTq2WnX6cJ1v" target="_blank" \
data-heatmap-target=".prof"><span class="sds-comps-text sds-comps-text-ellipsis \
sds-comps-text-ellipsis-1 sds-comps-text-type-body2 sds-comps-text-weight-sm">{press}</span></a>\
</span></div>\
<div class="sds-comps-horizontal-layout sds-comps-inline-layout sds-comps-profile-info-subtexts">\
{subtexts}</div></div>\
<div class="sds-comps-base-layout sds-comps-inline-layout fender-ui_22887c0d _keep_wrap">\
<button type="button" class="sds-comps-horizontal-layout sds-comps-inline-layout \
sds-comps-button sds-comps-icon-button fender-ui_e68fe790 _keep_trigger" data-url="{url}" \
data-cr-on="{cr}" aria-label="옵션 메뉴 열기" data-sds-comp="IconSingleButton"></button></div>\
</div>\
<div class="sds-comps-base-layout sds-comps-full-layout Jd5tGq9LbVx3RmC7kPw2">\
<div class="sds-comps-vertical-layout sds-comps-full-layout Ab6yHn1QzWe4TsU8oLc3">\
<a nocr="1" href="{url}" class="fender-ui_3a7c91e2 Pq2wEr5TyUi8OpAs1DfG" target="_blank" \
data-heatmap-target=".tit"><span class="sds-comps-text sds-comps-text-ellipsis \
sds-comps-text-ellipsis-1 sds-comps-text-type-headline1">{_mark(a.title, terms)}</span></a>\
<a nocr="1" href="{url}" class="fender-ui_3a7c91e2 Zx9cVb2NmLk5JhGf8DsA" target="_blank" \
data-heatmap-target=".body"><span class="sds-comps-text sds-comps-text-ellipsis \
sds-comps-text-ellipsis-3 sds-comps-text-type-body1">{_mark(_snippet(a), terms)}</span></a>\
</div></div></div>"""


def _result_list(items: str) -> str:
    return f"""<section class="sc_new sp_nnews _fe_news_collection _prs_nws">\
<div class="api_subject_bx"><div class="group_news"><ul class="list_news _infinite_list" \
data-img-mutation=""><div class="_slog_visible" data-fender-root="true" \
data-block-id="news/prs_template_v2_news_tab_desk.ts" data-meta-area="nws" \
data-meta-ssc="tab.news.all" data-collection="fender_renderer" data-slog-container="nws">\
<div class="Hs4kWq8ZpLc2VnB6xTr0 desktop_mode api_subject_bx">\
<div class="sds-comps-vertical-layout sds-comps-full-layout" data-template-id="layout" \
data-template-type="vertical"><div class="sds-comps-vertical-layout sds-comps-full-layout \
fds-news-item-list-tab" data-template-id="layout" data-template-type="vertical">{items}</div>\
</div></div></div></ul></div></div></section>"""


def _no_result(query: str) -> str:
    return f"""<section class="sc_new _fe_news_collection"><div class="api_noresult_wrap">\
<div class="not_found02"><p class="dsc"><em class="dsc_keyword">'{html.escape(query)}'</em>에 \
대한 검색결과가 없습니다.</p><ul class="info_list"><li>단어의 철자가 정확한지 확인해 보세요.</li>\
<li>검색 옵션을 변경해서 다시 검색해 보세요.</li></ul></div></div></section>"""


def _document(query: str, main: str) -> str:
    q = html.escape(query)
    return f"""<!doctype html><html lang="ko"><head><meta charset="utf-8">\
<title>{q} : 네이버 뉴스검색</title>\
<script>var headerfooter_query="{q}";</script></head>\
<body class="wrap-new api_animation tabsch tabsch_news"><div id="wrap"><div id="container">\
<div id="content" class="pack_group"><div id="main_pack" class="main_pack">{main}</div></div>\
</div></div></body></html>"""


# Made-up wording in the manner of Naver's abuse-protection notice (no real capture exists).
ANTIBOT_PAGE = """<!doctype html><html lang="ko"><head><meta charset="utf-8">\
<title>네이버</title></head><body><div class="error_content">\
<h2>비정상적인 검색 요청이 감지되었습니다</h2>\
<p>고객님의 네트워크에서 비정상적인 요청이 감지되어 일시적으로 서비스 이용이 제한되었습니다.</p>\
<p>아래 자동입력 방지 문자를 입력하시면 검색을 계속 이용하실 수 있습니다.</p>\
<form action="https://search.naver.com/captcha" method="post"><img alt="captcha" \
src="/captcha/image"><input type="text" name="answer"></form></div></body></html>"""
