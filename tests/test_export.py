"""`meiyu export` in a real process on real SQLite and PostgreSQL databases: the Parquet file
read back with pyarrow, JSON lines and CSV holding the same rows, filters on local days, the
datasheet's counts, raw HTML from a real crawl's HTTP cache, and bad input leaving no file."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest

from kernel.config import load_config
from meiyu.demo.fixturesite.corpus import build_world
from meiyu.demo.fixturesite.server import FixtureSite
from pipelines.analyze import model_for, model_id
from storage.db import make_engine, session_factory
from storage.exports import ExportFilter, columns, iter_batches
from storage.migrate import upgrade
from storage.models import CrawlRun, Document, IndicatorMatch, Mention, SentimentResult, Source
from tests.conftest import run_meiyu, write_config
from tests.helpers_cli import meiyu_in_process

SH, SEOUL = ZoneInfo("Asia/Shanghai"), ZoneInfo("Asia/Seoul")
ZH = "http://news.haibin-daily.test/2023/"
KO = "http://www.hanbando-news.test/2023/"
KO_TEXT = '웨이하이 해변 축제에 관광객이 몰렸다.\n시민들은 "좋다, 또 오겠다"고 말했다.'
PROBS = {"negative": 0.05, "neutral": 0.15, "positive": 0.8}


def _doc(url: str, source: Source, lang: str, title: str, text: str, **kw: Any) -> Document:
    body = {"published_at": None, "text_origin": "article", "cluster_id": None, **kw}
    return Document(
        url=url,
        source_id=source.id,
        outlet=source.outlet,
        title=title,
        text=text,
        language=lang,
        fetched_at=dt.datetime(2023, 3, 4, 1, 2, 3, tzinfo=dt.UTC),
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        feed_url=f"http://{url.split('/')[2]}/rss.xml",
        **body,
    )


@pytest.fixture
def corpus(tmp_path: Path, db_url: str) -> tuple[Path, dict[str, int], str]:
    """Six documents around the local-day edges, a match per indicator kind, sentiment of the
    current model and of an older one (which the export must leave out)."""
    cfg_path = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=None,
        feeds={"haibin": [f"{ZH}rss.xml"], "hanbando": [f"{KO}rss.xml"]},
    )
    cfg = load_config(cfg_path, env={})
    ko_model = model_id(model_for(cfg.indicators["a67"]))
    engine = make_engine(db_url)
    upgrade(engine)
    with session_factory(engine)() as s, s.begin():
        zh = Source(name="haibin", kind="rss", language="zh", outlet="海滨日报（演示）")
        ko = Source(name="hanbando", kind="rss", language="ko", outlet="한반도뉴스(데모)")
        run = CrawlRun(status="partial", sources=["hanbando"], errors=["feed x: HTTP 503"])
        s.add_all([zh, ko, run])
        s.flush()
        docs = {
            "festival": _doc(
                f"{ZH}festival.html",
                zh,
                "zh",
                "威海海鲜节开幕，“渔港”人山人海",
                '威海国际海鲜节今天开幕。\n游客说："很好，明年再来"。',
                published_at=dt.datetime(2023, 3, 1, 10, 0, tzinfo=SH),
                cluster_id=None,
                crawl_run_id=run.id,
            ),
            "beach": _doc(
                f"{KO}beach.html",
                ko,
                "ko",
                "웨이하이 해변 축제",
                KO_TEXT,
                published_at=dt.datetime(2023, 3, 2, 9, 0, tzinfo=SEOUL),
            ),
            "undated": _doc(
                f"{KO}undated.html",
                ko,
                "ko",
                "위해 노력",
                "시민을 위해 노력한다.",
                text_origin="feed",
            ),
            "new_year_eve": _doc(
                f"{ZH}eve.html",
                zh,
                "zh",
                "除夕",
                "年末。",
                published_at=dt.datetime(2022, 12, 31, 23, 30, tzinfo=SH),
            ),
            "new_year": _doc(
                f"{ZH}new-year.html",
                zh,
                "zh",
                "元旦",
                "新年。",
                published_at=dt.datetime(2023, 1, 1, 0, 10, tzinfo=SH),  # 2022-12-31 in UTC
            ),
            "march_3": _doc(
                f"{ZH}march-3.html",
                zh,
                "zh",
                "三月",
                "三月三日。",
                published_at=dt.datetime(2023, 3, 3, 0, 30, tzinfo=SH),  # 2023-03-02 in UTC
            ),
        }
        s.add_all(docs.values())
        s.flush()
        ids = {k: d.id for k, d in docs.items()}
        docs["festival"].cluster_id = ids["festival"]
        found = dt.datetime(2023, 3, 1, 3, 0, tzinfo=dt.UTC)
        s.add_all(
            [
                Mention(document_id=ids["festival"], source="haibin", found_at=found),
                Mention(
                    document_id=ids["festival"],
                    source="baidu-news",
                    indicator="a29",
                    query="威海 海鲜",
                    snippet="威海, 海鲜节",
                    found_at=found,
                ),
                Mention(document_id=ids["beach"], source="hanbando", found_at=found),
            ]
        )
        version = {k: ind.version() for k, ind in cfg.indicators.items()}
        s.add_all(
            [
                IndicatorMatch(
                    indicator="a29",
                    document_id=ids["festival"],
                    terms=["威海", "海鲜"],
                    definition_version=version["a29"],
                ),
                IndicatorMatch(
                    indicator="a67",
                    document_id=ids["beach"],
                    terms=["웨이하이"],
                    definition_version=version["a67"],
                ),
                IndicatorMatch(
                    indicator="a67",
                    document_id=ids["undated"],
                    terms=["위해"],
                    definition_version=version["a67"],
                    literal=False,
                    relevant=False,
                ),
                SentimentResult(
                    document_id=ids["beach"],
                    model_id=ko_model,
                    target="a67",
                    label="positive",
                    score=0.8,
                    probabilities=PROBS,
                    evidence="웨이하이 해변 축제\n웨이하이 해변 축제에 관광객이 몰렸다.",
                ),
                SentimentResult(
                    document_id=ids["beach"],
                    model_id="old-model@000000000000",
                    target="a67",
                    label="negative",
                    score=0.1,
                    probabilities={"negative": 0.9, "neutral": 0.0, "positive": 0.1},
                    evidence="",
                ),
            ]
        )
    engine.dispose()
    return cfg_path, ids, ko_model


def _export(cfg: Path, out: Path, *args: str) -> None:
    done = run_meiyu("--config", str(cfg), "export", "--out", str(out), *args)
    assert done.returncode == 0, done.stderr
    assert "exported" in done.stdout


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _as_json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    return value


def test_parquet_jsonl_and_csv_hold_the_same_documents(
    tmp_path: Path, corpus: tuple[Path, dict[str, int], str]
) -> None:
    cfg, ids, ko_model = corpus
    out = tmp_path / "out"
    _export(cfg, out / "all.parquet")
    table = pq.read_table(out / "all.parquet")
    assert table.num_rows == len(ids)
    assert table.schema.names == columns(None)
    rows = {r["url"]: r for r in table.to_pylist()}
    festival, beach = rows[f"{ZH}festival.html"], rows[f"{KO}beach.html"]
    assert festival["published_at"] == dt.datetime(2023, 3, 1, 2, 0, tzinfo=dt.UTC)
    assert festival["published_at"].utcoffset() == dt.timedelta(0)
    assert festival["text"] == '威海国际海鲜节今天开幕。\n游客说："很好，明年再来"。'
    assert festival["cluster_id"] == ids["festival"] and festival["source"] == "haibin"
    assert [m["source"] for m in festival["mentions"]] == ["haibin", "baidu-news"]
    assert festival["mentions"][1]["query"] == "威海 海鲜"
    assert festival["indicators"][0]["terms"] == ["威海", "海鲜"]
    assert festival["indicators"][0]["sentiment_label"] is None  # no a29 result stored
    (a67,) = beach["indicators"]
    assert a67["sentiment_model"] == ko_model  # the current model, not the older one
    assert a67["sentiment_label"] == "positive" and a67["sentiment_probabilities"] == PROBS
    assert a67["sentiment_evidence"].count("\n") == 1
    assert rows[f"{KO}undated.html"]["published_at"] is None

    _export(cfg, out / "all.jsonl")
    lines = _jsonl(out / "all.jsonl")
    assert lines == [_as_json(r) for r in table.to_pylist()]  # same rows, same order

    _export(cfg, out / "ko.csv", "--source", "hanbando")
    with (out / "ko.csv").open(encoding="utf-8", newline="") as fh:
        got = list(csv.DictReader(fh))
    assert [r["url"] for r in got] == [f"{KO}beach.html", f"{KO}undated.html"]
    assert got[0]["text"] == KO_TEXT  # newline, comma and quotes survive
    assert json.loads(got[0]["indicators"])[0]["sentiment_probabilities"] == PROBS
    assert got[0]["published_at"] == "2023-03-02T00:00:00+00:00" and got[1]["published_at"] == ""
    assert not list(out.glob(".*.part"))

    sheet = (out / "all.parquet.DATASHEET.md").read_text(encoding="utf-8")
    assert f"**{len(ids)} rows, one per document**" in sheet
    assert "| haibin | rss | 海滨日报（演示） | 4 |" in sheet
    assert "| hanbando | rss | 한반도뉴스(데모) | 2 |" in sheet
    assert "| 2022 | 1 |" in sheet and "| 2023 | 4 |" in sheet and "| undated | 1 |" in sheet
    assert f"`{ko_model}`" in sheet and "accuracy" in sheet
    assert "source `hanbando`: 1 crawl run(s) failed or partial: feed x: HTTP 503" in sheet
    assert "1 rows hold only the feed or search summary" in sheet
    assert "belong to their publishers" in sheet
    assert "ko.csv" in (out / "ko.csv.DATASHEET.md").read_text(encoding="utf-8")


def test_indicator_and_local_day_filters(
    tmp_path: Path, corpus: tuple[Path, dict[str, int], str]
) -> None:
    cfg, ids, ko_model = corpus
    _export(cfg, tmp_path / "a67.parquet", "--indicator", "a67")
    table = pq.read_table(tmp_path / "a67.parquet")
    assert table.schema.names == columns("a67")
    rows = table.to_pylist()
    assert [r["document_id"] for r in rows] == [ids["beach"], ids["undated"]]
    assert rows[0]["sentiment_label"] == "positive" and rows[0]["sentiment_model"] == ko_model
    assert rows[1]["literal"] is False and rows[1]["sentiment_label"] is None
    sheet = (tmp_path / "a67.parquet.DATASHEET.md").read_text(encoding="utf-8")
    assert "indicator: **a67**" in sheet and "1 / 0 / 0" in sheet

    # Local days (Asia/Shanghai): 23:30 on 31 Dec is out, 00:10 on 1 Jan (still 2022 in UTC)
    # is in; 00:30 on 3 Mar (2 Mar in UTC) is out; the Korean item is out by language.
    out = tmp_path / "window.jsonl"
    _export(cfg, out, "--lang", "zh", "--since", "2023-01-01", "--until", "2023-03-02")
    assert [r["document_id"] for r in _jsonl(out)] == [ids["festival"], ids["new_year"]]
    assert "2023-01-01 to 2023-03-02" in Path(f"{out}.DATASHEET.md").read_text(encoding="utf-8")


def test_rows_do_not_depend_on_the_batch_size(
    db_url: str, corpus: tuple[Path, dict[str, int], str]
) -> None:
    """Mentions, matches and sentiment are fetched per batch, by id range or id list."""
    _, ids, ko_model = corpus
    engine = make_engine(db_url)
    feb = dt.datetime(2023, 2, 1, tzinfo=dt.UTC)
    filters = [
        ExportFilter(),
        ExportFilter(indicator="a67"),
        ExportFilter(language="zh", start=feb),  # ids far apart: fetched by list
    ]
    with session_factory(engine)() as s:
        for f in filters:
            whole = [r for b in iter_batches(s, f, {"a67": ko_model}, batch=1000) for r in b]
            pairs = list(iter_batches(s, f, {"a67": ko_model}, batch=2))
            assert [len(b) for b in pairs] == [2] * (len(whole) // 2) + [1] * (len(whole) % 2)
            assert [r for b in pairs for r in b] == whole, f
    assert [r["document_id"] for r in whole] == [ids["festival"], ids["march_3"]]
    assert len(whole[0]["mentions"]) == 2
    engine.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # checked before any query
def test_bad_input_is_one_line_exit_2_and_leaves_no_file(
    tmp_path: Path, corpus: tuple[Path, dict[str, int], str]
) -> None:
    cfg = corpus[0]
    out = tmp_path / "out"
    out.mkdir()
    (out / "a-file").write_text("")
    cases = [
        (["--out", str(out / "x.parquet"), "--indicator", "a99"], "unknown indicator"),
        (["--out", str(out / "new" / "x.parquet"), "--source", "nowhere"], "unknown source"),
        (["--out", str(out / "x.xml")], "--format"),
        (["--out", str(out / "x.csv"), "--format", "xlsx"], "--format"),
        (["--out", str(out / "x.csv"), "--lang", "en"], "--lang"),
        (["--out", str(out / "x.csv"), "--since", "2023-02-01", "--until", "2023-01-01"], "after"),
        (["--out", str(out / "a-file" / "x.csv")], "--out"),
        (["--out", str(out / "x.jsonl"), "--with-html"], "crawl.http_cache"),
    ]
    for args, says in cases:
        done = meiyu_in_process("--config", str(cfg), "export", *args)
        assert done.returncode == 2, (args, done.stderr)
        assert says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert sorted(p.name for p in out.iterdir()) == ["a-file"], args


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_with_html_reads_the_crawls_http_cache(tmp_path: Path, db_url: str) -> None:
    world = build_world(scale=0.02)  # 119 articles: GBK and EUC-KR pages, two dead links
    with FixtureSite(world) as site:
        cfg = write_config(
            tmp_path / "meiyu.toml",
            db_url=db_url,
            proxy=site.proxy_url,
            feeds=world.feeds(),
            crawl={"http_cache": True, "jobs_dir": str(tmp_path / "jobs")},
        )
        crawled = run_meiyu("--config", str(cfg), "crawl")
        assert crawled.returncode == 0, crawled.stderr
    out = tmp_path / "pages.jsonl"
    _export(cfg, out, "--with-html")
    rows = _jsonl(out)
    assert len(rows) == len(world.articles)
    by_url = {a.url: a for a in world.articles}
    for row in rows:
        art = by_url[row["url"]]
        if art.page == "dead":
            assert row["html"] is None
        else:
            assert "<html" in row["html"] and "</html>" in row["html"]
        if art.page in ("ok", "undeclared"):  # decoded as the crawl did: GBK, EUC-KR, none
            assert art.title in row["html"], (art.url, art.outlet.encoding)
    dead = sum(a.page == "dead" for a in world.articles)
    found = len(rows) - dead
    sheet = Path(f"{out}.DATASHEET.md").read_text(encoding="utf-8")
    assert f"found for {found} of {len(rows)} rows" in sheet
