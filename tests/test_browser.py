"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright, against
`meiyu demo --serve` on a demo database that `meiyu demo` built first (the README's way).

The demo's a29 carries a hostile name and one crawled item a hostile title and a `javascript:`
link: every page must show them as text, no dialog may open, and the console must stay free of
errors (a CSP violation is one). Each page is also photographed at 1366×768 and at a 390-px
phone width, into MEIYU_SCREENSHOTS when it is set (for a person to look at), else tmp.

`make test` installs Chromium (the Makefile's `browser` target); without one, these skip.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import http.client
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from storage.db import make_engine, session_factory, transaction
from storage.models import Document, IndicatorMatch
from storage.writes import DocumentRecord, ensure_source, upsert_document
from tests.conftest import REPO, run_meiyu
from tests.helpers_web import EVIL_NAME, site_config

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE = '<script>alert("t")</script><img src=x onerror=alert(2)> 威海海鲜'
SIZES = {"desktop": (1366, 768), "phone": (390, 844)}
# two alert channels for /admin/channels: the robot's URL (its key a secret) from the server's
# environment, the mail password unset
ROBOT_KEY = "browser-robot-SECRET-key"
CHANNELS = """
[[alerts.channels]]
name = "duty-robot"
kind = "wecom"
url_env = "BROWSER_TEST_ROBOT_URL"

[[alerts.channels]]
name = "office-mail"
kind = "email"
smtp_host = "smtp.example.org"
smtp_port = 587
starttls = true
password_env = "BROWSER_TEST_SMTP_PASSWORD"
sender = "meiyu@example.org"
recipients = ["office@example.org", "duty@example.org"]
"""
NEW_PASSWORD = "browser-made-password-2026"

if CHROMIUM is None:  # pragma: no cover - make test installs it
    pytest.skip("no chromium (make test installs Debian's)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@dataclass
class Dashboard:
    url: str
    password: str
    db_url: str
    shots: Path
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)


def _env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEIYU_")}
    env.update(MEIYU_DATABASE_URL=db_url, PYTHONUNBUFFERED="1")
    env["BROWSER_TEST_ROBOT_URL"] = (
        f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={ROBOT_KEY}"
    )
    env.pop("BROWSER_TEST_SMTP_PASSWORD", None)
    return env


def _plant_hostile_item(db_url: str) -> int:
    """A crawled item whose title is markup and whose link is `javascript:`."""
    engine = make_engine(db_url)
    try:
        with transaction(session_factory(engine)) as s:
            source = ensure_source(s, "hostile-outlet", "rss", "zh", "hostile-outlet")
            record = DocumentRecord(
                url="javascript:alert(3)",
                source="hostile-outlet",
                outlet="hostile-outlet",
                title=HOSTILE,
                text=f"{HOSTILE} 正文",
                language="zh",
                published_at=dt.datetime(2023, 12, 31, 2, tzinfo=dt.UTC),
                fetched_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                content_hash="hostile-browser",
            )
            return upsert_document(s, record, source, None)[1]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    tmp = tmp_path_factory.mktemp("browser")
    db_url = f"sqlite:///{tmp / 'demo.db'}"
    config = site_config(tmp, db_url)
    with config.open("a", encoding="utf-8") as f:
        f.write(CHANNELS)
    out = tmp / "out"
    built = run_meiyu("--config", str(config), "demo", "--out", str(out), env=_env(db_url))
    assert built.returncode == 0, built.stderr[-3000:]
    _plant_hostile_item(db_url)
    shots = Path(os.environ.get("MEIYU_SCREENSHOTS") or tmp / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "meiyu.cli", "--config", str(config), "demo", "--serve"]
        + ["--out", str(out), "--port", "0"],
        cwd=REPO,
        env=_env(db_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    found = None
    deadline = time.monotonic() + 120
    while found is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        found = re.search(r"log in at (http://\S+) as demo with the password (\S+)", line)
    assert found, "".join(output)
    assert "built already" in "".join(output)  # make demo's database, not a second crawl
    try:
        yield Dashboard(found.group(1), found.group(2), db_url, shots, process, output)
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
        output.append(rest)
    # Ctrl-C's exit: uvicorn shuts down, then passes the signal on (128 + SIGINT)
    assert process.returncode in (0, 130), "".join(output)
    assert "Finished server process" in "".join(output)
    logs = "".join(output)
    # the password was printed once (the line above), never logged again
    assert logs.count(found.group(2)) == 1
    engine = make_engine(db_url)
    with engine.connect() as conn:  # the one-time account went with the server
        assert conn.execute(text("SELECT count(*) FROM users WHERE name = 'demo'")).scalar() == 0
    engine.dispose()


@dataclass
class Watch:
    """What a page did that it must not: dialogs, script errors, console errors."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def browser(dashboard: Dashboard) -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser: Any, size: str = "desktop") -> tuple[Any, Any, Watch]:
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    watch = Watch()

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
    page.on(
        "response",
        lambda r: watch.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.on("console", lambda msg: watch.errors.append(msg.text) if msg.type == "error" else None)
    return context, page, watch


def _login(page: Any, dashboard: Dashboard) -> None:
    page.goto(dashboard.url + "login")
    page.fill("input[name=name]", "demo")
    page.fill("input[name=password]", dashboard.password)
    page.click("button[type=submit]")
    page.wait_for_url(dashboard.url)


def _visit(page: Any, dashboard: Dashboard, path: str, shot: str) -> None:
    reply = page.goto(dashboard.url + path.lstrip("/"))
    assert reply is not None and reply.status == 200, (path, reply and reply.status)
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(dashboard.shots / f"{shot}.png"), full_page=True)


def _item_id(dashboard: Dashboard) -> int:
    engine = make_engine(dashboard.db_url)
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT id FROM documents WHERE content_hash = 'hostile-browser'")
        ).scalar_one()
    engine.dispose()
    return int(found)


PAGES = {
    "overview": "/",
    "items": "/items",
    "items-a29": "/items?indicator=a29&period=2023-12",
    "users": "/admin/users",
    "channels": "/admin/channels",
    "alerts": "/alerts",
    "indicator-a29": "/indicators/a29",
    "indicator-a67-week": "/indicators/a67?period_type=week",
    "audit": "/audit?indicator=a67&month=2023-12",
    "exports": "/exports",
    "exports-a67": "/exports?indicator=a67&since=2023-12-01&until=2023-12-31&preview=1",
    "api": "/api/v1/docs",
    "weekly": "/weekly",
    "weekly-w52": "/weekly?week=2023-W52",
    "reports": "/reports",
}


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_renders_and_runs_no_injected_script(
    browser: Any, dashboard: Dashboard, size: str
) -> None:
    context, page, watch = _page(browser, size)
    try:
        _visit(page, dashboard, "/login", f"login-{size}")
        _login(page, dashboard)
        hostile = _item_id(dashboard)
        for name, path in {**PAGES, "item": f"/items/{hostile}"}.items():
            _visit(page, dashboard, path, f"{name}-{size}")
            # nothing wider than the window: the page scrolls down, never sideways
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 1, (name, size, overflow)
        # the hostile title is on the list and the item page as text, its link is no href
        _visit(page, dashboard, f"/items/{hostile}", f"item-{size}")
        assert HOSTILE in page.inner_text("main")
        assert page.locator('a[href^="javascript:"]').count() == 0
        assert page.locator("main img").count() == 0
        _visit(page, dashboard, "/items", f"items-{size}")
        assert HOSTILE in page.inner_text("main")
        # the hostile indicator name too, wherever a page names a29
        _visit(page, dashboard, "/", f"overview-{size}")
        assert EVIL_NAME in page.inner_text("main")
    finally:
        context.close()
    assert watch.dialogs == [], watch.dialogs
    assert watch.errors == [], watch.errors


def test_logging_out_in_the_browser_ends_the_session(browser: Any, dashboard: Dashboard) -> None:
    context, page, watch = _page(browser)
    try:
        _login(page, dashboard)
        page.click("form[action='/logout'] button")
        page.wait_for_url(dashboard.url + "login")
        page.goto(dashboard.url + "items")
        assert page.url == dashboard.url + "login"
        # a wrong password shows the Chinese error and no session
        page.fill("input[name=name]", "demo")
        page.fill("input[name=password]", "wrong-password-123")
        page.click("button[type=submit]")
        assert "账户名或密码不正确" in page.inner_text("body")
        assert not [c for c in context.cookies() if c["name"] == "meiyu_session"]
    finally:
        context.close()
    assert watch.dialogs == []


def test_three_items_labelled_with_the_keyboard_are_stored(
    browser: Any, dashboard: Dashboard
) -> None:
    def model_results() -> list[tuple[Any, ...]]:
        engine = make_engine(dashboard.db_url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM sentiment_results ORDER BY id")).all()
        engine.dispose()
        return [tuple(r) for r in rows]

    before_labels = model_results()
    context, page, watch = _page(browser)
    shown: list[tuple[int, str]] = []
    try:
        _login(page, dashboard)
        _visit(page, dashboard, "/audit?indicator=a67&month=2023-12", "audit-start")
        total = int(page.get_attribute("#audit-progress", "data-total") or 0)
        assert total >= 3
        for key, label in (("1", "positive"), ("2", "neutral"), ("3", "negative")):
            item = int(page.get_attribute("#audit-item", "data-document-id") or 0)
            shown.append((item, label))
            with page.expect_navigation():
                page.keyboard.press(key)
        assert page.get_attribute("#audit-progress", "data-labelled") == "3"
        assert "已标注 3 / " in page.inner_text("#audit-progress")
        page.screenshot(path=str(dashboard.shots / "audit-after-3.png"), full_page=True)
        # s skips: nothing stored, the next item shows
        before = page.get_attribute("#audit-item", "data-document-id")
        with page.expect_navigation():
            page.keyboard.press("s")
        assert page.get_attribute("#audit-item", "data-document-id") != before
    finally:
        context.close()
    engine = make_engine(dashboard.db_url)
    with engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT document_id, human_label, annotator, source_file FROM audit_labels "
                "WHERE indicator = 'a67' ORDER BY id"
            )
        ).all()
    engine.dispose()
    assert [(r[0], r[1]) for r in stored] == shown
    assert {(r[2], r[3]) for r in stored} == {("demo", "dashboard")}
    assert before_labels and model_results() == before_labels  # the model's results untouched
    assert watch.dialogs == [] and watch.errors == [], (watch.dialogs, watch.errors)


def _bearer_status(dashboard: Dashboard, token: str) -> int:
    """The API's answer to a script sending `token` (http.client: no proxy from the env)."""
    url = urlsplit(dashboard.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        conn.request("GET", "/api/v1/indicators", headers={"Authorization": f"Bearer {token}"})
        return conn.getresponse().status
    finally:
        conn.close()


def test_an_admin_adds_an_account_and_revokes_its_token_in_the_browser(
    browser: Any, dashboard: Dashboard
) -> None:
    context, page, watch = _page(browser)
    try:
        _login(page, dashboard)
        _visit(page, dashboard, "/admin/users", "users-before")
        form = page.locator("#add-account-form")
        form.locator("input[name=name]").fill("browser-zhao")
        form.locator("select[name=role]").select_option("analyst")
        form.locator("input[name=password]").fill(NEW_PASSWORD)
        form.locator("input[name=password2]").fill(NEW_PASSWORD)
        with page.expect_navigation():
            form.locator("button[type=submit]").click()
        assert page.inner_text("#admin-notice") == "已添加账户 browser-zhao。"
        account = page.locator("section.account[data-name='browser-zhao']")
        with page.expect_navigation():
            account.locator("form.token-form button").click()
        plain = page.inner_text("#token-plain").strip()
        token_id = page.get_attribute("#token-issued", "data-token-id")
        assert plain.startswith("meiyu_") and token_id
        page.screenshot(path=str(dashboard.shots / "users-token-issued.png"), full_page=True)
        assert _bearer_status(dashboard, plain) == 200
        _visit(page, dashboard, "/admin/users", "users-with-token")
        assert plain not in page.content()  # shown once
        row = page.locator(f"tr[data-token-id='{token_id}']")
        assert row.get_attribute("data-revoked") == "no"
        with page.expect_navigation():
            row.locator("button").click()
        assert page.inner_text("#admin-notice") == "已吊销 browser-zhao 的 API 令牌。"
        assert (
            page.locator(f"tr[data-token-id='{token_id}']").get_attribute("data-revoked") == "yes"
        )
        assert "已吊销" in page.inner_text(f"tr[data-token-id='{token_id}']")
        page.screenshot(path=str(dashboard.shots / "users-after-revoke.png"), full_page=True)
        assert _bearer_status(dashboard, plain) == 401  # at once
        # the channels page shows where the robot posts, never its key
        _visit(page, dashboard, "/admin/channels", "channels-admin")
        shown = page.inner_text("main")
        assert "duty-robot" in shown and "qyapi.weixin.qq.com" in shown
        assert ROBOT_KEY not in page.content() and "BROWSER_TEST_SMTP_PASSWORD" in shown
        assert page.locator("form.test-form button").count() == 2  # not pressed: no network
    finally:
        context.close()
    # the new account logs in with the password typed in the form
    context, page, _ = _page(browser)
    try:
        page.goto(dashboard.url + "login")
        page.fill("input[name=name]", "browser-zhao")
        page.fill("input[name=password]", NEW_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(dashboard.url)
        assert "browser-zhao（analyst）" in page.inner_text("header")
    finally:
        context.close()
    engine = make_engine(dashboard.db_url)
    with engine.connect() as conn:
        role = conn.execute(text("SELECT role FROM users WHERE name = 'browser-zhao'")).scalar()
        stored = conn.execute(
            text("SELECT token_hash, revoked_at FROM api_tokens WHERE id = :i"), {"i": token_id}
        ).one()
    engine.dispose()
    assert role == "analyst"
    assert stored[0] == hashlib.sha256(plain.encode()).hexdigest() and stored[1] is not None
    assert watch.dialogs == [] and watch.errors == [], (watch.dialogs, watch.errors)


CHARTS_JS = """() => Array.from(document.querySelectorAll('div.chart')).map(el => {
  const c = echarts.getInstanceByDom(el);
  const canvas = el.querySelector('canvas');
  let ink = 0;
  if (canvas) {
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) ink++;
  }
  return {id: el.id, instance: !!c, ink: ink,
          series: c ? c.getOption().series.map(s => (s.data || []).length) : []};
})"""

BAR_JS = """() => {
  const c = echarts.getInstanceByDom(document.getElementById('items-chart'));
  const o = c.getOption(), data = o.series[0].data;
  let j = data.length - 1;
  while (j > 0 && !(data[j] > 0)) j--;
  const p = c.convertToPixel({seriesIndex: 0}, [j, data[j] / 2]);
  return {x: p[0], y: p[1], period: o.xAxis[0].data[j], items: data[j]};
}"""


def test_charts_render_and_a_bar_opens_its_items(browser: Any, dashboard: Dashboard) -> None:
    context, page, watch = _page(browser)
    try:
        _login(page, dashboard)
        _visit(page, dashboard, "/", "overview-charts")
        charts = page.evaluate(CHARTS_JS)
        assert len(charts) == 3, charts  # a29, a68, a67
        for chart in charts:
            # an ECharts instance holding the series, and a canvas with something drawn
            assert chart["instance"] and chart["series"] and max(chart["series"]) > 0, chart
            assert chart["ink"] > 1000, chart
        box = page.locator("div.chart").first.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
        page.wait_for_timeout(300)  # the tooltip (escaped text) shows; nothing may run
        for path in ("/indicators/a29", "/indicators/a67?period_type=week"):
            _visit(page, dashboard, path, "indicator-chart")
            (chart,) = page.evaluate(CHARTS_JS)
            assert chart["instance"] and chart["series"][0] > 0 and chart["ink"] > 1000, chart
        _visit(page, dashboard, "/indicators/a29", "indicator-a29-chart")
        bar = page.evaluate(BAR_JS)
        box = page.locator("#items-chart").bounding_box()
        assert box is not None
        with page.expect_navigation():
            page.mouse.click(box["x"] + bar["x"], box["y"] + bar["y"])
        assert "/items?" in page.url and "indicator=a29" in page.url, page.url
        assert f"period={bar['period']}" in page.url, (page.url, bar)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(dashboard.shots / "items-from-bar.png"), full_page=True)
        rows = page.locator("main table tbody tr").count()
        assert rows == min(int(bar["items"]), 50), (rows, bar)
    finally:
        context.close()
    assert watch.dialogs == [] and watch.errors == [], (watch.dialogs, watch.errors)


def _a67_in_december(db_url: str) -> list[int]:
    """The documents a67 matched, published on a local day of December 2023 (the demo's
    Asia/Shanghai), read from the database: what the export must hold."""
    tz = ZoneInfo("Asia/Shanghai")
    engine = make_engine(db_url)
    with session_factory(engine)() as s:
        rows = s.execute(
            select(Document.id, Document.published_at)
            .join(IndicatorMatch, IndicatorMatch.document_id == Document.id)
            .where(IndicatorMatch.indicator == "a67")
            .order_by(Document.id)
        ).all()
    engine.dispose()
    first, last = dt.date(2023, 12, 1), dt.date(2023, 12, 31)
    return [i for i, t in rows if t is not None and first <= t.astimezone(tz).date() <= last]


def test_an_export_downloads_from_the_form(
    browser: Any, dashboard: Dashboard, tmp_path: Path
) -> None:
    """a67's December from the form: the preview counts it, the button downloads the zip of the
    CSV and its DATASHEET.md (the demo account is an admin, so it may)."""
    expected = _a67_in_december(dashboard.db_url)
    assert expected
    context, page, watch = _page(browser)
    try:
        _login(page, dashboard)
        _visit(page, dashboard, "/exports", "exports-form")
        page.select_option("select[name=indicator]", "a67")
        page.fill("input[name=since]", "2023-12-01")
        page.fill("input[name=until]", "2023-12-31")
        page.select_option("select[name=format]", "csv")
        with page.expect_navigation():
            page.click("#export-preview")
        assert page.get_attribute("#export-count", "data-rows") == str(len(expected))
        page.screenshot(path=str(dashboard.shots / "exports-preview.png"), full_page=True)
        with page.expect_download() as info:
            page.click("#export-submit")
        download = info.value
        assert download.suggested_filename == "meiyu-export-a67-2023-12-01-2023-12-31.zip"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        # a filter changed after the preview disables the button until the next preview
        page.select_option("select[name=format]", "jsonl")
        assert page.is_disabled("#export-submit") and page.is_visible("#export-changed")
    finally:
        context.close()
    with zipfile.ZipFile(saved) as z:
        names = sorted(z.namelist())
        stem = "meiyu-export-a67-2023-12-01-2023-12-31.csv"
        assert names == [stem, f"{stem}.DATASHEET.md"]
        sheet = z.read(f"{stem}.DATASHEET.md").decode("utf-8")
        rows = list(csv.DictReader(io.StringIO(z.read(stem).decode("utf-8"), newline="")))
    assert sheet.startswith(f"# DATASHEET — {stem}\n")
    assert f"**{len(expected)} rows, one per document**" in sheet
    assert "indicator: **a67**" in sheet and "2023-12-01 to 2023-12-31" in sheet
    assert [int(r["document_id"]) for r in rows] == expected
    assert {r["indicator"] for r in rows} == {"a67"} and {r["language"] for r in rows} == {"ko"}


def test_the_weekly_chart_renders_and_the_reports_page_downloads_a_pdf(
    browser: Any, dashboard: Dashboard
) -> None:
    context, page, watch = _page(browser)
    try:
        _login(page, dashboard)
        _visit(page, dashboard, "/weekly?week=2023-W52", "weekly-chart")
        (chart,) = page.evaluate(CHARTS_JS)
        # its band (lo and width), whiskers and share over the 12 weeks, drawn on the canvas
        assert chart["id"] == "weekly-chart" and chart["instance"], chart
        assert chart["series"] == [12, 12, 12, 12] and chart["ink"] > 1000, chart
        assert page.get_attribute("#weekly-headline", "data-week") == "2023-W52"
        assert "2023-W52" in page.inner_text("nav.weeks")
        # the week picker (a GET form) opens another week
        page.fill("input[name=week]", "2023-W50")
        with page.expect_navigation():
            page.click("#week-picker button[type=submit]")
        assert page.url.endswith("/weekly?week=2023-W50"), page.url
        # the dashboard's reports carry the demo's note, as `meiyu demo` writes them
        brief = page.request.get(dashboard.url + "reports/weekly/2023-W52.html")
        assert brief.status == 200 and "演示语料" in brief.text()
        _visit(page, dashboard, "/reports", "reports-download")
        with page.expect_download(timeout=120_000) as download:
            page.click('a[href="/reports/monthly/2023-12.pdf"]')
        got = download.value
        assert got.suggested_filename == "meiyu-2023-12.pdf"
        path = got.path()
        assert path is not None and Path(path).read_bytes().startswith(b"%PDF")
    finally:
        context.close()
    assert watch.dialogs == [] and watch.errors == [], (watch.dialogs, watch.errors)
