"""Batch stage: each indicator's literal definition over the stored documents, and for every
hit the relevance decision (nlp.relevance) beside it — the literal count stays exactly the
plan's, the relevant count says how many of those speak of the place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from kernel.config import Config, IndicatorConfig
from nlp import relevance
from nlp.matching import match_all_of
from storage.db import unit_of_work
from storage.queries import iter_texts
from storage.writes import MatchRecord, replace_matches

if TYPE_CHECKING:  # nlp.korean loads Kiwi: only when a Korean indicator is matched
    from nlp.korean import AnalyserName


@dataclass(frozen=True)
class MatchSummary:
    indicator: str
    scanned: int
    matched: int


def match_indicator(
    session: Session, key: str, ind: IndicatorConfig, analyser: AnalyserName = "kiwi"
) -> MatchSummary:
    scanned = 0
    found: list[MatchRecord] = []
    for row in iter_texts(session, ind.language, ind.sources):
        scanned += 1
        text = f"{row.title}\n{row.text}"
        literal = match_all_of(text, ind.all_of)
        candidate = literal.matched or any(form in text for form in ind.ambiguous)
        if not candidate:
            continue
        if ind.language == "ko":
            judged = relevance.korean(text, ind.all_of, ind.ambiguous, analyser)
        else:
            judged = relevance.chinese(text, ind.all_of)
        if judged.literal or judged.relevant:
            found.append(MatchRecord(row.id, judged.terms, judged.literal, judged.relevant))
    n = replace_matches(session, key, ind.version(), found)
    return MatchSummary(key, scanned, n)


def match_all(cfg: Config, sessions: sessionmaker[Session]) -> list[MatchSummary]:
    """Recompute every indicator's matches, each in one transaction (idempotent)."""
    out = []
    for key, ind in cfg.indicators.items():
        out.append(unit_of_work(sessions, match_indicator, key, ind, cfg.nlp.korean_analyser))
    return out
