"""A deterministic demo corpus: four fictional outlets, 24 months, feeds and article pages.

Every article is written from sentence pools whose terms are known, so the generator knows
which indicators it planted in which month (the manifest) without running meiyu's matcher.
It mimics the real web's traps: GBK and EUC-KR bytes, a page with no charset at all, feed
links with tracking parameters and rel=canonical, naive dates, paged feeds, reprints of one
story under other URLs, a dead link and a page with no text. All of it is a DEMO CORPUS.
"""

from __future__ import annotations

import datetime as dt
import html
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from meiyu.demo.fixturesite import pools

MONTHS = [(y, m) for y in (2020, 2021, 2022, 2023) for m in range(1, 13)]
# a29's topics rise year on year against the 2020 baseline; a68's and a67's stay flat, so the
# baseline test has one indicator that clearly rose and one that did not.
YEAR_GROWTH = {2020: 1.0, 2021: 1.15, 2022: 1.35, 2023: 1.8}
FEED_PAGE_SIZE = 40
REPORT_TZ = ZoneInfo("Asia/Shanghai")
TERMS = {
    "a29": (("威海",), ("海鲜",)),
    "a68": (("刘公岛",), ("海洋文化",)),
    "a67": (("웨이하이", "위해시", "威海", "Weihai"),),
}


@dataclass(frozen=True)
class Outlet:
    source: str  # meiyu source name
    host: str
    name: str
    language: str
    encoding: str  # bytes on the wire
    timezone: str
    declare: str  # "meta" (in-document charset), "header" (HTTP only), "none"
    naive_dates: bool = False  # pubDate like "2023-05-04 10:00:00", zone implied


OUTLETS = [
    Outlet(
        "haibin",
        "news.haibin-daily.test",
        "海滨日报（演示）",
        "zh",
        "utf-8",
        "Asia/Shanghai",
        "meta",
    ),
    Outlet(
        "jiaodong",
        "www.jiaodong-kuaixun.test",
        "胶东快讯（演示）",
        "zh",
        "gbk",
        "Asia/Shanghai",
        "meta",
        naive_dates=True,
    ),
    Outlet(
        "hanbando",
        "www.hanbando-news.test",
        "한반도뉴스(데모)",
        "ko",
        "utf-8",
        "Asia/Seoul",
        "meta",
    ),
    Outlet(
        "seohae", "www.seohae-ilbo.test", "서해일보(데모)", "ko", "euc-kr", "Asia/Seoul", "header"
    ),
]
BROKEN_HOST = "broken.test"


@dataclass
class Article:
    outlet: Outlet
    slug: str
    title: str
    paragraphs: list[str]
    published: dt.datetime  # aware, outlet's zone
    planted: frozenset[str]  # indicators whose literal definition the text meets
    story: str  # story id: reprints share it
    relevant: frozenset[str] = frozenset()  # of those, the ones a reader would count
    page: str = "ok"  # ok | dead (404) | empty (no text) | undeclared (no charset anywhere)

    @property
    def path(self) -> str:
        return f"/{self.published:%Y/%m}/{self.slug}.html"

    @property
    def url(self) -> str:
        return f"http://{self.outlet.host}{self.path}"

    @property
    def full_text(self) -> str:
        return self.title + "\n" + "\n".join(self.paragraphs)


@dataclass
class Page:
    body: bytes
    content_type: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds the server waits before answering (timeouts)


