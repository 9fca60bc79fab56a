"""The unattended service: APScheduler runs crawl, compute and the monthly report on cron.

Each job runs the `meiyu` command in a child process: Scrapy's reactor runs once per
process, and a crashed job must not take the scheduler down with it. Jobs never overlap
(max_instances=1) and a run missed while the machine was down is run once on wake-up.
"""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from meiyu.config import Config
from meiyu.errors import ConfigError

log = logging.getLogger("meiyu.scheduler")


def _meiyu(config_path: str | None, *args: str) -> int:
    cmd = [sys.executable, "-m", "meiyu.cli"]
    if config_path:
        cmd += ["--config", config_path]
    cmd += list(args)
    log.info("running %s", " ".join(args))
    code = subprocess.call(cmd)
    if code:
        log.error("meiyu %s exited %d", " ".join(args), code)
    return code


def last_month(now: dt.datetime) -> str:
    first = now.replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


def run_pipeline_once(config_path: str | None) -> None:
    _meiyu(config_path, "crawl")  # a partly failed crawl still feeds compute
    _meiyu(config_path, "compute")


def monthly_report(config_path: str | None, tz: str) -> None:
    _meiyu(config_path, "report", "--month", last_month(dt.datetime.now(ZoneInfo(tz))))


def build_scheduler(cfg: Config, config_path: str | None) -> BlockingScheduler:
    sched = BlockingScheduler(timezone=cfg.schedule.timezone)
    jobs = {
        "crawl": (_meiyu, (config_path, "crawl")),
        "compute": (_meiyu, (config_path, "compute")),
        "monthly_report": (monthly_report, (config_path, cfg.schedule.timezone)),
    }
    for name, (func, args) in jobs.items():
        expr = getattr(cfg.schedule, name)
        try:
            trigger = CronTrigger.from_crontab(expr, timezone=cfg.schedule.timezone)
        except ValueError as exc:
            raise ConfigError(
                f"schedule.{name}: expected a 5-field cron expression ({exc})"
            ) from None
        sched.add_job(
            func,
            trigger,
            args=args,
            id=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=3600,
        )
    return sched


def serve(cfg: Config, config_path: str | None) -> None:
    sched = build_scheduler(cfg, config_path)
    for job in sched.get_jobs():
        log.warning("job %s: next run %s", job.id, job.trigger)
    sched.start()
