"""Does a text that literally matches an indicator speak of the place and topic?

`literal` is the plan's own definition, exactly (nlp.matching). `relevant` adds, for Korean,
that a name form is the city (nlp.korean's analyser: not "~을 위해", not 위해=harm), and
for Chinese, that 威海/刘公岛 is the place (not 威海路, a bank, a ship; rules in
nlp/data/zh_relevance.toml) and that the indicator's terms occur close together.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nlp.matching import match_all_of
from nlp.normalise import match_form
from nlp.resources import DATA

if TYPE_CHECKING:  # Kiwi loads its model on import: only when a Korean text comes
    from nlp.korean import AnalyserName

HANJA_CITY = "威海"
# The co-occurrence unit for Chinese: a sentence (terms in different sentences are rarely
# about one thing; measured on tests/data/zh_relevance.tsv).
_SENTENCES = re.compile(r"[。！？!?；;\n]")


@dataclass(frozen=True)
class Relevance:
    literal: bool
    relevant: bool
    terms: list[str]
    reasons: list[str] = field(default_factory=list)  # why a candidate was accepted/rejected


# ----------------------------------------------------------------------------- Korean


def korean(
    text: str,
    all_of: Sequence[Sequence[str]],
    extra_forms: Sequence[str] = ("위해",),
    analyser: AnalyserName = "kiwi",
) -> Relevance:
    """a67: literal = any configured name form; relevant = a form that is the city.

    `extra_forms` are ambiguous forms (bare 위해) that count only when the Korean analyser
    (nlp.korean: Kiwi, or Okt with context rules) reads them as the place; they never make a
    literal hit on their own.
    """
    from nlp.korean import analyser as korean_analyser

    literal = match_all_of(text, all_of)
    readings = korean_analyser(analyser).readings(text)
    found = [r.form for r in readings if r.city]
    reasons = [r.reason for r in readings]
    hanja = HANJA_CITY in text and not _non_city_zh(text, HANJA_CITY)
    if hanja:
        found.append(HANJA_CITY)
    latin = [t for g in all_of for t in g if t.isascii() and match_form(t) in match_form(text)]
    relevant = bool(found or latin)
    terms = list(dict.fromkeys(literal.terms + found))
    candidates = any(f in text for f in extra_forms)
    return Relevance(literal.matched, relevant, terms, reasons if candidates else [])


# ----------------------------------------------------------------------------- Chinese


@dataclass(frozen=True)
class ZhRules:
    non_city: dict[str, list[re.Pattern[str]]]
    window_chars: int


@functools.cache
def zh_rules() -> ZhRules:
    raw = tomllib.loads((DATA / "zh_relevance.toml").read_text(encoding="utf-8"))
    non_city = {k: [re.compile(p) for p in v] for k, v in raw.get("non_city", {}).items()}
    return ZhRules(non_city, int(raw["window_chars"]))


def _positions(text: str, term: str) -> list[int]:
    return [m.start() for m in re.finditer(re.escape(term), text)]


def _non_city_zh(text: str, term: str) -> bool:
    """True when every occurrence of `term` is inside a non-city pattern."""
    occurrences = _positions(text, term)
    return bool(occurrences) and all(_covered(text, term, p) for p in occurrences)


def _covered(text: str, term: str, pos: int) -> bool:
    for pattern in zh_rules().non_city.get(term, []):
        for m in pattern.finditer(text):
            if m.start() <= pos < m.end():
                return True
    return False


def chinese(text: str, all_of: Sequence[Sequence[str]], window: int | None = None) -> Relevance:
    """a29/a68: literal = every group present; relevant = a place occurrence that is the place
    (not a street/brand) lies within `window` characters of the other group's term, in the
    same paragraph."""
    from nlp.chinese import place_words, tokens

    literal = match_all_of(text, all_of)
    if not literal.matched:
        return Relevance(False, False, literal.terms)
    window = zh_rules().window_chars if window is None else window
    folded = re.sub(r"[ \u3000]", "", match_form(text))
    reasons: list[str] = []
    for paragraph in _SENTENCES.split(folded):
        spots: list[list[int]] = []
        for group in all_of:
            group_spots = []
            for term in group:
                t = match_form(term)
                place = t in place_words()
                words = {tok.start: tok.word for tok in tokens(paragraph)} if place else {}
                for pos in _positions(paragraph, t):
                    if _covered(paragraph, t, pos) or (
                        place and words.get(pos) not in place_words()
                    ):
                        reasons.append(f"{term}@{pos}: not the place ({paragraph[pos : pos + 8]}…)")
                    else:
                        group_spots.append(pos)
            spots.append(group_spots)
        if all(spots) and _within(spots, window):
            return Relevance(True, True, literal.terms, reasons)
    if not reasons:
        reasons.append(f"terms not within {window} characters of each other in one paragraph")
    return Relevance(True, False, literal.terms, reasons)


def _within(spots: list[list[int]], window: int) -> bool:
    """Some choice of one position per group spans at most `window` characters."""
    first, *rest = spots
    return any(all(any(abs(p - q) <= window for q in group) for group in rest) for p in first)
