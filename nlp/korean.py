"""Korean analysis with Kiwi: morphemes and sentences, with the city's names as user words.

Why Kiwi: 위해 is the Sino-Korean reading of 威海 but also "~을 위해" (for) and 위해 (危害,
harm). Kiwi, given 위해 as a proper noun with a penalty, tags it NNP only where the context
is a place (위해에서, 위해와 인천, 위해 시민) and keeps 위하/VV and 위해/NNG otherwise;
konlpy's Okt tags every 위해 as a noun and cannot separate them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from kiwipiepy import Kiwi

from nlp.resources import DATA


@dataclass(frozen=True)
class Morpheme:
    form: str
    tag: str
    start: int
    length: int


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


def morphemes(text: str) -> list[Morpheme]:
    return [Morpheme(t.form, t.tag, t.start, t.len) for t in kiwi().tokenize(text)]


def sentences(text: str) -> list[str]:
    return [s.text for s in kiwi().split_into_sents(text)]
