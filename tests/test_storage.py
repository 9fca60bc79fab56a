"""Storage on SQLite and on the real PostgreSQL server: migrations, upserts, UTC round trips."""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, inspect, select

from kernel.errors import DatabaseUnavailable, MeiyuError, UserError
from kernel.values import (
    Assessment,
    Coverage,
    Dispersion,
    StoredAssessment,
    ValueDetails,
    read_details,
)
from pipelines.uncertainty import compare_rates
from storage.db import check_connection, make_engine, session_factory, transaction
from storage.migrate import current_revision, downgrade, head_revision, upgrade
from storage.models import AssessmentRow, Document, IndicatorMatch, IndicatorValue
from storage.queries import stored_assessment, value_series
from storage.writes import (
    DocumentRecord,
    MatchRecord,
    ValueRecord,
    ensure_source,
    replace_assessments,
    replace_matches,
    upsert_document,
    upsert_values,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _doc(**over: object) -> DocumentRecord:
    base = dict(
        url="http://news.example.test/a.html",
        source="s1",
        outlet="示例",
        title="威海海鲜节",
        text="威海海鲜节开幕。",
        language="zh",
        published_at=dt.datetime(2023, 12, 1, 0, 30, tzinfo=SHANGHAI),
        fetched_at=dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.UTC),
        content_hash="h1",
    )
    base.update(over)
    return DocumentRecord(**base)  # type: ignore[arg-type]


