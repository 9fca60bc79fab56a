"""`meiyu export`: stream rows from storage.exports into Parquet, JSON lines or CSV, batch by
batch, and write DATASHEET beside the file.

Both files are written under temporary names in the target folder and renamed at the end, so
a failed or interrupted export leaves nothing that looks finished.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy.orm import Session

from kernel.config import Config
from kernel.errors import UserError
from kernel.identity import model_id
from nlp.identity import model_for
from reports.datasheet import DatasheetInput, ExportStats, render
from storage.exports import (
    ExportFilter,
    Row,
    columns,
    crawl_history,
    iter_batches,
    source_outlets,
)

FORMATS = ("parquet", "jsonl", "csv")
# (url, language) of each row of a batch → the decoded page, for the rows that have one
HtmlLookup = Callable[[list[tuple[str, str]]], dict[str, str]]


class RowWriter(Protocol):
    def write(self, rows: list[Row]) -> None: ...

    def close(self) -> None: ...


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class JsonlRows:
    def __init__(self, path: Path) -> None:
        self.file: IO[str] = path.open("w", encoding="utf-8", newline="\n")

    def write(self, rows: list[Row]) -> None:
        self.file.writelines(
            json.dumps(row, ensure_ascii=False, default=_json_default) + "\n" for row in rows
        )

    def close(self) -> None:
        self.file.close()


class CsvRows:
    """RFC 4180 (the csv module quotes newlines, commas and quotes); nested values as JSON."""

    def __init__(self, path: Path, cols: list[str]) -> None:
        self.file: IO[str] = path.open("w", encoding="utf-8", newline="")
        self.csv = csv.writer(self.file)
        self.cols = cols
        self.csv.writerow(cols)

    @staticmethod
    def _cell(value: object) -> object:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dt.datetime):
            return value.isoformat()
        if isinstance(value, list | dict):
            return json.dumps(value, ensure_ascii=False, default=_json_default)
        return value

    def write(self, rows: list[Row]) -> None:
        cell = self._cell
        self.csv.writerows([cell(row[c]) for c in self.cols] for row in rows)

    def close(self) -> None:
        self.file.close()


def open_writer(fmt: str, path: Path, indicator: str | None, with_html: bool) -> RowWriter:
    if fmt == "parquet":
        from reports.parquet import ParquetRows, arrow_schema  # pyarrow: ~70 MB, only here

        return ParquetRows(path, arrow_schema(indicator, with_html))
    if fmt == "jsonl":
        return JsonlRows(path)
    return CsvRows(path, columns(indicator, with_html))


def datasheet_path(out: Path) -> Path:
    """`corpus.parquet` → `corpus.parquet.DATASHEET.md`: one datasheet per file, side by side."""
    return out.with_name(out.name + ".DATASHEET.md")


@dataclass(frozen=True)
class ExportSpec:
    filter: ExportFilter
    fmt: str
    out: Path
    with_html: bool = False
    models: dict[str, str] | None = None  # indicator → current sentiment model id
    model_paths: dict[str, str] | None = None  # indicator → model name or local folder
    batch: int = 5000


@dataclass(frozen=True)
class ExportRequest:
    """The filters of an export as someone typed them, on `meiyu export`'s command line or in
    the dashboard's form: both check and read them here, so they refuse and select alike."""

    fmt: str
    indicator: str | None = None
    since: str | None = None  # YYYY-MM-DD, local day, inclusive
    until: str | None = None  # YYYY-MM-DD, local day, inclusive
    lang: str | None = None
    sources: tuple[str, ...] = ()


def _day(value: str | None, option: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option}: expected YYYY-MM-DD, got {value!r}") from None


