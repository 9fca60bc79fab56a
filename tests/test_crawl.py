"""The feed spider, in a real `meiyu crawl` process, against the fixture site over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from meiyu.demo.fixturesite.corpus import BROKEN_HOST, World
from meiyu.demo.fixturesite.server import FixtureSite
from storage.models import CrawlRun, Document
from tests.conftest import run_meiyu, write_config


def _count(db_url: str) -> int:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        n = conn.execute(select(func.count(Document.id))).scalar_one()
    engine.dispose()
    return n


def test_crawl_stores_every_item_once_and_recrawl_adds_nothing(
    tmp_path: Path, db_url: str, site: FixtureSite, world: World
) -> None:
    cfg = write_config(
        tmp_path / "meiyu.toml", db_url=db_url, proxy=site.proxy_url, feeds=world.feeds()
    )
    first = run_meiyu("--config", str(cfg), "crawl")
    assert first.returncode == 0, first.stderr
    assert f"{len(world.articles)} new" in first.stdout
    assert _count(db_url) == len(world.articles)

    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = {
            r.url: r
            for r in conn.execute(
                select(
                    Document.url,
                    Document.title,
                    Document.text,
                    Document.published_at,
                    Document.text_origin,
                )
            )
        }
        runs = conn.execute(select(CrawlRun)).all()
    engine.dispose()
    assert len(runs) == 4  # one run per source
    assert all(r.status == "ok" for r in runs)
    assert sum(r.documents_new for r in runs) == len(world.articles)
    assert all(r.stats["duration_seconds"] > 0 and r.stats["meiyu/feed_pages"] > 0 for r in runs)
    for art in world.articles:
        row = rows[art.url]  # the canonical URL, tracking parameters gone
        assert row.title == art.title  # GBK and EUC-KR decoded, not mojibake
        assert "\ufffd" not in row.text
        if art.page in ("empty", "dead"):
            assert row.text_origin == "feed" and row.text == art.paragraphs[0]
        else:
            assert row.text_origin == "article"
            assert art.paragraphs[0] in row.text and art.paragraphs[2] in row.text
            assert "首页" not in row.text and "데모 코퍼스" not in row.text  # boilerplate dropped
        assert row.published_at == art.published  # same instant, naive GBK dates included
    assert {a.page for a in world.articles} == {"ok", "dead", "empty", "undeclared"}

    second = run_meiyu("--config", str(cfg), "crawl")
    assert second.returncode == 0, second.stderr
    assert "0 new, 0 updated" in second.stdout
    assert _count(db_url) == len(world.articles)

    listing = run_meiyu("--config", str(cfg), "sources")
    assert listing.returncode == 0, listing.stderr
    per_source = {o: sum(a.outlet.source == o for a in world.articles) for o in world.feeds()}
    for name, n in per_source.items():
        line = next(ln for ln in listing.stdout.splitlines() if f" {name} " in ln)
        assert f" {n} " in line and " ok " in line


@pytest.mark.parametrize("broken", ["500.xml", "garbage.xml"])
def test_broken_feed_is_one_clear_line_and_loses_nothing(
    tmp_path: Path, site: FixtureSite, world: World, broken: str
) -> None:
    db_url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    good = write_config(
        tmp_path / "good.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        feeds={"seohae": world.feeds()["seohae"]},
    )
    assert run_meiyu("--config", str(good), "crawl").returncode == 0
    stored = _count(db_url)
    assert stored > 0
    bad = write_config(
        tmp_path / "bad.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        feeds={"seohae": world.feeds()["seohae"], "broken": [f"http://{BROKEN_HOST}/{broken}"]},
    )
    proc = run_meiyu("--config", str(bad), "crawl")
    assert proc.returncode == 1
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert f"http://{BROKEN_HOST}/{broken}" in errors[0]
    assert ("HTTP 500" if broken == "500.xml" else "not an RSS/Atom feed") in errors[0]
    assert "Traceback" not in proc.stderr
    assert _count(db_url) == stored
    engine = create_engine(db_url)
    with engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM crawl_runs ORDER BY id DESC")).first()
    engine.dispose()
    assert status is not None and status[0] == "partial"


def test_unreachable_database_is_one_line_and_nothing_runs(
    tmp_path: Path, site: FixtureSite, world: World
) -> None:
    cfg = write_config(
        tmp_path / "meiyu.toml",
        db_url="postgresql://postgres@127.0.0.1:1/x",
        proxy=site.proxy_url,
        feeds=world.feeds(),
    )
    before = sum(site.hits.values())
    for args in (["crawl"], ["compute"], ["db", "upgrade"], ["report", "--month", "2023-12"]):
        proc = run_meiyu("--config", str(cfg), *args)
        assert proc.returncode == 1, proc.stderr
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "cannot reach database" in lines[0], proc.stderr
    assert sum(site.hits.values()) == before  # no page was fetched for a crawl with nowhere to go
