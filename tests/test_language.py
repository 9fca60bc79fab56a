"""Language identification of incoming documents (nlp.language) and its routing in the
normalise pipeline: a page is matched by the indicator of the language it is written in."""

from __future__ import annotations

import tomllib

from sqlalchemy import select

from crawlers.items import ArticleItem
from kernel.config import config_from_dict
from nlp.language import SET, detect, evaluate, route
from pipelines.match import match_all
from pipelines.normalise import NormalisePipeline
from storage.db import make_engine, session_factory, transaction
from storage.migrate import upgrade
from storage.models import IndicatorMatch
from storage.writes import ensure_source, upsert_document
from tests.conftest import REPO

KO = (
    "인천과 웨이하이를 오가는 카페리 노선이 3년 만에 여객 운송을 재개했다. "
    "선사 측은 첫 운항에 승객 400여 명이 탑승했다고 밝혔다."
)
ZH = "威海国际海鲜节昨日开幕，来自全国各地的游客品尝了各类海鲜美食，市文旅局表示游客超过十万人次。"


def test_detect_names_the_language_with_a_confidence() -> None:
    assert detect(KO).language == "ko" and detect(KO).confidence > 0.9
    assert detect(ZH).language == "zh"
    assert detect("The ferry route between Incheon and Weihai resumed.").language == "en"
    assert detect("威海の海鮮祭りには多くの観光客が訪れました。").language == "ja"
    assert detect("12345 !!!").language is None


def test_route_rules() -> None:
    assert route("zh", "", KO).language == "ko"  # clearly Korean: overrules the source
    assert route("ko", "", ZH).language == "zh"
    assert route("zh", "", ZH).language == "zh"
    short = route("zh", "위해 공항", "")  # too short to overrule the configuration
    assert short.language == "zh" and "short" in short.reason
    # Chinese page quoting one Korean line: more Han than Hangul → Chinese.
    mixed = route("ko", "", ZH + "\n한국어 안내: 위해 해산물 축제")
    assert mixed.language == "zh" and "mixed" in mixed.reason
    # Korean prose with Hanja names stays Korean.
    assert route("zh", "", "웨이하이(威海)시 " + KO).language == "ko"


def test_measured_accuracy_on_the_labelled_set() -> None:
    figures = evaluate()
    assert figures["n"] >= 100
    assert set(figures["by_kind"]) == {"zh", "ko", "en", "ja", "mixed", "short"}
    assert figures["accuracy"] >= 0.97, figures["errors"]
    assert SET.exists()


def _item(language: str, text: str, n: int) -> ArticleItem:
    return ArticleItem(
        url=f"https://portal.example.cn/{n}",
        source="zh-portal",
        language=language,
        outlet="Portal",
        title="",
        text=text,
        published_at="2024-01-05T09:00:00+08:00",
        fetched_at="2024-01-05T01:00:00+00:00",
    )


def test_korean_page_from_a_chinese_source_is_matched_by_a67(db_url: str) -> None:
    raw = tomllib.loads((REPO / "meiyu.toml").read_text(encoding="utf-8"))
    raw["database"] = {"url": db_url}
    cfg = config_from_dict(raw, env={})
    pipe = NormalisePipeline()
    korean = pipe.process_item(_item("zh", KO, 1))
    chinese = pipe.process_item(_item("zh", "威海海鲜：" + ZH, 2))
    assert (korean.language, chinese.language) == ("ko", "zh")
    engine = make_engine(db_url)
    upgrade(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as s:
        sid = ensure_source(s, "zh-portal", "rss", "zh", "Portal")
        ids = {}
        for name, record in (("ko", korean), ("zh", chinese)):
            ids[name] = upsert_document(s, record, sid, None)[1]
    match_all(cfg, sessions)
    with sessions() as s:
        hits = set(s.execute(select(IndicatorMatch.indicator, IndicatorMatch.document_id)).all())
    engine.dispose()
    assert ("a67", ids["ko"]) in hits  # routed to Korean: a67, not a29
    assert ("a29", ids["ko"]) not in hits
    assert ("a29", ids["zh"]) in hits and ("a67", ids["zh"]) not in hits
