"""Crawl throughput end to end (fetch → extract → normalise → store), against the fixture world.

    .venv/bin/python bench/crawl.py [--scale 4.2] [--no-scrapy-bench]

Builds a world of ≥ 5,000 article pages, serves it on 127.0.0.1, runs `meiyu crawl` over its
outlet feeds into a fresh SQLite file, and prints pages/s and items/s. `scrapy bench` (Scrapy's
own local benchmark: link following only, no parsing or storage) runs in the same session as
the baseline, so the ratio says what extraction and storage cost on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from meiyu.fixturesite.corpus import build_world  # noqa: E402
from meiyu.fixturesite.server import FixtureSite  # noqa: E402
from tests.conftest import write_config  # noqa: E402


def scrapy_bench() -> float | None:
    """pages/s of `scrapy bench` (it prints 'Crawled N pages (at M pages/min)' each 10 s)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            "bench",
            "-s",
            "CLOSESPIDER_TIMEOUT=20",
            "-s",
            "LOG_LEVEL=INFO",
        ],
        capture_output=True,
        text=True,
        cwd="/tmp",
    )
    rates = [int(m) for m in re.findall(r"at (\d+) pages/min", proc.stderr)]
    rates = [r for r in rates if r > 0]
    return max(rates) / 60 if rates else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=4.2)
    ap.add_argument("--no-scrapy-bench", action="store_true")
    args = ap.parse_args()
    world = build_world(scale=args.scale)
    print(f"world: {len(world.articles)} article pages, {len(world.pages)} pages in all")
    with tempfile.TemporaryDirectory() as tmp, FixtureSite(world) as site:
        db = Path(tmp) / "bench.db"
        cfg = write_config(
            Path(tmp) / "meiyu.toml",
            db_url=f"sqlite:///{db}",
            proxy=site.proxy_url,
            feeds=world.feeds(),
            crawl={"concurrent_requests": 16},
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEIYU_")}
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "meiyu.cli", "--config", str(cfg), "crawl"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"crawl failed: {proc.stderr.strip().splitlines()[-1]}")
        con = sqlite3.connect(db)
        docs = con.execute("SELECT count(*) FROM documents").fetchone()[0]
        pages = sum(
            json.loads(s).get("response_received_count", 0)
            for (s,) in con.execute("SELECT stats FROM crawl_runs")
        )
        con.close()
    result = {
        "pages": pages,
        "documents": docs,
        "seconds": round(seconds, 1),
        "pages_per_s": round(pages / seconds, 1),
        "items_per_s": round(docs / seconds, 1),
    }
    print(
        f"meiyu crawl: {pages} pages, {docs} documents stored in {seconds:.1f} s "
        f"(process start included): {result['pages_per_s']} pages/s, "
        f"{result['items_per_s']} items/s"
    )
    if not args.no_scrapy_bench:
        baseline = scrapy_bench()
        if baseline:
            result["scrapy_bench_pages_per_s"] = round(baseline, 1)
            print(
                f"scrapy bench (same machine, same run): {baseline:.1f} pages/s; meiyu end to "
                f"end is {result['pages_per_s'] / baseline:.2f}x of it"
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
