"""Korean analysis: morphemes and sentences with Kiwi, and the city reading of each name form
behind one small interface with two backends.

Why it matters: 위해 is the Sino-Korean reading of 威海 but also "~을 위해" (for) and 위해
(危害, harm). Kiwi (the default), given 위해 as a proper noun with a penalty, tags it NNP only
where the context is a place (위해에서, 위해와 인천, 위해 시민) and keeps 위하/VV and
위해/NNG otherwise. konlpy's Okt (nlp.korean_okt, `[nlp] korean_analyser = "okt"`) tags
every 위해 as a noun, so that backend decides by context rules instead. Both are measured on
tests/data/ko_relevance.tsv (nlp.evaluate_relevance); the better one is the default.
Sentences are always split by Kiwi (Okt has no sentence splitter).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal, Protocol

from kiwipiepy import Kiwi

from nlp.resources import DATA

AnalyserName = Literal["kiwi", "okt"]
AMBIGUOUS = "위해"  # the bare form: the city, "for" or "harm"


@dataclass(frozen=True)
class Morpheme:
    form: str
    tag: str
    start: int
    length: int


@dataclass(frozen=True)
class Reading:
    """One occurrence of a city name form (or of 위해 as "for"/harm) and why it was so read."""

    form: str
    start: int
    city: bool
    reason: str


class KoreanAnalyser(Protocol):
    name: str

    def readings(self, text: str) -> list[Reading]:
        """Every occurrence of a name form in `text`, read as the city or not."""
        ...


def _user_words() -> list[tuple[str, str, float]]:
    rows = []
    for line in (DATA / "ko_places.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            form, tag, score = line.split("\t")
            rows.append((form, tag, float(score)))
    return rows


@functools.cache
def kiwi() -> Kiwi:
    analyser = Kiwi()
    for form, tag, score in _user_words():
        analyser.add_user_word(form, tag, score)
    return analyser


def city_forms() -> frozenset[str]:
    """The proper-noun forms that name the city (from ko_places.tsv)."""
    return frozenset(form for form, tag, _ in _user_words() if tag == "NNP")


@functools.cache
def harm_nouns() -> frozenset[str]:
    """Nouns that make 위해 = 危害 when they follow it (위해 요소, 위해 식품 …)."""
    lines = (DATA / "ko_harm_nouns.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(ln.strip() for ln in lines if ln.strip() and not ln.startswith("#"))


def morphemes(text: str) -> list[Morpheme]:
    return [Morpheme(t.form, t.tag, t.start, t.len) for t in kiwi().tokenize(text)]


def sentences(text: str) -> list[str]:
    return [s.text for s in kiwi().split_into_sents(text)]


class KiwiAnalyser:
    """The city where Kiwi tags a name form NNP, unless a harm noun follows a bare 위해."""

    name = "kiwi"

    def readings(self, text: str) -> list[Reading]:
        cities = city_forms()
        out: list[Reading] = []
        tokens = morphemes(text)
        for i, m in enumerate(tokens):
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if (
                m.tag == "NNP"
                and m.form == AMBIGUOUS
                and nxt is not None
                and nxt.tag == "NNG"
                and nxt.form in harm_nouns()
            ):
                why = f"위해@{m.start}: before the noun {nxt.form}, read as 危害 (harm)"
                out.append(Reading(m.form, m.start, False, why))
            elif m.tag == "NNP" and m.form in cities:
                out.append(
                    Reading(m.form, m.start, True, f"{m.form}@{m.start}: proper noun, the city")
                )
            elif m.form.startswith("위하") and m.tag.startswith("VV"):
                why = f"위해@{m.start}: verb 위하다 (for), not the city"
                out.append(Reading(AMBIGUOUS, m.start, False, why))
            elif m.form == AMBIGUOUS and m.tag == "NNG":
                why = f"위해@{m.start}: noun 危害 (harm), not the city"
                out.append(Reading(m.form, m.start, False, why))
        return out


@functools.cache
def analyser(name: AnalyserName = "kiwi") -> KoreanAnalyser:
    """The configured backend, built once per process (Okt starts a JVM on first use)."""
    if name == "okt":
        from nlp.korean_okt import OktAnalyser

        return OktAnalyser()
    if name != "kiwi":
        raise ValueError(f"unknown Korean analyser {name!r}; use 'kiwi' or 'okt'")
    return KiwiAnalyser()
