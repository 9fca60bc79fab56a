"""The scheduler service on a real database: missed runs after downtime, the lock between two
scheduler processes, SIGTERM in the middle of a job, and what `meiyu status` shows.

Steps are launched through `schedule.command`, here small real scripts standing in for
`meiyu`: one records each launch, one writes rows in a single slow transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import apscheduler.schedulers.base
import pytest
from sqlalchemy import func, select

import scheduler
from kernel.config import Config, config_from_dict, load_config
from meiyu.jobs import previous_iso_week, previous_month
from storage import job_runs
from storage.db import make_engine, session_factory, transaction
from storage.job_runs import JobRunRow
from storage.models import IndicatorValue, JobRun
from tests.conftest import REPO, run_meiyu, write_config

# Processes, signals and servers: the full suite, not `make check`.
pytestmark = pytest.mark.slow

SH = ZoneInfo("Asia/Shanghai")

RECORDER = """\
import json, os, sys
log, *argv = sys.argv[1:]
with open(log, "a", encoding="utf-8") as f:
    f.write(json.dumps({"argv": argv, "run": os.environ["MEIYU_JOB_RUN_ID"],
                        "config": os.environ["MEIYU_CONFIG"]}) + "\\n")
"""

# `compute` inserts 50 indicator values in one transaction, says so, then waits while the
# hold file exists before committing. It ignores SIGTERM, like a stuck step.
SLOW_WRITER = """\
import os, signal, sys, time
from pathlib import Path
signal.signal(signal.SIGTERM, signal.SIG_IGN)
marker, hold, *argv = sys.argv[1:]
if argv != ["compute"]:
    sys.exit(0)
from kernel.config import load_config
from storage.db import make_engine, session_factory, transaction
from storage.models import IndicatorValue
sessions = session_factory(make_engine(load_config().database.url))
with transaction(sessions) as s:
    for i in range(50):
        s.add(IndicatorValue(indicator="a29", period_type="month", period=f"p{i}",
                             definition_version="test", value=1.0, n_items=1, n_stories=1))
    s.flush()
    Path(marker).write_text(os.environ["MEIYU_JOB_RUN_ID"])
    while Path(hold).exists():
        time.sleep(0.05)
