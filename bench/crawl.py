"""Crawl throughput end to end (fetch → extract → normalise → store), against the fixture world.

    .venv/bin/python bench/crawl.py [--scale 4.2] [--no-scrapy-bench] [--redis-workers 2]
        [--redis redis://127.0.0.1:6379/0] [--json bench/results.json]

Builds a world of ≥ 5,000 article pages, serves it on 127.0.0.1, runs `meiyu crawl` over its
outlet feeds into a fresh SQLite file, and prints pages/s and items/s. `scrapy bench` (Scrapy's
own local benchmark: link following only, no parsing or storage) runs in the same session as
the baseline, so the ratio says what extraction and storage cost on this machine. Then the same
crawl by `--redis-workers` `meiyu crawl --worker` processes sharing the frontier in Redis
(crawl.backend = "redis"), into another fresh file.
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
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from results import record  # noqa: E402

from kernel.config import CrawlConfig  # noqa: E402
from meiyu.demo.fixturesite.corpus import World, build_world  # noqa: E402
from meiyu.demo.fixturesite.server import FixtureSite  # noqa: E402
from storage.db import safe_url  # noqa: E402
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


def crawl(world: World, site: FixtureSite, workers: int, redis_url: str) -> dict[str, float]:
    """One crawl of the world into a fresh SQLite file: `meiyu crawl` (workers = 0), or that
    many `meiyu crawl --worker` processes sharing the frontier in Redis, started together."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        prefix = f"meiyu-bench-{uuid.uuid4().hex[:8]}"
        cfg = write_config(
            Path(tmp) / "meiyu.toml",
            db_url=f"sqlite:///{db}",
            proxy=site.proxy_url,
            feeds=world.feeds(),
            crawl={"concurrent_requests": 16, **({"backend": "redis"} if workers else {})},
            extra=f'[redis]\nurl = "{redis_url}"\nkey_prefix = "{prefix}"\n' if workers else "",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEIYU_")}
        command = [sys.executable, "-m", "meiyu.cli", "--config", str(cfg), "crawl"]
        # the schema first, so that the workers do not race to create it
        subprocess.run(
            [*command[:-1], "db", "upgrade"],
            cwd=REPO,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                command + (["--worker"] if workers else []),
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(max(workers, 1))
        ]
        errors = [p.communicate()[1] for p in procs]
        seconds = time.perf_counter() - start
        if workers:
            _drop_keys(redis_url, prefix)
        for p, stderr in zip(procs, errors, strict=True):
            if p.returncode != 0:
                sys.exit(
                    f"crawl failed ({p.returncode}): {(stderr.strip() or '?').splitlines()[-1]}"
                )
        con = sqlite3.connect(db)
        docs = con.execute("SELECT count(*) FROM documents").fetchone()[0]
        pages = sum(
            json.loads(s).get("response_received_count", 0)
            for (s,) in con.execute("SELECT stats FROM crawl_runs")
        )
        con.close()
    return {
        "pages": pages,
        "documents": docs,
        "seconds": round(seconds, 1),
        "pages_per_s": round(pages / seconds, 1),
        "items_per_s": round(docs / seconds, 1),
    }


def _drop_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=4.2)
    ap.add_argument("--no-scrapy-bench", action="store_true")
    ap.add_argument("--redis-workers", type=int, default=2, help="0: no distributed crawl.")
    ap.add_argument(
        "--redis",
        default=os.environ.get("MEIYU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for the distributed crawl (keys under a fresh prefix, removed after).",
    )
    ap.add_argument("--json", type=Path, help="Merge the figures into this results file.")
    args = ap.parse_args()
    world = build_world(scale=args.scale)
    print(f"world: {len(world.articles)} article pages, {len(world.pages)} pages in all")
    with FixtureSite(world) as site:
        single = crawl(world, site, 0, args.redis)
        result: dict[str, object] = dict(single)
        print(
            f"meiyu crawl: {single['pages']} pages, {single['documents']} documents stored in "
            f"{single['seconds']} s (process start included): {single['pages_per_s']} pages/s, "
            f"{single['items_per_s']} items/s"
        )
        if args.redis_workers and "backend" not in CrawlConfig.model_fields:
            print("distributed crawl: not in this version (no crawl.backend); skipped")
        elif args.redis_workers and not redis_reachable(args.redis):
            print(f"distributed crawl: Redis at {safe_url(args.redis)} not reachable; skipped")
        elif args.redis_workers:
            dist = crawl(world, site, args.redis_workers, args.redis)
            result[f"redis_{args.redis_workers}_workers"] = dist
            print(
                f"meiyu crawl --worker x {args.redis_workers} (Redis frontier): {dist['pages']} "
                f"pages, {dist['documents']} documents in {dist['seconds']} s: "
                f"{dist['pages_per_s']} pages/s, {dist['items_per_s']} items/s "
                f"({dist['pages_per_s'] / single['pages_per_s']:.2f}x one process)"
            )
    if not args.no_scrapy_bench:
        baseline = scrapy_bench()
        if baseline:
            result["scrapy_bench_pages_per_s"] = round(baseline, 1)
            print(
                f"scrapy bench (same machine, same run): {baseline:.1f} pages/s; meiyu end to "
                f"end is {single['pages_per_s'] / baseline:.2f}x of it"
            )
    print(json.dumps(result))
    if args.json:
        params = {
            "scale": args.scale,
            "concurrent_requests": 16,
            "redis_workers": args.redis_workers,
        }
        record(args.json, "crawl", result, params)


if __name__ == "__main__":
    main()
