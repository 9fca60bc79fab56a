"""The exports page against a real server (SQLite and PostgreSQL): a download is a zip of the
data file and DATASHEET.md that `meiyu export` writes for the same filters, row for row; the
filters select by indicator, local day, language and source; a viewer, a forged form and bad
filters get nothing (403, or 422 with the command's own line), and no temporary file stays."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import io
import json
import re
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest

from kernel.config import load_config
from kernel.identity import model_id
from nlp.identity import model_for
from storage.db import make_engine, session_factory, transaction
from storage.writes import (
    DocumentRecord,
    MatchRecord,
    ensure_source,
    record_sentiment,
    replace_matches,
    upsert_document,
)
from tests.helpers_cli import meiyu_in_process
from tests.helpers_web import Client, Reply, Site, running_site, serving
from tests.test_web_auth import only_script_files_and_data
from web.app import WebSettings, create_app
from web.exports import TEMP_PREFIX

SH = ZoneInfo("Asia/Shanghai")  # the test config's time zone: the filters' local days
HOSTILE = '=HYPERLINK("javascript:alert(1)","点我"),<script>alert(1)</script>\n第二行 "引号"'
HOSTILE_SOURCE = '<img src=x onerror="alert(1)">'
SOURCES = {  # name → (language, outlet)
    "zh-daily": ("zh", "海滨日报"),
    "zh-weekly": ("zh", HOSTILE_SOURCE),
    "ko-news": ("ko", "한반도뉴스"),
    "ko-blog": ("ko", "블로그"),
}
# key, source, local publication time (None: undated), indicators that matched it
DOCS: list[tuple[str, str, dt.datetime | None, tuple[str, ...]]] = [
    # 00:10 on 1 Dec is 30 Nov in UTC, 00:05 on 1 Jan is 31 Dec: local days decide
    ("zh-dec-01", "zh-daily", dt.datetime(2023, 12, 1, 0, 10, tzinfo=SH), ("a29",)),
    ("zh-nov-30", "zh-daily", dt.datetime(2023, 11, 30, 23, 50, tzinfo=SH), ("a29",)),
    ("zh-dec-31", "zh-daily", dt.datetime(2023, 12, 31, 23, 30, tzinfo=SH), ("a29",)),
    ("zh-jan-01", "zh-weekly", dt.datetime(2024, 1, 1, 0, 5, tzinfo=SH), ("a29",)),
    ("hostile", "zh-weekly", dt.datetime(2023, 12, 5, 9, 0, tzinfo=SH), ("a29",)),
    ("zh-nomatch", "zh-daily", dt.datetime(2023, 12, 6, 9, 0, tzinfo=SH), ()),
    ("ko-dec-02", "ko-news", dt.datetime(2023, 12, 2, 9, 0, tzinfo=SH), ("a67",)),
    ("ko-dec-20", "ko-news", dt.datetime(2023, 12, 20, 9, 0, tzinfo=SH), ("a67",)),
    ("ko-undated", "ko-news", None, ("a67",)),
    ("ko-jan", "ko-blog", dt.datetime(2024, 1, 15, 9, 0, tzinfo=SH), ("a67",)),
]
# the form's filters, `meiyu export`'s options for them, and the documents they select
FILTERS: list[tuple[dict[str, Any], list[str], list[str]]] = [
    ({}, [], [d[0] for d in DOCS]),
    (
        {"indicator": "a29", "since": "2023-12-01", "until": "2023-12-31", "lang": "zh"},
        ["--indicator", "a29", "--since", "2023-12-01", "--until", "2023-12-31", "--lang", "zh"],
        ["zh-dec-01", "zh-dec-31", "hostile"],
    ),
    (
        {"indicator": "a67", "source": ["ko-news"]},
        ["--indicator", "a67", "--source", "ko-news"],
        ["ko-dec-02", "ko-dec-20", "ko-undated"],
    ),
    (
        {"lang": "ko", "since": "2023-12-01"},
        ["--lang", "ko", "--since", "2023-12-01"],
        ["ko-dec-02", "ko-dec-20", "ko-jan"],
    ),
    (
        {"source": ["zh-weekly", "ko-blog"], "until": "2024-01-31"},
        ["--source", "zh-weekly", "--source", "ko-blog", "--until", "2024-01-31"],
        ["zh-jan-01", "hostile", "ko-jan"],
    ),
]


def seeder(ids: dict[str, int]) -> Any:
    """The seed of `running_site`: DOCS stored as the crawl would, a29 and a67 matches, a67's
    sentiment by its current model and by an older one (which an export leaves out)."""

    def seed(config: Path) -> None:
        cfg = load_config(config)
        current = model_id(model_for(cfg.indicators["a67"]))
        engine = make_engine(cfg.database.url)
        with transaction(session_factory(engine)) as s:
            source_ids = {
                name: ensure_source(s, name, "rss", lang, outlet)
                for name, (lang, outlet) in SOURCES.items()
            }
            for n, (key, source, when, _) in enumerate(DOCS):
                lang = SOURCES[source][0]
                text = f"{key} 正文, 含逗号与\n换行 {n}"
                d = DocumentRecord(
                    url=f"http://{source}.test/{key}",
                    source=source,
                    outlet=SOURCES[source][1],
                    title=HOSTILE if key == "hostile" else f"标题 {key}",
                    text=text,
                    language=lang,
                    published_at=when,
                    fetched_at=dt.datetime(2024, 2, 1, tzinfo=dt.UTC),
                    content_hash=hashlib.sha256(text.encode()).hexdigest(),
                )
                ids[key] = upsert_document(s, d, source_ids[source], None)[1]
            for ind in ("a29", "a67"):
                matched = [MatchRecord(ids[k], ["威海"]) for k, _, _, inds in DOCS if ind in inds]
                replace_matches(s, ind, cfg.indicators[ind].version(), matched)
            for key, label in (("ko-dec-02", "positive"), ("ko-dec-20", "negative")):
                record_sentiment(s, ids[key], current, "a67", label, {label: 0.9}, "문장")
            record_sentiment(s, ids["ko-dec-02"], "old@0", "a67", "negative", {}, "")
        engine.dispose()

    return seed


@pytest.fixture
def site_ids(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> Iterator[tuple[Site, dict[str, int]]]:
    ids: dict[str, int] = {}
    with running_site(db_url, tmp_path, caplog, seed=seeder(ids), audit=False) as running:
        yield running, ids


@pytest.fixture
def lite(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[Site]:
    """On SQLite only, for the tests whose point is not the database."""
    url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    with running_site(url, tmp_path, caplog, seed=seeder({}), audit=False) as running:
        yield running


@pytest.fixture(autouse=True)
def own_temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The downloads' folders go under this test's own temporary folder: counted in the shared
    one, another pytest worker's export in flight would look like one left behind here."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))


def leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob(TEMP_PREFIX + "*")}


def no_new_leftovers(before: set[str]) -> None:
    """The download's folder goes once the answer is sent (just after the client has it)."""
    deadline = time.monotonic() + 10
    while leftovers() - before:
        assert time.monotonic() < deadline, leftovers() - before
        time.sleep(0.05)


