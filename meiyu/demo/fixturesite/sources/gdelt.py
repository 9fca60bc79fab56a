"""GDELT DOC 2.0 API over the fixture world: `/api/v2/doc/doc`, `format=json`, modes
`artlist` and `timelinevolraw`.

Answers like the real service: `query` is space-separated AND terms plus an optional
`sourcelang:korean|chinese`; `startdatetime`/`enddatetime` (YYYYMMDDHHMMSS, UTC, both ends
inclusive) bound the window (absent: the whole world); artlist returns at most `maxrecords`
(default 75, never more than 250) articles in `sort` order (DateAsc/DateDesc; anything else
newest first) with no paging, `seendate` being the article's published time in UTC and titles
tokenised GDELT-style (spaces around punctuation other than hyphens); timelinevolraw returns
one bucket per UTC day touching the window, its `value` the matching articles of that day
within the window. A query that matches nothing answers `{}`; errors are plain text.

Faults, each on the first hit of a URL only, chosen per (mode, query) by a checksum so the same
queries meet the same faults on every run: GDELT's plain-text rate-limit answer with HTTP 200,
the same text with HTTP 429 and `Retry-After: 0`, and an answer delayed past a 2-second timeout.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zlib
from collections import Counter

from meiyu.demo.fixturesite.corpus import Article, Page, World
from meiyu.demo.fixturesite.sources import FixtureRequest

PATH = "/api/v2/doc/doc"
CAP = 250
DEFAULT_RECORDS = 75
LANGS = {"korean": "ko", "kor": "ko", "chinese": "zh", "zho": "zh"}
LANG_NAMES = {"ko": "Korean", "zh": "Chinese"}
COUNTRIES = {"ko": "South Korea", "zh": "China"}
THROTTLE_TEXT = (
    b"Please limit requests to one every 5 seconds or contact kalev.leetaru5@gmail.com "
    b"for larger queries.\n"
)
SLOW_SECONDS = 3.0
# fault per (mode, query) checksum modulo 4: 0 none, 1 throttle (200), 2 429, 3 slow
FAULTS = ("none", "throttle", "429", "slow")

_PUNCT = re.compile(r"\s*([,.:;!?%()\[\]{}，。、：；！？（）「」『』【】《》％…·|｜])\s*")


def tokenise(title: str) -> str:
    """GDELT's title style: spaces around punctuation (hyphens left alone)."""
    return _PUNCT.sub(r" \1 ", title)


def fault_for(mode: str, query: str) -> str:
    return FAULTS[zlib.crc32(f"{mode}|{' '.join(query.split())}".encode()) % len(FAULTS)]


def _text(body: bytes, status: int = 200) -> Page:
    return Page(body, "text/plain; charset=utf-8", status)


def _json(data: object) -> Page:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Page(body, "application/json; charset=utf-8")


def _moment(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)


def _seendate(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def respond(world: World, request: FixtureRequest) -> Page | None:
    if request.path != PATH:
        return None
    p = {k: v[-1] for k, v in request.params.items()}
    raw = p.get("query", "").strip()
    mode = p.get("mode", "artlist").lower()
    if not raw:
        return _text(b"Please specify a query.\n")
    if mode not in ("artlist", "timelinevolraw"):
        return _text(b"Invalid mode.\n")
    if p.get("format", "html").lower() != "json":
        return _text(b"This fixture answers format=json only.\n")
    terms, language = [], None
    for token in raw.split():
        key, _, value = token.partition(":")
        if key.lower() == "sourcelang" and value:
            language = LANGS.get(value.lower(), value.lower())
        else:
            terms.append(token)
    if not terms:
        return _text(b"Your search contained no valid search terms.\n")
    try:
        start = _moment(p["startdatetime"]) if p.get("startdatetime") else None
        end = _moment(p["enddatetime"]) if p.get("enddatetime") else None
    except ValueError:
        return _text(b"Invalid STARTDATETIME or ENDDATETIME.\n")

    if request.hit == 1:
        fault = fault_for(mode, " ".join(terms))
        if fault == "throttle":
            return _text(THROTTLE_TEXT)
        if fault == "429":
            page = _text(THROTTLE_TEXT, 429)
            page.headers["Retry-After"] = "0"
            return page
        if fault == "slow":
            answer = _answer(world, mode, p, terms, language, start, end)
            answer.delay = SLOW_SECONDS
            return answer
    return _answer(world, mode, p, terms, language, start, end)


def _answer(
    world: World,
    mode: str,
    p: dict[str, str],
    terms: list[str],
    language: str | None,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> Page:
    # enddatetime is inclusive (to the second); World.search's end is exclusive.
    hits = world.search(
        " ".join(terms), language, start, end + dt.timedelta(seconds=1) if end else None
    )
    if not hits:
        return _json({})
    if mode == "timelinevolraw":
        return _json(_timeline(world, " ".join(terms), language, hits, start, end))
    try:
        wanted = int(p.get("maxrecords", DEFAULT_RECORDS))
    except ValueError:
        wanted = DEFAULT_RECORDS
    sort = p.get("sort", "").lower()
    ordered = sorted(hits, key=lambda a: (a.published, a.slug)) if sort == "dateasc" else hits
    return _json({"articles": [_article(a) for a in ordered[: max(1, min(wanted, CAP))]]})


def _article(a: Article) -> dict[str, str]:
    lang = a.outlet.language
    return {
        "url": a.url,
        "url_mobile": "",
        "title": tokenise(a.title),
        "seendate": _seendate(a.published),
        "socialimage": "",
        "domain": a.outlet.host,
        "language": LANG_NAMES.get(lang, lang),
        "sourcecountry": COUNTRIES.get(lang, ""),
    }


def _timeline(
    world: World,
    query: str,
    language: str | None,
    hits: list[Article],
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> dict[str, object]:
    def day(moment: dt.datetime) -> dt.date:
        return moment.astimezone(dt.UTC).date()

    counts = Counter(day(a.published) for a in hits)
    norms = Counter(
        day(a.published) for a in world.articles if language in (None, a.outlet.language)
    )
    first = day(start) if start else min(counts)
    last = day(end) if end else max(counts)
    data = []
    d = first
    while d <= last:
        moment = dt.datetime.combine(d, dt.time(), dt.UTC)
        data.append({"date": _seendate(moment), "value": counts[d], "norm": norms[d]})
        d += dt.timedelta(days=1)
    return {
        "query_details": {"title": query, "date_resolution": "d"},
        "timeline": [{"series": "Article Count", "data": data}],
    }
