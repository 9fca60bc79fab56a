"""Hostile pages and secrets end to end, with the real command, real HTTP and real databases.

A site on 127.0.0.1 serves a feed, a Naver-API-shaped search answer and article pages whose
titles and text carry markup, script, control characters, NUL, bidi overrides and zero-width
characters, plus links that are no http(s) URL or would break a markdown link. What is crawled
is stored as data (exactly, NUL removed: PostgreSQL text cannot hold it), rendered as text in
the monthly report, the weekly brief, the XLSX and the exports, and linked only over http(s).
Alerts about such items cannot break out of a robot's markdown link. Secrets set in the
environment (API keys, a cookie, robot URLs, an SMTP password, a database password) never
appear in any output, log line, error, export, report or database row.
"""

from __future__ import annotations

import csv
import datetime as dt
import email.policy
import json
import re
import socket
import subprocess
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import MetaData, create_engine, select, text

from kernel.alerts import NEGATIVE_SPIKE
from kernel.config import load_config
from meiyu.demo.fixturesite.server import FixtureSite
from pipelines.alerts.detect import Finding
from pipelines.alerts.message import record
from storage.alerts import list_alerts, save_alert
from storage.db import make_engine, session_factory, transaction
from storage.migrate import upgrade
from tests.conftest import parse_html, run_meiyu, write_config

# A real crawl of hostile pages: the full suite, not `make check`.
pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'
RTL = "\u202e"  # RIGHT-TO-LEFT OVERRIDE
POP = "\u202c"
ZERO_WIDTH = "\u200b\u200d"
CONTROLS = "\x01\x07\x1b\x7f"  # not whitespace: kept as they are
ZH_TITLE = f"威海海鲜节开幕{MARKUP}{RTL}反向{POP}{ZERO_WIDTH}尾"
ZH_BODY = (
    f"12月5日，第十届威海国际海鲜美食节在威海开幕，游客品尝当季海鲜。{MARKUP}"
    f"渔港交易活跃{RTL}反向文本{POP}，{ZERO_WIDTH}零宽字符也在。"
)
# Naver's API escapes markup in titles and puts <b> around hits; JSON may hold any control.
KO_RAW_TITLE = (
    "<b>웨이하이</b> 해변 축제에 관광객 몰려 &lt;script&gt;alert(1)&lt;/script&gt;"
    f'\u0000{CONTROLS}{RTL}역방향{POP} {ZERO_WIDTH}제로폭 =HYPERLINK("http://evil.test/")'
)
KO_TITLE = (
    "웨이하이 해변 축제에 관광객 몰려 <script>alert(1)</script>"
    f'{CONTROLS}{RTL}역방향{POP} {ZERO_WIDTH}제로폭 =HYPERLINK("http://evil.test/")'
)
KO_BODY = (
    "웨이하이 해변 축제에 한국 관광객이 몰렸다. 관광객들은 해산물과 바다 풍경을 즐겼다. "
    f"&lt;img src=x onerror=alert(1)&gt; {RTL}역방향{POP} {ZERO_WIDTH}제로폭"
)
MD_BREAKER = ")[c](javascript:alert(1))"

SECRETS = {
    "NAVER_CLIENT_ID": "nid-SECRET-7f3a",
    "NAVER_CLIENT_SECRET": "nsec-SECRET-91bd",
    "SOGOU_COOKIE": "SUID=sogou-SECRET-c0ffee; SNUID=sogou-SECRET-beef",
}


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class HostileSite:
    server: ThreadingHTTPServer
    hits: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def _article(title: str, body: str, lang: str) -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in (body, body, body))
    return (
        f"<!DOCTYPE html><html lang='{lang}'><head><meta charset='utf-8'>"
        f"<title>{title}</title></head><body><article><h1>{title}</h1>{paragraphs}"
        "</article></body></html>"
    )


