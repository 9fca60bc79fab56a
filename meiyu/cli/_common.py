"""What every command group of `meiyu` shares: the root app and its options, the consoles,
table printing, the database sessions and argument checks.

The commands print through `_common.out` and `_common.err`, looked up when they run, so that a
test can swap the console here once for every command.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kernel.config import Config, load_config
from kernel.errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="美誉 media-reputation monitor")

out = Console()
err = Console(stderr=True)


class State:
    config_path: str | None = None
    verbose: bool = False

    def config(self) -> Config:
        return load_config(self.config_path)


state = State()


def _show(table: Table) -> None:
    """Print a table so that no cell is cut to "…": text wraps at spaces, and a word longer
    than its column folds onto the next line."""
    for column in table.columns:
        if column.overflow == "ellipsis":  # rich's default
            column.overflow = "fold"
    out.print(table)


def _show_wide(table: Table) -> None:
    """Print a table at its full width, however narrow the terminal (for `less -S`)."""
    from rich.measure import Measurement

    needed = Measurement.get(out, out.options.update_width(100_000), table).maximum
    Console(width=max(out.width, needed)).print(table)


@app.callback()
def _root(
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="Config file (default ./meiyu.toml).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log crawler detail.")] = False,
) -> None:
    state.config_path = config
    state.verbose = verbose
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.root.handlers:
        handler.setLevel(level)  # Scrapy lowers the root logger; the handler keeps the bar


def _sessions(cfg: Config, upgrade: bool = True) -> tuple[Engine, sessionmaker[Session]]:
    from storage.db import check_connection, make_engine, session_factory
    from storage.migrate import upgrade as upgrade_schema

    engine = make_engine(cfg.database.url)
    check_connection(engine)
    if upgrade:
        upgrade_schema(engine)
    return engine, session_factory(engine, cfg.database.retry_seconds)


def _local(t: dt.datetime | None, cfg: Config) -> str:
    """A stored (UTC) time as the schedule's local minute, or — for none."""
    return t.astimezone(ZoneInfo(cfg.schedule.timezone)).strftime("%Y-%m-%d %H:%M") if t else "—"


def _date(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option}: expected YYYY-MM-DD, got {value!r}") from None


def _check_writable(path: Path) -> None:
    """Fail before any work when the file cannot be written (exit 2, nothing created)."""
    if path.is_dir():
        raise UserError(f"--out: {path} is a folder; give a file name")
    folder = path.absolute().parent
    while not folder.exists():  # folders still to create: the nearest existing one decides
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"--out: cannot write under {folder}")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"--out: {path} is not writable")
