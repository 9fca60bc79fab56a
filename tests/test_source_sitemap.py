"""Outlet sitemaps: index → monthly URL sets, windowed by the news extension's dates. (What
the parser refuses is this file's CASE, checked by tests/test_source_conformance.py.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from crawlers.parsers.sitemap import parse
from meiyu.demo.fixturesite.corpus import OUTLETS, World
from meiyu.demo.fixturesite.server import FixtureSite
from tests.helpers_sources import SourceCase, crawl


def test_parse_index_and_urlset() -> None:
    index = parse(
        b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc>http://x.test/s1.xml</loc><lastmod>2023-01-31</lastmod></sitemap>"
        b"</sitemapindex>",
        "http://x.test/sitemap.xml",
    )
    assert index.kind == "index" and index.entries[0].loc == "http://x.test/s1.xml"
    urls = parse(
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url><loc>http://x.test/a</loc>'
        "<news:news><news:publication_date>2023-01-02T10:00:00+08:00</news:publication_date>"
        "<news:title>威海海鲜</news:title></news:news></url></urlset>".encode(),
        "u",
    )
    assert urls.entries[0].title == "威海海鲜"
    assert urls.entries[0].published == "2023-01-02T10:00:00+08:00"


def test_sitemap_backfill_stores_the_window_once(
    tmp_path: Path, site: FixtureSite, world: World
) -> None:
    outlet = next(o for o in OUTLETS if o.source == "jiaodong")
    source: dict[str, object] = {
        "name": "jiaodong-sitemap",
        "kind": "sitemap",
        "language": "zh",
        "outlet": outlet.name,
        "timezone": outlet.timezone,
        "feeds": [f"http://{outlet.host}/sitemap.xml"],
    }
    tz = ZoneInfo(outlet.timezone)
    start, end = dt.datetime(2023, 1, 1, tzinfo=tz), dt.datetime(2023, 7, 1, tzinfo=tz)
    planted = {a.url for a in world.articles if a.outlet == outlet and start <= a.published < end}
    result = crawl(
        tmp_path, site, [source], since=start.date(), until=dt.date(2023, 6, 30), settings={}
    )
    assert result.first.returncode == 0, result.first.stderr
    stored, months = set(result.documents), len(result.runs)
    assert stored == planted and months == 1
    # months outside the window were not even fetched
    assert not any(u.endswith("sitemap-2022-12.xml") for u in site.hits)
    again = result.second
    assert again is not None
    assert again.returncode == 0 and "0 new, 0 updated" in again.stdout


CASE = SourceCase(
    kind="sitemap",
    search_url="u",
    malformed=(b"<html><body>not a sitemap</body></html>", b"\x00\xff garbage"),
)