def check_request(cfg: Config, req: ExportRequest) -> tuple[dt.date | None, dt.date | None]:
    """The format, language, indicator and days, checked before any query: one line naming the
    option (UserError); the days as dates."""
    if req.fmt not in FORMATS:
        raise UserError(f"--format: expected parquet, jsonl or csv, got {req.fmt!r}")
    if req.lang is not None and req.lang not in ("zh", "ko"):
        raise UserError(f"--lang: expected zh or ko, got {req.lang!r}")
    if req.indicator is not None:
        cfg.indicator(req.indicator)
    start, end = _day(req.since, "--since"), _day(req.until, "--until")
    if start and end and start > end:
        raise UserError(f"--since {req.since} is after --until {req.until}")
    return start, end


def known_sources(cfg: Config, session: Session) -> list[str]:
    """The sources an export can name: every stored one and every configured one."""
    return sorted(set(source_outlets(session)) | {src.name for src in cfg.sources})


def check_sources(cfg: Config, session: Session, sources: tuple[str, ...]) -> None:
    known = known_sources(cfg, session)
    for name in sources:
        if name not in known:
            raise UserError(f"--source: unknown source {name!r} (known: {', '.join(known)})")


def export_filter(cfg: Config, req: ExportRequest) -> ExportFilter:
    """The rows a checked request selects: its local days as an aware [start, end) window."""
    start, end = check_request(cfg, req)
    tz = cfg.tz
    return ExportFilter(
        indicator=req.indicator,
        sources=req.sources,
        language=req.lang,
        start=dt.datetime.combine(start, dt.time(), tz) if start else None,
        end=dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tz) if end else None,
    )


def export_spec(cfg: Config, req: ExportRequest, out: Path, with_html: bool = False) -> ExportSpec:
    """The whole export of a checked request, with the current sentiment model of each
    indicator exported: only that model's results go out."""
    models = {k: model_for(ind) for k, ind in cfg.indicators.items() if req.indicator in (None, k)}
    return ExportSpec(
        filter=export_filter(cfg, req),
        fmt=req.fmt,
        out=out,
        with_html=with_html,
        models={k: model_id(p) for k, p in models.items()},
        model_paths=models,
    )


@dataclass(frozen=True)
class ExportResult:
    path: Path
    datasheet: Path
    stats: ExportStats


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _part(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.part")


def export(
    cfg: Config,
    session: Session,
    spec: ExportSpec,
    *,
    html_for: HtmlLookup | None = None,
    on_rows: Callable[[int], Any] | None = None,
) -> ExportResult:
    """Write the export and its datasheet; on any failure both temporary files are removed."""
    f = spec.filter
    models = spec.models or {}
    stats = ExportStats(tz=cfg.tz)
    data_part, sheet_part = _part(spec.out), _part(datasheet_path(spec.out))
    try:
        writer = open_writer(spec.fmt, data_part, f.indicator, spec.with_html)
        try:
            for rows in iter_batches(session, f, models, spec.batch):
                if spec.with_html:
                    pages = html_for([(r["url"], r["language"]) for r in rows]) if html_for else {}
                    for r in rows:
                        r["html"] = pages.get(r["url"])
                for r in rows:
                    stats.add(r)
                writer.write(rows)
                if on_rows:
                    on_rows(len(rows))
        finally:
            writer.close()
        sheet = DatasheetInput(
            cfg=cfg,
            filter=f,
            fmt=spec.fmt,
            file=spec.out,
            size=data_part.stat().st_size,
            sha256=_sha256(data_part),
            with_html=spec.with_html,
            stats=stats,
            models=models,
            model_paths=spec.model_paths or {},
            crawl=crawl_history(session),
            outlets=source_outlets(session),
        )
        sheet_part.write_text(render(sheet), encoding="utf-8")
        os.replace(data_part, spec.out)
        os.replace(sheet_part, datasheet_path(spec.out))
    except BaseException:
        for part in (data_part, sheet_part):
            with contextlib.suppress(OSError):
                part.unlink()
        raise
    return ExportResult(spec.out, datasheet_path(spec.out), stats)
