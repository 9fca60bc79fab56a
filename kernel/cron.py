"""Crontab lines as APScheduler triggers, read as cron reads them. Used by the config's
validation (kernel.config) and by the jobs (meiyu.jobs), and importing neither."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

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