def fields(csrf: str | None, fmt: str, filters: dict[str, Any]) -> list[tuple[str, str]]:
    """The download form as a browser sends it (a source per checked box)."""
    out = [("csrf", csrf)] if csrf is not None else []
    out.append(("format", fmt))
    for key, value in filters.items():
        out += [(key, v) for v in value] if isinstance(value, list) else [(key, value)]
    return out


def analyst(site: Site) -> Client:
    browser = site.client()
    assert browser.login("li").status == 303
    return browser


def unzip(reply: Reply) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(reply.data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def rows_of(fmt: str, data: bytes) -> list[dict[str, Any]]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    if fmt == "jsonl":
        return [json.loads(line) for line in data.decode("utf-8").splitlines()]
    return list(pq.read_table(io.BytesIO(data)).to_pylist())


def cli_export(site: Site, tmp_path: Path, fmt: str, options: list[str]) -> tuple[bytes, str]:
    """`meiyu export` with the same filters: its file and its datasheet."""
    out = tmp_path / f"cli-{len(list(tmp_path.glob('cli-*')))}.{fmt}"
    site.meiyu("export", "--out", str(out), "--format", fmt, *options)
    return out.read_bytes(), Path(f"{out}.DATASHEET.md").read_text(encoding="utf-8")


def body_of(sheet: str) -> list[str]:
    """A datasheet without its first lines: the file's name, the time it was written, its
    size and sha256; what it says about the rows is the rest."""
    return sheet.splitlines()[3:]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_download_holds_the_rows_meiyu_export_writes(
    site_ids: tuple[Site, dict[str, int]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    fmt: str,
) -> None:
    site, ids = site_ids
    browser = analyst(site)
    csrf = browser.page_csrf()
    before = leftovers()
    for filters, options, keys in FILTERS:
        reply = browser.request("POST", "/exports", fields(csrf, fmt, filters))
        assert reply.status == 200, (filters, reply.body[:2000])
        assert reply.header("content-type") == "application/zip"
        stem = "-".join(
            ["meiyu-export", filters.get("indicator", "all")]
            + [filters[k] for k in ("lang", "since", "until") if k in filters]
        )
        assert reply.header("content-disposition") == f'attachment; filename="{stem}.zip"'
        assert reply.header("cache-control") == "no-store"
        files = unzip(reply)
        data_name, sheet_name = f"{stem}.{fmt}", f"{stem}.{fmt}.DATASHEET.md"
        assert sorted(files) == [data_name, sheet_name], filters
        rows = rows_of(fmt, files[data_name])
        # the rows the filters select (the seed's own account of them)...
        assert [int(r["document_id"]) for r in rows] == [ids[k] for k in keys], filters
        # ...and exactly what `meiyu export` writes for them
        cli_data, cli_sheet = cli_export(site, tmp_path, fmt, options)
        if fmt == "parquet":
            assert rows == rows_of(fmt, cli_data), filters
        else:
            assert files[data_name] == cli_data, filters
        sheet = files[sheet_name].decode("utf-8")
        assert sheet.splitlines()[0] == f"# DATASHEET — {data_name}"
        assert f"**{len(keys)} rows, one per document**" in sheet
        assert hashlib.sha256(files[data_name]).hexdigest() in sheet
        assert body_of(sheet) == body_of(cli_sheet), filters
        no_new_leftovers(before)
        assert (
            f"export by 'li' from 127.0.0.1: indicator={filters.get('indicator', 'all')} "
            f"lang={filters.get('lang', 'all')}"
        ) in caplog.text
        assert f"format={fmt}: {len(keys)} rows" in caplog.text
    # the hostile title is data: the same string back, whatever its quotes, commas and markup
    a29 = browser.request("POST", "/exports", fields(csrf, fmt, FILTERS[1][0]))
    (hostile,) = [
        r
        for r in rows_of(fmt, next(iter(unzip(a29).values())))
        if int(r["document_id"]) == ids["hostile"]
    ]
    assert hostile["title"] == HOSTILE
    if fmt == "parquet":  # a67's current model's label only; the older model's is left out
        a67 = browser.request("POST", "/exports", fields(csrf, fmt, FILTERS[2][0]))
        labels = [r["sentiment_label"] for r in rows_of(fmt, next(iter(unzip(a67).values())))]
        assert labels == ["positive", "negative", None]
    no_new_leftovers(before)


def test_the_form_previews_the_rows_its_filters_select(lite: Site) -> None:
    browser = analyst(lite)
    page = browser.get("/exports")
    assert page.status == 200, page.body
    assert only_script_files_and_data(page.body) and 'src="/static/exports.js"' in page.body
    assert 'id="export-count"' not in page.body and 'id="export-download"' not in page.body
    for name in SOURCES:
        assert f'name="source" value="{name}"' in page.body
    # an outlet's name from a feed is text, not markup
    assert "<img src=x" not in page.body and "&lt;img src=x onerror=" in page.body
    for key in ("a29", "a68", "a67"):
        assert f'href="/api/v1/series/{key}.csv"' in page.body
    assert "DATASHEET.md" in page.body and "--with-html" in page.body

    for filters, _, keys in FILTERS:
        shown = browser.get(f"/exports?{urlencode(fields(None, 'jsonl', filters))}&preview=1")
        assert shown.status == 200, shown.body
        assert f'id="export-count" data-rows="{len(keys)}"' in shown.body, filters
        # the download form carries the previewed filters and the session's CSRF token
        form = shown.body[shown.body.index('id="export-download"') :]
        form = form[: form.index("</form>")]
        hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
        assert ("csrf", browser.page_csrf()) in hidden
        sent = {(k, v) for k, v in fields(None, "jsonl", filters)}
        assert sent <= set(hidden), (sent, hidden)
        for name in filters.get("source", []):
            assert f'value="{name}" checked' in shown.body
    # the CSV series the page links to are there for an analyst
    assert browser.get("/api/v1/series/a29.csv").status == 200


def test_a_viewer_and_a_forged_form_get_nothing(
    lite: Site, caplog: pytest.LogCaptureFixture
) -> None:
    before = leftovers()
    viewer = lite.client()
    assert viewer.login("kim").status == 303
    assert viewer.get("/exports").status == 403
    assert "需要 analyst 权限" in viewer.get("/exports?indicator=a29&preview=1").body
    denied = viewer.request("POST", "/exports", fields(viewer.page_csrf(), "csv", {}))
    assert denied.status == 403 and not denied.data.startswith(b"PK")

    browser = analyst(lite)
    for csrf in (None, "", "wrong", browser.page_csrf() + "x"):
        reply = browser.request("POST", "/exports", fields(csrf, "csv", {}))
        assert reply.status == 403 and "表单已失效" in reply.body, csrf
    # another session's token is no token for this one
    other = analyst(lite)
    assert browser.request("POST", "/exports", fields(other.page_csrf(), "csv", {})).status == 403
    # a token bearer has no session and so no form
    scripted = lite.client(Authorization=f"Bearer {lite.token('li')}")
    assert scripted.request("POST", "/exports", fields("x", "csv", {})).status == 403
    assert scripted.get("/exports").status == 200  # the page itself: same auth as every page
    assert leftovers() == before and "export by" not in caplog.text
    # the one that may: a zip
    assert browser.request("POST", "/exports", fields(browser.page_csrf(), "csv", {})).status == 200
    no_new_leftovers(before)


BAD: list[tuple[dict[str, Any], list[str]]] = [
    ({"since": "2023-13-01"}, ["--since", "2023-13-01"]),
    ({"until": "yesterday"}, ["--until", "yesterday"]),
    (
        {"since": "2023-12-31", "until": "2023-12-01"},
        ["--since", "2023-12-31", "--until", "2023-12-01"],
    ),
    ({"source": ["ko-news", "nowhere"]}, ["--source", "ko-news", "--source", "nowhere"]),
    ({"source": [HOSTILE_SOURCE]}, ["--source", HOSTILE_SOURCE]),
    ({"indicator": "a99"}, ["--indicator", "a99"]),
    ({"lang": "en"}, ["--lang", "en"]),
    ({"format": "xlsx"}, ["--format", "xlsx"]),
]


def test_bad_filters_are_422_with_the_commands_own_line(lite: Site, tmp_path: Path) -> None:
    browser = analyst(lite)
    csrf = browser.page_csrf()
    before = leftovers()
    for filters, options in BAD:
        done = meiyu_in_process(
            "--config", str(lite.config), "export", "--out", str(tmp_path / "x.csv"), *options
        )
        assert done.returncode == 2, (options, done.stderr)
        line = done.stderr.strip().removeprefix("error: ")
        fmt = filters.pop("format", "csv")
        posted = browser.request("POST", "/exports", fields(csrf, fmt, filters))
        previewed = browser.get(f"/exports?{urlencode(fields(None, fmt, filters))}&preview=1")
        for reply in (posted, previewed):
            assert reply.status == 422, (filters, reply.status, reply.body[:500])
            assert "text/html" in (reply.header("content-type") or "")
            assert f"无法导出：{line}" in html.unescape(reply.body), (line, filters)
            assert "<img src=x" not in reply.body and only_script_files_and_data(reply.body)
        assert not list(tmp_path.glob("x.csv*"))
    # too long for any field: refused by its type, never a 500
    for field, value in (("indicator", "a" * 41), ("since", "2" * 41), ("format", "c" * 41)):
        reply = browser.request("POST", "/exports", [("csrf", csrf), (field, value)])
        assert reply.status == 422, field
        assert browser.get(f"/exports?{field}={value}&preview=1").status == 422
    assert browser.get("/exports?preview=maybe").status == 422
    assert leftovers() == before


def test_without_the_config_the_page_says_it_is_off(lite: Site) -> None:
    settings = WebSettings(sessions=lite.sessions, indicators=load_config(lite.config).indicators)
    with serving(create_app(settings)) as port:
        browser = Client(port, lite.secrets)
        assert browser.login("li").status == 303
        page = browser.get("/exports?indicator=a29&preview=1")
        assert page.status == 200 and "导出功能未启用" in page.body
        assert 'id="export-filter"' not in page.body
        reply = browser.request("POST", "/exports", fields(browser.page_csrf(), "csv", {}))
        assert reply.status == 404 and "导出功能未启用" in reply.body
