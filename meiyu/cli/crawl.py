"""`meiyu crawl` and `meiyu sources`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from kernel.config import Config, SourceConfig
from kernel.errors import CrawlFailed, UserError
from meiyu.cli import _common
from meiyu.cli._common import _date, _sessions, _show, app, state


@app.command()
def crawl(
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")
    ] = None,
    indicator: Annotated[
        str | None, typer.Option("--indicator", "-i", help="Search sources: only this query.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Search window start, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="Search window end, YYYY-MM-DD.")] = None,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker",
            help='One of several workers sharing the crawl in Redis (crawl.backend = "redis").',
        ),
    ] = False,
) -> None:
    """Crawl the configured sources; search sources over a window (backfill with --since)."""
    cfg = state.config()
    if worker and cfg.crawl.backend != "redis":
        raise UserError(
            '--worker shares the crawl through Redis: set crawl.backend = "redis" '
            "(or MEIYU_CRAWL__BACKEND=redis) and redis.url (or MEIYU_REDIS_URL)"
        )
    sources = [cfg.source(n) for n in source] if source else list(cfg.sources)
    if not sources:
        raise UserError("no sources configured: add [[sources]] to the config")
    if indicator is not None:
        cfg.indicator(indicator)
    start, end = _date(since, "--since"), _date(until, "--until")
    if start and end and start > end:
        raise UserError(f"--since {since} is after --until {until}")
    _run_crawl(cfg, sources, since=start, until=end, indicator=indicator)


def _run_crawl(
    cfg: Config,
    sources: list[SourceConfig],
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    indicator: str | None = None,
) -> None:
    from crawlers.runner import run_crawl
    from storage.queries import known_urls

    engine, sessions = _sessions(cfg)
    with sessions() as s:
        known = set() if cfg.crawl.refetch_known else known_urls(s)
    engine.dispose()
    summary = run_crawl(
        cfg,
        sources,
        since=since,
        until=until,
        indicator=indicator,
        known_urls=known,
        log_level="INFO" if state.verbose else "WARNING",
    )
    runs = ", ".join(str(r) for r in summary.run_ids)
    _common.out.print(
        f"crawl run {runs}: {summary.pages_fetched} pages, {summary.items_seen} items, "
        f"{summary.new} new, {summary.updated} updated, {summary.unchanged} unchanged, "
        f"{summary.known} already stored documents"
    )
    for line in summary.skipped:
        _common.out.print(f"skipped {line}")
    if summary.warnings:
        _common.out.print(
            f"{len(summary.warnings)} article page(s) unusable, summary kept (see log)"
        )
    if summary.failures:
        raise CrawlFailed(
            f"{len(summary.failures)} request(s) failed, the rest is stored: "
            + "; ".join(summary.failures[:3])
        )


@app.command()
def sources() -> None:
    """List the configured sources, their last crawl run and the documents they stored."""
    from storage.queries import source_status

    cfg = state.config()
    _, sessions = _sessions(cfg)
    with sessions() as s:
        status = {row.name: row for row in source_status(s)}
    table = Table(title="sources")
    for col in ("name", "kind", "lang", "documents", "last run", "status", "items"):
        table.add_column(col)
    for src in cfg.sources:
        row = status.get(src.name)
        table.add_row(
            src.name,
            src.kind,
            src.language,
            str(row.documents if row else 0),
            row.last_run.strftime("%Y-%m-%d %H:%M") if row and row.last_run else "never",
            row.last_status if row and row.last_status else "—",
            str(row.last_items if row else 0),
        )
    _show(table)
