"""The Korean weekly page, its JSON and the report downloads against a real server: the week's
share, interval, trailing comparison and verdict are `reports.weekly.build_weekly`'s (and the
stored series'), the items come negative first with hostile text as text; the downloads are
the CLI's reports (HTML, a real PDF, an XLSX openpyxl reads) for stored months and weeks only,
and no path leaves its folder."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from kernel.config import load_config
from nlp.identity import model_for
from pipelines.aggregate import store_series
from pipelines.analyze import model_id
from reports.series import series_rows
from reports.weekly import build_weekly
from storage.alerts import AlertRecord, save_alert
from storage.db import make_engine, session_factory, transaction
from storage.writes import (
    DocumentRecord,
    MatchRecord,
    ensure_source,
    record_sentiment,
    replace_matches,
    upsert_document,
)
from tests.helpers_web import Client, Site, running_site, serving
from web.app import WebSettings, create_app

SEOUL = ZoneInfo("Asia/Seoul")
HOSTILE = '<img src=x onerror="alert(1)">웨이하이'
HOSTILE_ALERT = "<script>alert(2)</script>부정 급증"
# 8 trailing weeks of 2 positive and 1 neutral each, then 2023-W49: 1 positive, 2 neutral,
# 3 negative (the first negative with a hostile title and a javascript: link)
TRAILING = [f"2023-W{w}" for w in range(41, 49)]
WEEK = "2023-W49"
WEEK_LABELS = ["positive", "neutral", "negative", "negative", "neutral", "negative"]
FIRST_NEGATIVE = 3 * len(TRAILING) + WEEK_LABELS.index("negative")


def seed_weeks(config: Path) -> None:
    """a67's relevant items of 2023-W41..W49 scored by its current model, its series stored
    as `meiyu compute` stores it (a67 only: a29's seeded months stay), and one alert of W49."""
    cfg = load_config(config)
    ind = cfg.indicators["a67"]
    mid = model_id(model_for(ind))
    engine = make_engine(cfg.database.url)
    sessions = session_factory(engine)
    planned: list[tuple[dt.datetime, str]] = []
    for week in TRAILING:
        monday = dt.date.fromisocalendar(2023, int(week[-2:]), 1)
        for day, label in enumerate(["positive", "positive", "neutral"]):
            planned.append(
                (dt.datetime.combine(monday, dt.time(10), SEOUL) + dt.timedelta(day), label)
            )
    monday = dt.date.fromisocalendar(2023, 49, 1)
    for day, label in enumerate(WEEK_LABELS):
        planned.append((dt.datetime.combine(monday, dt.time(9), SEOUL) + dt.timedelta(day), label))
    with transaction(sessions) as s:
        ids = []
        for n, (when, label) in enumerate(planned):
            first_negative = n == FIRST_NEGATIVE
            text = f"웨이하이 관광 {n}"
            d = DocumentRecord(
                url="javascript:alert(1)" if first_negative else f"http://ko.test/{n}",
                source="ko-news",
                outlet="코리아 뉴스",
                title=HOSTILE if first_negative else f"웨이하이 소식 {n}",
                text=text,
                language="ko",
                published_at=when,
                fetched_at=dt.datetime(2023, 12, 20, tzinfo=dt.UTC),
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
            )
            doc = upsert_document(s, d, ensure_source(s, d.source, "rss", "ko", "O"), None)[1]
            ids.append(doc)
            p = {"positive": 0.1, "neutral": 0.1, "negative": 0.1, label: 0.8}
            record_sentiment(s, doc, mid, "a67", label, p, f"{d.title}\n웨이하이 문장 {n}")
        replace_matches(s, "a67", "v", [MatchRecord(i, ["웨이하이"]) for i in ids])
    with transaction(sessions) as s:
        store_series(s, "a67", ind, cfg.tz, None, None, {})
        save_alert(
            s,
            AlertRecord(
                "negative_spike", "a67", "2023-12-04", "2023-12-10", 3.0, 0.2, 0.001,
                HOSTILE_ALERT, [],
            ),
        )  # fmt: skip
    engine.dispose()


@pytest.fixture
def site(db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Site]:
    with running_site(db_url, tmp_path, caplog, seed=seed_weeks) as running:
        yield running


def _viewer(site: Site) -> Client:
    browser = site.client()
    assert browser.login("kim").status == 303
    return browser


def _attr(body: str, element_id: str, name: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]* {name}="([^"]*)"', body)
    assert found, (element_id, name)
    return found.group(1)


