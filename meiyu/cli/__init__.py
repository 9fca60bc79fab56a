"""The `meiyu` command. Every failure the user can act on ends as one line and an exit code:
0 done, 1 something outside went wrong (network, database), 2 the user's input is wrong.

The root app, its options and what the groups share live in `meiyu.cli._common`; each command
group has its module here (crawl, indicators, exports, reports, ops, serve, db, config, nlp,
alerts, audit, users). The commands keep their imports of crawlers, NLP, storage, reports and
the web app inside the function, so `meiyu --help` starts quickly.
"""

from __future__ import annotations

import importlib
import sys

from rich.markup import escape
from sqlalchemy.exc import DBAPIError

from kernel.errors import MeiyuError
from meiyu.cli import _common
from meiyu.cli._common import app, state

__all__ = ["app", "main", "state"]

# The groups are loaded by name, in the order `meiyu --help` lists them: each imports
# meiyu.cli._common (and so, first, this package), and tests/test_imports.py would count an
# import statement here as a circle. None of them reads a name from this module.
_TOP_LEVEL = ("crawl", "indicators", "exports", "reports", "ops", "serve")  # on the root app
for _name in _TOP_LEVEL:
    importlib.import_module(f"{__name__}.{_name}")
for _name, _attr in (
    ("db", "db_app"),
    ("config", "config_app"),
    ("nlp", "nlp_app"),
    ("alerts", "alerts_app"),
    ("audit", "audit_app"),
    ("users", "users_app"),
):
    app.add_typer(getattr(importlib.import_module(f"{__name__}.{_name}"), _attr), name=_name)


def main() -> None:
    try:
        app()  # standalone: usage errors are one line and exit 2 (click's own handling)
    except MeiyuError as exc:
        # the message is text, not markup: "[[sources]]" must reach the user as written
        _common.err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except DBAPIError as exc:  # outside the stages' units of work (reads, migrations)
        from storage.db import one_line

        reason = escape(one_line(exc))
        _common.err.print(
            f"[red]error:[/red] database error: {reason}", highlight=False, soft_wrap=True
        )
        sys.exit(1)
