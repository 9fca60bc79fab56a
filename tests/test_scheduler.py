"""The APScheduler service is built from the config's cron expressions."""

from __future__ import annotations

import datetime as dt

import pytest

import scheduler
from meiyu.config import config_from_dict, load_config
from meiyu.errors import ConfigError
from tests.conftest import REPO


def test_jobs_follow_the_configured_schedule() -> None:
    cfg = load_config(REPO / "meiyu.toml", env={})
    sched = scheduler.build_scheduler(cfg, str(REPO / "meiyu.toml"))
    jobs = {job.id: job for job in sched.get_jobs()}
    assert set(jobs) == {"crawl", "compute", "monthly_report"}
    start = dt.datetime(2024, 1, 31, 23, 0, tzinfo=cfg.tz)
    nxt = jobs["monthly_report"].trigger.get_next_fire_time(None, start)
    assert nxt == dt.datetime(2024, 2, 1, 8, 0, tzinfo=cfg.tz)
    assert all(job.max_instances == 1 for job in jobs.values())


def test_last_month_and_bad_cron() -> None:
    assert scheduler.last_month(dt.datetime(2024, 1, 1, 8)) == "2023-12"
    cfg = load_config(REPO / "meiyu.toml", env={})
    raw = cfg.model_dump(mode="json")
    raw["schedule"]["crawl"] = "every hour"
    with pytest.raises(ConfigError, match="schedule.crawl"):
        scheduler.build_scheduler(config_from_dict(raw), None)
