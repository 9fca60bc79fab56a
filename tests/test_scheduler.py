"""The scheduled jobs from the config: fire times in Asia/Shanghai and each firing's arguments."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from kernel.config import Config, config_from_dict, load_config
from kernel.errors import ConfigError
from meiyu import jobs
from tests.conftest import REPO

SH = ZoneInfo("Asia/Shanghai")


def shipped() -> Config:
    return load_config(REPO / "meiyu.toml", env={})


def with_schedule(**keys: object) -> Config:
    raw = shipped().model_dump(mode="json")
    raw["schedule"].update(keys)
    return config_from_dict(raw)


def test_shipped_jobs_fire_at_shanghai_times() -> None:
    cfg = shipped()
    now = dt.datetime(2024, 1, 31, 23, 10, 42, tzinfo=SH)
    specs = {spec.id: spec for spec in jobs.job_specs(cfg, now)}
    crawls = {f"crawl:{src.name}" for src in cfg.sources}
    assert set(specs) == crawls | {"compute", "monthly_report", "weekly_brief"}

    def after(job_id: str, t: dt.datetime) -> dt.datetime:
        fire: dt.datetime = specs[job_id].trigger.get_next_fire_time(None, t)
        return fire

    # 1st of the month, 08:00 in Shanghai = 00:00 UTC.
    monthly = after("monthly_report", now)
    assert monthly == dt.datetime(2024, 2, 1, 8, 0, tzinfo=SH)
    assert monthly.astimezone(dt.UTC) == dt.datetime(2024, 2, 1, 0, 0, tzinfo=dt.UTC)
    assert after("monthly_report", monthly + dt.timedelta(seconds=1)) == dt.datetime(
        2024, 3, 1, 8, 0, tzinfo=SH
    )
    # Monday 08:00 (2023-12-06 is a Wednesday; 08:00 Shanghai is still Monday in UTC).
    weekly = after("weekly_brief", dt.datetime(2023, 12, 6, 9, 0, tzinfo=SH))
    assert weekly == dt.datetime(2023, 12, 11, 8, 0, tzinfo=SH)
    assert weekly.astimezone(dt.UTC) == dt.datetime(2023, 12, 11, 0, 0, tzinfo=dt.UTC)
    # compute daily at 02:30 Shanghai (18:30 UTC the day before).
    assert after("compute", dt.datetime(2023, 12, 6, 2, 29, tzinfo=SH)) == dt.datetime(
        2023, 12, 6, 2, 30, tzinfo=SH
    )
    assert after("compute", dt.datetime(2023, 12, 6, 2, 31, tzinfo=SH)) == dt.datetime(
        2023, 12, 7, 2, 30, tzinfo=SH
    )
    # A crawl job fires at the minute it is created, then every 6 hours.
    crawl = specs["crawl:yonhap"]
    first = jobs.first_run(crawl, now)
    assert first == dt.datetime(2024, 1, 31, 23, 10, tzinfo=SH)
    assert crawl.trigger.get_next_fire_time(first, first + dt.timedelta(minutes=1)) == (
        dt.datetime(2024, 2, 1, 5, 10, tzinfo=SH)
    )
    for spec in specs.values():
        assert str(spec.trigger.timezone) == "Asia/Shanghai"


def test_each_firing_runs_its_steps_for_the_right_period() -> None:
    feb1 = dt.datetime(2024, 2, 1, 8, 0, tzinfo=SH)
    assert jobs.monthly_report_steps(slot=feb1) == [
        jobs.Step("report 2024-01", (*jobs.REPORT_ARGS, "--month", "2024-01"))
    ]
    # The same instant read in UTC is still 1 February in Shanghai: the slot's local date counts.
    jan1 = dt.datetime(2023, 12, 31, 23, 0, tzinfo=dt.UTC).astimezone(SH)
    assert jobs.previous_month(jan1) == "2023-12"
    assert jobs.weekly_brief_steps(slot=dt.datetime(2023, 12, 11, 8, tzinfo=SH)) == [
        jobs.Step("brief 2023-W49", ("brief", "--week", "2023-W49"))
    ]
    assert jobs.previous_iso_week(dt.datetime(2024, 1, 1, 8, tzinfo=SH)) == "2023-W52"
    assert jobs.previous_iso_week(dt.datetime(2021, 1, 4, 8, tzinfo=SH)) == "2020-W53"
    assert [s.argv for s in jobs.crawl_steps("yonhap", slot=feb1)] == [
        ("crawl", "--source", "yonhap"),
        ("analyze",),
    ]
    assert [s.argv for s in jobs.compute_steps(slot=feb1)] == [("compute",), ("alerts", "run")]


def test_cron_weekdays_are_read_as_cron_reads_them() -> None:
    wed = dt.datetime(2023, 12, 6, 12, 0, tzinfo=SH)

    def days(expr: str) -> list[str]:
        trigger = jobs.cron_trigger(expr, "Asia/Shanghai")
        out, t = [], wed
        for _ in range(7):
            t = trigger.get_next_fire_time(None, t + dt.timedelta(seconds=1))
            out.append(t.strftime("%a"))
        return sorted(set(out), key=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].index)

    # APScheduler 3's own from_crontab would take 1 for Tuesday and 0 for Monday.
    assert days("0 8 * * 1") == ["Mon"]
    assert days("0 8 * * 0") == days("0 8 * * 7") == days("0 8 * * sun") == ["Sun"]
    assert days("0 8 * * 1-5") == ["Mon", "Tue", "Wed", "Thu", "Fri"]
    assert days("0 8 * * */2") == ["Tue", "Thu", "Sat", "Sun"]
    assert days("0 8 * * mon,3") == ["Mon", "Wed"]


def test_schedule_config_is_checked_where_it_enters() -> None:
    with pytest.raises(ConfigError, match=r"schedule\.compute: .*5-field cron.*'every hour'"):
        with_schedule(compute="every hour")
    with pytest.raises(ConfigError, match=r"schedule\.weekly_brief: .*'0 8 \* \* 9'"):
        with_schedule(weekly_brief="0 8 * * 9")
    with pytest.raises(ConfigError, match=r"schedule\.crawl: unknown key"):
        with_schedule(crawl="0 */6 * * *")  # the old cron key became crawl_every_hours
    cfg = with_schedule(weekly_brief="", crawl_every_hours=12)
    raw = cfg.model_dump(mode="json")
    raw["sources"][0]["crawl_every_hours"] = 2
    cfg = config_from_dict(raw)
    specs = {s.id: s for s in jobs.job_specs(cfg, dt.datetime(2024, 1, 1, tzinfo=SH))}
    assert "weekly_brief" not in specs  # an empty cron line turns the job off
    first, second = cfg.sources[0].name, cfg.sources[1].name
    assert specs[f"crawl:{first}"].trigger.interval == dt.timedelta(hours=2)
    assert specs[f"crawl:{second}"].trigger.interval == dt.timedelta(hours=12)
    assert specs[f"crawl:{first}"].schedule == "every 2 h"
