"""`meiyu db`: the database schema."""

from __future__ import annotations

import typer

from meiyu.cli import _common
from meiyu.cli._common import _sessions, state

db_app = typer.Typer(no_args_is_help=True, help="Database schema.")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest revision."""
    from storage.db import safe_url
    from storage.migrate import current_revision

    cfg = state.config()
    engine, _ = _sessions(cfg)
    _common.out.print(f"database {safe_url(engine.url)} at revision {current_revision(engine)}")