def test_the_weekly_page_is_the_brief_and_the_series(site: Site) -> None:
    browser = _viewer(site)
    page = browser.get("/weekly")  # the latest stored week by default
    assert page.status == 200, page.body
    cfg = load_config(site.config)
    with site.sessions() as s:
        brief = build_weekly(cfg, s, WEEK, "a67")
        week = next(
            r for r in series_rows(s, "a67", cfg.indicators["a67"], "week") if r["period"] == WEEK
        )
    # the brief's numbers are the stored series' (meiyu series -f W): 1 positive of 6
    assert (brief.this.scored, brief.this.positive) == (week["scored"], week["positive"]) == (6, 1)
    assert brief.this.interval == (week["share_lo95"], week["share_hi95"])
    assert brief.this.share is not None and round(brief.this.share, 4) == week["positive_share"]
    assert brief.trailing == (16, 24) and brief.difference is not None
    # and the page's are the brief's, exactly
    assert f'data-week="{WEEK}" data-scored="6" data-positive="1"' in page.body
    assert _attr(page.body, "week-share", "data-share") == str(brief.this.share)
    assert brief.this.interval is not None
    lo, hi = brief.this.interval
    assert _attr(page.body, "week-share", "data-lo") == str(lo)
    assert _attr(page.body, "week-share", "data-hi") == str(hi)
    assert f"95% 区间 {lo * 100:.1f}%–{hi * 100:.1f}%" in page.body
    assert ">16.7%<" in page.body and ">66.7%<" in page.body  # 1/6, 16/24
    assert _attr(page.body, "trailing-share", "data-share") == str(16 / 24)
    assert _attr(page.body, "week-difference", "data-difference") == str(brief.difference)
    assert brief.difference_interval is not None
    dlo, dhi = brief.difference_interval
    assert f"{dlo * 100:+.1f} 至 {dhi * 100:+.1f} 个百分点" in page.body
    assert f'id="week-verdict">{brief.verdict}<' in page.body and brief.verdict == "明显下降"
    assert brief.reading in page.body and "Wilson 区间" in page.body and "Newcombe" in page.body
    # the items: negative, then neutral, then positive; hostile text as text, no javascript: link
    labels = re.findall(r'<tr class="item" data-label="(\w+)"', page.body)
    assert labels == ["negative"] * 3 + ["neutral"] * 2 + ["positive"], labels
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;웨이하이" in page.body
    assert "<img" not in page.body and 'href="javascript:' not in page.body
    assert re.search(r'<a href="/items/\d+">&lt;img', page.body)
    assert 'href="http://ko.test/' in page.body and "웨이하이 문장" in page.body
    # the week's alert, escaped; the chart, its data and script; the neighbours and the download
    assert "负面报道激增" in page.body and "&lt;script&gt;alert(2)" in page.body
    assert "<script>alert" not in page.body
    assert '<div class="chart wide" id="weekly-chart"></div>' in page.body
    assert '<script src="/static/weekly.js"></script>' in page.body
    data = json.loads(page.body.split('id="weekly-data">')[1].split("</script>")[0])
    assert data["weeks"][-1] == WEEK and data["share"][-1] == brief.this.share
    assert data["trailing"] == 16 / 24 and data["trailing_from"] == "2023-W41"
    assert (
        'href="/weekly?week=2023-W48"' in page.body and 'href="/weekly?week=2023-W50"' in page.body
    )
    assert f'href="/reports/weekly/{WEEK}.html"' in page.body and "下载本周简报 (HTML)" in page.body
    assert browser.get("/static/weekly.js").status == 200

    # another week, and one without data (a page that says so, no download link)
    w48 = browser.get("/weekly?week=2023-W48")
    assert (
        w48.status == 200 and 'data-week="2023-W48" data-scored="3" data-positive="2"' in w48.body
    )
    empty = browser.get("/weekly?week=2023-W30")
    assert empty.status == 200 and "本周没有已存储的数值" in empty.body
    assert "/reports/weekly/2023-W30.html" not in empty.body

    # the JSON: the same numbers
    api = browser.get(f"/api/v1/weekly?week={WEEK}&indicator=a67")
    assert api.status == 200, api.body
    got = json.loads(api.body)
    assert got == json.loads(browser.get("/api/v1/weekly").body)  # the default week is W49
    assert got["this"]["share"] == brief.this.share and got["this"]["interval"] == [lo, hi]
    assert (got["trailing_positive"], got["trailing_scored"]) == (16, 24)
    assert got["difference"] == brief.difference and got["difference_interval"] == [dlo, dhi]
    assert got["p_value"] == brief.p_value and got["verdict"] == brief.verdict
    assert [x["label"] for x in got["items"]] == labels
    assert [r["week"] for r in got["rows"]][-9:] == [*TRAILING, WEEK]
    assert got["items"][0]["url"] == "" and got["items"][0]["title"] == HOSTILE
    assert got["alerts"][0]["message"] == HOSTILE_ALERT


