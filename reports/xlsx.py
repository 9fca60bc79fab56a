"""The monthly report as a workbook: a summary sheet, one sheet per indicator with its whole
monthly series (the very values `meiyu series -f M` prints, unrounded), the month's items and
its alerts. Text from the web is written as text, never as a formula."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from reports.monthly_view import MonthlyReport

COLUMN_LABELS = {
    "period": "月份",
    "items": "条目数",
    "items_lo95": "条目数 95% 下限",
    "items_hi95": "条目数 95% 上限",
    "stories": "独立报道",
    "relevant": "相关性校验后",
    "relevant_stories": "相关独立报道",
    "coverage_documents": "同语种文档",
    "coverage_share": "占同语种文档",
    "coverage_lo95": "占比 95% 下限",
    "coverage_hi95": "占比 95% 上限",
    "scored": "已评分",
    "positive": "正面",
    "neutral": "中性",
    "negative": "负面",
    "positive_share": "正面占比",
    "share_lo95": "正面占比 95% 下限",
    "share_hi95": "正面占比 95% 上限",
    "corrected_share": "校正误判后占比",
    "corrected_lo95": "校正后 95% 下限",
    "corrected_hi95": "校正后 95% 上限",
    "definition_version": "定义版本",
}
PERCENT_COLUMNS = {
    "coverage_share",
    "coverage_lo95",
    "coverage_hi95",
    "positive_share",
    "share_lo95",
    "share_hi95",
    "corrected_share",
    "corrected_lo95",
    "corrected_hi95",
}
HEADER_FILL = PatternFill("solid", fgColor="EEF3F8")
CURRENT_FILL = PatternFill("solid", fgColor="FBF3DC")
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=13)


def _text(value: str) -> str:
    """XML 1.0 cannot hold control characters; a crawled title sometimes has them."""
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def _put(ws: Worksheet, row: int, col: int, value: Any, fmt: str | None = None) -> None:
    """Write a value; a string is always a string (a title "=HYPERLINK(…)" stays text)."""
    cell = ws.cell(row=row, column=col)
    if isinstance(value, str):
        cell.value = _text(value)
        cell.data_type = "s"
    else:
        cell.value = value
    if fmt:
        cell.number_format = fmt


def _header(ws: Worksheet, row: int, labels: list[str], widths: Sequence[float]) -> None:
    for col, (label, width) in enumerate(zip(labels, widths, strict=True), start=1):
        _put(ws, row, col, label)
        cell = ws.cell(row=row, column=col)
        cell.font = BOLD
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[get_column_letter(col)].width = width
    ws.freeze_panes = ws.cell(row=row + 1, column=2)


def _summary(ws: Worksheet, report: MonthlyReport) -> None:
    ws.title = "概览"
    _put(ws, 1, 1, f"{report.title} · {report.year}年{report.month}月")
    ws.cell(row=1, column=1).font = TITLE
    when = f"报告期 {report.period}（{report.timezone} 自然月）；生成 {report.generated_at}"
    _put(ws, 2, 1, when)
    if report.demo_note:
        _put(ws, 3, 1, "演示语料：" + report.demo_note)
    if not report.has_data:
        _put(ws, 4, 1, "本月没有数据：库内没有发布于本月的条目，也没有本月的指标值。")
    labels = ["指标", "名称", "口径", "本月", "95% 下限", "95% 上限", "较上月", "较去年同月"]
    labels += ["与基线比较", "解读"]
    _header(ws, 5, labels, [8, 22, 14, 10, 10, 10, 16, 16, 60, 80])
    ws.freeze_panes = None
    for i, s in enumerate(report.sections, start=6):
        share = s.kind == "positive_share"
        this = s.this or {}
        value = this.get("positive_share") if share else this.get("items", 0)
        lo = this.get("share_lo95" if share else "items_lo95")
        hi = this.get("share_hi95" if share else "items_hi95")
        fmt = "0.0%" if share else "0.0"
        for col, v in enumerate([s.key, s.name, s.kind_label], start=1):
            _put(ws, i, col, v)
        _put(ws, i, 4, value, "0.0%" if share else "0")
        _put(ws, i, 5, lo, fmt)
        _put(ws, i, 6, hi, fmt)
        _put(ws, i, 7, s.change_previous)
        _put(ws, i, 8, s.change_year)
        _put(ws, i, 9, "；".join(f"{v.label}：{v.verdict}（{v.detail}）" for v in s.verdicts))
        _put(ws, i, 10, s.reading)
        for col in (9, 10):
            ws.cell(row=i, column=col).alignment = Alignment(wrap_text=True, vertical="top")
    row = 6 + len(report.sections) + 1
    _put(ws, row, 1, f"本月预警：{len(report.alerts)} 次" if report.alerts else "本月未触发预警")
    _put(ws, row + 1, 1, "各指标工作表的数值即 `meiyu series -i 指标 -f M` 的输出（未舍入）。")


def _series(ws: Worksheet, report: MonthlyReport, index: int) -> None:
    s = report.sections[index]
    ws.title = s.key
    _put(ws, 1, 1, f"{s.key} {s.name} · 月度序列")
    ws.cell(row=1, column=1).font = TITLE
    _put(ws, 2, 1, f"规划口径：{s.definition}；统计规则：{s.rule}；定义版本 {s.version}")
    labels = [f"{COLUMN_LABELS.get(c, c)}\n{c}" for c in s.columns]
    widths = [12 if c in ("period", "definition_version") else 11 for c in s.columns]
    _header(ws, 4, labels, widths)
    for r, row in enumerate(s.all_rows, start=5):
        for c, col in enumerate(s.columns, start=1):
            fmt = "0.0%" if col in PERCENT_COLUMNS else ("0.00" if col.endswith("95") else None)
            _put(ws, r, c, row.get(col), fmt)
            if row["period"] == report.period:
                ws.cell(row=r, column=c).fill = CURRENT_FILL


ITEM_COLUMNS = [
    ("指标", 7),
    ("发布时间", 17),
    ("标题", 48),
    ("媒体", 16),
    ("来源", 12),
    ("链接", 40),
    ("报道编号", 10),
    ("本月同一报道条数", 9),
    ("字面命中", 8),
    ("确指该地", 8),
    ("情感", 7),
    ("正面概率", 9),
    ("中性概率", 9),
    ("负面概率", 9),
    ("提及该地的句子", 70),
]


def _items(ws: Worksheet, report: MonthlyReport) -> None:
    ws.title = "本月条目"
    _header(ws, 1, [c for c, _ in ITEM_COLUMNS], [w for _, w in ITEM_COLUMNS])
    row = 2
    for s in report.sections:
        for it in s.items:
            values: list[Any] = [
                it.indicator,
                it.published,
                it.title,
                it.outlet,
                it.source,
                it.url,
                it.story,
                it.copies,
                "是" if it.literal else "否",
                "是" if it.relevant else "否",
                it.label or "",
                it.probabilities.get("positive"),
                it.probabilities.get("neutral"),
                it.probabilities.get("negative"),
                it.evidence,
            ]
            for col, v in enumerate(values, start=1):
                _put(ws, row, col, v, "0.00" if 12 <= col <= 14 else None)
            if it.link:
                ws.cell(row=row, column=6).hyperlink = it.link
            row += 1
    if row == 2:
        _put(ws, 2, 1, "本月没有命中条目。")
    ws.auto_filter.ref = f"A1:{get_column_letter(len(ITEM_COLUMNS))}{max(row - 1, 1)}"


def _alerts(ws: Worksheet, report: MonthlyReport) -> None:
    ws.title = "本月预警"
    labels = ["时段", "指标", "规则", "观测", "预期", "p 值", "说明"]
    _header(ws, 1, labels, [24, 7, 14, 8, 8, 10, 100])
    for r, a in enumerate(report.alerts, start=2):
        for c, v in enumerate([a.period, a.indicator, a.rule, a.observed, a.expected], start=1):
            _put(ws, r, c, v)
        _put(ws, r, 6, a.p_value, "0.0E+00")
        _put(ws, r, 7, a.message)
        ws.cell(row=r, column=7).alignment = Alignment(wrap_text=True, vertical="top")
    if not report.alerts:
        _put(ws, 2, 1, "本月未触发预警。")


def build_workbook(report: MonthlyReport) -> Workbook:
    wb = Workbook()
    _summary(wb.active, report)
    for i in range(len(report.sections)):
        _series(wb.create_sheet(), report, i)
    _items(wb.create_sheet(), report)
    _alerts(wb.create_sheet(), report)
    return wb


def write_xlsx(report: MonthlyReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    build_workbook(report).save(tmp)
    tmp.replace(path)
    return path
