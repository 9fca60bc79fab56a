"""Audit files: the sampled items as a workbook (or CSV) a person fills in. Reading one back is
the input edge's (`pipelines.audit_intake`); the rows are checked against the database by
pipelines.audit. Web text is written as text, never as a formula."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from kernel.audit import COLUMNS, LABEL_NAMES_ZH, SHEET, AuditSample
from kernel.errors import UserError
from reports.xlsx import _put

WIDTHS = (11, 9, 11, 16, 14, 40, 60, 12, 13, 12, 24, 30)
FILL = PatternFill("solid", fgColor="FBF3DC")  # the columns to fill in
INSTRUCTIONS = (
    "人工审核说明 (meiyu audit)",
    "",
    "1. 在“audit”表中逐行阅读 title（标题）和 sentences（涉及威海的句子），判断这条报道对威海的"
    "态度，在 human_label 列填写 positive / neutral / negative（也可填 正面 / 中性 / 负面，"
    "或 긍정 / 중립 / 부정）。",
    "2. 判断的是对“威海”这个地方的态度，而不是整篇文章的情绪；"
    "只是顺带提到威海、没有褒贬的，填 neutral。",
    "3. model_label 是模型给出的标签，仅供参考：请独立判断，不要因为模型的标签而改变看法。",
    "4. annotator 列填写审核人姓名或代号（导入时也可用 --annotator 统一指定）；note 可写备注。",
    "5. 不要修改 document_id、indicator、model_label、model_id 列，不要增删列；"
    "不确定的行可以留空 human_label，导入时跳过。",
    "6. 填好后运行：meiyu audit import 文件名。文件中任何一行有误（标签写错、编号不存在、列缺失、"
    "重复行），整个文件都不会导入，错误信息会给出行号（第 1 行是表头）。",
    "7. 同一审核人再次导入同一文件不会产生重复；修改后的标签会更新该审核人原来的记录，"
    "模型结果始终不变。",
)


def write_audit_file(sample: AuditSample, path: Path) -> Path:
    """XLSX (with an instruction sheet in Chinese) or CSV, by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise UserError(f"--out: expected a .xlsx or .csv file name, got {path.name!r}")
    rows = [
        [
            it.document_id,
            it.indicator,
            it.published,
            it.outlet,
            it.source,
            it.title,
            it.sentences,
            it.model_label,
            "",
            "",
            "",
            it.model_id,
        ]
        for it in sample.items
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if suffix == ".csv":
        with partial.open("w", encoding="utf-8-sig", newline="") as fh:  # BOM: Excel reads UTF-8
            writer = csv.writer(fh)
            writer.writerow(COLUMNS)
            writer.writerows(rows)
    else:
        _workbook(sample, rows).save(partial)
    partial.replace(path)
    return path


def _workbook(sample: AuditSample, rows: list[list[Any]]) -> Workbook:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = SHEET
    for col, (name, width) in enumerate(zip(COLUMNS, WIDTHS, strict=True), start=1):
        _put(ws, 1, col, name)
        ws.cell(row=1, column=col).font = Font(bold=True)
        ws.column_dimensions[ws.cell(row=1, column=col).column_letter].width = width
    for r, values in enumerate(rows, start=2):
        for c, value in enumerate(values, start=1):
            _put(ws, r, c, value)
            cell = ws.cell(row=r, column=c)
            if COLUMNS[c - 1] in ("title", "sentences"):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            if COLUMNS[c - 1] in ("human_label", "annotator", "note"):
                cell.fill = FILL
    if rows:
        choices = DataValidation(
            type="list", formula1='"positive,neutral,negative,正面,中性,负面"', allow_blank=True
        )
        col = ws.cell(row=1, column=COLUMNS.index("human_label") + 1).column_letter
        choices.add(f"{col}2:{col}{len(rows) + 1}")
        ws.add_data_validation(choices)
    ws.freeze_panes = "B2"
    info = wb.create_sheet("说明")
    lines = [
        *INSTRUCTIONS,
        "",
        f"指标 {sample.indicator}，月份 {sample.month}，模型 {sample.model_id}",
        "本月待审核条目（按模型标签）："
        + "，".join(
            f"{LABEL_NAMES_ZH.get(k, k)} {v}" for k, v in sorted(sample.population.items())
        ),
        "本文件抽样（按模型标签分层，各层尽量等量）："
        + "，".join(f"{LABEL_NAMES_ZH.get(k, k)} {v}" for k, v in sorted(sample.drawn.items())),
    ]
    for r, line in enumerate(lines, start=1):
        _put(info, r, 1, line)
    info.column_dimensions["A"].width = 120
    info.cell(row=1, column=1).font = Font(bold=True, size=13)
    return wb