def test_bad_weeks_and_volume_indicators_are_422(site: Site) -> None:
    browser = _viewer(site)
    for query, says in (
        ("week=2023-W60", "ISO 周"),
        ("week=2023-49", "ISO 周"),
        ("week=%3Cscript%3E", "ISO 周"),
        ("indicator=a29", "正面占比指标"),
        ("indicator=nope", "正面占比指标"),
    ):
        page = browser.get(f"/weekly?{query}")
        assert page.status == 422 and says in page.body, query
        assert "text/html" in (page.header("content-type") or "")
        assert browser.get(f"/api/v1/weekly?{query}").status == 422, query
    assert browser.get("/weekly?week=" + "9" * 11).status == 422
    assert browser.get("/api/v1/weekly?indicator=" + "a" * 41).status == 422


def test_no_login_no_weekly(site: Site) -> None:
    anonymous = site.client()
    for path in (
        "/weekly",
        "/reports",
        f"/reports/weekly/{WEEK}.html",
        "/reports/monthly/2023-12.pdf",
    ):
        reply = anonymous.get(path)
        assert (reply.status, reply.header("location")) == (303, "/login"), path
    assert anonymous.get("/api/v1/weekly").status == 401
    token = site.client(Authorization=f"Bearer {site.token('kim')}")  # a viewer's token
    assert token.get("/api/v1/weekly").status == 200


def test_reports_list_stored_months_and_weeks_and_download_them(site: Site) -> None:
    browser = _viewer(site)
    page = browser.get("/reports")
    assert page.status == 200, page.body
    # a29's seeded months and a67's computed ones, newest first; a67's stored weeks likewise
    months = re.findall(r'<tr data-month="([\d-]+)">', page.body)
    assert months == ["2023-12", "2023-11", "2023-10"], months
    weeks = re.findall(r'<li data-week="([\dW-]+)">', page.body)
    assert weeks == [WEEK, *TRAILING[::-1]], weeks
    for fmt in ("html", "pdf", "xlsx"):
        assert f'href="/reports/monthly/2023-12.{fmt}"' in page.body
    assert f'href="/reports/weekly/{WEEK}.html"' in page.body

    html = browser.get("/reports/monthly/2023-12.html")
    assert html.status == 200 and html.header("content-type") == "text/html; charset=utf-8"
    assert html.header("content-disposition") == 'attachment; filename="meiyu-2023-12.html"'
    assert "2023-12" in html.body and ">17<" in html.body  # a29's stored count of the month

    conn_pdf = _raw(site, "/reports/monthly/2023-12.pdf", browser)
    assert conn_pdf[0] == 200 and conn_pdf[1] == "application/pdf"
    assert conn_pdf[2] == 'attachment; filename="meiyu-2023-12.pdf"'
    assert conn_pdf[3].startswith(b"%PDF") and len(conn_pdf[3]) > 10_000

    status, kind, disposition, body = _raw(site, "/reports/monthly/2023-12.xlsx", browser)
    assert status == 200 and kind.startswith("application/vnd.openxmlformats")
    assert disposition == 'attachment; filename="meiyu-2023-12.xlsx"'
    book = openpyxl.load_workbook(io.BytesIO(body))
    cells = [c for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row]
    assert 17 in cells and "2023-12" in [str(c) for c in cells]

    weekly = browser.get(f"/reports/weekly/{WEEK}.html")
    assert weekly.status == 200 and weekly.header("content-type") == "text/html; charset=utf-8"
    assert weekly.header("content-disposition") == (
        f'attachment; filename="meiyu-brief-a67-{WEEK}.html"'
    )
    assert f'data-week="{WEEK}" data-scored="6" data-positive="1"' in weekly.body
    assert "<img src=x" not in weekly.body


