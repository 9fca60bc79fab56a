"""`meiyu config`: check the configuration."""

from __future__ import annotations

import typer
from rich.table import Table

from meiyu.cli import _common
from meiyu.cli._common import _show, state

config_app = typer.Typer(no_args_is_help=True, help="Configuration.")


@config_app.command("check")
def config_check() -> None:
    """Validate the config and show what it defines."""
    cfg = state.config()
    table = Table(title="indicators")
    for col in ("key", "name", "lang", "kind", "terms", "version"):
        table.add_column(col, no_wrap=col in ("key", "lang", "kind", "version"))
    for key, ind in cfg.indicators.items():
        terms = " + ".join(" | ".join(g) for g in ind.all_of)
        table.add_row(key, ind.name, ind.language, ind.kind, terms, ind.version())
    _show(table)
    _common.out.print(f"{len(cfg.sources)} sources: " + ", ".join(s.name for s in cfg.sources))
    _common.out.print("[green]config ok[/green]")
