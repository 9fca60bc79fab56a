"""End to end: `meiyu demo` crawls the fixture world and its report shows what was planted."""

from __future__ import annotations

import json
import re
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import create_engine, text

from kernel.periods import previous_months
from meiyu.demo.fixturesite.corpus import World
from reports.pdf import pdf_fonts, pdf_text
from tests.conftest import REPO, run_meiyu
from tests.helpers_cli import meiyu_in_process

SERIES_ROW = re.compile(
    r'<tr class="series[^"]*" data-indicator="(?P<ind>\w+)" data-period="(?P<p>[\d-]+)" '
    r"data-series='(?P<row>[^']*)'"
)
SUMMARY = re.compile(
    r'class="indicator-summary" data-indicator="(?P<ind>\w+)" data-period="2023-12" '
    r'data-value="(?P<value>[^"]*)"'
)
PDF_ROW = re.compile(r"^\d{4}-\d{2} .*$", re.M)


def _num(v: object, pattern: str = "{}") -> str:
    return "—" if v is None else pattern.format(v)


def _pct(v: object) -> str:
    return "—" if v is None else f"{float(str(v)) * 100:.1f}%"


def _span(lo: object, hi: object) -> str:
    return "—" if lo is None else f"{_pct(lo)[:-1]}–{_pct(hi)}"


def _pdf_line(kind: str, period: str, r: dict[str, object] | None, known: bool) -> str:
    """A series row as the report prints it, formatted here from `meiyu series` output."""
    if r is None:
        return f"{period} {'0' if known else '—'} " + " ".join(["—"] * (6 if kind == "v" else 8))
    if kind == "v":
        tone = f"{r['positive']}/{r['neutral']}/{r['negative']}" if r["scored"] else "—"
        cells = [
            r["items"],
            f"{r['items_lo95']:.1f}–{r['items_hi95']:.1f}",
            r["stories"],
            _num(r["relevant"]),
            _num(r["coverage_documents"]),
            _pct(r["coverage_share"]),
            tone,
        ]
    else:
        cells = [
            r["items"],
            *(_num(r[k]) for k in ("relevant", "scored", "positive", "neutral", "negative")),
            _pct(r["positive_share"]),
            _span(r["share_lo95"], r["share_hi95"]),
            _pct(r["corrected_share"])
            + ("" if r["corrected_lo95"] is None else " ")
            + (
                ""
                if r["corrected_lo95"] is None
                else f"({_span(r['corrected_lo95'], r['corrected_hi95'])})"
            ),
        ]
    return " ".join([period, *(str(c) for c in cells)])


def _values(db_url: str) -> list[tuple[object, ...]]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT indicator, period_type, period, definition_version, value, n_items,"
                " n_stories FROM indicator_values ORDER BY indicator, period"
            )
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