@dataclass
class World:
    articles: list[Article]
    pages: dict[tuple[str, str], Page] = field(default_factory=dict)

    def manifest(self) -> dict[str, object]:
        """What was planted: per indicator and Asia/Shanghai month, items and distinct stories."""
        items: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        relevant: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        stories: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for a in self.articles:
            month = a.published.astimezone(REPORT_TZ).strftime("%Y-%m")
            for ind in a.planted:
                items[ind][month] += 1
                stories[ind][month].add(a.story)
            for ind in a.relevant:
                relevant[ind][month] += 1
        return {
            "documents": len(self.articles),
            "by_language": {
                lang: sum(a.outlet.language == lang for a in self.articles) for lang in ("zh", "ko")
            },
            "items": {k: dict(sorted(v.items())) for k, v in sorted(items.items())},
            "relevant": {k: dict(sorted(v.items())) for k, v in sorted(relevant.items())},
            "stories": {
                k: {m: len(s) for m, s in sorted(v.items())} for k, v in sorted(stories.items())
            },
        }

    def feeds(self) -> dict[str, list[str]]:
        return {o.source: [f"http://{o.host}/rss.xml"] for o in OUTLETS}

    def search(
        self,
        query: str,
        language: str | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> list[Article]:
        """What a search engine over this world returns: every whitespace-separated term
        present in title or text, published in [start, end), newest first."""
        terms = query.split()
        hits = [
            a
            for a in self.articles
            if (language is None or a.outlet.language == language)
            and (start is None or a.published >= start)
            and (end is None or a.published < end)
            and all(t in a.full_text for t in terms)
        ]
        return sorted(hits, key=lambda a: (a.published, a.slug), reverse=True)

    def by_url(self) -> dict[str, Article]:
        return {a.url: a for a in self.articles}


def literal_indicators(text: str, language: str) -> frozenset[str]:
    """The generator's own check that its pools planted what they claim."""
    found = set()
    for ind, groups in TERMS.items():
        if (ind == "a67") == (language == "ko") and all(any(t in text for t in g) for g in groups):
            found.add(ind)
    return frozenset(found)


def build_world(seed: int = 2023, scale: float = 1.0) -> World:
    """The demo world; `scale` multiplies every topic's monthly rate (benchmarks use ~4)."""
    rng = random.Random(seed)
    articles: list[Article] = []
    serial = 0
    seen_bodies: set[str] = set()

    def write(outlet: Outlet, topic: str, when: dt.datetime, story: str | None = None) -> Article:
        nonlocal serial
        serial += 1
        lang = outlet.language
        for _ in range(50):
            title, paras = pools.compose(rng, lang, topic, when, serial)
            if "".join(paras) not in seen_bodies:
                break
        seen_bodies.add("".join(paras))
        planted = literal_indicators(title + "\n" + "\n".join(paras), lang)
        expected = pools.PLANTS[topic]
        if planted != expected:
            raise AssertionError(f"pool {topic!r} planted {set(planted)}, expected {set(expected)}")
        relevant = planted - pools.NOT_RELEVANT.get(topic, frozenset())
        art = Article(
            outlet,
            f"{lang}{serial:05d}",
            title,
            paras,
            when,
            planted,
            story or f"s{serial}",
            relevant,
        )
        articles.append(art)
        return art

    for year, month in MONTHS:
        growth = YEAR_GROWTH[year]
        for outlet in OUTLETS:
            tz = ZoneInfo(outlet.timezone)
            for topic, mean in pools.MIX[outlet.source]:
                rate = mean * scale * (growth if topic in pools.RISING else 1)
                for _ in range(_poisson(rng, rate)):
                    day = rng.randint(1, 27)
                    when = dt.datetime(
                        year, month, day, rng.randint(6, 22), rng.randint(0, 59), tzinfo=tz
                    )
                    original = write(outlet, topic, when)
                    if topic in pools.REPRINTED and rng.random() < 0.35:
                        _reprint(original, when, articles.append, edited=rng.random() < 0.5)
        # Month-boundary cases, timed in the outlets' own zones: 00:20 Seoul on the 1st is
        # 23:20 Shanghai the day before, so it belongs to the previous month.
        first = dt.datetime(year, month, 1, 0, 20, tzinfo=ZoneInfo("Asia/Seoul"))
        write(OUTLETS[2], "a67_tourism", first)
        last_day = (dt.datetime(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)).day
        late = dt.datetime(year, month, last_day, 23, 45, tzinfo=ZoneInfo("Asia/Shanghai"))
        write(OUTLETS[0], "a29_festival", late)

    # A few pages that fail in the ways real pages do; their feed summaries still carry text.
    # Only stories without reprints: a summary cannot share a fingerprint with a full text.
    story_sizes: dict[str, int] = defaultdict(int)
    for a in articles:
        story_sizes[a.story] += 1
    summarisable = [
        a
        for a in articles
        if a.outlet.source == "hanbando"
        and story_sizes[a.story] == 1
        and literal_indicators(a.title + "\n" + a.paragraphs[0], "ko") == a.planted
    ]
    for art, kind in zip(rng.sample(summarisable, 3), ("dead", "empty", "dead"), strict=True):
        art.page = kind
    for art in rng.sample([a for a in articles if a.outlet.source == "seohae"], 4):
        art.page = "undeclared"

    # Planted after everything else, from its own generator: the rest of the world stays the
    # same article for article whether or not the burst exists.
    articles.extend(_incident_burst(seed))

    world = World(sorted(articles, key=lambda a: (a.published, a.slug)))
    _render(world)
    return world


# The negative burst the alert rules must find (舆情预警): a fishing-boat sinking off Weihai,
# covered by both Korean outlets on two consecutive days. Per item: Seoul hour, outlet, and
# which headline (pools.TITLES, in the story's order: sinking, search, blame, cancellations).
INCIDENT_DAYS = (dt.date(2022, 8, 17), dt.date(2022, 8, 18))
_INCIDENT_SLOTS = (
    ((9, "hanbando", 0), (11, "seohae", 0), (15, "hanbando", 1), (19, "seohae", 1)),
    ((8, "hanbando", 2), (13, "seohae", 2), (17, "hanbando", 3)),
)


def _incident_burst(seed: int) -> list[Article]:
    """Seven negative a67 items, from a generator of their own (the main one is untouched)."""
    rng = random.Random(f"{seed}-a67-incident")
    outlets = {o.source: o for o in OUTLETS}
    out: list[Article] = []
    for day, slots in zip(INCIDENT_DAYS, _INCIDENT_SLOTS, strict=True):
        for hour, source, headline in slots:
            when = dt.datetime.combine(
                day, dt.time(hour, rng.randint(0, 59)), ZoneInfo("Asia/Seoul")
            )
            serial = 90001 + len(out)
            _, paras = pools.compose(rng, "ko", "a67_incident", when, serial)
            title = pools.TITLES["a67_incident"][headline]
            planted = literal_indicators(title + "\n" + "\n".join(paras), "ko")
            if planted != pools.PLANTS["a67_incident"]:
                raise AssertionError(f"a67_incident planted {set(planted)}")
            slug = f"kx{serial:05d}"
            out.append(
                Article(outlets[source], slug, title, paras, when, planted, f"s{serial}", planted)
            )
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method; lam is small here.
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _reprint(
    original: Article, when: dt.datetime, write_copy: Callable[[Article], None], edited: bool
) -> None:
    """The same story on the other outlet of its language, a few hours later: verbatim, or
    (edited) with a source line added as 转载 do, so only near-duplicate detection groups it."""
    twin = next(
        o for o in OUTLETS if o.language == original.outlet.language and o != original.outlet
    )
    later = (when + dt.timedelta(hours=3)).astimezone(ZoneInfo(twin.timezone))
    suffix = "（转载）" if twin.language == "zh" else " (전재)"
    paragraphs = list(original.paragraphs)
    if edited:
        paragraphs.append(pools.SOURCE_LINE[twin.language].format(original.outlet.name))
    copy = Article(
        twin,
        original.slug + "r",
        original.title + suffix,
        paragraphs,
        later,
        original.planted,
        original.story,
        original.relevant,
    )
    write_copy(copy)


# ------------------------------------------------------------------ rendering


def _rfc822(moment: dt.datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S %z")


def _render(world: World) -> None:
    by_outlet: dict[str, list[Article]] = defaultdict(list)
    for art in world.articles:
        by_outlet[art.outlet.source].append(art)
        world.pages[(art.outlet.host, art.path)] = _article_page(art)
    for outlet in OUTLETS:
        entries = sorted(by_outlet[outlet.source], key=lambda a: a.published, reverse=True)
        pages = [entries[i : i + FEED_PAGE_SIZE] for i in range(0, len(entries), FEED_PAGE_SIZE)]
        for n, chunk in enumerate(pages, start=1):
            path = "/rss.xml" if n == 1 else f"/rss.xml?page={n}"
            nxt = f"http://{outlet.host}/rss.xml?page={n + 1}" if n < len(pages) else None
            world.pages[(outlet.host, path)] = _feed_page(outlet, chunk, nxt)
    world.pages[(BROKEN_HOST, "/500.xml")] = Page(b"Internal Server Error", "text/plain", 500)
    world.pages[(BROKEN_HOST, "/garbage.xml")] = Page(
        b"<html><body><h1>\xff\xfe Welcome</h1><div><p>Not a feed <<<>>></div>", "text/html"
    )


def _feed_page(outlet: Outlet, entries: list[Article], next_url: str | None) -> Page:
    enc = outlet.encoding
    items = []
    for a in entries:
        date = (
            a.published.strftime("%Y-%m-%d %H:%M:%S")
            if outlet.naive_dates
            else _rfc822(a.published)
        )
        link = f"{a.url}?utm_source=rss&amp;utm_medium=feed"
        items.append(
            f"<item><title>{html.escape(a.title)}</title><link>{link}</link>"
            f'<guid isPermaLink="false">{a.slug}</guid><pubDate>{date}</pubDate>'
            f"<description><![CDATA[<p>{a.paragraphs[0]}</p>]]></description></item>"
        )
    nxt = f'<atom:link rel="next" href="{html.escape(next_url)}"/>' if next_url else ""
    xml = (
        f'<?xml version="1.0" encoding="{enc}"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>'
        f"<title>{html.escape(outlet.name)}</title><link>http://{outlet.host}/</link>"
        f"<description>{html.escape(outlet.name)} RSS</description>"
        f"<language>{'zh-cn' if outlet.language == 'zh' else 'ko'}</language>{nxt}"
        + "".join(items)
        + "</channel></rss>"
    )
    return Page(xml.encode(enc), "application/rss+xml" + _charset_header(outlet))


def _charset_header(outlet: Outlet) -> str:
    return f"; charset={outlet.encoding}" if outlet.declare == "header" else ""


def _article_page(a: Article) -> Page:
    o = a.outlet
    if a.page == "dead":
        return Page(b"<html><body>404 Not Found</body></html>", "text/html", 404)
    if a.page == "empty":
        return Page(b"<html><head><title></title></head><body></body></html>", "text/html")
    meta = f'<meta charset="{o.encoding}">' if o.declare == "meta" else ""
    nav = pools.NAV[o.language]
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in a.paragraphs)
    doc = f"""<!DOCTYPE html>
<html lang="{o.language}"><head>{meta}
<title>{html.escape(a.title)} - {html.escape(o.name)}</title>
<link rel="canonical" href="{a.url}">
<meta property="article:published_time" content="{a.published.isoformat()}">
</head><body>
<header><div class="logo">{html.escape(o.name)}</div><nav>{nav}</nav></header>
<main><article><h1>{html.escape(a.title)}</h1>
<div class="byline">{a.published:%Y-%m-%d %H:%M}</div>
{body}
</article></main>
<aside class="related"><ul><li><a href="/">{pools.RELATED[o.language]}</a></li></ul></aside>
<footer>{pools.FOOTER[o.language]}</footer>
</body></html>"""
    ctype = "text/html" + ("" if a.page == "undeclared" else _charset_header(o))
    return Page(doc.encode(o.encoding), ctype)
