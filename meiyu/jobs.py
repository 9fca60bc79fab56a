"""The scheduled jobs: their triggers from `[schedule]` and the `meiyu` steps of one firing.

Pure (no database, no processes): scheduler.py stores these jobs in APScheduler and runs the
steps in child processes. A step's arguments come from the firing's scheduled time (its
slot), not from the clock, so a report run late after downtime is still for the right month.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from kernel.config import Config
from kernel.cron import cron_trigger


@dataclass(frozen=True)
class Step:
    label: str  # what `meiyu status` shows, e.g. "crawl yonhap"
    argv: tuple[str, ...]  # the `meiyu` arguments


@dataclass(frozen=True)
class JobSpec:
    """One job as the config wants it; `func(*args, slot=…)` gives the steps of a firing
    (the stored job has kwargs {"slot": None}, filled in when it fires)."""

    id: str
    func: Callable[..., list[Step]]
    args: tuple[str, ...]
    trigger: BaseTrigger
    schedule: str  # as the user wrote it: "every 6 h", "30 2 * * *"


REPORT_ARGS = ("report", "--format", "html,pdf,xlsx")


def default_command() -> list[str]:
    """How a step's `meiyu` is started unless `schedule.command` says otherwise: this Python,
    `-m meiyu.cli` (the steps' arguments above are that command's)."""
    return [sys.executable, "-m", "meiyu.cli"]


def crawl_steps(source: str, *, slot: dt.datetime) -> list[Step]:
    return [Step(f"crawl {source}", ("crawl", "--source", source)), Step("analyze", ("analyze",))]


def compute_steps(*, slot: dt.datetime) -> list[Step]:
    return [Step("compute", ("compute",)), Step("alerts", ("alerts", "run"))]


def monthly_report_steps(*, slot: dt.datetime) -> list[Step]:
    month = previous_month(slot)
    return [Step(f"report {month}", REPORT_ARGS + ("--month", month))]


def weekly_brief_steps(*, slot: dt.datetime) -> list[Step]:
    week = previous_iso_week(slot)
    return [Step(f"brief {week}", ("brief", "--week", week))]


def once_steps(now: dt.datetime) -> list[Step]:
    """`meiyu schedule --once`: the whole chain, now, over every source."""
    month = previous_month(now)
    return [
        Step("crawl", ("crawl",)),
        Step("analyze", ("analyze",)),
        *compute_steps(slot=now),
        Step(f"report {month}", REPORT_ARGS + ("--month", month)),
    ]


def previous_month(slot: dt.datetime) -> str:
    """The month before the slot's local date: the report fired on 1 Feb is for January."""
    first = slot.date().replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


def previous_iso_week(slot: dt.datetime) -> str:
    """The ISO week before the slot's: the brief fired on Monday covers Monday to Sunday."""
    year, week, _ = (slot.date() - dt.timedelta(days=7)).isocalendar()
    return f"{year}-W{week:02d}"


def job_specs(cfg: Config, now: dt.datetime) -> list[JobSpec]:
    """The jobs the config asks for; an empty cron string leaves that job out."""
    sched = cfg.schedule
    tz = ZoneInfo(sched.timezone)
    # The interval's grid starts at the minute the job is first created: its first crawl is
    # then, and later restarts keep the stored grid.
    start = now.astimezone(tz).replace(second=0, microsecond=0)
    specs = []
    for src in cfg.sources:
        hours = src.crawl_every_hours or sched.crawl_every_hours
        trigger = IntervalTrigger(hours=hours, start_date=start, timezone=tz)
        specs.append(
            JobSpec(f"crawl:{src.name}", crawl_steps, (src.name,), trigger, f"every {hours} h")
        )
    crons: list[tuple[str, Callable[..., list[Step]], str]] = [
        ("compute", compute_steps, sched.compute),
        ("monthly_report", monthly_report_steps, sched.monthly_report),
        ("weekly_brief", weekly_brief_steps, sched.weekly_brief),
    ]
    for job_id, func, expr in crons:
        if expr.strip():
            specs.append(JobSpec(job_id, func, (), cron_trigger(expr, sched.timezone), expr))
    return specs


def trigger_key(trigger: BaseTrigger) -> tuple[Any, ...]:
    """What makes two triggers the same schedule (an interval's start is not part of it)."""
    if isinstance(trigger, IntervalTrigger):
        return ("interval", trigger.interval.total_seconds(), str(trigger.timezone))
    if isinstance(trigger, CronTrigger):
        return ("cron", str(trigger), str(trigger.timezone))
    return ("other", repr(trigger))


def first_run(spec: JobSpec, now: dt.datetime) -> dt.datetime | None:
    """When a newly created job first fires."""
    if isinstance(spec.trigger, IntervalTrigger):
        return spec.trigger.start_date
    return spec.trigger.get_next_fire_time(None, now)
