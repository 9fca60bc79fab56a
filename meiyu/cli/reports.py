"""`meiyu report` (monthly) and `meiyu brief` (weekly)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from kernel.config import Config, parse_month
from meiyu.cli import _common
from meiyu.cli._common import _sessions, app, state


@app.command()
def report(
    month: Annotated[str, typer.Option("--month", "-m", help="YYYY-MM")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out"),
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Comma list of html, pdf, xlsx.")
    ] = "html",
) -> None:
    """Render the monthly report (HTML; PDF and XLSX from the same numbers)."""
    from reports.monthly import parse_formats

    cfg = state.config()
    year, mon = parse_month(month)
    formats = parse_formats(fmt)
    for path in _report(cfg, year, mon, out_dir, formats=formats):
        _common.out.print(f"report written: {path}")


def _report(
    cfg: Config,
    year: int,
    month: int,
    out_dir: Path,
    demo_note: str | None = None,
    formats: list[str] | None = None,
) -> list[Path]:
    from reports.monthly import build_monthly, write_report

    _, sessions = _sessions(cfg)
    with sessions() as s:
        rep = build_monthly(cfg, s, year, month, demo_note=demo_note)
    return write_report(rep, out_dir, formats or ["html"])


@app.command()
def brief(
    week: Annotated[
        str | None, typer.Option("--week", "-w", help="ISO week, e.g. 2023-W49 (default: last).")
    ] = None,
    indicator: Annotated[
        str | None, typer.Option("--indicator", "-i", help="A positive-share indicator (a67).")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out"),
) -> None:
    """Write the weekly Korean-sentiment brief (HTML) for the tourism bureau."""
    cfg = state.config()
    path = _brief(cfg, week, indicator, out_dir)
    _common.out.print(f"brief written: {path}")


def _brief(
    cfg: Config,
    week: str | None,
    indicator: str | None,
    out_dir: Path,
    demo_note: str | None = None,
) -> Path:
    from reports.weekly import build_weekly, last_complete_week, parse_week, write_brief

    chosen = parse_week(week) if week else last_complete_week(dt.datetime.now(cfg.tz).date())
    _, sessions = _sessions(cfg)
    with sessions() as s:
        made = build_weekly(cfg, s, chosen, indicator, demo_note=demo_note)
    return write_brief(made, out_dir)
