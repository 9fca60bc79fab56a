"""Batch stage: apply each indicator's literal definition to the stored documents."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from meiyu.config import Config, IndicatorConfig
from nlp.matching import match_all_of
from storage.db import transaction
from storage.queries import iter_texts
from storage.writes import MatchRecord, replace_matches


@dataclass(frozen=True)
class MatchSummary:
    indicator: str
    scanned: int
    matched: int


def match_indicator(session: Session, key: str, ind: IndicatorConfig) -> MatchSummary:
    scanned = 0
    found: list[MatchRecord] = []
    for row in iter_texts(session, ind.language, ind.sources):
        scanned += 1
        result = match_all_of(f"{row.title}\n{row.text}", ind.all_of)
        if result.matched:
            found.append(MatchRecord(row.id, result.terms))
    n = replace_matches(session, key, ind.version(), found)
    return MatchSummary(key, scanned, n)


def match_all(cfg: Config, sessions: sessionmaker[Session]) -> list[MatchSummary]:
    """Recompute every indicator's matches, each in one transaction (idempotent)."""
    out = []
    for key, ind in cfg.indicators.items():
        with transaction(sessions) as s:
            out.append(match_indicator(s, key, ind))
    return out
