"""Relevance for a67 (Korean 위해 disambiguation) and a29/a68 (威海路 and other traps), measured
on the labelled sets in tests/data and held to the floors in nlp/data/relevance_eval.json, and
for a67 on real news (the ko_wihae set: its manifest is committed, its text is a local copy)."""

from __future__ import annotations

import collections
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nlp.evaluate_relevance import (
    EVAL_FILE,
    REALNEWS_SET,
    SENSES,
    TERMS,
    evaluate_chinese,
    evaluate_korean,
    evaluate_korean_real,
)
from nlp.realnews import MANIFESTS, RealNewsError
from nlp.relevance import chinese, korean
from tests.conftest import REPO

FLOORS = json.loads(EVAL_FILE.read_text(encoding="utf-8"))


def test_korean_relevance_holds_its_measured_accuracy() -> None:
    got = evaluate_korean()
    assert got["n"] >= 300
    assert got["relevance_accuracy"] >= FLOORS["ko_a67"]["relevance_accuracy"]
    assert got["relevance_accuracy"] >= 0.97  # the target


def test_chinese_literal_is_exact_and_relevance_holds() -> None:
    got = evaluate_chinese()
    assert got["n"] >= 300
    assert got["literal_accuracy"] == 1.0  # the plan's definition, exactly
    assert got["relevance_accuracy"] >= FLOORS["zh_a29_a68"]["relevance_accuracy"]


def test_korean_reasons_name_the_reading() -> None:
    city = korean("중국 위해에서 한국 관광객이 늘었다", TERMS["a67"], ["위해"])
    assert city.relevant and not city.literal and "위해" in city.terms
    verb = korean("물가 안정을 위해 대책을 발표했다", TERMS["a67"], ["위해"])
    assert not verb.relevant and "verb" in verb.reasons[0]
    harm = korean("식품 위해 요소를 점검했다", TERMS["a67"], ["위해"])
    assert not harm.relevant and "harm" in harm.reasons[0]


# One sentence per construction (written for this test): (text, the city?, a word the reason names)
WIHAE = [
    ("재 위해 한국인들은 영사관 설치를 요구했다.", True, "재(在)"),  # 在 + place + people
    ("재위해한국인회가 송년회를 열었다.", True, "재(在)"),  # glued: Kiwi reads 재위(在位)+하+어
    ("위해중세한국국제학교가 신입생을 모집한다.", True, "name"),  # one NNP token
    ("산동대학 위해 캠퍼스의 한국어학과 학생들이 방한했다.", True, "캠퍼스"),
    ("중국 위해 공장의 생산이 재개됐다.", True, "중국"),
    ("청도, 연대와 위해가 투자 유치 경쟁을 벌인다.", True, "연대"),  # a list of cities
    ("“위해 공장 폐쇄” 소식에 교민들이 동요했다.", True, "공장"),  # no complement: not 위하다
    ("위해라는 도시는 인천에서 가깝다.", True, "도시"),
    ("공무원에게 위해를 가한 남성이 체포됐다.", False, "가하"),
    ("이 기술 유출은 국가 안보에 위해가 될 수 있다.", False, "되"),
    ("화학물질 위해로부터 국민을 보호하는 법이 시행된다.", False, "로부터"),
    ("소비자 위해신고가 크게 늘었다.", False, "신고"),  # Kiwi's 위해시 swallows 신
    ("유해, 위해, 유독은 서로 다른 말이다.", False, "유해"),
    ("위해라는 말은 해를 가한다는 뜻이다.", False, "word"),
    ("위해는 위험과 재해를 아울러 이르는 말이다.", False, "sentence"),
    ("교민들을 위해 한인회가 상담 창구를 열었다.", False, "위하다"),  # ~을 위해 before people
]


