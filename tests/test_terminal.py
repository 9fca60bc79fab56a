"""Every table-printing command at 80 columns: no cell cut to "…", no line wider than the
terminal. `meiyu series` shows its compact view there, every column with --wide, csv, json.

The commands run in this process (typer's runner) on one small SQLite database written through
storage (documents, sentiment, a crawl run, scheduler runs, an alert, audit labels, accounts
and API tokens), then `meiyu compute` (every series).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

import pipelines.analyze
import scheduler
from kernel.config import load_config
from meiyu.cli import _common as cli  # the root app and the console every command prints to
from pipelines.match import match_all
from storage import job_runs, users
from storage.alerts import AlertRecord, record_delivery, save_alert
from storage.audit import AuditRecord, store_labels
from storage.db import make_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.writes import (
    DocumentRecord,
    ensure_source,
    finish_crawl_run,
    record_sentiment,
    start_crawl_run,
    upsert_document,
)
from tests.conftest import write_config
from web.accounts import hash_password, new_token

SH = ZoneInfo("Asia/Shanghai")
WIDTH = 80
ZH = "据报道，威海海鲜市场今天购销两旺，各类海鲜走俏，刘公岛海洋文化节同期举行。"
KO = [
    "중국 산둥성 웨이하이 해변 축제에 한국인 관광객이 몰려 큰 인기를 끌었다.",
    "웨이하이 인근 해상에서 어선이 침몰해 선원들이 실종됐다.",
    "웨이하이시는 올해 한국과의 교류 행사를 열었다.",
]

Run = Callable[..., str]
# The longest name an account may have: its column folds instead of widening the table.
LONG_NAME = "weihai-tourism-bureau.analyst-" + "x" * 34


def _doc(n: int, lang: str, when: dt.datetime) -> DocumentRecord:
    title = f"威海海鲜 {n}" if lang == "zh" else f"웨이하이 소식 {n}"
    text = ZH + str(n) if lang == "zh" else KO[n % 3] + f" ({n})"
    return DocumentRecord(
        url=f"http://{lang}.test/{n}",
        source="jiaodong" if lang == "zh" else "seohae",
        outlet="Outlet",
        title=title,
        text=text,
        language=lang,
        published_at=when,
        fetched_at=dt.datetime(2024, 1, 5, tzinfo=dt.UTC),
        content_hash=hashlib.sha256((title + text).encode()).hexdigest(),
    )


# Models named in the config, so the series' share does not depend on a shipped model: the
# sentiment rows are written here, and `compute` runs with its scoring left out.
MODELS = {"a29": "test/zh-model", "a68": "test/zh-model", "a67": "test/ko-model"}
LABELS = ("positive", "neutral", "negative")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("terminal")
    db_url = f"sqlite:///{folder / 'meiyu.db'}"
    path = write_config(
        folder / "meiyu.toml",
        db_url=db_url,
        proxy=None,
        feeds={"jiaodong": ["http://jiaodong.test/rss.xml"], "seohae": ["http://s.test/r"]},
    )
    text = path.read_text(encoding="utf-8")
    for key, model in MODELS.items():
        text = text.replace(
            f"[indicators.{key}]\n", f'[indicators.{key}]\nsentiment_model = "{model}"\n'
        )
    path.write_text(text, encoding="utf-8")
    cfg = load_config(path, env={})
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    ko = []
    with transaction(sessions) as s:
        for n in range(40):
            lang = "zh" if n % 2 else "ko"
            doc = _doc(n, lang, dt.datetime(2023, 1 + n % 12, 1 + n % 27, 10, tzinfo=SH))
            sid = ensure_source(s, doc.source, "rss", lang, "Outlet")
            doc_id = upsert_document(s, doc, sid, None)[1]
            if lang == "ko":
                ko.append(doc_id)
        crawl = start_crawl_run(s, ["jiaodong", "seohae"])
        finish_crawl_run(s, crawl, status="ok", counts={"items_seen": 40, "new": 40}, errors=[])
    match_all(cfg, sessions)
    with transaction(sessions) as s:
        for i, doc_id in enumerate(ko):
            label = LABELS[i % 3]
            record_sentiment(s, doc_id, MODELS["a67"], "a67", label, {label: 0.9}, "")
        store_labels(
            s,
            [
                AuditRecord(d, "a67", MODELS["a67"], LABELS[i % 3], LABELS[i % 2], "kim", "")
                for i, d in enumerate(ko)
            ],
            "audit-a67.xlsx",
        )
        alert, _ = save_alert(
            s,
            AlertRecord(
                rule="negative_spike",
                indicator="a67",
                period_start="2023-03-01",
                period_end="2023-03-02",
                observed=7,
                expected=0.0714,
                p_value=6.6e-8,
                message="m",
                items=[{"url": f"http://ko.test/{i}"} for i in range(7)],
            ),
        )
        record_delivery(s, alert, "wecom-robot", None)
        record_delivery(s, alert, "mail", "SMTP 550: mailbox unavailable")
        account = users.add_user(s, LONG_NAME, "analyst", hash_password("x" * 12))
        users.add_user(s, "王", "viewer", hash_password("x" * 12))
        for _ in range(2):
            token = users.add_token(s, account.id, new_token()[1])
        users.touch_token(s, token.id)
        users.revoke_token(s, token.id)

    holder = scheduler.holder_id()
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    slot = dt.datetime(2024, 2, 1, 2, 30, tzinfo=SH)
    done = job_runs.claim(sessions, "crawl:seohae", slot, holder, lambda _: True, stale)
    assert done is not None and job_runs.start(sessions, done, holder)
    error = "crawl --source seohae exited 1: error: feed http://s.test/r: HTTP 503 (retried 2)"
    job_runs.finish(sessions, done, holder, "failed", error)
    running = job_runs.claim(sessions, "compute", slot, holder, lambda _: True, stale)
    assert running is not None and job_runs.start(sessions, running, holder)
    job_runs.set_progress(sessions, running, holder, {"step": "compute", "done": 0, "total": 2})
    engine.dispose()

    runner = CliRunner()

    def invoke(*args: str) -> str:
        # What a real process at COLUMNS=80 gets: rich reads COLUMNS when the console is made.
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("COLUMNS", str(WIDTH))
            mp.setattr(cli, "out", Console())
            mp.setattr(pipelines.analyze, "analyze_all", lambda *a, **k: [])  # scored above
            result = runner.invoke(cli.app, ["--config", str(path), *args])
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result.output

    invoke("compute")  # every series
    return invoke


def _readable(output: str) -> None:
    assert "…" not in output, output
    too_wide = [line for line in output.splitlines() if cell_len(line) > WIDTH]
    assert not too_wide, output


@pytest.mark.parametrize(
    "args",
    [
        ("config", "check"),
        ("sources",),
        ("status",),
        ("alerts", "list"),
        ("audit", "report", "-i", "a67"),
        ("schedule", "--list"),
        ("users", "list"),
        ("users", "tokens", LONG_NAME),
        ("assess", "-i", "a29", "-p", "2023-06", "--baseline", "2023-02"),
        ("assess", "-i", "a67", "-p", "2023-05", "--baseline", "2023-01"),
        ("series", "-i", "a29", "-f", "M"),
        ("series", "-i", "a67", "-f", "D"),
        ("series", "-i", "a67", "-f", "W"),
    ],
    ids=" ".join,
)
def test_tables_are_readable_at_80_columns(run: Run, args: tuple[str, ...]) -> None:
    _readable(run(*args))


def test_compute_table_is_readable_at_80_columns(run: Run) -> None:
    _readable(run("compute"))


def test_series_compact_view_and_every_column_elsewhere(run: Run) -> None:
    table = run("series", "-i", "a67", "-f", "M")
    _readable(table)
    head = next(line for line in table.splitlines() if "period" in line)
    for col in ("items (95%)", "stories", "relevant", "positive (95%)"):
        assert col in head
    assert "coverage" not in table and "corrected" not in table
    doc = json.loads(run("series", "-i", "a67", "-f", "M", "--format", "json"))
    for row in doc["rows"]:
        line = next(ln for ln in table.splitlines() if f" {row['period']} " in ln)
        assert f" {row['items']} (" in line  # the count and its interval, in one cell
        if row["positive_share"] is not None:
            assert f"{row['positive_share']:.1%} (" in line and "%)" in line
    assert "all columns: --wide" in table

    volume = run("series", "-i", "a29", "-f", "Y")
    assert "positive (95%)" not in volume and " 2023 " in volume

    wide = run("series", "-i", "a67", "-f", "M", "--wide")
    assert "…" not in wide  # full width, for a pager
    for col in ("coverage_share", "corrected_hi95", "share_lo95", "negative"):
        assert col in wide
    rows = list(
        csv.DictReader(io.StringIO(run("series", "-i", "a67", "-f", "M", "--format", "csv")))
    )
    assert [r["period"] for r in rows] == [r["period"] for r in doc["rows"]]
    assert "corrected_share" in rows[0] and "definition_version" in rows[0]


def test_alerts_and_status_keep_their_content_at_80_columns(run: Run) -> None:
    alerts = run("alerts", "list")
    assert "negative_spike" in alerts and "wecom-robot:" in alerts and "1 alert(s)" in alerts
    assert "2023-03-01" in alerts and "2023-03-02" in alerts
    status = run("status")
    assert "compute (1/2)" in status and "crawl:seohae" in status and "HTTP 503" in status
    listing = run("schedule", "--list")
    assert "crawl:jiaodong" in listing and "crawl:seohae" in listing and "30 2 * * *" in listing


def test_long_words_fold_instead_of_being_cut() -> None:
    table = Table(title="t")
    table.add_column("x")
    table.add_row("a" * 200)
    buf = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "out", Console(file=buf, width=WIDTH))
        cli._show(table)
    assert "…" not in buf.getvalue() and buf.getvalue().count("a") == 200