@pytest.fixture(scope="module")
def hostile_site() -> Iterator[HostileSite]:
    holder: list[HostileSite] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            site = holder[0]
            site.hits.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            base = site.base
            path = urllib.parse.urlsplit(self.path).path
            if path == "/feed.xml":
                items = [
                    (ZH_TITLE, f"{base}/zh1.html"),
                    ("威海海鲜 javascript 链接", "javascript:alert(1)"),
                    ("威海海鲜 坏链接", "http://[::1/x"),
                    (f"威海海鲜{MARKUP}", f"{base}/zh2.html?q={MD_BREAKER}"),
                ]
                page = (
                    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                    f"<title>hostile</title><link>{base}/</link>"
                    + "".join(
                        f"<item><title>{_xml(_xml(t))}</title><link>{_xml(link)}</link>"
                        "<pubDate>Tue, 05 Dec 2023 10:00:00 +0800</pubDate>"
                        f"<description>{_xml(_xml(ZH_BODY))}</description></item>"
                        for t, link in items
                    )
                    + "</channel></rss>"
                )
                ctype = "application/rss+xml; charset=utf-8"
            elif path == "/v1/search/news.json":
                page = json.dumps(
                    {
                        "lastBuildDate": "Tue, 05 Dec 2023 12:00:00 +0900",
                        "total": 1,
                        "start": 1,
                        "display": 1,
                        "items": [
                            {
                                "title": KO_RAW_TITLE,
                                "originallink": f"{base}/ko1.html",
                                "link": f"{base}/ko1.html",
                                "description": "<b>웨이하이</b> &lt;b&gt;굵게&lt;/b&gt;\u0000",
                                "pubDate": "Tue, 05 Dec 2023 11:00:00 +0900",
                            }
                        ],
                    }
                )
                ctype = "application/json; charset=utf-8"
            elif path in ("/zh1.html", "/zh2.html"):
                page = _article(_xml(ZH_TITLE), _xml(ZH_BODY), "zh")
                ctype = "text/html; charset=utf-8"
            elif path == "/ko1.html":
                page = _article("웨이하이 축제", KO_BODY + "\x00" + CONTROLS, "ko")
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
    holder.append(HostileSite(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()


def _assert_escaped(html: str, titles: list[str]) -> None:
    """No element or attribute from the web; the titles are there as text; http(s) links."""
    page = parse_html(html)
    tags = {tag for tag, _ in page.tags}
    assert "script" not in tags
    assert not any("onerror" in attrs for _, attrs in page.tags)
    assert not [a for tag, a in page.tags if tag == "img" and a.get("src") == "x"]
    hrefs = [a.get("href") or "" for tag, a in page.tags if tag == "a"]
    assert all(h.startswith(("http://", "https://", "#")) for h in hrefs), hrefs
    shown = "".join(page.text)
    for title in titles:
        assert title in shown, title


def _database_text(db_url: str) -> str:
    """Every row of every table, as text (the secrets test greps it)."""
    engine = create_engine(db_url)
    meta = MetaData()
    meta.reflect(engine)
    out = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            out += [repr(tuple(row)) for row in conn.execute(select(table))]
    engine.dispose()
    return "\n".join(out)


def _xlsx_text(path: Path) -> str:
    with zipfile.ZipFile(path) as book:
        return "\n".join(book.read(n).decode("utf-8") for n in book.namelist())


def _no_secret(where: str, content: str, secrets: list[str]) -> None:
    leaked = [s for s in secrets if s in content]
    assert not leaked, f"{where} holds {leaked}"


@dataclass
class Crawled:
    """The hostile site crawled into SQLite, computed, reported, briefed and exported once."""

    root: Path
    db_url: str
    out: Path
    runs: list[subprocess.CompletedProcess[str]]


def _config(path: Path, db_url: str, base: str) -> Path:
    return write_config(
        path,
        db_url=db_url,
        proxy=None,
        feeds={"hostile": [f"{base}/feed.xml"]},
        search=[
            {
                "name": "naver-api",
                "kind": "naver_api",
                "language": "ko",
                "outlet": "네이버 검색 API",
                "timezone": "Asia/Seoul",
                "base_url": base,
            }
        ],
        crawl={"http_cache": True, "jobs_dir": str(path.parent / "jobs"), "retry_times": 0},
    )


ENV = {**SECRETS, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
WINDOW = ("--since", "2023-12-01", "--until", "2023-12-31")


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory, hostile_site: HostileSite) -> Crawled:
    root = tmp_path_factory.mktemp("hostile")
    db_url = f"sqlite:///{root / 'meiyu.db'}"
    args = ("--config", str(_config(root / "meiyu.toml", db_url, hostile_site.base)))
    out = root / "out"
    runs = [
        run_meiyu(*args, "-v", "crawl", *WINDOW, env=ENV),
        run_meiyu(*args, "compute", env=ENV),
        run_meiyu(*args, "report", "-m", "2023-12", "-o", str(out), "-f", "html,xlsx", env=ENV),
        run_meiyu(*args, "brief", "-w", "2023-W49", "-o", str(out), env=ENV),
        run_meiyu(*args, "export", "-o", str(out / "corpus.jsonl"), "--with-html", env=ENV),
        run_meiyu(*args, "export", "-o", str(out / "corpus.csv"), env=ENV),
    ]
    for proc in runs:
        assert proc.returncode == 0, proc.args[3:] + [proc.stdout, proc.stderr]
    return Crawled(root, db_url, out, runs)


def _documents(db_url: str) -> dict[str, tuple[str, str]]:
    """URL path → (title, text) of every stored document."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT url, title, text FROM documents")).all()
    engine.dispose()
    return {urllib.parse.urlsplit(r.url).path: (r.title, r.text) for r in rows}


def test_hostile_pages_are_stored_as_data(crawled: Crawled, hostile_site: HostileSite) -> None:
    # the API was asked with the credentials, the article pages without them
    api = [h for p, h in hostile_site.hits if p.startswith("/v1/")]
    assert api and all(h["x-naver-client-secret"] == SECRETS["NAVER_CLIENT_SECRET"] for h in api)
    assert not [h for p, h in hostile_site.hits if p.endswith(".html") and "x-naver-client-id" in h]
    # exactly as crawled, NUL removed; the links that are no http(s) URL are not stored
    docs = _documents(crawled.db_url)
    assert sorted(docs) == ["/ko1.html", "/zh1.html", "/zh2.html"]
    assert docs["/zh1.html"][0] == ZH_TITLE and docs["/ko1.html"][0] == KO_TITLE
    assert docs["/zh2.html"][0] == f"威海海鲜{MARKUP}"
    assert MARKUP in docs["/zh1.html"][1]  # the page's escaped markup is text
    assert "<img src=x onerror=alert(1)>" in docs["/ko1.html"][1]
    assert not [t for pair in docs.values() for t in pair if "\x00" in t]
    engine = create_engine(crawled.db_url)
    with engine.connect() as conn:
        snippets = conn.execute(text("SELECT snippet FROM mentions")).scalars().all()
    engine.dispose()
    assert "웨이하이 <b>굵게</b>" in snippets
    crawl = crawled.runs[0]
    assert "without an http(s) link skipped" in crawl.stderr  # said, not silently dropped


def test_postgresql_stores_the_same_text(
    tmp_path: Path, postgres_url: str, crawled: Crawled, hostile_site: HostileSite
) -> None:
    """PostgreSQL text cannot hold NUL: the crawl must not fail on it, and store what SQLite
    stores, character for character."""
    cfg = _config(tmp_path / "meiyu.toml", postgres_url, hostile_site.base)
    proc = run_meiyu("--config", str(cfg), "crawl", *WINDOW, env=ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _documents(postgres_url) == _documents(crawled.db_url)
    _no_secret("the PostgreSQL database", _database_text(postgres_url), list(SECRETS.values()))


def test_hostile_text_is_rendered_as_text(crawled: Crawled) -> None:
    out = crawled.out
    titles = {t for t, _ in _documents(crawled.db_url).values()}
    report = (out / "meiyu-report-2023-12.html").read_text(encoding="utf-8")
    _assert_escaped(report, [KO_TITLE])
    # the two Chinese pages are one story (same body): one of their titles stands for it
    assert ZH_TITLE in "".join(parse_html(report).text) or f"威海海鲜{MARKUP}" in "".join(
        parse_html(report).text
    )
    assert "&lt;script&gt;" in report
    brief = (out / "meiyu-brief-a67-2023-W49.html").read_text(encoding="utf-8")
    _assert_escaped(brief, [KO_TITLE])
    # XLSX: text cells (the formula-looking title is no formula), minus what XML 1.0 forbids
    book = openpyxl.load_workbook(out / "meiyu-report-2023-12.xlsx")
    items = book["本月条目"]
    col = [c.value for c in items[1]].index("标题")
    cells = [row[col] for row in items.iter_rows(min_row=2)]
    shown = {c.value for c in cells}
    assert ZH_TITLE in shown and KO_TITLE.translate({1: None, 7: None, 27: None}) in shown
    assert all(c.data_type == "s" for c in cells)
    # exports: the stored text, plain
    rows = [json.loads(line) for line in (out / "corpus.jsonl").read_text().splitlines()]
    assert {r["title"] for r in rows} == titles
    raw = [r["html"] for r in rows if r["url"].endswith("/ko1.html")]
    assert raw and "&lt;img src=x onerror=alert(1)&gt;" in raw[0]  # the page, as fetched
    with (out / "corpus.csv").open(encoding="utf-8", newline="") as fh:
        assert {r["title"] for r in csv.DictReader(fh)} == titles
    # written where asked, under fixed names: nothing named from crawled data
    assert sorted(p.name for p in out.iterdir()) == [
        "corpus.csv",
        "corpus.csv.DATASHEET.md",
        "corpus.jsonl",
        "corpus.jsonl.DATASHEET.md",
        "meiyu-brief-a67-2023-W49.html",
        "meiyu-report-2023-12.html",
        "meiyu-report-2023-12.xlsx",
    ]
    assert {p.name for p in crawled.root.iterdir()} <= {
        "meiyu.toml",
        "out",
        "jobs",
        "meiyu.db",
        "meiyu.db-wal",
        "meiyu.db-shm",
    }


def test_no_secret_in_any_output_log_file_or_row(crawled: Crawled) -> None:
    secrets = list(SECRETS.values())
    for proc in crawled.runs:
        _no_secret(f"`{' '.join(proc.args[5:7])}` output", proc.stdout + proc.stderr, secrets)
    for path in crawled.out.iterdir():
        body = _xlsx_text(path) if path.suffix == ".xlsx" else path.read_text(encoding="utf-8")
        _no_secret(path.name, body, secrets)
    _no_secret("the database", _database_text(crawled.db_url), secrets)
    for path in (crawled.root / "jobs").rglob("*"):
        if path.is_file():
            _no_secret(str(path), path.read_bytes().decode("latin-1"), secrets)


def test_a_cookie_source_keeps_its_cookie_out_of_logs_queues_and_rows(
    tmp_path: Path, site: FixtureSite
) -> None:
    """Sogou with SOGOU_COOKIE against the fixture world, verbose, with a JOBDIR."""
    db_url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    cfg = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        search=[
            {
                "name": "sogou",
                "kind": "sogou_weixin",
                "language": "zh",
                "outlet": "搜狗微信",
                "base_url": "http://weixin.sogou.com",
                "max_pages": 2,
            }
        ],
        crawl={"jobs_dir": str(tmp_path / "jobs"), "http_cache": True},
    )
    proc = run_meiyu(
        "--config",
        str(cfg),
        "-v",
        "crawl",
        "--since",
        "2023-12-01",
        "--until",
        "2023-12-31",
        env={"SOGOU_COOKIE": SECRETS["SOGOU_COOKIE"]},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    secrets = SECRETS["SOGOU_COOKIE"].split("; ")
    _no_secret("crawl output", proc.stdout + proc.stderr, secrets)
    _no_secret("the database", _database_text(db_url), secrets)
    for path in (tmp_path / "jobs").rglob("*"):
        if path.is_file():  # the HTTP cache's request_headers included
            _no_secret(str(path), path.read_bytes().decode("latin-1"), secrets)


# ------------------------------------------------------------------ alerts


@dataclass
class Robot:
    """WeCom/DingTalk robots on 127.0.0.1: /wecom answers errcode 0; /dingtalk refuses and
    echoes the URL it was called with (keys included) in its errmsg, as some gateways do."""

    server: ThreadingHTTPServer
    received: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def robot() -> Iterator[Robot]:
    holder: list[Robot] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            holder[0].received.append((self.path, json.loads(raw)))
            if self.path.startswith("/wecom"):
                answer = {"errcode": 0, "errmsg": "ok"}
            else:
                answer = {"errcode": 310000, "errmsg": f"bad sign for {holder[0].base}{self.path}"}
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Robot(server))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield holder[0]
    server.shutdown()
    server.server_close()


class _RefusingMailbox:
    """An SMTP server whose answer to a wrong password quotes the password back."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        return AuthResult(
            success=False, handled=False, message=f"535 password {data.password.decode()} is wrong"
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


CHANNELS = """
[alerts]
deliver_max_age_days = 0

[[alerts.channels]]
name = "wecom"
kind = "wecom"
url_env = "T_WECOM_URL"

[[alerts.channels]]
name = "ding"
kind = "dingtalk"
url_env = "T_DING_URL"
secret_env = "T_DING_SECRET"

[[alerts.channels]]
name = "hook-down"
kind = "webhook"
url_env = "T_HOOK_URL"

[[alerts.channels]]
name = "mail"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {port}
username_env = "T_SMTP_USER"
password_env = "T_SMTP_PASSWORD"
sender = "meiyu@example.org"
recipients = ["duty@example.org"]
"""


def test_alerts_about_hostile_items_cannot_break_out_and_never_leak_a_secret(
    tmp_path: Path, robot: Robot
) -> None:
    port = _free_port()
    controller = Controller(
        _RefusingMailbox(),
        hostname="127.0.0.1",
        port=port,
        auth_require_tls=False,
        authenticator=_RefusingMailbox().authenticate,
    )
    controller.start()
    try:
        _alerts_run(tmp_path, robot, port)
    finally:
        controller.stop()


def _alerts_run(tmp_path: Path, robot: Robot, smtp_port: int) -> None:
    db_url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    cfg_path = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=None,
        extra=CHANNELS.replace("{port}", str(smtp_port)),
    )
    cfg = load_config(cfg_path, env={})
    items: list[dict[str, Any]] = [
        {
            "day": "2023-12-05",
            "title": f"탈출](javascript:alert(1)) [x]({MD_BREAKER}",
            "url": f"http://news.test/a?{MD_BREAKER}",
            "outlet": '<font color="warning">가짜</font>',
            "documents": 1,
        },
        {
            "day": "2023-12-05",
            "title": f"줄바꿈\n> 가짜 인용\n**굵게** {RTL}moc.live{POP}",
            "url": "javascript:alert(1)",
            "outlet": None,
            "documents": 2,
        },
        {
            "day": "2023-12-05",
            "title": KO_TITLE,
            "url": "http://news.test/b",
            "outlet": "한반도",
            "documents": 1,
        },
    ]
    finding = Finding(
        NEGATIVE_SPIKE, "a67", dt.date(2023, 12, 5), dt.date(2023, 12, 5), 3.0, 0.1, 1e-6, [], items
    )
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        save_alert(s, record(finding, cfg.indicators["a67"].name, cfg.alerts))
    secrets = {
        "T_WECOM_URL": f"{robot.base}/wecom?key=wecom-SECRET-5a5a",
        "T_DING_URL": f"{robot.base}/dingtalk?access_token=ding-SECRET-6b6b",
        "T_DING_SECRET": "SECding-SECRET-7c7c",
        "T_HOOK_URL": f"http://127.0.0.1:{_free_port()}/hook?key=hook-SECRET-8d8d",
        "T_SMTP_USER": "alerts",
        "T_SMTP_PASSWORD": "smtp-SECRET-9e9e",
    }
    env = {**secrets, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    proc = run_meiyu("--config", str(cfg_path), "-v", "alerts", "run", env=env)
    # three channels fail (the dingtalk robot refuses, the hook is down, SMTP refuses the login)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 sent, 3 failed" in proc.stdout
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr  # -v adds INFO lines

    # the robot's markdown: each item one line, links only over http(s), nothing broken out
    ((path, body),) = [r for r in robot.received if r[0].startswith("/wecom")]
    content = body["markdown"]["content"]
    lines = content.split("\n")
    item_lines = [ln for ln in lines if ln[:3] in ("1. ", "2. ", "3. ")]
    assert len(item_lines) == 3
    # every link a markdown reader finds: the two http(s) items, nothing else
    links = re.findall(r"\]\(([^)]*)\)", content)
    assert links == [
        "http://news.test/a?%29%5Bc%5D%28javascript:alert%281%29%29",
        "http://news.test/b",
    ]
    assert "<font" not in content and "\n>" not in content.replace("\n> 规则", "")
    assert RTL not in content and "\x1b" not in content
    assert item_lines[0].count("](") == 1 and "%29%5Bc%5D%28javascript" in item_lines[0]
    assert "](" not in item_lines[1]  # a javascript: URL is no link; the title stays
    # the stored plain message too: one line per item, no bidi override
    with sessions() as s:
        (alert,) = list_alerts(s)
    assert len(alert.message.splitlines()) == 2 + 1 + 3 and RTL not in alert.message
    engine.dispose()

    everything = proc.stdout + proc.stderr + _database_text(db_url)
    for name in ("T_WECOM_URL", "T_DING_URL", "T_HOOK_URL"):
        query = urllib.parse.urlsplit(secrets[name]).query
        _no_secret(name, everything, [secrets[name], query.split("=", 1)[1]])
    _no_secret("secrets", everything, [secrets["T_DING_SECRET"], secrets["T_SMTP_PASSWORD"]])
    assert email.policy  # the module is imported for aiosmtpd's message policy


# ------------------------------------------------------------------ database URLs


def test_a_database_password_never_shows(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "meiyu.toml", db_url="sqlite:///x.db", proxy=None)
    password = "pg-SECRET-0f0f"
    cases = [
        # a server that is not there: exit 1, one line naming the URL without its password
        (f"postgresql://meiyu:{password}@127.0.0.1:{_free_port()}/meiyu", "db", 1),
        # malformed: a port that is no number; a scheme meiyu does not speak
        (f"postgresql://meiyu:{password}@127.0.0.1:port/meiyu", "db", 2),
        (f"mysql://meiyu:{password}@127.0.0.1/meiyu", "config", 2),
    ]
    for url, command, code in cases:
        args = {"db": ["db", "upgrade"], "config": ["config", "check"]}
        proc = run_meiyu(
            "--config", str(cfg), *args[command], env={"MEIYU_DATABASE_URL": url}, timeout=120
        )
        assert proc.returncode == code, (url, proc.stdout + proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert password not in proc.stdout + proc.stderr, proc.stderr
        assert "***" in proc.stderr, proc.stderr  # the URL is named, its password hidden


def test_output_file_names_come_from_checked_input_only(tmp_path: Path) -> None:
    """Report and brief names are built from a parsed month, a parsed week and an indicator
    key the config restricts to letters, digits, _ and -: no argument can lead elsewhere."""
    cfg = write_config(tmp_path / "meiyu.toml", db_url=f"sqlite:///{tmp_path / 'm.db'}", proxy=None)
    out = tmp_path / "out"
    for args in (
        ["report", "-m", "../../2023-12", "-o", str(out)],
        ["brief", "-w", "2023-W49", "-i", "../../a67", "-o", str(out)],
        ["brief", "-w", "2023-W49/../../x", "-o", str(out)],
    ):
        proc = run_meiyu("--config", str(cfg), *args, timeout=120)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()
    assert {p.name for p in tmp_path.iterdir()} <= {"meiyu.toml", "m.db", "m.db-wal", "m.db-shm"}
