"""Chinese analysis with jieba and the project's user dictionary (place and topic names).

The dictionary makes 威海路 (a street in Shanghai and elsewhere) one word, so 威海 inside it
is not read as the city; weights were set so that 威海海鲜节 still splits as 威海/海鲜/节.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass

import jieba

from nlp.resources import DATA

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|\n")


@dataclass(frozen=True)
class Token:
    word: str
    start: int
    end: int


@functools.cache
def _tokenizer() -> jieba.Tokenizer:
    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.load_userdict(str(DATA / "zh_userdict.txt"))
    return tok


def tokens(text: str) -> list[Token]:
    return [Token(w, s, e) for w, s, e in _tokenizer().tokenize(text)]


@functools.cache
def place_words() -> frozenset[str]:
    """Dictionary words tagged as places (ns): the words that name a place by themselves."""
    words = []
    for line in (DATA / "zh_userdict.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == "ns" and not parts[0].endswith("路"):
            words.append(parts[0])
    return frozenset(words)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]
