"""Engines and sessions: SQLite gets WAL and foreign keys; unreachable servers become one line;
a unit of work survives a PostgreSQL restart by running again."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential

from kernel.errors import DatabaseFailed, DatabaseUnavailable, UserError, redact

log = logging.getLogger("meiyu.db")
T = TypeVar("T")
P = ParamSpec("P")
# How long a unit of work waits for a lost PostgreSQL server before the command gives up
# (a restart takes seconds; a longer outage is for the next scheduled run).
RETRY_SECONDS = 60.0
RETRY_MAX_DELAY = 5.0


def normalise_url(url: str) -> URL:
    """Accept postgres:// and postgresql:// and use psycopg 3; make SQLite's folder exist."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise UserError(f"database URL is malformed: {redact(url)!r}") from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(
                f"cannot create the SQLite folder {folder}: {exc.strerror}"
            ) from None
    return parsed


def safe_url(url: str | URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(str(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "<malformed URL>"


def make_engine(url: str) -> Engine:
    parsed = normalise_url(url)
    kwargs: dict[str, object] = {"future": True}
    if parsed.drivername.startswith("postgresql"):
        kwargs.update(pool_pre_ping=True, connect_args={"connect_timeout": 5})
    else:
        # Scrapy's pipelines and the CLI may touch the file from different threads.
        kwargs.update(connect_args={"check_same_thread": False, "timeout": 30})
    engine = create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def check_connection(engine: Engine) -> None:
    """Fail early, in one line, when the database cannot be reached or opened."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot reach database {safe_url(engine.url)}: {one_line(exc)}"
            + _sqlite_folder_hint(engine)
        ) from None


def one_line(exc: BaseException) -> str:
    """The driver's message without SQLAlchemy's wrapping; psycopg spreads it over lines."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


def _sqlite_folder_hint(engine: Engine) -> str:
    """SQLite says only "unable to open database file" when it may not write next to it."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return ""
    folder = Path(engine.url.database).expanduser().resolve().parent
    if folder.is_dir() and not os.access(folder, os.W_OK):
        return f" (the folder {folder} is read-only: SQLite writes the file and its -wal there)"
    return ""


def session_factory(engine: Engine, retry_seconds: float = RETRY_SECONDS) -> sessionmaker[Session]:
    """Sessions on `engine`; `retry_seconds` is how long unit_of_work waits for a lost server."""
    return sessionmaker(engine, expire_on_commit=False, info={"retry_seconds": retry_seconds})


@contextlib.contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed whole or rolled back whole."""
    with factory() as session, session.begin():
        yield session


def lost_connection(exc: DBAPIError, dialect: str) -> bool:
    """The PostgreSQL server went away (restart, network cut, refused connection), as opposed
    to a statement the server refused: only the former is worth running again."""
    if dialect != "postgresql":
        return False  # SQLite's errors (disk full, read-only, I/O) do not pass by waiting
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None)
    # no SQLSTATE: the client's own connection failure; 08: connection exception;
    # 57P01-03: admin shutdown, crash shutdown, cannot connect now (the server is starting)
    return isinstance(exc, OperationalError) and (
        state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")
    )


def unit_of_work(
    factory: sessionmaker[Session],
    work: Callable[Concatenate[Session, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`work(session, *args, **kwargs)` in one transaction, committed whole or rolled back whole.

    A PostgreSQL connection lost on the way rolls the unit back, and it runs again once the
    server answers, for up to the factory's retry_seconds: every stage's unit is idempotent
    (upserts, replace-by-key), so running one again (even after a commit whose answer was lost)
    stores the same rows. Any other database failure ends the command in one line.
    """
    bind = factory.kw["bind"]
    assert isinstance(bind, Engine), "unit_of_work needs a sessionmaker bound to an engine"
    budget = float(factory.kw.get("info", {}).get("retry_seconds", RETRY_SECONDS))
    where = safe_url(bind.url)
    dialect = bind.dialect.name
    deadline = time.monotonic() + budget
    backoff = wait_exponential(multiplier=0.5, max=RETRY_MAX_DELAY)  # 0.5 s, doubled, ≤ 5 s
    left = budget

    def lost(exc: BaseException) -> bool:
        return isinstance(exc, DBAPIError) and lost_connection(exc, dialect)

    def out_of_time(_state: RetryCallState) -> bool:
        return deadline - time.monotonic() <= 0

    def wait(state: RetryCallState) -> float:
        nonlocal left
        left = deadline - time.monotonic()
        return min(backoff(state), left)

    def warn(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "database unreachable at %s: %s; unit rolled back, retry %d in %.1f s (%.0f s left)",
            where,
            one_line(exc) if exc else "",
            state.attempt_number,
            state.upcoming_sleep,
            left,
        )

    def once() -> T:
        with transaction(factory) as session:
            return work(session, *args, **kwargs)

    retrying = Retrying(
        retry=retry_if_exception(lost),
        stop=out_of_time,
        wait=wait,
        before_sleep=warn,
        reraise=True,
    )
    try:
        return retrying(once)
    except DBAPIError as exc:
        if not lost(exc):
            raise DatabaseFailed(
                f"database error at {where}: {one_line(exc)}; "
                "the unit of work in progress was rolled back, what was committed is kept"
            ) from None
        raise DatabaseUnavailable(
            f"database unreachable at {where}: {one_line(exc)} (gave up after "
            f"{budget:g} s; the unit in progress was rolled back, what was committed "
            "is kept)"
        ) from None
