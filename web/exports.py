"""The exports page: `meiyu export`'s filters as a form, the count of the rows they select, and
the download: the data file and its DATASHEET.md in one zip. The checks, the rows and the
datasheet are the command's own (reports.exports), so the same filters give the same file.

The export is written into a fresh temporary folder, sent from disk in chunks and removed once
the answer ends: memory stays at one batch of rows whatever the export's size. Raw HTML
(`--with-html`) is read from the crawlers' HTTP cache, which web/ may not import: it stays with
the command line."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
import logging
import re
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from kernel.config import Config
from kernel.errors import UserError
from reports.exports import (
    FORMATS,
    ExportRequest,
    check_sources,
    datasheet_path,
    export,
    export_filter,
    export_spec,
)
from storage.exports import count_rows, source_outlets
from web.kit import PageKit
from web.security import same

log = logging.getLogger("meiyu.web")

# what the temporary folders of the downloads are called (tempfile.gettempdir() holds them)
TEMP_PREFIX = "meiyu-export-"
FORMAT_NAMES = {"csv": "CSV", "jsonl": "JSON lines", "parquet": "Parquet"}
LANGUAGE_NAMES = {"zh": "中文", "ko": "韩语"}
MAX_SOURCES = 500
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class TemporaryDownload(FileResponse):
    """A zip sent from its temporary folder, which goes when the answer ends. The removal is
    the response's BackgroundTask, also run when the client leaves mid-download (Starlette
    skips the task when sending fails)."""

    def __init__(self, path: Path, folder: Path, filename: str) -> None:
        super().__init__(
            path,
            media_type="application/zip",
            filename=filename,
            background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except BaseException:
            if self.background is not None:
                with anyio.CancelScope(shield=True):
                    await self.background()
            raise


def file_stem(req: ExportRequest) -> str:
    """`meiyu-export-a67-2023-12-01-2023-12-31`: the filters in the name, in safe characters
    (a config's indicator key could hold anything a header or a file system dislikes)."""
    parts = ["meiyu-export", req.indicator or "all", req.lang, req.since, req.until]
    return _UNSAFE.sub("_", "-".join(p for p in parts if p))


def _request(
    fmt: str, indicator: str, since: str, until: str, lang: str, sources: Sequence[str]
) -> ExportRequest:
    """The form's fields as `meiyu export`'s options: an empty field is an option not given."""
    return ExportRequest(
        fmt=fmt,
        indicator=indicator or None,
        since=since or None,
        until=until or None,
        lang=lang or None,
        sources=tuple(dict.fromkeys(s for s in sources if s)),
    )


def write_zip(cfg: Config, sessions: Any, req: ExportRequest, folder: Path) -> tuple[Path, int]:
    """The export and its datasheet written by `meiyu export`'s code into `folder`, zipped
    (read and compressed in chunks), the two files removed: (the zip, the rows)."""
    stem = file_stem(req)
    spec = export_spec(cfg, req, folder / f"{stem}.{req.fmt}")
    with sessions() as s:
        result = export(cfg, s, spec)
    archive = folder / f"{stem}.zip"
    # Parquet is compressed already (zstd): stored as it is; the text files are deflated
    method = zipfile.ZIP_STORED if req.fmt == "parquet" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(archive, "w", compression=method, allowZip64=True) as z:
        z.write(result.path, result.path.name)
        z.write(result.datasheet, result.datasheet.name, compress_type=zipfile.ZIP_DEFLATED)
    result.path.unlink()
    result.datasheet.unlink()
    return archive, result.stats.rows


def register(app: FastAPI, kit: PageKit) -> None:
    """Adds GET /exports (the form, and the row count of its filters) and POST /exports (the
    download), for analysts."""
    sessions, indicators, cfg = kit.sessions, kit.indicators, kit.config
    render, page, page_error = kit.render, kit.page, kit.page_error

    def sources_shown(config: Config) -> list[tuple[str, str]]:
        """Every source an export may name (stored or configured) with its outlet."""
        with sessions() as s:
            stored = source_outlets(s)
        outlets = {src.name: src.outlet for src in config.sources} | stored
        return sorted(outlets.items())

    def form_page(
        request: Request,
        visitor: Any,
        req: ExportRequest,
        status: int = 200,
        error: str | None = None,
        count: int | None = None,
    ) -> Response:
        return render(
            request,
            "exports.html.j2",
            status,
            visitor=visitor,
            enabled=cfg is not None,
            indicators=indicators,
            sources=sources_shown(cfg) if cfg is not None else [],
            req=req,
            formats=FORMAT_NAMES,
            languages=LANGUAGE_NAMES,
            error=error,
            count=count,
            stem=file_stem(req) if req.fmt in FORMATS else "",
            sheet=datasheet_path(Path(f"{file_stem(req)}.{req.fmt}")).name,
            tz=kit.timezone,
        )

    def checked(config: Config, req: ExportRequest) -> int:
        """The rows the request selects, after `meiyu export`'s checks (UserError)."""
        f = export_filter(config, req)
        with sessions() as s:
            check_sources(config, s, req.sources)
            return count_rows(s, f)

    Field = Annotated[str, Query(max_length=40)]
    Sources = Annotated[list[str], Query(max_length=MAX_SOURCES)]

    @app.get("/exports", response_class=HTMLResponse, include_in_schema=False)
    def exports_page(
        request: Request,
        visitor: Annotated[Any, Depends(page("analyst"))],
        indicator: Field = "",
        since: Field = "",
        until: Field = "",
        lang: Field = "",
        source: Sources = [],  # noqa: B006 - FastAPI copies a default, it is never changed
        format: Field = "csv",
        preview: Annotated[bool, Query()] = False,
    ) -> Response:
        req = _request(format, indicator, since, until, lang, source)
        if cfg is None or not preview:
            return form_page(request, visitor, req)
        try:
            rows = checked(cfg, req)
        except UserError as exc:
            return form_page(request, visitor, req, 422, error=str(exc))
        return form_page(request, visitor, req, count=rows)

    FormField = Annotated[str, Form(max_length=40)]

    @app.post("/exports", include_in_schema=False)
    def exports_download(
        request: Request,
        visitor: Annotated[Any, Depends(page("analyst"))],
        csrf: Annotated[str, Form(max_length=200)] = "",
        indicator: FormField = "",
        since: FormField = "",
        until: FormField = "",
        lang: FormField = "",
        source: Annotated[list[str], Form(max_length=MAX_SOURCES)] = [],  # noqa: B006
        format: FormField = "",
    ) -> Response:
        ws = visitor.web_session  # a token bearer has no session: no form to post
        if ws is None or not same(csrf, ws.csrf_token):
            raise page_error(403, "表单已失效，请刷新页面后再试。")
        if cfg is None:
            raise page_error(404, "导出功能未启用。")
        req = _request(format, indicator, since, until, lang, source)
        try:
            checked(cfg, req)
        except UserError as exc:
            return form_page(request, visitor, req, 422, error=str(exc))
        folder = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
        try:
            archive, rows = write_zip(cfg, sessions, req, folder)
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            log.error("export by %r failed: %s", visitor.user.name, exc)
            raise page_error(500, f"导出失败，未生成文件：{exc}") from exc
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        log.info(
            "export by %r from %s: indicator=%s lang=%s since=%s until=%s sources=%s "
            "format=%s: %d rows, %d bytes",
            visitor.user.name,
            request.client.host if request.client else "unknown",
            req.indicator or "all",
            req.lang or "all",
            req.since or "-",
            req.until or "-",
            ",".join(req.sources) or "all",
            req.fmt,
            rows,
            archive.stat().st_size,
        )
        return TemporaryDownload(archive, folder, archive.name)