@pytest.fixture
def sessions(db_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def test_migrations_upgrade_and_downgrade(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    tables = set(inspect(engine).get_table_names())
    assert {
        "sources",
        "documents",
        "indicator_matches",
        "sentiment_results",
        "volume_probes",
        "indicator_values",
        "crawl_runs",
    } <= tables
    downgrade(engine, "base")
    assert "documents" not in inspect(engine).get_table_names()
    upgrade(engine)  # and back
    assert current_revision(engine) == head_revision(engine)
    engine.dispose()


def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_reinserting_a_document_is_an_upsert(sessions) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        sid = ensure_source(s, "s1", "rss", "zh", "示例")
        assert upsert_document(s, _doc(), sid, None)[0] == "new"
    with transaction(sessions) as s:
        assert ensure_source(s, "s1", "rss", "zh", "示例") == sid
        assert upsert_document(s, _doc(), sid, None)[0] == "unchanged"
        assert (
            upsert_document(s, _doc(text="更新后的正文", content_hash="h2"), sid, None)[0]
            == "updated"
        )
    with sessions() as s:
        assert s.scalar(select(func.count(Document.id))) == 1
        doc = s.scalars(select(Document)).one()
        assert doc.text == "更新后的正文"
        # stored in UTC, the instant unchanged: 00:30 Shanghai on 1 Dec = 16:30 UTC on 30 Nov
        assert doc.published_at == dt.datetime(2023, 11, 30, 16, 30, tzinfo=dt.UTC)
        assert doc.published_at.tzinfo is not None


def test_naive_datetimes_are_refused(sessions) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Exception, match="naive datetime"), transaction(sessions) as s:
        sid = ensure_source(s, "s1", "rss", "zh", "示例")
        upsert_document(s, _doc(published_at=dt.datetime(2023, 1, 1)), sid, None)
    with sessions() as s:  # the failed transaction left nothing behind
        assert s.scalar(select(func.count(Document.id))) == 0


def test_matches_and_values_recompute_without_duplicates(sessions) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        sid = ensure_source(s, "s1", "rss", "zh", "示例")
        upsert_document(s, _doc(), sid, None)
        doc_id = s.scalars(select(Document.id)).one()
    details = ValueDetails(interval=(0.025, 5.572), per_source={"s1": 1})
    value = ValueRecord("a29", "month", "2023-12", "v1", 1.0, 1, 1, details)
    for _ in range(2):
        with transaction(sessions) as s:
            replace_matches(s, "a29", "v1", [MatchRecord(doc_id, ["威海", "海鲜"])])
            upsert_values(s, [value])
    with sessions() as s:
        assert s.scalar(select(func.count(IndicatorMatch.id))) == 1
        assert s.scalars(select(IndicatorMatch.terms)).one() == ["威海", "海鲜"]
        assert s.scalar(select(func.count(IndicatorValue.id))) == 1


def test_unreachable_and_malformed_database_urls() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:1/nope")
    with pytest.raises(DatabaseUnavailable) as info:
        check_connection(engine)
    assert "cannot reach database postgresql+psycopg://postgres@127.0.0.1:1/nope" in str(info.value)
    with pytest.raises(UserError, match="malformed"):
        make_engine("::not a url::")


def test_sqlite_folder_that_cannot_be_created() -> None:
    with pytest.raises(DatabaseUnavailable, match="cannot create the SQLite folder"):
        make_engine("sqlite:////proc/no-such-dir/meiyu.db")


def test_concurrent_first_upgrade_on_postgresql(postgres_url: str) -> None:
    """Two crawl workers starting on one empty database: the migrations run once, no error."""
    import threading

    errors: list[str] = []

    def run() -> None:
        engine = make_engine(postgres_url)
        try:
            upgrade(engine)
        except Exception as exc:  # the point of the test: any error is a failure
            errors.append(repr(exc)[:300])
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine = make_engine(postgres_url)
    assert errors == []
    assert current_revision(engine) == head_revision(engine)
    engine.dispose()


def test_typed_values_and_assessments_round_trip(sessions) -> None:  # type: ignore[no-untyped-def]
    """Details and the plan's test come back as the typed values that went in, an undefined
    rate ratio (NaN) and an unbounded interval included (PostgreSQL's JSON has no NaN);
    a row of another schema is refused in one line."""
    details = ValueDetails(
        interval=(0.242, 7.225),
        per_source={"s1": 2},
        relevant=2,
        coverage=Coverage(documents=4, share=0.5, share_interval=(0.15, 0.85)),
    )
    ratio = compare_rates(0, 1, 0, 1)  # no items on either side: ratio NaN, interval (0, inf)
    assessment = Assessment(
        "a29", "海鲜", "volume", "2023-12", "2021", ["2023-12"], ["2021-12"], 0, 0,
        (0.0, 3.69), (0.0, 3.69), ratio, Dispersion(1.0, 24, 1.0, (0.0, math.inf)), None,
        "无明显变化", 1.0,
    )  # fmt: skip
    stored = StoredAssessment(
        indicator="a29", period="2023-12", baseline="2021", definition_version="v1",
        assessment=assessment,
    )  # fmt: skip
    with transaction(sessions) as s:
        upsert_values(s, [ValueRecord("a29", "month", "2023-12", "v1", 2.0, 2, 1, details)])
        replace_assessments(s, "a29", "v1", [stored])
    with sessions() as s:
        assert value_series(s, "a29", "v1")["2023-12"].details == details
        back = stored_assessment(s, "a29", "v1", "2023-12", "2021")
        assert stored_assessment(s, "a29", "v1", "2023-11", "2021") is None
        raw = s.scalars(select(AssessmentRow.payload)).one()
    assert back is not None and back.assessment is not None
    assert math.isnan(back.assessment.comparison.ratio)
    assert back.assessment.comparison.ratio_interval == (0.0, math.inf)
    assert (
        back.assessment.verdict == "无明显变化"
        and raw["assessment"]["comparison"]["ratio"] == "NaN"
    )
    with pytest.raises(
        MeiyuError, match=r"^stored indicator value does not match schema 1 .*meiyu compute"
    ):
        read_details({"schema_version": 2, "interval": [0, 1]})
    with pytest.raises(MeiyuError, match="interval"):
        read_details({"per_source": {"s1": 1}})  # a value without its interval
