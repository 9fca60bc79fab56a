"""Series per day, ISO week, month, quarter and year on a real database: local-time periods,
coverage, intervals, the classifier-error correction, versions and partial recomputes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kernel.config import Config, config_from_dict, load_config
from kernel.periods import period_end, period_keys, period_start
from pipelines.aggregate import aggregate_all, definition_version
from pipelines.analyze import model_for, model_id
from pipelines.correction import LABELS, Confusion, ShareCorrector, load_confusion
from pipelines.match import match_all
from storage.db import make_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.models import IndicatorValue
from storage.queries import value_series
from storage.writes import (
    DocumentRecord,
    ensure_source,
    record_sentiment,
    record_volume_probe,
    upsert_document,
)
from tests.conftest import REPO, run_meiyu, write_config

SH = ZoneInfo("Asia/Shanghai")
SEOUL = ZoneInfo("Asia/Seoul")


def test_period_keys_follow_local_calendar_and_iso_weeks() -> None:
    keys = dict(period_keys(dt.date(2023, 1, 1)))  # a Sunday: ISO week 52 of 2022
    assert keys == {
        "day": "2023-01-01",
        "week": "2022-W52",
        "month": "2023-01",
        "quarter": "2023-Q1",
        "year": "2023",
    }
    assert dict(period_keys(dt.date(2024, 12, 30)))["week"] == "2025-W01"  # Monday
    assert dict(period_keys(dt.date(2021, 1, 3)))["week"] == "2020-W53"
    for day in (dt.date(2020, 2, 29), dt.date(2023, 12, 31), dt.date(2021, 1, 3)):
        for ptype, period in period_keys(day):
            assert period_start(ptype, period) <= day < period_end(ptype, period)
    assert period_end("quarter", "2023-Q4") == dt.date(2024, 1, 1)
    assert period_end("week", "2020-W53") == dt.date(2021, 1, 4)


def test_correction_recovers_the_true_share() -> None:
    counts = ((65, 11, 24), (11, 92, 24), (12, 10, 98))  # the shipped ko model's held-out
    corrector = ShareCorrector(Confusion(counts, "test"))
    m = np.array(counts, dtype=float)
    m /= m.sum(axis=1, keepdims=True)
    true = np.array([0.3, 0.5, 0.2])  # negative, neutral, positive
    observed = m.T @ true * 10_000  # what the model would label, in expectation
    c = corrector.correct({label: round(v) for label, v in zip(LABELS, observed, strict=True)})
    assert c is not None
    raw = observed[2] / observed.sum()
    assert raw == pytest.approx(0.330, abs=0.001)  # the model inflates the positive share …
    assert c.share == pytest.approx(0.2, abs=0.01)  # … the correction undoes it
    assert c.interval[0] < 0.2 < c.interval[1]  # the matrix's own uncertainty stays
    assert corrector.correct({}) is None
    # a perfect classifier changes nothing
    perfect = ShareCorrector(Confusion(((500, 0, 0), (0, 500, 0), (0, 0, 500)), "test"))
    same = perfect.correct({"negative": 10, "neutral": 20, "positive": 70})
    assert same is not None and same.share == pytest.approx(0.7, abs=1e-9)
    # the shipped model's evaluation file is read: its real-news matrix, not the written one
    shipped = load_confusion(REPO / "nlp" / "models" / "ko-sentiment")
    assert shipped is not None and shipped.n >= 150 and "real_news" in shipped.source
    written = load_confusion(REPO / "nlp" / "models" / "ko-sentiment-scratch")
    assert written is not None and "domain_heldout" in written.source
    assert load_confusion(REPO / "nlp") is None


def _doc(url: str, title: str, text: str, lang: str, when: dt.datetime) -> DocumentRecord:
    return DocumentRecord(
        url=url,
        source="wire-" + lang,
        outlet="Wire",
        title=title,
        text=text,
        language=lang,
        published_at=when,
        fetched_at=dt.datetime(2024, 1, 5, tzinfo=dt.UTC),
        content_hash=hashlib.sha256((title + text).encode()).hexdigest(),
    )


ZH = "据报道，威海海鲜市场今天购销两旺，各类海鲜走俏。"
KO = "중국 산둥성 웨이하이를 찾은 한국인 관광객이 늘었다."


def _store(sessions: sessionmaker[Session], docs: list[DocumentRecord]) -> dict[str, int]:
    ids = {}
    with transaction(sessions) as s:
        for d in docs:
            sid = ensure_source(s, d.source, "rss", d.language, "Wire")
            ids[d.url] = upsert_document(s, d, sid, None)[1]
    return ids


@pytest.fixture
def stored(db_url: str) -> tuple[Config, sessionmaker[Session], dict[str, int]]:
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    docs = [
        # 23:30 Shanghai on 31 Dec and 00:10 on 1 Jan: two years, one ISO week (2022-W52)
        _doc(
            "http://w.test/1",
            "威海海鲜",
            ZH + "一",
            "zh",
            dt.datetime(2022, 12, 31, 23, 30, tzinfo=SH),
        ),
        _doc(
            "http://w.test/2",
            "威海海鲜",
            ZH + "二",
            "zh",
            dt.datetime(2023, 1, 1, 0, 10, tzinfo=SH),
        ),
        _doc(
            "http://w.test/3", "新年", "北方多地降温。", "zh", dt.datetime(2023, 1, 1, 9, tzinfo=SH)
        ),
        _doc(
            "http://w.test/4", "天气", "全国铁路运输。", "zh", dt.datetime(2023, 1, 2, 9, tzinfo=SH)
        ),
        _doc("http://w.test/5", "威海海鲜", ZH + "五", "zh", dt.datetime(2023, 7, 1, 9, tzinfo=SH)),
        # 00:20 Seoul on 1 Jan 2023 is 23:20 Shanghai on 31 Dec 2022
        _doc(
            "http://k.test/1",
            "웨이하이",
            KO + "1",
            "ko",
            dt.datetime(2023, 1, 1, 0, 20, tzinfo=SEOUL),
        ),
        _doc(
            "http://k.test/2", "웨이하이", KO + "2", "ko", dt.datetime(2023, 3, 3, 9, tzinfo=SEOUL)
        ),
        _doc(
            "http://k.test/3", "웨이하이", KO + "3", "ko", dt.datetime(2023, 3, 4, 9, tzinfo=SEOUL)
        ),
        _doc(
            "http://k.test/4", "웨이하이", KO + "4", "ko", dt.datetime(2023, 3, 5, 9, tzinfo=SEOUL)
        ),
    ]
    ids = _store(sessions, docs)
    cfg = load_config(REPO / "meiyu.toml", env={})
    match_all(cfg, sessions)
    mid = model_id(model_for(cfg.indicators["a67"]))
    labels = {"1": "positive", "2": "positive", "3": "neutral", "4": "negative"}
    with transaction(sessions) as s:
        for n, label in labels.items():
            record_sentiment(s, ids[f"http://k.test/{n}"], mid, "a67", label, {}, "")
    return cfg, sessions, ids


def test_series_every_period_type(
    stored: tuple[Config, sessionmaker[Session], dict[str, int]],
) -> None:
    cfg, sessions, _ = stored
    with transaction(sessions) as s:  # what an engine said it holds for 1 July 2023
        record_volume_probe(
            s,
            source="baidu-news",
            indicator="a29",
            query="威海 海鲜",
            window_start=dt.datetime(2023, 7, 1, tzinfo=SH),
            window_end=dt.datetime(2023, 7, 2, tzinfo=SH),
            reported_total=4321,
        )
    summaries = {a.indicator: a for a in aggregate_all(cfg, sessions)}
    assert summaries["a29"].items == 3
    v29 = definition_version(cfg.indicators["a29"])
    with sessions() as s:
        day = value_series(s, "a29", v29, "day")
        week = value_series(s, "a29", v29, "week")
        year = value_series(s, "a29", v29, "year")
        quarter = value_series(s, "a29", v29, "quarter")
        a67_month = value_series(s, "a67", definition_version(cfg.indicators["a67"]), "month")
        a67_year = value_series(s, "a67", definition_version(cfg.indicators["a67"]), "year")
    assert {p: v.n_items for p, v in day.items()} == {
        "2022-12-31": 1,
        "2023-01-01": 1,
        "2023-07-01": 1,
    }
    assert week["2022-W52"].n_items == 2  # both sides of new year, one ISO week
    assert {p: v.n_items for p, v in year.items()} == {"2022": 1, "2023": 2}
    assert set(quarter) == {"2022-Q4", "2023-Q1", "2023-Q3"}
    # exact Poisson interval of the count, and coverage: items / all zh documents
    assert year["2023"].details.interval == pytest.approx([0.242, 7.225], abs=1e-3)
    cov = year["2023"].details.coverage
    assert cov is not None
    assert cov.documents == 4 and cov.share == pytest.approx(0.5)
    assert (c := week["2022-W52"].details.coverage) is not None and c.documents == 3
    # the engine's own total sits in every period that holds its whole window
    assert day["2023-07-01"].details.reported_totals == {"baidu-news": 4321}
    assert year["2023"].details.reported_totals == {"baidu-news": 4321}
    assert year["2022"].details.reported_totals is None  # not stored
    # a67: the Seoul new-year item is 2022 in Shanghai; the share of the three March items
    assert a67_year["2022"].details.positive == 1
    march = a67_month["2023-03"]
    assert march.value == pytest.approx(1 / 3)
    assert march.details.share_interval == pytest.approx([0.0615, 0.7923], abs=1e-3)
    corrected = march.details.corrected
    assert corrected is not None
    assert 0 <= corrected.interval[0] <= corrected.share <= corrected.interval[1] <= 1
    assert "confusion" in corrected.method
    # a share's version names the model: another model is another series
    assert definition_version(cfg.indicators["a67"]) != cfg.indicators["a67"].version()


def test_recompute_is_stable_versions_are_kept_and_since_is_partial(
    stored: tuple[Config, sessionmaker[Session], dict[str, int]],
) -> None:
    cfg, sessions, _ = stored
    aggregate_all(cfg, sessions)

    def rows() -> dict[tuple[str, str, str, str], tuple[float | None, str]]:
        with sessions() as s:
            return {
                (v.indicator, v.period_type, v.period, v.definition_version): (
                    v.value,
                    json.dumps(v.details, sort_keys=True),
                )
                for v in s.scalars(select(IndicatorValue))
            }

    def computed_at(period_type: str, period: str) -> dt.datetime:
        with sessions() as s:
            return s.scalars(
                select(IndicatorValue.computed_at).where(
                    IndicatorValue.indicator == "a29",
                    IndicatorValue.period_type == period_type,
                    IndicatorValue.period == period,
                )
            ).one()

    first = rows()
    aggregate_all(cfg, sessions)
    assert rows() == first
    # --since 2023-07-01 rewrites 2023's periods (and ISO week 2022-W52, which reaches into
    # 2023); 2022's day, month and year stay as stored
    before_2022 = computed_at("year", "2022")
    before_2023 = computed_at("year", "2023")
    _store(
        sessions,
        [
            _doc(
                "http://w.test/9",
                "威海海鲜",
                ZH + "九",
                "zh",
                dt.datetime(2023, 8, 1, 9, tzinfo=SH),
            )
        ],
    )
    match_all(cfg, sessions)
    aggregate_all(cfg, sessions, since=dt.date(2023, 7, 1))
    assert computed_at("year", "2022") == before_2022
    assert computed_at("year", "2023") > before_2023
    with sessions() as s:
        year = value_series(s, "a29", definition_version(cfg.indicators["a29"]), "year")
    assert year["2023"].n_items == 3
    # a new definition is a new series; the old one is kept untouched
    raw = cfg.model_dump(mode="json")
    raw["indicators"]["a29"]["all_of"] = [["威海"], ["海鲜", "海产"]]
    changed = config_from_dict(raw)
    aggregate_all(changed, sessions)
    after = rows()
    old_version = definition_version(cfg.indicators["a29"])
    new_version = definition_version(changed.indicators["a29"])
    assert new_version != old_version
    assert {k[3] for k in after if k[0] == "a29"} == {old_version, new_version}


def test_series_command(
    db_url: str, tmp_path: object, stored: tuple[Config, sessionmaker[Session], dict[str, int]]
) -> None:
    cfg, sessions, _ = stored
    aggregate_all(cfg, sessions)
    path = write_config(tmp_path / "meiyu.toml", db_url=db_url, proxy=None)  # type: ignore[operator]
    got = run_meiyu("--config", str(path), "series", "-i", "a29", "-f", "Y", "--format", "json")
    assert got.returncode == 0, got.stderr
    doc = json.loads(got.stdout)
    assert [(r["period"], r["items"], r["coverage_documents"]) for r in doc["rows"]] == [
        ("2022", 1, 1),
        ("2023", 2, 4),
    ]
    csv = run_meiyu("--config", str(path), "series", "-i", "a67", "-f", "M", "--format", "csv")
    header, *lines = csv.stdout.splitlines()
    assert "positive_share" in header and "corrected_share" in header
    assert any(line.startswith("2023-03,3,") for line in lines)
    bad = run_meiyu("--config", str(path), "series", "-i", "a29", "-f", "fortnight")
    assert bad.returncode == 2 and "--freq" in bad.stderr


def test_weekly_brief_numbers_are_the_series(
    db_url: str, tmp_path: Path, stored: tuple[Config, sessionmaker[Session], dict[str, int]]
) -> None:
    cfg, sessions, _ = stored
    ids = _store(
        sessions,
        [
            _doc(
                "http://k.test/x",
                "<script>alert(1)</script> 웨이하이",
                KO + "x",
                "ko",
                dt.datetime(2023, 3, 4, 12, tzinfo=SEOUL),
            )
        ],
    )
    match_all(cfg, sessions)
    mid = model_id(model_for(cfg.indicators["a67"]))
    with transaction(sessions) as s:
        record_sentiment(s, ids["http://k.test/x"], mid, "a67", "negative", {"negative": 0.9}, "")
    aggregate_all(cfg, sessions)
    path = write_config(tmp_path / "meiyu.toml", db_url=db_url, proxy=None)
    got = run_meiyu("--config", str(path), "brief", "--week", "2023-W09", "--out", str(tmp_path))
    assert got.returncode == 0, got.stderr
    html = (tmp_path / "meiyu-brief-a67-2023-W09.html").read_text(encoding="utf-8")
    series = run_meiyu("--config", str(path), "series", "-i", "a67", "-f", "W", "--format", "json")
    week = next(r for r in json.loads(series.stdout)["rows"] if r["period"] == "2023-W09")
    assert (week["scored"], week["positive"], week["negative"]) == (4, 1, 2)
    assert f'data-scored="{week["scored"]}" data-positive="{week["positive"]}"' in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)" in html
    assert "负面" in html and "2023-02-27" in html  # the ISO week's Monday
    bad = run_meiyu("--config", str(path), "brief", "--week", "2023-W60")
    assert bad.returncode == 2 and "--week" in bad.stderr
