"""The city's Korean name forms and how an occurrence was read: what both Korean backends
(nlp.korean's Kiwi, nlp.korean_okt's Okt) share, so neither imports the other's module."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from nlp.resources import DATA

AMBIGUOUS = "위해"  # the bare form: the city, "for" or "harm"


@dataclass(frozen=True)
class Reading:
    """One occurrence of a city name form (or of 위해 as "for"/harm) and why it was so read."""

    form: str
    start: int
    city: bool
    reason: str


def user_words() -> list[tuple[str, str, float]]:
    """(form, tag, score) rows of nlp/data/ko_places.tsv: Kiwi's user words."""
    rows = []
    for line in (DATA / "ko_places.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            form, tag, score = line.split("\t")
            rows.append((form, tag, float(score)))
    return rows


def city_forms() -> frozenset[str]:
    """The proper-noun forms that name the city (from ko_places.tsv)."""
    return frozenset(form for form, tag, _ in user_words() if tag == "NNP")


@functools.cache
def harm_nouns() -> frozenset[str]:
    """Nouns that make 위해 = 危害 when they follow it (위해 요소, 위해 식품 …)."""
    lines = (DATA / "ko_harm_nouns.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(ln.strip() for ln in lines if ln.strip() and not ln.startswith("#"))
