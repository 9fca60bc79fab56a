"""nlp/ and kernel/periods: literal matching, fingerprints, month boundaries."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from kernel.periods import month_bounds, month_key, previous_months
from nlp.fingerprint import content_hash
from nlp.matching import match_all_of

A29 = [["威海"], ["海鲜"]]
A67 = [["웨이하이", "위해시", "威海", "Weihai"]]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_literal_match_needs_every_group() -> None:
    assert match_all_of("威海海鲜节开幕", A29).matched
    assert match_all_of("威海海鲜节开幕", A29).terms == ["威海", "海鲜"]
    assert not match_all_of("威海召开经济运行分析会", A29).matched
    assert not match_all_of("大连海鲜市场价格平稳", A29).matched
    # The plan's definition is literal: Shanghai's 威海路 counts here (relevance comes later).
    assert match_all_of("上海威海路上新开了一家海鲜餐厅", A29).matched


def test_korean_forms_and_the_wihae_trap() -> None:
    assert match_all_of("인천과 웨이하이를 잇는 카페리", A67).terms == ["웨이하이"]
    assert match_all_of("위해시 정부는 설명회를 열었다", A67).matched
    assert match_all_of("중국 威海에서 행사", A67).matched
    assert match_all_of("WEIHAI port", A67).matched  # Latin compares case-insensitively
    # 위해 alone is "for the sake of" / "harm", not the city.
    assert not match_all_of("물가 안정을 위해 대책을 발표했다", A67).matched
    assert not match_all_of("식품 위해 요소를 점검했다", A67).matched


def test_fullwidth_forms_match() -> None:
    assert match_all_of("ＷＥＩＨＡＩ", A67).matched


def test_reprints_share_a_fingerprint_despite_new_title_and_punctuation() -> None:
    body = "威海海鲜产品4月13日起发往全国。\n相关负责人表示，将持续优化服务。"
    original = content_hash("威海海鲜市场购销两旺\n" + body, "威海海鲜市场购销两旺")
    reprint = content_hash(
        "威海海鲜市场购销两旺（转载）\n" + body.replace("，", ","), "威海海鲜市场购销两旺（转载）"
    )
    assert original == reprint
    assert content_hash(body + "另有消息。") != original


def test_months_are_asia_shanghai_calendar_months() -> None:
    seoul_first = dt.datetime(2023, 12, 1, 0, 20, tzinfo=ZoneInfo("Asia/Seoul"))
    assert month_key(seoul_first, SHANGHAI) == "2023-11"  # 23:20 on 30 Nov in Shanghai
    assert month_key(dt.datetime(2023, 11, 30, 16, 0, tzinfo=dt.UTC), SHANGHAI) == "2023-12"
    start, end = month_bounds(2023, 12, SHANGHAI)
    assert start == dt.datetime(2023, 11, 30, 16, 0, tzinfo=dt.UTC)
    assert end == dt.datetime(2023, 12, 31, 16, 0, tzinfo=dt.UTC)
    assert previous_months(2023, 2, 3) == ["2022-12", "2023-01", "2023-02"]
