"""Relevance for a67 (Korean 위해 disambiguation) and a29/a68 (威海路 and other traps), measured
on the labelled sets in tests/data and held to the floors in nlp/data/relevance_eval.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from nlp.evaluate_relevance import EVAL_FILE, TERMS, evaluate_chinese, evaluate_korean
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
