"""Which language a crawled document is written in, so it is matched by the right indicator.

A source's configured language is a default, not a fact: a Chinese portal serves a Korean page,
a Korean outlet an English one. `route` keeps the source's language unless the text clearly
says otherwise:

1. short (fewer than MIN_LETTERS letters in title + text): the source's language — too little
   text to overrule the configuration;
2. mixed Hangul and Han (each at least MIXED_SHARE of the CJK letters, with no kana): decided
   by the share of characters per script — more Hangul than Han is Korean, otherwise Chinese.
   Korean prose with a few Hanja (威海) or a Chinese page quoting one Korean paragraph goes by
   what most of it is written in;
3. otherwise lingua (restricted to Chinese, Korean, English, Japanese): its language when its
   confidence is at least THRESHOLD, else the source's language.

Measured on tests/data/language_id.tsv by `python -m nlp.language` (accuracy, docs/s);
in that file a paragraph break is written " ¶ ".
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

Code = Literal["zh", "ko", "en", "ja"]
CODES: dict[Language, Code] = {
    Language.CHINESE: "zh",
    Language.KOREAN: "ko",
    Language.ENGLISH: "en",
    Language.JAPANESE: "ja",
}
MIN_LETTERS = 15  # below this, keep the source's language
MIXED_SHARE = 0.1  # both Hangul and Han at least this share of the CJK letters: a mixed page
THRESHOLD = 0.9  # lingua's confidence needed to overrule the source's language
SET = Path(__file__).resolve().parents[1] / "tests" / "data" / "language_id.tsv"


@dataclass(frozen=True)
class Detection:
    language: Code | None
    confidence: float


@dataclass(frozen=True)
class Routing:
    language: str
    reason: str


@dataclass(frozen=True)
class Scripts:
    hangul: int
    han: int
    kana: int
    latin: int

    @property
    def letters(self) -> int:
        return self.hangul + self.han + self.kana + self.latin


def scripts(text: str) -> Scripts:
    hangul = han = kana = latin = 0
    for ch in text:
        o = ord(ch)
        if 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
            hangul += 1
        elif 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF:
            han += 1
        elif 0x3040 <= o <= 0x30FF:
            kana += 1
        elif ch.isascii() and ch.isalpha():
            latin += 1
    return Scripts(hangul, han, kana, latin)


@functools.cache
def detector() -> LanguageDetector:
    return LanguageDetectorBuilder.from_languages(*CODES).build()


def detect(text: str) -> Detection:
    """lingua's most likely language among zh/ko/en/ja and its confidence (None: no letters)."""
    values = detector().compute_language_confidence_values(text)
    if not values or values[0].value <= 0:
        return Detection(None, 0.0)
    return Detection(CODES[values[0].language], values[0].value)


def route(source_language: str, title: str, text: str) -> Routing:
    """The language a document is stored (and matched) under; see the module's rules."""
    whole = f"{title}\n{text}"
    s = scripts(whole)
    if s.letters < MIN_LETTERS:
        return Routing(source_language, f"short ({s.letters} letters): the source's language")
    cjk = s.hangul + s.han + s.kana
    if cjk and not s.kana and min(s.hangul, s.han) >= MIXED_SHARE * cjk:
        majority = "ko" if s.hangul > s.han else "zh"
        why = f"mixed page: {s.hangul} Hangul vs {s.han} Han characters → {majority}"
        return Routing(majority, why)
    found = detect(whole)
    if found.language is not None and found.confidence >= THRESHOLD:
        return Routing(found.language, f"lingua: {found.language} ({found.confidence:.2f})")
    return Routing(source_language, f"unsure ({found.confidence:.2f}): the source's language")


def evaluate(path: Path = SET) -> dict[str, Any]:
    """Routing accuracy per kind of row, and documents/s (after the detector is warm)."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    t0 = time.perf_counter()
    detect("warm up the models")
    warm = time.perf_counter() - t0
    t1 = time.perf_counter()
    got = [route(r["source_language"], "", r["text"].replace(" ¶ ", "\n")).language for r in rows]
    rate = len(rows) / (time.perf_counter() - t1)
    kinds: dict[str, list[bool]] = {}
    for r, g in zip(rows, got, strict=True):
        kinds.setdefault(r["kind"], []).append(g == r["expected"])
    return {
        "n": len(rows),
        "accuracy": round(sum(sum(v) for v in kinds.values()) / len(rows), 4),
        "by_kind": {
            k: {"n": len(v), "accuracy": round(sum(v) / len(v), 4)} for k, v in kinds.items()
        },
        "docs_per_s": round(rate, 1),
        "model_load_s": round(warm, 2),
        "errors": [r["id"] for r, g in zip(rows, got, strict=True) if g != r["expected"]],
    }


def main() -> None:
    argparse.ArgumentParser(description="Measure language routing on tests/data.").parse_args()
    print(json.dumps(evaluate(), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
