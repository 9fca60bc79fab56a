"""Batch stage: targeted sentiment of the items an indicator counts (a67's positive share; the
tone behind a29/a68's volume).

For each relevant item without a result for the current model, the title and the sentences
that speak of the place (nlp.relevance) are scored and averaged (nlp.sentiment's stated rule);
the result is stored with the model's id, so a new model adds results, never rewrites them.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, sessionmaker

from meiyu.config import Config, IndicatorConfig
from nlp import relevance
from nlp.sentiment import DEFAULT_MODELS, SentimentModel, document_sentiment, load
from storage.db import transaction
from storage.models import Document, IndicatorMatch, SentimentResult
from storage.writes import record_sentiment


@dataclass(frozen=True)
class AnalyzeSummary:
    indicator: str
    model_id: str
    scored: int
    already: int


def model_id(name_or_path: str | Path) -> str:
    """A stable id: the folder name and a hash of its weights for local models."""
    path = Path(name_or_path)
    weights = path / "model.safetensors"
    if weights.exists():
        stat = weights.stat()
        return f"{path.name}@{_weights_digest(weights, stat.st_size, stat.st_mtime_ns)}"
    return str(name_or_path)


@functools.cache
def _weights_digest(weights: Path, size: int, mtime_ns: int) -> str:
    """Hashed once per file version (size and mtime are part of the cache key)."""
    return hashlib.sha256(weights.read_bytes()).hexdigest()[:12]


def model_for(ind: IndicatorConfig) -> str:
    return ind.sentiment_model or str(DEFAULT_MODELS[ind.language])


def place_sentences(text: str, ind: IndicatorConfig) -> list[str]:
    from nlp.korean import sentences as ko_sentences

    if ind.language != "ko":
        from nlp.chinese import sentences as zh_sentences

        return [s for s in zh_sentences(text) if relevance.chinese(s, ind.all_of[:1]).relevant]
    return [
        s for s in ko_sentences(text) if relevance.korean(s, ind.all_of, ind.ambiguous).relevant
    ]


def analyze_indicator(
    session: Session, key: str, ind: IndicatorConfig, model: SentimentModel, mid: str
) -> AnalyzeSummary:
    done = select(SentimentResult.document_id).where(
        and_(SentimentResult.model_id == mid, SentimentResult.target == key)
    )
    rows = session.execute(
        select(Document.id, Document.title, Document.text)
        .join(IndicatorMatch, IndicatorMatch.document_id == Document.id)
        .where(
            IndicatorMatch.indicator == key,
            IndicatorMatch.relevant.is_(True),
            Document.id.not_in(done),
        )
        .order_by(Document.id)
    ).all()
    already = session.scalar(
        select(SentimentResult.id)
        .where(SentimentResult.model_id == mid, SentimentResult.target == key)
        .limit(1)
    )
    for doc_id, title, text in rows:
        result = document_sentiment(model, title, place_sentences(text, ind))
        record_sentiment(
            session, doc_id, mid, key, result.label, result.scores, "\n".join(result.evidence)
        )
    return AnalyzeSummary(key, mid, len(rows), 0 if already is None else 1)


def model_available(ind: IndicatorConfig) -> bool:
    """A configured model, or a complete shipped one (a folder being trained is not)."""
    return ind.sentiment_model is not None or (Path(model_for(ind)) / "config.json").exists()


def analyze_all(cfg: Config, sessions: sessionmaker[Session]) -> list[AnalyzeSummary]:
    """Every indicator whose language has a model: a67's share, and the tone behind a29/a68's
    volume. One transaction each."""
    out = []
    for key, ind in cfg.indicators.items():
        name = model_for(ind)
        if not model_available(ind):
            continue  # no shipped model for this language yet
        model = load(name)
        with transaction(sessions) as s:
            out.append(analyze_indicator(s, key, ind, model, model_id(name)))
    return out
