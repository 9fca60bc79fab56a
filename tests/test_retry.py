"""The one retry policy (tenacity) where meiyu waits: a database unit of work on a lost
PostgreSQL connection, a Redis connection, the scheduler recording a run's outcome. Their
waits, log lines and final errors, on a clock the test owns (no real waiting)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

import scheduler
import storage.db
from crawlers.distributed import Backoff, RedisUnavailable
from kernel.errors import DatabaseFailed, DatabaseUnavailable
from storage.db import make_engine, session_factory, unit_of_work


class Clock:
    """time.monotonic and time.sleep for the test: sleeping moves the clock on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        monkeypatch.setattr(time, "monotonic", lambda: self.now)
        monkeypatch.setattr(time, "sleep", self.sleep)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _lost() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("server closed the connection\nunexpectedly"))


Sessions = Callable[[float], sessionmaker[Session]]


@pytest.fixture
def sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sessions]:
    # SQLite's errors never pass by waiting; here "server closed" stands for PostgreSQL's.
    monkeypatch.setattr(
        storage.db, "lost_connection", lambda exc, _dialect: "server closed" in str(exc)
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'meiyu.db'}")
    yield lambda budget: session_factory(engine, budget)
    engine.dispose()


def test_a_lost_connection_runs_the_unit_again(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(monkeypatch)
    calls: list[int] = []

    def work(_session: object, answer: int) -> int:
        calls.append(1)
        if len(calls) <= 4:
            raise _lost()
        return answer

    with caplog.at_level(logging.WARNING, logger="meiyu.db"):
        assert unit_of_work(sessions(60), work, 7) == 7
    assert len(calls) == 5
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]  # doubled from 0.5 s …
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("database unreachable at sqlite:///")
    assert lines[0].endswith(
        ": server closed the connection unexpectedly; unit rolled back, retry 1 in 0.5 s "
        "(60 s left)"
    )
    assert "retry 4 in 4.0 s (56 s left)" in lines[3] and len(lines) == 4  # 56.5 s


def test_the_wait_is_capped_and_the_unit_gives_up_at_its_budget(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(monkeypatch)

    def work(_session: object) -> None:
        raise _lost()

    with pytest.raises(DatabaseUnavailable) as raised:
        unit_of_work(sessions(20), work)
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 2.5]  # … at most 5 s, within 20 s
    assert str(raised.value).startswith("database unreachable at sqlite:///")
    assert str(raised.value).endswith(
        ": server closed the connection unexpectedly (gave up after 20 s; the unit in "
        "progress was rolled back, what was committed is kept)"
    )
    assert len(caplog.records) == 7


def test_a_refused_statement_is_not_run_again(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch)

    def work(_session: object) -> None:
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    with pytest.raises(DatabaseFailed, match="disk I/O error; the unit of work in progress"):
        unit_of_work(sessions(60), work)
    assert clock.sleeps == []


def test_redis_backoff_doubles_caps_and_gives_up_in_one_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(monkeypatch)
    calls: list[int] = []

    def refuse() -> None:
        calls.append(1)
        raise redis.ConnectionError("Connection refused.")

    with (
        caplog.at_level(logging.WARNING, logger="crawlers.distributed"),
        pytest.raises(RedisUnavailable) as raised,
    ):
        Backoff("redis://u:secret@h:1/0", 2, 0.1).call(refuse)
    assert len(calls) == 3 and clock.sleeps == [0.1, 0.2]
    assert [r.getMessage() for r in caplog.records] == [
        "Redis at redis://u:***@h:1/0 unreachable, retrying in 0.1 s",
        "Redis at redis://u:***@h:1/0 unreachable, retrying in 0.2 s",
    ]
    assert str(raised.value) == (
        "Redis at redis://u:***@h:1/0 unreachable after 3 attempt(s): Connection refused."
    )

    clock.sleeps.clear()
    with pytest.raises(RedisUnavailable):
        Backoff("redis://h:1/0", 4, 20.0).call(refuse)
    assert clock.sleeps == [20.0, 40.0, 60.0, 60.0]  # capped at a minute


def test_redis_backoff_returns_once_answered_and_never_retries_a_refused_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock(monkeypatch)
    timeouts = [redis.TimeoutError("Timeout reading from socket")]

    def ping() -> str:
        if timeouts:
            raise timeouts.pop()
        return "PONG"

    assert Backoff("redis://h:1/0", 3, 0.5).call(ping) == "PONG"
    assert clock.sleeps == [0.5]

    def login() -> None:
        raise redis.AuthenticationError("invalid password")

    with pytest.raises(RedisUnavailable, match="refused the login"):
        Backoff("redis://h:1/0", 3, 0.5).call(login)
    assert clock.sleeps == [0.5]


def test_a_run_outcome_is_tried_three_times_5_s_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'meiyu.db'}")
    runs = scheduler.Runs(session_factory(engine), dt.timedelta(minutes=30))
    pauses: list[float] = []
    monkeypatch.setattr(runs, "_pause", pauses.append)
    recorded: list[tuple[int, str, str | None]] = []
    failures = [SQLAlchemyError("database is locked"), SQLAlchemyError("database is locked")]

    def finish(
        _sessions: object, run_id: int, _holder: str, status: str, error: str | None
    ) -> None:
        if failures:
            raise failures.pop(0)
        recorded.append((run_id, status, error))

    monkeypatch.setattr(scheduler.job_runs, "finish", finish)
    runs._active.add(7)
    with caplog.at_level(logging.ERROR, logger="meiyu.scheduler"):
        runs.finish(7, "ok", None)
    assert recorded == [(7, "ok", None)] and pauses == [5, 5] and 7 not in runs._active
    assert [r.getMessage() for r in caplog.records] == [
        "run 7: outcome not recorded (database is locked)"
    ] * 2

    caplog.clear()
    failures[:] = [SQLAlchemyError(f"try {i}") for i in (1, 2, 3)]
    runs._active.add(8)
    with (
        caplog.at_level(logging.ERROR, logger="meiyu.scheduler"),
        pytest.raises(SQLAlchemyError, match="try 3"),
    ):
        runs.finish(8, "failed", "boom")
    assert len(caplog.records) == 3 and 8 not in runs._active and pauses == [5, 5, 5, 5]
    runs.close()
    engine.dispose()
