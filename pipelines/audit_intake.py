"""The input edge of the audit loop: a filled-in audit file (XLSX or CSV) read back as rows
with their spreadsheet row numbers. Only the file format lives here; pipelines.audit checks
the rows against the database and stores them."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from kernel.audit import SHEET
from kernel.errors import UserError


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_audit_file(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the non-empty rows, each with its row number as a spreadsheet shows it
    (the header is row 1; in a CSV, a record spanning several lines is one row)."""
    if not path.is_file():
        raise UserError(f"audit file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise UserError(f"{path.name}: not UTF-8 text; save the CSV as UTF-8") from None
        table = [list(r) for r in csv.reader(io.StringIO(text, newline=""))]
    elif suffix == ".xlsx":
        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
            raise UserError(f"{path.name}: not a readable .xlsx workbook ({exc})") from None
        ws = wb[SHEET] if SHEET in wb.sheetnames else wb.worksheets[0]
        table = [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
        wb.close()
    else:
        raise UserError(f"{path.name}: expected a .xlsx or .csv audit file")
    if not table or not any(c.strip() for c in table[0]):
        raise UserError(f"{path.name} rejected, nothing imported: the file is empty")
    header = [c.strip() for c in table[0]]
    rows: list[tuple[int, dict[str, str]]] = []
    for number, values in enumerate(table[1:], start=2):
        if not any(v.strip() for v in values):
            continue
        rows.append((number, _row(header, values)))
    return header, rows


def _row(header: Sequence[str], values: Sequence[str]) -> dict[str, str]:
    return {name: (values[i] if i < len(values) else "") for i, name in enumerate(header) if name}
