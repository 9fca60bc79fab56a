"""Backfill of 2020-01..2023-12 from every kind of source at once against the fixture world:
every planted mention stored exactly once per source and month, reprints grouped into the
planted stories, and a second run adds nothing."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from kernel.config import load_config
from meiyu.demo.fixturesite.corpus import OUTLETS, World
from meiyu.demo.fixturesite.server import FixtureSite
from pipelines.reprints import cluster_all
from storage.db import session_factory
from tests.conftest import run_meiyu, write_config

SHANGHAI = ZoneInfo("Asia/Shanghai")
SEARCH = [
    ("naver-api", "naver_api", "ko", "http://openapi.naver.com"),
    ("naver-news", "naver_news", "ko", "http://search.naver.com"),
    ("daum-news", "daum_news", "ko", "http://search.daum.net"),
    ("google-news-ko", "google_news", "ko", "http://news.google.com"),
    ("gdelt-ko", "gdelt", "ko", "http://api.gdeltproject.org"),
    ("gdelt-zh", "gdelt", "zh", "http://api.gdeltproject.org"),
    ("baidu-news", "baidu_news", "zh", "http://www.baidu.com"),
    ("sogou-weixin", "sogou_weixin", "zh", "http://weixin.sogou.com"),
]
SINCE, UNTIL = dt.date(2020, 1, 1), dt.date(2023, 12, 31)


def _tz(language: str) -> str:
    return "Asia/Seoul" if language == "ko" else "Asia/Shanghai"


@pytest.mark.slow
def test_backfill_all_sources(tmp_path: Path, site: FixtureSite, world: World) -> None:
    db_url = f"sqlite:///{tmp_path / 'b.db'}"
    search = [
        {
            "name": name,
            "kind": kind,
            "language": lang,
            "outlet": name,
            "timezone": _tz(lang),
            "base_url": base,
        }
        for name, kind, lang, base in SEARCH
    ]
    sitemaps = [
        {
            "name": f"{o.source}-sitemap",
            "kind": "sitemap",
            "language": o.language,
            "outlet": o.name,
            "timezone": o.timezone,
            "feeds": [f"http://{o.host}/sitemap.xml"],
        }
        for o in OUTLETS
    ]
    cfg_path = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        search=search + sitemaps,
        crawl={"timeout_seconds": 2, "retry_times": 3},
    )
    env = {"NAVER_CLIENT_ID": "test-id", "NAVER_CLIENT_SECRET": "test-secret"}
    args = (
        "--config",
        str(cfg_path),
        "crawl",
        "--since",
        SINCE.isoformat(),
        "--until",
        UNTIL.isoformat(),
    )
    first = run_meiyu(*args, env=env, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]

    cfg = load_config(cfg_path, env={})
    planted: dict[str, set[str]] = {}
    for name, _kind, lang, _base in SEARCH:
        tz = ZoneInfo(_tz(lang))
        start = dt.datetime.combine(SINCE, dt.time(), tz)
        end = dt.datetime.combine(UNTIL + dt.timedelta(days=1), dt.time(), tz)
        urls: set[str] = set()
        for _ind, query in cfg.queries_for(cfg.source(name)):
            urls |= {a.url for a in world.search(query, lang, start, end)}
        planted[name] = urls
    for o in OUTLETS:
        tz = ZoneInfo(o.timezone)
        start = dt.datetime.combine(SINCE, dt.time(), tz)
        end = dt.datetime.combine(UNTIL + dt.timedelta(days=1), dt.time(), tz)
        planted[f"{o.source}-sitemap"] = {
            a.url for a in world.articles if a.outlet == o and start <= a.published < end
        }

    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT DISTINCT m.source, d.url FROM mentions m JOIN documents d "
                "ON d.id = m.document_id"
            )
        ).all()
        probes = Counter(r[0] for r in conn.execute(text("SELECT source FROM volume_probes")))
        n_docs = conn.execute(text("SELECT count(*) FROM documents")).scalar_one()
    engine.dispose()
    stored: dict[str, set[str]] = {}
    for source, url in rows:
        stored.setdefault(source, set()).add(url)
    by_url = world.by_url()

    def months(urls: set[str]) -> Counter[str]:
        return Counter(by_url[u].published.astimezone(SHANGHAI).strftime("%Y-%m") for u in urls)

    for name, urls in planted.items():
        assert urls, f"{name}: nothing planted"
        got = stored.get(name, set())
        assert got == urls, (name, len(got), len(urls), sorted(urls - got)[:3])
        assert months(got) == months(urls), name
    # every article of the world, once (the sitemaps reach all of them)
    assert n_docs == len(world.articles)
    for name in ("naver-api", "baidu-news", "gdelt-ko", "gdelt-zh"):
        assert probes[name] > 0, f"{name}: no volume probe stored"

    # The reprint stage of `compute` only: sentiment and series are not what this test checks
    # (test_demo runs the whole of compute), and scoring every document took minutes.
    engine = create_engine(db_url)
    summaries = cluster_all(session_factory(engine))
    assert {s.language for s in summaries} == {"zh", "ko"}
    with engine.connect() as conn:
        clusters = dict(conn.execute(text("SELECT url, cluster_id FROM documents")).all())
    engine.dispose()
    planted_groups = {
        frozenset(a.url for a in world.articles if a.story == s)
        for s in {a.story for a in world.articles}
    }
    stored_groups: dict[int, set[str]] = {}
    for url, cluster in clusters.items():
        stored_groups.setdefault(cluster, set()).add(url)
    assert {frozenset(g) for g in stored_groups.values()} == planted_groups

    second = run_meiyu(*args, env=env, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "0 new, 0 updated" in second.stdout
