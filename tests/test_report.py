"""The monthly report: web text stays text in HTML, PDF and XLSX; a month without data says so;
alerts show; charts carry a CJK font that has the glyphs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import openpyxl
import pytest
from fontTools.ttLib import TTFont
from matplotlib import font_manager

from kernel.config import load_config
from reports.charts import tone_png, trend_png
from reports.fonts import cjk_font_family
from reports.monthly import build_monthly, parse_formats, render_html, write_report
from reports.pdf import pdf_fonts, pdf_text
from storage.alerts import AlertRecord, save_alert
from storage.db import make_engine, session_factory, transaction
from storage.migrate import upgrade
from tests.conftest import REPO, parse_html, run_meiyu, write_config
from tests.helpers_cli import meiyu_in_process

EVIL = "<script>alert(1)</script>威海海鲜节开幕"
FORMULA = '=HYPERLINK("http://evil.test/","点此")威海海鲜季'


def test_chart_font_covers_hanzi_and_hangul() -> None:
    family = cjk_font_family()
    path = font_manager.findfont(
        font_manager.FontProperties(family=family), fallback_to_default=False
    )
    cmap = TTFont(path, fontNumber=0).getBestCmap()
    for ch in "海鲜之都美誉度刘公岛韩语威海웨이하이":
        assert ord(ch) in cmap, ch
    months = ["2023-10", "2023-11", "2023-12"]
    png = trend_png(
        "a29 海鲜之都美誉度",
        months,
        [None, 3.0, 0.0],
        "条目数",
        highlight="2023-12",
        band=[None, (0.6, 8.8), (0.0, 3.7)],
        baseline=("基线 2020 月均 2.5 条", 2.5),
        target=("规划目标：较基线明显提升", None),
    )
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    tone = tone_png("a67 웨이하이", months, [1, 0, 2], [0, 0, 1], [0, 0, 3])
    assert tone.startswith(b"\x89PNG")


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.fixture
def outlet() -> Iterator[str]:
    """A news site on 127.0.0.1 whose feed and page titles carry markup as text (the way a
    feed that escapes its titles twice delivers them)."""
    articles = {
        "/a1.html": (EVIL, "Tue, 05 Dec 2023 10:00:00 +0800"),
        "/a2.html": (FORMULA, "Wed, 06 Dec 2023 09:00:00 +0800"),
    }
    body = "12月5日，第十届威海国际海鲜美食节在威海开幕，游客品尝当季海鲜，渔港交易活跃。"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/feed.xml":
                items = "".join(
                    f"<item><title>{_xml(_xml(title))}</title><link>{base}{path}</link>"
                    f"<pubDate>{date}</pubDate><description>{_xml(body)}</description></item>"
                    for path, (title, date) in articles.items()
                )
                page = (
                    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                    f"<title>outlet</title><link>{base}/</link>{items}</channel></rss>"
                )
                ctype = "application/rss+xml; charset=utf-8"
            elif self.path in articles:
                title = _xml(articles[self.path][0])
                page = (
                    f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
                    f"</head><body><article><h1>{title}</h1><p>{body}</p><p>{body}</p>"
                    "</article></body></html>"
                )
                ctype = "text/html; charset=utf-8"
            else:
                self.send_error(404)
                return
            data = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    server.shutdown()
    server.server_close()


def test_a_crawled_title_with_markup_is_text_in_html_pdf_and_xlsx(
    tmp_path: Path, outlet: str
) -> None:
    db_url = f"sqlite:///{tmp_path / 'r.db'}"
    cfg = write_config(tmp_path / "meiyu.toml", db_url=db_url, proxy=None, feeds={"web": [outlet]})
    out = tmp_path / "out"
    for args in (
        ["crawl"],
        ["compute"],
        ["report", "-m", "2023-12", "-o", str(out), "--format", "xlsx,html,pdf"],
    ):
        proc = run_meiyu("--config", str(cfg), *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    html = (out / "meiyu-report-2023-12.html").read_text(encoding="utf-8")
    page = parse_html(html)
    # the page has no script element at all; the title is there, as text
    assert "script" not in {tag for tag, _ in page.tags}
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert EVIL in "".join(page.text)
    # every link the report makes goes to the crawled pages over http(s)
    hrefs = [a.get("href") or "" for tag, a in page.tags if tag == "a"]
    assert hrefs and all(h.startswith(outlet.rsplit("/", 1)[0]) for h in hrefs)
    assert all(not (a.get("src") or "data:").startswith("http") for _, a in page.tags)

    pdf_words = " ".join(pdf_text(out / "meiyu-report-2023-12.pdf"))
    assert "<script>alert(1)</script>" in pdf_words

    book = openpyxl.load_workbook(out / "meiyu-report-2023-12.xlsx")
    items = book["本月条目"]
    header = [c.value for c in items[1]]
    titles = {row[header.index("标题")] for row in items.iter_rows(min_row=2, values_only=True)}
    assert {EVIL, FORMULA} <= titles
    formula_cells = [c for row in items.iter_rows(min_row=2) for c in row if c.value == FORMULA]
    assert formula_cells and all(c.data_type == "s" for c in formula_cells)

    wrong = meiyu_in_process(
        "--config", str(cfg), "report", "-m", "2023-12", "--format", "html,docx"
    )
    assert wrong.returncode == 2 and "--format" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1


def test_formats_are_a_comma_list() -> None:
    assert parse_formats("pdf, html") == ["html", "pdf"]
    assert parse_formats("xlsx") == ["xlsx"]


@pytest.mark.slow
def test_a_month_without_data_says_so_in_every_format(tmp_path: Path, db_url: str) -> None:
    cfg = load_config(REPO / "meiyu.toml", env={})
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions() as s:
        report = build_monthly(cfg, s, 2031, 1)
    engine.dispose()
    assert not report.has_data
    html, pdf, xlsx = write_report(report, tmp_path, ["html", "pdf", "xlsx"])
    text = html.read_text(encoding="utf-8")
    assert "本月没有数据" in text and "本月未触发预警" in text
    assert all(s.value_text in ("0", "—") for s in report.sections)
    assert "本月没有数据" in pdf_text(pdf)[0]
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == ["概览", "a29", "a68", "a67", "本月条目", "本月预警"]
    assert book["a29"].max_row == 4  # the header, no rows: `meiyu series` has none either
    assert book["本月条目"]["A2"].value == "本月没有命中条目。"


def test_the_months_alerts_are_listed_and_escaped(tmp_path: Path, db_url: str) -> None:
    cfg = load_config(REPO / "meiyu.toml", env={})
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    message = "【舆情预警】a67 负面条目激增\n规则：…\n- <b>웨이하이 어선 침몰</b>"
    with transaction(sessions) as s:
        save_alert(
            s,
            AlertRecord(
                "negative_spike", "a67", "2023-11-30", "2023-12-01", 7, 0.07, 6.6e-8, message, []
            ),
        )
    with sessions() as s:
        december = render_html(build_monthly(cfg, s, 2023, 12))
        january = render_html(build_monthly(cfg, s, 2024, 1))
    engine.dispose()
    assert "2023-11-30 至 2023-12-01" in december and "负面条目激增" in december
    assert "&lt;b&gt;웨이하이 어선 침몰&lt;/b&gt;" in december and "<b>웨이" not in december
    assert "本月触发 1 次预警" in december
    assert "本月未触发预警" in january and "负面条目激增" not in january


@pytest.mark.slow
def test_the_pdf_embeds_the_packaged_cjk_font_and_fetches_nothing(tmp_path: Path) -> None:
    from reports.pdf import render_pdf

    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            hits.append(self.path)
            self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    html = (
        f'<html lang="zh-CN"><head><link rel="stylesheet" href="{base}/x.css"></head><body>'
        f'<p>威海海鲜 웨이하이</p><img src="{base}/x.png"></body></html>'
    )
    try:
        pdf = render_pdf(html)
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []  # an office without internet renders the same PDF
    # every glyph comes from the wheel's font (embedded under the @font-face family), none
    # from a system font that another machine may not have
    assert {name.split("+", 1)[1] for name in pdf_fonts(pdf)} == {"Meiyu-Noto-Sans-CJK"}
    (tmp_path / "x.pdf").write_bytes(pdf)
    assert "威海海鲜 웨이하이" in pdf_text(tmp_path / "x.pdf")[0]