@pytest.mark.parametrize(("text", "city", "why"), WIHAE)
def test_korean_wihae_constructions(text: str, city: bool, why: str) -> None:
    got = korean(text, TERMS["a67"], ["위해"])
    assert got.relevant is city, (text, got.reasons)
    assert any(why in r for r in got.reasons), got.reasons


def _manifest() -> list[dict[str, str]]:
    with (MANIFESTS / f"{REALNEWS_SET}.tsv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_real_news_manifest_is_well_formed() -> None:
    rows = _manifest()
    assert list(rows[0]) == ["id", "url", "sense", "sha256", "chars"]
    assert len(rows) >= 120
    assert [r["id"] for r in rows] == [f"rw{i:03d}" for i in range(1, len(rows) + 1)]
    assert all(r["sense"] in SENSES for r in rows)
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["sha256"]) and int(r["chars"]) > 0 for r in rows)
    senses = collections.Counter(r["sense"] for r in rows)
    assert all(0.25 <= senses[s] / len(rows) <= 0.45 for s in SENSES), senses
    per_page = collections.Counter(r["url"] for r in rows)
    assert len(per_page) >= 40 and max(per_page.values()) <= 6
    # the odd rows (written on) and the even rows (held out) come from disjoint pages
    assert not {r["url"] for r in rows[0::2]} & {r["url"] for r in rows[1::2]}


def test_real_news_copy_is_checked_against_the_manifest(tmp_path: Path) -> None:
    assert evaluate_korean_real(folder=tmp_path) is None  # no local copy: skipped, not failed
    lines = ["id\turl\tsense\ttext"]
    lines += [f"{r['id']}\t{r['url']}\t{r['sense']}\t위해 edited" for r in _manifest()]
    (tmp_path / f"{REALNEWS_SET}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RealNewsError, match="rw001"):
        evaluate_korean_real(folder=tmp_path)


def test_korean_relevance_on_real_news() -> None:
    got = evaluate_korean_real()
    if got is None:
        pytest.skip(
            f"no local copy of the real-news set ({REALNEWS_SET}.tsv in data/realnews or in "
            "MEIYU_REALNEWS_DIR): its text is third-party and not in git"
        )
    assert got["n"] >= 120
    assert got["relevance_accuracy"] >= 0.97


def test_chinese_street_and_distance() -> None:
    street = chinese("上海威海路上新开了一家海鲜餐厅", TERMS["a29"])
    assert street.literal and not street.relevant and "not the place" in street.reasons[0]
    both = chinese("威海的海鲜很有名，不过上海威海路上的海鲜馆也不错", TERMS["a29"])
    assert both.relevant
    far = chinese(
        "威海召开经济运行分析会。" + "会议听取了各部门汇报。" * 12 + "大连海鲜市场价格平稳。",
        TERMS["a29"],
    )
    assert far.literal and not far.relevant


def test_nlp_match_contract() -> None:
    lines = '{"id": 1, "text": "上海威海路上的海鲜馆"}\n{"id": "x", "text": "威海海鲜节开幕"}\n'
    proc = run_meiyu_stdin(["nlp", "match", "--indicator", "a29"], lines)
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert out == [
        {"id": 1, "literal": True, "relevant": False, "terms": ["威海", "海鲜"]},
        {"id": "x", "literal": True, "relevant": True, "terms": ["威海", "海鲜"]},
    ]
    bad = run_meiyu_stdin(
        ["nlp", "match", "--indicator", "a67"],
        '{"id": 1, "text": "웨이하이"}\n{"id": 2, "text": \n',
    )
    assert bad.returncode == 2 and "line 2" in bad.stderr and bad.stdout == ""
    missing = run_meiyu_stdin(["nlp", "match", "--indicator", "a67"], '{"text": "x"}\n')
    assert missing.returncode == 2 and "line 1" in missing.stderr


def run_meiyu_stdin(args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEIYU_")}
    return subprocess.run(
        [sys.executable, "-m", "meiyu.cli", "--config", str(REPO / "meiyu.toml"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