"""


def service_config(
    tmp_path: Path, db_url: str, command: list[str], sources: tuple[str, ...] = ("alpha", "beta")
) -> tuple[Path, Config]:
    schedule = "\n".join(
        [
            "[schedule]",
            f"command = {json.dumps(command)}",
            "stop_grace_seconds = 1",
        ]
    )
    path = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=None,
        feeds={name: [f"http://{name}.test/rss.xml"] for name in sources},
        extra=schedule,
    )
    return path, load_config(path, env={})


def recorder(tmp_path: Path) -> tuple[list[str], Callable[[], list[dict[str, Any]]]]:
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER, encoding="utf-8")
    log = tmp_path / "launches.jsonl"

    def launches() -> list[dict[str, Any]]:
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]

    return [sys.executable, str(script), str(log)], launches


def all_runs(cfg: Config) -> list[JobRunRow]:
    engine = make_engine(cfg.database.url)
    try:
        with session_factory(engine)() as s:
            return job_runs.runs_of(s)
    finally:
        engine.dispose()


def wait_until(what: str, done: Callable[[], bool], timeout: float = 60) -> None:
    """Poll for a state the service reaches by itself (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def wait_for_runs(cfg: Config, n: int) -> list[JobRunRow]:
    def finished() -> bool:
        runs = all_runs(cfg)
        return len(runs) >= n and all(r.status not in job_runs.ACTIVE for r in runs)

    wait_until(f"{n} finished job runs", finished)
    return all_runs(cfg)


class Clock:
    """APScheduler's idea of now, set by the test."""

    def __init__(self) -> None:
        self.now = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    c = Clock()

    class FakeDatetime(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:  # type: ignore[override]
            return c.now.astimezone(tz) if tz else c.now.replace(tzinfo=None)

    # The scheduler loop reads the time only through this module's `datetime`.
    monkeypatch.setattr(apscheduler.schedulers.base, "datetime", FakeDatetime)
    yield c


def steps(launches: list[dict[str, Any]]) -> list[str]:
    return [" ".join(x["argv"]) for x in launches]


def test_downtime_runs_each_missed_job_once(db_url: str, tmp_path: Path, clock: Clock) -> None:
    command, launches = recorder(tmp_path)
    path, cfg = service_config(tmp_path, db_url, command)
    t0 = dt.datetime(2024, 1, 29, 10, 0, tzinfo=SH)  # a Monday, after the brief's 08:00
    clock.now = t0
    first = scheduler.Service(cfg, str(path))
    first.start(now=t0)
    runs = wait_for_runs(cfg, 2)  # new crawl jobs fire when created
    first.stop()
    assert {(r.job_id, r.slot, r.status) for r in runs} == {
        ("crawl:alpha", t0, "ok"),
        ("crawl:beta", t0, "ok"),
    }
    assert sorted(steps(launches())) == sorted(
        ["crawl --source alpha", "analyze", "crawl --source beta", "analyze"]
    )

    # Three days down: 12 crawl times, 3 compute times and the monthly report were missed.
    clock.now = t0 + dt.timedelta(days=3)  # Thursday 1 February, 10:00
    second = scheduler.Service(cfg, str(path))
    second.start(now=clock.now)
    try:
        runs = wait_for_runs(cfg, 6)
        new = {(r.job_id, r.slot.astimezone(SH)) for r in runs} - {
            ("crawl:alpha", t0),
            ("crawl:beta", t0),
        }
        assert new == {
            ("crawl:alpha", dt.datetime(2024, 2, 1, 10, 0, tzinfo=SH)),
            ("crawl:beta", dt.datetime(2024, 2, 1, 10, 0, tzinfo=SH)),
            ("compute", dt.datetime(2024, 2, 1, 2, 30, tzinfo=SH)),
            ("monthly_report", dt.datetime(2024, 2, 1, 8, 0, tzinfo=SH)),
        }  # no weekly brief: no Monday 08:00 passed while down
        assert all(r.status == "ok" for r in runs)
        assert sorted(steps(launches()[4:])) == sorted(
            [
                "crawl --source alpha",
                "analyze",
                "crawl --source beta",
                "analyze",
                "compute",
                "alerts run",
                "report --format html,pdf,xlsx --month 2024-01",
            ]
        )
        ids = {str(r.id) for r in runs}
        assert {x["run"] for x in launches()} == ids
        assert {x["config"] for x in launches()} == {str(path.resolve())}
        nxt = {job.id: job.next_run_time for job in second.scheduler.get_jobs()}
        assert nxt == {
            "crawl:alpha": dt.datetime(2024, 2, 1, 16, 0, tzinfo=SH),
            "crawl:beta": dt.datetime(2024, 2, 1, 16, 0, tzinfo=SH),
            "compute": dt.datetime(2024, 2, 2, 2, 30, tzinfo=SH),
            "monthly_report": dt.datetime(2024, 3, 1, 8, 0, tzinfo=SH),
            "weekly_brief": dt.datetime(2024, 2, 5, 8, 0, tzinfo=SH),
        }

        # Nothing more until the next fire time; then that one runs, once.
        clock.now = dt.datetime(2024, 2, 1, 16, 0, tzinfo=SH)
        second.scheduler.wakeup()
        later = {(r.job_id, r.slot) for r in wait_for_runs(cfg, 8)} - {
            (r.job_id, r.slot) for r in runs
        }
        assert later == {("crawl:alpha", clock.now), ("crawl:beta", clock.now)}
        assert len(all_runs(cfg)) == 8
        assert len(launches()) == 4 + 7 + 4
    finally:
        second.stop()


def test_restart_follows_config_changes_and_reaps_dead_runs(tmp_path: Path, clock: Clock) -> None:
    command, launches = recorder(tmp_path)
    db_url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    path, cfg = service_config(tmp_path, db_url, command)
    t0 = dt.datetime(2024, 1, 29, 10, 0, tzinfo=SH)
    clock.now = t0
    svc = scheduler.Service(cfg, str(path))
    svc.open(now=t0)
    before = {job.id: job.next_run_time for job in svc.scheduler.get_jobs()}
    svc.close()
    # A scheduler on this host died while running compute.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    holder = f"{scheduler.holder_id().rpartition(':')[0]}:{dead.stdout.strip()}"
    slot = dt.datetime(2024, 1, 29, 2, 30, tzinfo=SH)
    with transaction(svc.runs.sessions) as s:
        s.add(JobRun(job_id="compute", slot=slot, holder=holder, status="running", progress={}))

    # Beta dropped, alpha every 2 h, compute moved; the monthly report is unchanged.
    path, cfg = service_config(tmp_path, db_url, command, sources=("alpha",))
    raw = cfg.model_dump(mode="json")
    raw["sources"][0]["crawl_every_hours"] = 2
    raw["schedule"]["compute"] = "0 3 * * *"
    cfg = config_from_dict(raw)
    clock.now = t0 + dt.timedelta(hours=1)
    svc = scheduler.Service(cfg, str(path))
    svc.open(now=clock.now)
    try:
        after = {job.id: job for job in svc.scheduler.get_jobs()}
        assert set(after) == {"crawl:alpha", "compute", "monthly_report", "weekly_brief"}
        assert after["monthly_report"].next_run_time == before["monthly_report"]
        assert after["compute"].next_run_time == dt.datetime(2024, 1, 30, 3, 0, tzinfo=SH)
        # A changed interval starts a new grid, from now.
        assert after["crawl:alpha"].trigger.interval == dt.timedelta(hours=2)
        assert after["crawl:alpha"].next_run_time == clock.now
        (reaped,) = all_runs(cfg)
        assert (reaped.status, reaped.holder) == ("abandoned", holder)
        # Its firing runs again on start, since compute's next time is not due yet.
        svc.retry_abandoned(clock.now)
        svc.scheduler.resume()
        wait_until("the retried compute", lambda: compute_runs(cfg)[0].status == "ok")
    finally:
        svc.stop()
    (retried,) = compute_runs(cfg)
    assert (retried.id, retried.slot) == (reaped.id, slot)
    assert steps(launches())[:2] == ["compute", "alerts run"]


def compute_runs(cfg: Config) -> list[JobRunRow]:
    return [r for r in all_runs(cfg) if r.job_id == "compute"]


def scheduler_process(path: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEIYU_")}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "meiyu.cli", "--config", str(path), "-v", "schedule"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert code == 0, log.read_text(errors="replace")[-3000:]


def set_next_run(cfg: Config, path: Path, at: dt.datetime, only: str | None = None) -> None:
    """Store the jobs as `meiyu schedule --list` would, with their next run moved to `at`."""
    svc = scheduler.Service(cfg, str(path))
    svc.open()
    for job in svc.scheduler.get_jobs():
        if only in (None, job.id):
            svc.scheduler.modify_job(job.id, next_run_time=at)
    svc.close()


def test_two_scheduler_processes_run_each_firing_once(db_url: str, tmp_path: Path) -> None:
    command, launches = recorder(tmp_path)
    path, cfg = service_config(tmp_path, db_url, command)
    # Both processes are up (about a second) when the five jobs fall due together.
    at = dt.datetime.now(SH) + dt.timedelta(seconds=4)
    set_next_run(cfg, path, at)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [scheduler_process(path, log) for log in logs]
    try:
        runs = wait_for_runs(cfg, 5)
    finally:
        for proc, log in zip(procs, logs, strict=True):
            stop(proc, log)
    runs = all_runs(cfg)
    assert sorted(r.job_id for r in runs) == sorted(
        ["crawl:alpha", "crawl:beta", "compute", "monthly_report", "weekly_brief"]
    )
    assert {r.slot for r in runs} == {at}
    assert {r.status for r in runs} == {"ok"}
    assert {r.holder.rpartition(":")[2] for r in runs} <= {str(p.pid) for p in procs}
    assert sorted(steps(launches())) == sorted(
        [
            "crawl --source alpha",
            "crawl --source beta",
            "analyze",
            "analyze",
            "compute",
            "alerts run",
            f"report --format html,pdf,xlsx --month {previous_month(at)}",
            f"brief --week {previous_iso_week(at)}",
        ]
    )


def count_values(cfg: Config) -> int:
    engine = make_engine(cfg.database.url)
    try:
        with session_factory(engine)() as s:
            return s.scalar(select(func.count(IndicatorValue.id))) or 0
    finally:
        engine.dispose()


def test_sigterm_mid_job_leaves_no_partial_rows(db_url: str, tmp_path: Path) -> None:
    script = tmp_path / "slow_writer.py"
    script.write_text(SLOW_WRITER, encoding="utf-8")
    marker, hold = tmp_path / "started", tmp_path / "hold"
    hold.touch()
    path, cfg = service_config(
        tmp_path, db_url, [sys.executable, str(script), str(marker), str(hold)], sources=()
    )
    set_next_run(cfg, path, dt.datetime.now(SH) - dt.timedelta(minutes=1), only="compute")
    log = tmp_path / "first.log"
    proc = scheduler_process(path, log)
    try:
        wait_until("the compute step's open transaction", marker.exists)
        shown = run_meiyu("--config", str(path), "status", env={"COLUMNS": "200"})
    finally:
        stop(proc, log)  # the step ignores SIGTERM: killed after the 1 s grace
    assert shown.returncode == 0, shown.stderr
    running = shown.stdout[: shown.stdout.index("last run of each job")]
    assert "compute" in running and "running" in running and "compute (1/2)" in running
    assert f":{proc.pid}" in running
    (run,) = all_runs(cfg)
    assert run.status == "abandoned"
    assert run.error == "the scheduler stopped during compute"
    assert run.id == int(marker.read_text())
    assert count_values(cfg) == 0  # the killed step's 50 uncommitted rows are gone

    # On restart the abandoned firing runs again, and this time completes.
    hold.unlink()
    log = tmp_path / "second.log"
    proc = scheduler_process(path, log)
    try:
        wait_until("the retried compute", lambda: all_runs(cfg)[0].status == "ok")
    finally:
        stop(proc, log)
    (again,) = all_runs(cfg)
    assert (again.id, again.slot, again.error) == (run.id, run.slot, None)
    assert count_values(cfg) == 50
    shown = run_meiyu("--config", str(path), "status", env={"COLUMNS": "200"})
    assert "running now: nothing" in shown.stdout
    assert "compute" in shown.stdout and " ok " in shown.stdout


# A step that says it started (its pid) and then runs far longer than the test.
LONG_STEP = """\
import os, sys, time
from pathlib import Path
marker, *argv = sys.argv[1:]
if argv != ["compute"]:
    sys.exit(0)
Path(marker).write_text(str(os.getpid()))
time.sleep(600)
"""


def process_gone(pid: int) -> bool:
    """No such process, or a zombie (dead, waiting for a parent that may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_sigkilled_scheduler_takes_its_running_step_with_it(tmp_path: Path) -> None:
    script = tmp_path / "long_step.py"
    script.write_text(LONG_STEP, encoding="utf-8")
    marker = tmp_path / "started"
    db_url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    path, cfg = service_config(
        tmp_path, db_url, [sys.executable, str(script), str(marker)], sources=()
    )
    set_next_run(cfg, path, dt.datetime.now(SH) - dt.timedelta(minutes=1), only="compute")
    log = tmp_path / "scheduler.log"
    proc = scheduler_process(path, log)
    child = None
    try:
        wait_until("the long compute step", lambda: marker.exists() and marker.read_text() != "")
        child = int(marker.read_text())
        assert not process_gone(child)
        os.kill(proc.pid, signal.SIGKILL)  # the scheduler alone, not its children's groups
        assert proc.wait(timeout=30) == -signal.SIGKILL
        wait_until("the step to die with its scheduler", lambda: process_gone(child), timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if child is not None and not process_gone(child):
            os.kill(child, signal.SIGKILL)


def test_list_once_and_status(tmp_path: Path) -> None:
    command, launches = recorder(tmp_path)
    db_url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    path, cfg = service_config(tmp_path, db_url, command)
    env = {"COLUMNS": "200"}
    listed = run_meiyu("--config", str(path), "schedule", "--list", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines() if "│" in line}
    assert set(rows) >= {"crawl:alpha", "crawl:beta", "compute", "monthly_report", "weekly_brief"}
    assert "30 2 * * *" in rows["compute"] and " 02:30 " in rows["compute"]
    assert "-01 08:00" in rows["monthly_report"] and "report 20" in rows["monthly_report"]
    assert "every 6 h" in rows["crawl:alpha"] and "crawl alpha → analyze" in rows["crawl:alpha"]
    again = run_meiyu("--config", str(path), "schedule", "--list", env=env)
    assert again.stdout == listed.stdout  # stored, not recomputed
    assert launches() == []  # listing runs nothing

    once = run_meiyu("--config", str(path), "schedule", "--once", env=env)
    assert once.returncode == 0, once.stderr
    month = previous_month(dt.datetime.now(SH))
    assert steps(launches()) == [
        "crawl",
        "analyze",
        "compute",
        "alerts run",
        f"report --format html,pdf,xlsx --month {month}",
    ]
    shown = run_meiyu("--config", str(path), "status", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "running now: nothing" in shown.stdout
    last = [line for line in shown.stdout.splitlines() if "│ once " in line]
    assert len(last) == 1 and "│ ok " in last[0]
