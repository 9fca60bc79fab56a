"""A crawl killed with SIGKILL half-way and re-run ends with the same stored set as one
uninterrupted run: no duplicates, no document without its mention, nothing missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from meiyu.demo.fixturesite.corpus import World
from meiyu.demo.fixturesite.server import FixtureSite
from tests.conftest import REPO, run_meiyu, write_config


def _stored(db_url: str) -> tuple[set[str], int, int]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        try:
            urls = {r[0] for r in conn.execute(text("SELECT url FROM documents"))}
            orphans = conn.execute(
                text(
                    "SELECT count(*) FROM documents d WHERE NOT EXISTS "
                    "(SELECT 1 FROM mentions m WHERE m.document_id = d.id)"
                )
            ).scalar_one()
            rows = conn.execute(text("SELECT count(*) FROM documents")).scalar_one()
        except Exception:  # schema not created yet
            urls, orphans, rows = set(), 0, 0
    engine.dispose()
    return urls, orphans, rows


def test_sigkill_mid_crawl_then_rerun_converges(
    tmp_path: Path, site: FixtureSite, world: World
) -> None:
    db_url = f"sqlite:///{tmp_path / 'k.db'}"
    cfg = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        feeds=world.feeds(),
        crawl={"concurrent_requests": 4},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEIYU_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "meiyu.cli", "--config", str(cfg), "crawl"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if len(_stored(db_url)[0]) >= len(world.articles) // 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the crawl finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial, orphans, rows = _stored(db_url)
    assert 0 < len(partial) < len(world.articles)
    assert orphans == 0 and rows == len(partial)  # no half-written item

    again = run_meiyu("--config", str(cfg), "crawl")
    assert again.returncode == 0, again.stderr
    urls, orphans, rows = _stored(db_url)
    assert urls == {a.url for a in world.articles}
    assert rows == len(world.articles) and orphans == 0
    assert f"{len(partial)} already stored" in again.stdout  # the resume skipped what it had


def test_jobdir_crawl_completes_and_keeps_its_state(
    tmp_path: Path, site: FixtureSite, world: World
) -> None:
    db_url = f"sqlite:///{tmp_path / 'j.db'}"
    jobs = tmp_path / "jobs"
    cfg = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        feeds={"seohae": world.feeds()["seohae"]},
        crawl={"jobs_dir": str(jobs)},
    )
    proc = run_meiyu("--config", str(cfg), "crawl")
    assert proc.returncode == 0, proc.stderr
    (jobdir,) = jobs.iterdir()  # one JOBDIR per source and window
    assert jobdir.name.startswith("seohae-") and (jobdir / "requests.seen").exists()
    planted = {a.url for a in world.articles if a.outlet.source == "seohae"}
    assert _stored(db_url)[0] == planted
