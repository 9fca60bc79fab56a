"""Batch stage: targeted sentiment of the items an indicator counts (a67's positive share; the
tone behind a29/a68's volume).

For each relevant item without a result for the current model, the title and the sentences
that speak of the place (nlp.relevance) are scored and averaged (nlp.sentiment's stated rule);
the result is stored with the model's id, so a new model adds results, never rewrites them.
Documents are scored in batches, each committed on its own: a killed run resumes with the
documents that still have no result for the current model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from kernel.config import Config, IndicatorConfig
from kernel.errors import ConfigError
from kernel.identity import model_id
from nlp import relevance
from nlp.identity import model_available, model_for
from nlp.sentiment import (
    Scorer,
    documents_sentiment,
    load,
    resolve_device,
    set_threads,
)
from storage.db import unit_of_work
from storage.models import Document, IndicatorMatch, SentimentResult
from storage.writes import record_sentiment

if TYPE_CHECKING:  # nlp.korean loads Kiwi: only when a Korean text comes
    from nlp.korean import AnalyserName

DEFAULT_BATCH_SIZE = 256
# (indicator, documents scored so far, documents pending at the start): called once before the
# first batch and after each committed batch, so a UI can show a bar.
ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class AnalyzeSummary:
    indicator: str
    model_id: str
    scored: int
    already: int  # results this model had before the run


def place_sentences(text: str, ind: IndicatorConfig, analyser: AnalyserName = "kiwi") -> list[str]:
    from nlp.korean import sentences as ko_sentences

    if ind.language != "ko":
        from nlp.chinese import sentences as zh_sentences

        return [s for s in zh_sentences(text) if relevance.chinese(s, ind.all_of[:1]).relevant]
    return [
        s
        for s in ko_sentences(text)
        if relevance.korean(s, ind.all_of, ind.ambiguous, analyser).relevant
    ]


def pending_documents(session: Session, key: str, mid: str) -> list[int]:
    """Relevant documents of the indicator without a result for this model, in id order."""
    done = select(SentimentResult.document_id).where(
        and_(SentimentResult.model_id == mid, SentimentResult.target == key)
    )
    return list(
        session.scalars(
            select(IndicatorMatch.document_id)
            .where(
                IndicatorMatch.indicator == key,
                IndicatorMatch.relevant.is_(True),
                IndicatorMatch.document_id.not_in(done),
            )
            .order_by(IndicatorMatch.document_id)
        )
    )


def score_batch(
    session: Session,
    key: str,
    ind: IndicatorConfig,
    model: Scorer,
    mid: str,
    doc_ids: Sequence[int],
    analyser: AnalyserName = "kiwi",
) -> int:
    """Score these documents and record their results (the caller commits)."""
    rows = session.execute(
        select(Document.id, Document.title, Document.text)
        .where(Document.id.in_(doc_ids))
        .order_by(Document.id)
    ).all()
    results = documents_sentiment(
        model, [(title, place_sentences(text, ind, analyser)) for _, title, text in rows]
    )
    for (doc_id, _, _), result in zip(rows, results, strict=True):
        record_sentiment(
            session, doc_id, mid, key, result.label, result.scores, "\n".join(result.evidence)
        )
    return len(rows)


def analyze_indicator(
    sessions: sessionmaker[Session],
    key: str,
    ind: IndicatorConfig,
    model: Scorer,
    mid: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
    analyser: AnalyserName = "kiwi",
) -> AnalyzeSummary:
    """Every pending document, one transaction per batch: a run killed (or failing) part-way
    keeps the batches it committed, and the next run starts after them."""
    with sessions() as s:
        pending = pending_documents(s, key, mid)
        already = s.scalar(
            select(func.count())
            .select_from(SentimentResult)
            .where(SentimentResult.model_id == mid, SentimentResult.target == key)
        )
    scored = 0
    if on_progress:
        on_progress(key, 0, len(pending))
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        scored += unit_of_work(sessions, score_batch, key, ind, model, mid, batch, analyser)
        if on_progress:
            on_progress(key, scored, len(pending))
    return AnalyzeSummary(key, mid, scored, already or 0)


def device_for(cfg: Config) -> str:
    """`[nlp] device` as torch names it; 'cuda' on a machine without one is a config error."""
    try:
        return resolve_device(cfg.nlp.device)
    except ValueError as exc:
        raise ConfigError(f'nlp.device: {exc}; use "auto" or "cpu"') from None


def analyze_all(
    cfg: Config,
    sessions: sessionmaker[Session],
    on_progress: ProgressCallback | None = None,
    batch_size: int | None = None,
) -> list[AnalyzeSummary]:
    """Every indicator whose language has a model: a67's share, and the tone behind a29/a68's
    volume. Committed every `batch_size` documents (default `[nlp] batch_size`)."""
    todo = [(key, ind) for key, ind in cfg.indicators.items() if model_available(ind)]
    if not todo:
        return []  # no shipped model for these languages yet
    device = device_for(cfg)
    set_threads(cfg.nlp.threads or None)
    out = []
    for key, ind in todo:
        name = model_for(ind)
        out.append(
            analyze_indicator(
                sessions,
                key,
                ind,
                load(name, device),
                model_id(name),
                batch_size or cfg.nlp.batch_size,
                on_progress,
                cfg.nlp.korean_analyser,
            )
        )
    return out
