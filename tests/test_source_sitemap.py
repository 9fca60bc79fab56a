"""Outlet sitemaps: index → monthly URL sets, windowed by the news extension's dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from crawlers.parsers import ParseError
from crawlers.parsers.sitemap import parse
from meiyu.demo.fixturesite.corpus import OUTLETS, World
from meiyu.demo.fixturesite.server import FixtureSite
from tests.conftest import run_meiyu, write_config


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
    with pytest.raises(ParseError):
        parse(b"<html><body>not a sitemap</body></html>", "u")
    with pytest.raises(ParseError):
        parse(b"\x00\xff garbage", "u")


def test_sitemap_backfill_stores_the_window_once(
    tmp_path: Path, site: FixtureSite, world: World
) -> None:
    outlet = next(o for o in OUTLETS if o.source == "jiaodong")
    db_url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        search=[
            {
                "name": "jiaodong-sitemap",
                "kind": "sitemap",
                "language": "zh",
                "outlet": outlet.name,
                "timezone": outlet.timezone,
                "feeds": [f"http://{outlet.host}/sitemap.xml"],
            }
        ],
    )
    tz = ZoneInfo(outlet.timezone)
    start, end = dt.datetime(2023, 1, 1, tzinfo=tz), dt.datetime(2023, 7, 1, tzinfo=tz)
    planted = {a.url for a in world.articles if a.outlet == outlet and start <= a.published < end}
    proc = run_meiyu(
        "--config", str(cfg), "crawl", "--since", "2023-01-01", "--until", "2023-06-30"
    )
    assert proc.returncode == 0, proc.stderr
    engine = create_engine(db_url)
    with engine.connect() as conn:
        stored = {r[0] for r in conn.execute(text("SELECT url FROM documents"))}
        months = conn.execute(text("SELECT count(*) FROM crawl_runs")).scalar_one()
    engine.dispose()
    assert stored == planted and months == 1
    # months outside the window were not even fetched
    assert not any(u.endswith("sitemap-2022-12.xml") for u in site.hits)
    again = run_meiyu(
        "--config", str(cfg), "crawl", "--since", "2023-01-01", "--until", "2023-06-30"
    )
    assert again.returncode == 0 and "0 new, 0 updated" in again.stdout
