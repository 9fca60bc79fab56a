"""Fuzzing what takes text in nlp/ (hypothesis): the shipped sentiment models, the relevance
check behind `meiyu nlp match`, and the analysis stage's sentence selection + targeted
scoring. Inputs: long texts, many sentences, emoji, mixed scripts, control characters, empty
and whitespace-only strings, 100 kB lines. Property: one answer per input, probabilities that
sum to 1, never an exception.

The profile is fixed (derandomize=True); MEIYU_FUZZ_EXAMPLES scales it for a long run by hand.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kernel.config import load_config
from nlp import relevance
from nlp.sentiment import LABELS, documents_sentiment, load
from pipelines.analyze import place_sentences
from tests.conftest import REPO, run_meiyu
from tests.fuzzing import profile

NEWS = {
    "ko": "(웨이하이=연합뉴스) 중국 산둥성 웨이하이시가 한국발 입국자 전원을 "
    "14일간 격리하기로 했다. 위해시 당국은 위해성 평가를 거쳐 위해식품을 회수했다. "
    "관광객 안전을 위해 안전요원을 늘렸다. ",
    "zh": "新华社威海电 威海海鲜节开幕，刘公岛海洋文化旅游吸引游客三万余人次。"
    "威海路上的商店照常营业。",
}
PIECES = st.sampled_from(
    [
        NEWS["ko"],
        NEWS["zh"],
        "🦀🦐🐟 ",
        "\u202e\u200b\u200d",
        "\x00\x01\x7f",
        "\t\n\r ",
        "ＡＢＣ①～",
        "English wire text, Reuters. ",
        "웨이하이",
        "威海",
        "위해",
        "。！？…",
    ]
)
TEXTS = st.one_of(
    st.text(max_size=400),
    st.lists(PIECES, max_size=40).map("".join),
    st.lists(st.one_of(PIECES, st.text(max_size=30)), max_size=12).map("".join),
)


def _valid(scores: dict[str, float]) -> bool:
    return set(scores) == set(LABELS) and abs(sum(scores.values()) - 1.0) < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("language", ["ko", "zh"])
def test_sentiment_answers_every_text(language: str) -> None:
    model = load(language)

    @profile(25)
    @given(st.lists(TEXTS, max_size=6))
    @example(["", " ", "\n\t"])
    @example([NEWS[language] * 40])  # ~4,000 characters, past the model's 256 tokens
    @example(["가" * 100_000, "威" * 100_000])  # 100 kB lines
    def check(texts: list[str]) -> None:
        scored = model.predict(texts)
        assert len(scored) == len(texts)
        assert all(s.label in LABELS and _valid(s.scores) for s in scored)

    check()


@pytest.mark.parametrize("key", ["a67", "a29", "a68"])
def test_analysis_stage_selects_and_scores_every_document(key: str) -> None:
    ind = load_config(REPO / "meiyu.toml").indicator(key)
    model = load(ind.language)

    @profile(20)
    @given(TEXTS, TEXTS)
    @example("", "")
    @example(NEWS[ind.language] * 200, NEWS[ind.language] * 200)
    def check(title: str, text: str) -> None:
        sentences = place_sentences(text, ind)
        assert all(isinstance(s, str) for s in sentences)
        (doc,) = documents_sentiment(model, [(title, sentences)])
        assert doc.label in LABELS and _valid(doc.scores)

    check()


@profile(60)
@given(TEXTS)
@example("위해" * 50_000)
@example("威海" * 50_000)
def test_relevance_answers_every_text(text: str) -> None:
    ko = relevance.korean(text, [["웨이하이", "위해"]], ["위해"])
    zh = relevance.chinese(text, [["威海"], ["海鲜"]])
    assert isinstance(ko.relevant, bool) and isinstance(zh.relevant, bool)


def test_cli_answers_every_line_of_long_and_odd_input() -> None:
    """`meiyu nlp sentiment` and `meiyu nlp match` on a file of real-length and odd lines:
    exactly one answer per line, in order."""
    lines = [
        NEWS["ko"] * 15,  # ~2,000 characters
        "",
        "   ",
        "🦀" * 500,
        "가" * 100_000,
        NEWS["zh"] * 30,
        "\u202e웨이하이\u200b 관광\x01",
    ] * 3
    stdin = "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(lines))
    for args in (["nlp", "sentiment", "--lang", "ko"], ["nlp", "match", "-i", "a67"]):
        proc = run_meiyu("--config", str(REPO / "meiyu.toml"), *args, input=stdin)
        assert proc.returncode == 0, proc.stderr
        out = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [o["id"] for o in out] == list(range(len(lines)))
