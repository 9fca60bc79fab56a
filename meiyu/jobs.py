"""The scheduled jobs: their triggers from `[schedule]` and the `meiyu` steps of one firing.

Pure (no database, no processes): scheduler.py stores these jobs in APScheduler and runs the
steps in child processes. A step's arguments come from the firing's scheduled time (its
slot), not from the clock, so a report run late after downtime is still for the right month.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from meiyu.config import Config


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


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _cron_weekdays(field: str) -> str:
    """Cron's numeric weekdays (0 and 7 = Sunday) as names: APScheduler 3 counts 0 = Monday,
    so a plain `from_crontab("0 8 * * 1")` would fire on Tuesdays."""
    days: list[str] = []
    for item in field.split(","):
        base, _, step = item.partition("/")
        if (base == "*" and not step) or not re.match(r"[*\d]", base):
            days.append(item)  # *, mon, mon-fri: read alike by cron and APScheduler
            continue
        m = re.fullmatch(r"(\*|\d)(?:-(\d))?", base)
        if not m or (step and not step.isdigit()) or step == "0":
            raise ValueError(f"day of week {item!r}: use 0-7 or mon-sun")
        lo = 0 if m[1] == "*" else int(m[1])
        hi = int(m[2]) if m[2] else 6 if m[1] == "*" or step else lo
        if hi > 7 or lo > hi:
            raise ValueError(f"day of week {item!r}: use 0-7 or mon-sun")
        days += [_DAY_NAMES[d] for d in range(lo, hi + 1, int(step or 1))]
    return ",".join(dict.fromkeys(days))


def cron_trigger(expr: str, timezone: str) -> CronTrigger:
    """A 5-field crontab line (minute hour day month weekday) read as cron reads it."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"a 5-field cron expression such as '30 2 * * *', got {expr!r}")
    try:
        fields[4] = _cron_weekdays(fields[4])
        return CronTrigger.from_crontab(" ".join(fields), timezone=ZoneInfo(timezone))
    except ValueError as exc:
        raise ValueError(f"a valid cron expression, got {expr!r} ({exc})") from None


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