@pytest.mark.slow
def test_demo_report_counts_equal_the_planted_counts_and_reruns_change_nothing(
    tmp_path: Path, world: World
) -> None:
    db_url = f"sqlite:///{tmp_path / 'demo.db'}"
    env = {"MEIYU_DATABASE_URL": db_url}
    out = tmp_path / "out"
    first = run_meiyu("--config", str(REPO / "meiyu.toml"), "demo", "--out", str(out), env=env)
    assert first.returncode == 0, first.stderr
    assert f"{len(world.articles)} new" in first.stdout
    report = out / "meiyu-report-2023-12.html"
    assert report.exists() and (out / "meiyu-brief-a67-2023-W52.html").exists()
    html = report.read_text(encoding="utf-8")

    manifest = world.manifest()
    assert json.loads((out / "demo-manifest.json").read_text(encoding="utf-8")) == manifest
    # `meiyu series` is the one source of the numbers: HTML, PDF and XLSX must show its rows
    series = {}
    for key in ("a29", "a68", "a67"):
        got = meiyu_in_process(
            "--config", str(REPO / "meiyu.toml"), "series", "-i", key, "--format", "json", env=env
        )
        assert got.returncode == 0, got.stderr
        series[key] = {r["period"]: r for r in json.loads(got.stdout)["rows"]}
    window = previous_months(2023, 12, 24)
    shown = [(m["ind"], m["p"], json.loads(m["row"])) for m in SERIES_ROW.finditer(html)]
    summary = {m["ind"]: m["value"] for m in SUMMARY.finditer(html)}
    for ind in ("a29", "a68", "a67"):
        rows = {p: row for i, p, row in shown if i == ind}
        assert list(rows) == window
        assert rows == {m: series[ind].get(m) for m in window}
        planted_items, planted_stories = manifest["items"][ind], manifest["stories"][ind]
        for month in window:
            row = rows[month] or {"items": 0, "stories": 0, "relevant": 0}
            assert row["items"] == planted_items.get(month, 0), (ind, month)
            assert row["stories"] == planted_stories.get(month, 0), (ind, month)
            # the relevance check drops exactly the planted traps (Shanghai's 威海路 for a29)
            assert row["relevant"] == manifest["relevant"][ind].get(month, 0), (ind, month)
        now = series[ind]["2023-12"]
        assert now["items"] == planted_items["2023-12"]
        assert summary[ind] == (_pct(now["positive_share"]) if ind == "a67" else str(now["items"]))

    # the PDF, as text: the same rows, in the same order (a29, a68, a67), and only the
    # packaged CJK font
    pdf_path = out / "meiyu-report-2023-12.pdf"
    pdf_lines = PDF_ROW.findall("\n".join(pdf_text(pdf_path)))
    expected = [
        _pdf_line("s" if ind == "a67" else "v", m, series[ind].get(m), m >= min(series[ind]))
        for ind in ("a29", "a68", "a67")
        for m in window
    ]
    assert pdf_lines == expected
    fonts = {name.split("+", 1)[1] for name in pdf_fonts(pdf_path.read_bytes())}
    assert fonts <= {"Meiyu-Noto-Sans-CJK", "Meiyu-Noto-Sans-CJK-Bold"}

    # the XLSX: one sheet per indicator with the whole monthly series, unrounded
    book = openpyxl.load_workbook(out / "meiyu-report-2023-12.xlsx")
    assert book.sheetnames == ["概览", "a29", "a68", "a67", "本月条目", "本月预警"]
    for ind in ("a29", "a68", "a67"):
        sheet = book[ind]
        keys = [str(c.value).split("\n")[-1] for c in sheet[4]]
        got_rows = [
            dict(zip(keys, r, strict=True)) for r in sheet.iter_rows(min_row=5, values_only=True)
        ]
        assert got_rows == list(series[ind].values())
    items_sheet = list(book["本月条目"].iter_rows(min_row=2, values_only=True))
    assert len(items_sheet) == sum(
        manifest["items"][i].get("2023-12", 0) for i in ("a29", "a68", "a67")
    )
    # every month of every indicator in the database, not just the report's window
    stored = {(r[0], r[2]): (r[5], r[6]) for r in _values(db_url) if r[1] == "month" and r[5]}
    planted = {
        (ind, m): (n, manifest["stories"][ind][m])
        for ind, months in manifest["items"].items()
        for m, n in months.items()
    }
    assert stored == planted
    # the report is labelled as demo data, in Chinese, with the month's items linked
    assert "演示语料" in html and "海鲜之都美誉度" in html and "刘公岛美誉度" in html
    assert "本月转载最多的报道" in html and "本月最正面的韩文条目" in html

    # a67's positive share comes from the shipped model, over the relevant Korean items
    engine = create_engine(db_url)
    with engine.connect() as conn:
        share, details = conn.execute(
            text(
                "SELECT value, details FROM indicator_values WHERE indicator = 'a67' "
                "AND period_type = 'month' AND period = '2023-12'"
            )
        ).one()
        scored = conn.execute(
            text("SELECT count(*) FROM sentiment_results WHERE target = 'a67'")
        ).scalar_one()
    engine.dispose()
    details = json.loads(details) if isinstance(details, str) else details
    assert scored == sum(manifest["relevant"]["a67"].values())
    assert share is not None and 0 <= share <= 1
    assert details["scored"] == manifest["relevant"]["a67"]["2023-12"]
    assert details["positive"] + details["neutral"] + details["negative"] == details["scored"]
    assert f"正面占比 {share * 100:.1f}%" in html

    # the plan's test on the fixture world: a29 was planted rising from 2020 to 2023, a68 flat
    cfg_args = ("--config", str(REPO / "meiyu.toml"), "assess", "--period", "2023")
    rise = meiyu_in_process(*cfg_args, "--indicator", "a29", env=env)
    flat = meiyu_in_process(*cfg_args, "--indicator", "a68", env=env)
    assert rise.returncode == 0 and "结论：明显提升" in rise.stdout, rise.stdout + rise.stderr
    assert flat.returncode == 0 and "结论：无明显变化" in flat.stdout, flat.stdout + flat.stderr
    share = meiyu_in_process(*cfg_args, "--indicator", "a67", env=env)
    assert share.returncode == 0 and "双比例 z 检验" in share.stdout, share.stdout + share.stderr
    assert "结论：无明显变化" in share.stdout  # no change in tone was planted
    # `meiyu series` says what the database holds: the planted counts, month by month
    for key in ("a29", "a68", "a67"):
        rows = list(series[key].values())
        assert {r["period"]: r["items"] for r in rows if r["items"]} == manifest["items"][key]
        relevant = {r["period"]: r["relevant"] for r in rows if r["relevant"]}
        assert relevant == manifest["relevant"][key]
    bad = meiyu_in_process(*cfg_args[:3], "--period", "2023-13", "--indicator", "a29", env=env)
    assert bad.returncode == 2 and "--period: expected" in bad.stderr

    values_before = _values(db_url)
    second = run_meiyu("--config", str(REPO / "meiyu.toml"), "demo", "--out", str(out), env=env)
    assert second.returncode == 0, second.stderr
    assert "0 new, 0 updated" in second.stdout
    assert _values(db_url) == values_before
