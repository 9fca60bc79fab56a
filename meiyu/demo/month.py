"""`meiyu demo`: the real pipeline on the generated fixture world, stored in its own database."""

from __future__ import annotations

import json
import os
from pathlib import Path

from kernel.config import Config, config_from_dict
from meiyu.demo.fixturesite.corpus import OUTLETS, World
from meiyu.demo.fixturesite.server import FixtureSite

DEMO_DATABASE = "sqlite:///data/demo.db"
DEMO_NOTE = (
    "本报告的数据来自 meiyu 自带的演示语料生成器（4 家虚构媒体、2020–2023 年共 48 个月，"
    "经本机 HTTP 服务真实抓取），不是真实媒体数据，数字仅用于演示计算流程。"
)


def demo_config(base: Config, site: FixtureSite) -> Config:
    """The user's indicators, the fixture world's outlets, and a database of the demo's own.

    MEIYU_DATABASE_URL still wins, so the demo can run against PostgreSQL too.
    """
    raw = base.model_dump(mode="json")
    raw["database"]["url"] = os.environ.get("MEIYU_DATABASE_URL", DEMO_DATABASE)
    raw["crawl"].update(
        proxy=site.proxy_url,
        download_delay=0.0,
        concurrent_requests=16,
        per_domain_concurrency=8,
        retry_backoff_seconds=0.2,
    )
    feeds = site.world.feeds()
    raw["sources"] = [
        {
            "name": o.source,
            "kind": "rss",
            "language": o.language,
            "outlet": o.name,
            "feeds": feeds[o.source],
            "timezone": o.timezone,
        }
        for o in OUTLETS
    ]
    for ind in raw["indicators"].values():
        ind["sources"] = None
    return config_from_dict(raw, env={}, origin="demo config")


def write_manifest(world: World, out_dir: Path) -> Path:
    """What the generator planted, beside the report, so anyone can check the counts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "demo-manifest.json"
    path.write_text(json.dumps(world.manifest(), ensure_ascii=False, indent=1), encoding="utf-8")
    return path