def _raw(site: Site, path: str, browser: Client) -> tuple[int, str, str, bytes]:
    """A download's status, type, disposition and bytes (Client decodes bodies as text)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=120)
    cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    try:
        conn.request("GET", path, headers={"Cookie": cookie})
        r = conn.getresponse()
        return (
            r.status,
            r.getheader("content-type") or "",
            r.getheader("content-disposition") or "",
            r.read(),
        )
    finally:
        conn.close()


def test_reports_refuse_missing_periods_and_traversal(site: Site) -> None:
    browser = _viewer(site)
    secret = site.config.read_text(encoding="utf-8")
    for path, status in (
        ("/reports/monthly/2023-09.html", 404),  # a month without stored data
        ("/reports/monthly/2019-01.pdf", 404),
        ("/reports/weekly/2023-W30.html", 404),  # a week without stored data
        ("/reports/weekly/2023-W49.html?indicator=a29", 422),  # a volume: no brief
        ("/reports/monthly/2023-13.html", 422),
        ("/reports/monthly/2023-1.html", 422),
        ("/reports/weekly/2023-49.html", 422),
        ("/reports/monthly/2023-12.doc", 404),
        ("/reports/monthly/2023-12.html.pdf", 422),
    ):
        reply = browser.get(path)
        assert reply.status == status, (path, reply.status)
        assert "text/html" in (reply.header("content-type") or "") and "无法访问" in reply.body
    for path in (
        "/reports/monthly/../../meiyu.toml",
        "/reports/monthly/..%2f..%2fmeiyu.toml",
        "/reports/monthly/..%2F2023-12.html",
        "/reports/monthly/%2e%2e.html",
        "/reports/monthly/%2e%2e%2f%2e%2e%2fetc%2fpasswd.pdf",
        "/reports/weekly/..%2f..%2fmeiyu.html",
        "/reports/weekly/%2e%2e.html",
        "/reports/weekly/2023-W49%2f..%2f..%2fx.html",
    ):
        reply = browser.get(path)
        assert reply.status in (404, 422), (path, reply.status)
        assert "content-disposition" not in {k.lower() for k in reply.headers}
        assert "[database]" not in reply.body and "root:" not in reply.body
        assert secret not in reply.body


def test_without_a_config_the_pages_say_they_are_off(site: Site) -> None:
    """A dashboard built without the whole config (WebSettings.config None) cannot build
    reports: its pages say so, its downloads and JSON are 404, nothing is 500."""
    cfg = load_config(site.config)
    app = create_app(
        WebSettings(sessions=site.sessions, indicators=cfg.indicators, timezone=cfg.timezone)
    )
    with serving(app) as port:
        browser = Client(port, site.secrets)
        assert browser.login("kim").status == 303
        weekly = browser.get("/weekly")
        assert weekly.status == 200 and 'id="weekly-off"' in weekly.body
        reports = browser.get("/reports")
        assert reports.status == 200 and 'id="reports-off"' in reports.body
        assert browser.get("/reports/monthly/2023-12.html").status == 404
        assert browser.get(f"/reports/weekly/{WEEK}.html").status == 404
        assert browser.get("/api/v1/weekly").status == 404
