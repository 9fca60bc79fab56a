"""Engines and sessions: SQLite gets WAL and foreign keys; unreachable servers become one line."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from meiyu.errors import DatabaseUnavailable, UserError


def normalise_url(url: str) -> URL:
    """Accept postgres:// and postgresql:// and use psycopg 3; make SQLite's folder exist."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(f"database URL is malformed: {url!r}") from None
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
        reason = " ".join(str(exc.orig or exc).split())  # psycopg spreads it over lines
        raise DatabaseUnavailable(
            f"cannot reach database {safe_url(engine.url)}: {reason}"
        ) from None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextlib.contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: committed whole or rolled back whole."""
    with factory() as session, session.begin():
        yield session
