"""`meiyu export`: documents for research."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

from kernel.config import Config
from kernel.errors import MeiyuError
from meiyu.cli import _common
from meiyu.cli._common import _check_writable, _sessions, app, state

if TYPE_CHECKING:
    from reports.exports import ExportSpec


@app.command()
def export(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="File to write.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="parquet, jsonl or csv (default: --out suffix).")
    ] = None,
    indicator: Annotated[
        str | None, typer.Option("--indicator", "-i", help="Only its matched documents.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Published on or after, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="Published on or before, YYYY-MM-DD.")] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="zh or ko.")] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Only this source (repeatable).")
    ] = None,
    with_html: Annotated[
        bool, typer.Option("--with-html", help="Add the raw page from the HTTP cache.")
    ] = False,
) -> None:
    """Export documents for research (one row each, streamed) with a DATASHEET.md beside."""
    from reports.exports import (
        ExportRequest,
        check_request,
        check_sources,
        datasheet_path,
        export_spec,
    )

    req = ExportRequest(
        fmt=fmt or out_path.suffix.lstrip(".").lower(),
        indicator=indicator,
        since=since,
        until=until,
        lang=lang,
        sources=tuple(source or ()),
    )
    cfg = state.config()
    check_request(cfg, req)  # the dashboard's form checks the same, with the same lines
    _check_writable(out_path)
    if with_html:
        from crawlers.html_cache import check_cache

        check_cache(cfg)
    _, sessions = _sessions(cfg)
    with sessions() as s:
        check_sources(cfg, s, req.sources)
    spec = export_spec(cfg, req, out_path, with_html)
    rows = _run_export(cfg, sessions, spec)
    _common.out.print(f"exported {rows:,} rows: {out_path}", highlight=False)
    _common.out.print(f"datasheet: {datasheet_path(out_path)}", highlight=False)


def _run_export(cfg: Config, sessions: sessionmaker[Session], spec: ExportSpec) -> int:
    from rich.progress import MofNCompleteColumn, Progress

    from reports.exports import export as write_export
    from storage.exports import count_rows

    pages = None
    with (
        sessions() as s,
        Progress(
            *Progress.get_default_columns(),
            MofNCompleteColumn(),
            console=_common.err,
            disable=not _common.err.is_terminal,
        ) as bar,
    ):
        try:
            spec.out.parent.mkdir(parents=True, exist_ok=True)
            if spec.with_html:
                from crawlers.html_cache import CachedPages

                task = bar.add_task("indexing the HTTP cache", total=None)
                pages = CachedPages(cfg, on_entry=lambda: bar.advance(task))
                bar.remove_task(task)
            task = bar.add_task(f"export {spec.fmt}", total=count_rows(s, spec.filter))
            result = write_export(
                cfg,
                s,
                spec,
                html_for=pages.pages if pages else None,
                on_rows=lambda n: bar.advance(task, n),
            )
        except OSError as exc:
            raise MeiyuError(f"export failed, nothing written: {exc}") from None
        finally:
            if pages:
                pages.close()
    return result.stats.rows
