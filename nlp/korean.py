"""Korean analysis: morphemes and sentences with Kiwi, and the city reading of each name form
behind one small interface with two backends.

Why it matters: 위해 is the Sino-Korean reading of 威海 but also "~을 위해" (for) and 위해
(危害, harm). Kiwi (the default), given 위해 as a proper noun with a penalty, tags it NNP
where the context looks like a place (위해에서, 위해와 인천, 위해 시민) and keeps 위하/VV and
위해/NNG otherwise; its tag is the last word only. Before it, context cues kept in data decide
(nlp/data/ko_harm_nouns.txt, nlp/data/ko_wihae_context.tsv, where the order is documented):
~을 위해 (for); harm compounds and constructions (위해성, 위해신고, 위해를 가하다, 위해가 되다,
화학물질 위해로부터); the city's people and places (재 위해 한국인, 위해 한인회, 위해 캠퍼스,
위해 공장, 중국 위해, 청도·연대·위해); then the words of the sentence. Measured on the written
set tests/data/ko_relevance.tsv and on real news (the ko_wihae set, nlp.evaluate_relevance).
konlpy's Okt (nlp.korean_okt, `[nlp] korean_analyser = "okt"`) tags
every 위해 as a noun, so that backend decides by context rules instead. Both are measured on
tests/data/ko_relevance.tsv (nlp.evaluate_relevance); the better one is the default.
Sentences are always split by Kiwi (Okt has no sentence splitter).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal, Protocol

from kiwipiepy import Kiwi

from nlp.korean_forms import AMBIGUOUS, Reading, city_forms, harm_nouns, user_words
from nlp.resources import DATA

AnalyserName = Literal["kiwi", "okt"]


@dataclass(frozen=True)
class Morpheme:
    form: str
    tag: str
    start: int
    length: int


class KoreanAnalyser(Protocol):
    name: str

    def readings(self, text: str) -> list[Reading]:
        """Every occurrence of a name form in `text`, read as the city or not."""
        ...


@functools.cache
def kiwi() -> Kiwi:
    analyser = Kiwi()
    for form, tag, score in user_words():
        analyser.add_user_word(form, tag, score)
    return analyser


def morphemes(text: str) -> list[Morpheme]:
    return [m for m, _ in _tokens(text)]


def _tokens(text: str) -> list[tuple[Morpheme, int]]:
    """Kiwi's morphemes with the index of the sentence each is in."""
    return [
        (Morpheme(t.form, t.tag, t.start, t.len), t.sent_position) for t in kiwi().tokenize(text)
    ]


def sentences(text: str) -> list[str]:
    return [s.text for s in kiwi().split_into_sents(text)]


@functools.cache
def wihae_cues() -> dict[str, frozenset[str]]:
    """The context cues for a bare 위해 (nlp/data/ko_wihae_context.tsv), by cue name."""
    cues: dict[str, set[str]] = {}
    for line in (DATA / "ko_wihae_context.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            cue, form = line.split("\t")[:2]
            cues.setdefault(cue, set()).add(form.strip())
    return {cue: frozenset(forms) for cue, forms in cues.items()}


_NOUNISH = ("NN", "XR", "SL", "SH", "SN")
_PREDICATES = ("VV", "VA", "VX", "VCN")
_LINKS = frozenset({"SP", "SO", "SSO", "SSC", "JC"})  # list commas, dashes, brackets, 와/과
_DASHES = frozenset({"-", "∼", "~", "–", "—", "/", "↔", "·", "ㆍ"})
_MENTION = frozenset({"라는", "이라는", "란", "이란"})


class KiwiAnalyser:
    """Every 위해 read as the city, harm (危害) or "for" (위하다) from Kiwi's morphemes and the
    context cues in nlp/data (ko_harm_nouns.txt, ko_wihae_context.tsv); the other name forms
    (웨이하이, 위해시 …) are the city wherever Kiwi tags them NNP."""

    name = "kiwi"

    def readings(self, text: str) -> list[Reading]:
        cities = city_forms()
        doc = _analyse(text)
        toks = doc.toks
        out: list[Reading] = []
        for i, (m, _) in enumerate(toks):
            if m.tag == "NNP" and m.form in cities and m.form != AMBIGUOUS:
                harm = _swallowed_harm_noun(doc, m)
                if harm:  # 위해신고 read as 위해시+ㄴ+고
                    why = f"위해@{m.start}: before the noun {harm}, read as 危害 (harm)"
                    out.append(Reading(AMBIGUOUS, m.start, False, why))
                    continue
                out.append(
                    Reading(m.form, m.start, True, f"{m.form}@{m.start}: proper noun, the city")
                )
            elif m.form == AMBIGUOUS and m.tag.startswith("NN"):
                out.append(_WihaeContext(doc, i, i, m.start, "noun").read())
            elif m.form.startswith("위하") and m.tag.startswith("VV"):
                if text.startswith(AMBIGUOUS, m.start):  # 위하+어 → 위해
                    last = i + 1 if i + 1 < len(toks) and toks[i + 1][0].tag == "EC" else i
                    out.append(_WihaeContext(doc, i, last, m.start, "verb").read())
                else:  # 위한, 위하여 …
                    why = f"위해@{m.start}: verb 위하다 (for), not the city"
                    out.append(Reading(AMBIGUOUS, m.start, False, why))
            elif m.tag == "NNP" and m.form.startswith(AMBIGUOUS) and len(m.form) > 2:
                out.append(_compound(m))  # 위해중세한국국제학교, 위해조기협
            elif m.form in {"재위", "在위"} and text.startswith(AMBIGUOUS, m.start + 1):
                # 재위해한국인회: Kiwi reads 재위(在位)+하+어; 재(在) 위해 when people follow
                last = i + 2 if i + 2 < len(toks) and toks[i + 2][0].tag == "EC" else i + 1
                ctx = _WihaeContext(doc, i, last, m.start + 1, "glued")
                reading = ctx.diaspora()
                if reading is not None:
                    out.append(reading)
        return out


@dataclass(frozen=True)
class _Analysis:
    """A text's morphemes (with their sentence), where morphemes start and end, and per
    sentence the count of harm_context and city_context words: built once per text."""

    text: str
    toks: list[tuple[Morpheme, int]]
    starts: dict[int, Morpheme]
    ends: frozenset[int]
    votes: dict[int, tuple[int, int]]  # sentence → (harm words, city words)
    cities: frozenset[str]  # the name forms other than the bare 위해


def _analyse(text: str) -> _Analysis:
    toks = _tokens(text)
    cues = wihae_cues()
    harm_words = cues.get("harm_context", frozenset())
    city_words = cues.get("city_context", frozenset())
    cities = city_forms() - {AMBIGUOUS}
    votes: dict[int, tuple[int, int]] = {}
    for m, sent in toks:
        harm, city = votes.get(sent, (0, 0))
        harm += m.form in harm_words
        city += m.form in city_words or (m.tag == "NNP" and m.form in cities)
        votes[sent] = (harm, city)
    starts: dict[int, Morpheme] = {}
    for m, _ in toks:
        starts.setdefault(m.start, m)
    ends = frozenset(m.start + m.length for m, _ in toks)
    return _Analysis(text, toks, starts, ends, votes, cities)


@functools.cache
def _harm_nouns_longest_first() -> tuple[str, ...]:
    return tuple(sorted(harm_nouns(), key=len, reverse=True))


def _swallowed_harm_noun(doc: _Analysis, m: Morpheme) -> str:
    """A harm noun that starts inside a city form beginning with 위해 and runs past it: Kiwi's
    user word 위해시 can take the first syllable of 신고 (위해신고 → 위해시+ㄴ+고)."""
    if not m.form.startswith(AMBIGUOUS):
        return ""
    at, end = m.start + len(AMBIGUOUS), m.start + m.length
    for noun in _harm_nouns_longest_first():
        if doc.text.startswith(noun, at) and at + len(noun) > end and at + len(noun) in doc.ends:
            return noun
    return ""


def _compound(m: Morpheme) -> Reading:
    rest = m.form[len(AMBIGUOUS) :]
    harm = next((n for n in _harm_nouns_longest_first() if rest.startswith(n)), "")
    if harm:
        return Reading(AMBIGUOUS, m.start, False, f"위해@{m.start}: {m.form}, 危害 (harm)")
    return Reading(AMBIGUOUS, m.start, True, f"위해@{m.start}: in the name {m.form}, the city")


class _WihaeContext:
    """One occurrence of 위해 (tokens first..last) and the cues around it, tried in the order
    documented in nlp/data/ko_wihae_context.tsv."""

    def __init__(self, doc: _Analysis, first: int, last: int, start: int, kind: str) -> None:
        toks = doc.toks
        self.doc, self.text, self.toks, self.first, self.last = doc, doc.text, toks, first, last
        self.start, self.kind = start, kind
        self.cues = wihae_cues()
        self.head = toks[first][0]
        self.prev = toks[first - 1][0] if first > 0 and kind != "glued" else None
        self.after = toks[last + 1][0] if last + 1 < len(toks) else None

    def _reading(self, city: bool, why: str) -> Reading:
        return Reading(AMBIGUOUS, self.start, city, f"위해@{self.start}: {why}")

    def _tok(self, i: int) -> Morpheme | None:
        return self.toks[i][0] if 0 <= i < len(self.toks) else None

    def _after_noun(self) -> str | None:
        a = self.after
        return a.form if a is not None and a.tag.startswith(_NOUNISH) else None

    def diaspora(self) -> Reading | None:
        """재/在 + 위해 + people (재 위해 한국인, 재위해한국인회): the city."""
        i = self.start - 1
        while i >= 0 and self.text[i].isspace():
            i -= 1
        before = self.text[i] if i >= 0 else ""
        noun = self._after_noun()
        if before in self.cues.get("diaspora_before", ()) and noun in self.cues.get(
            "people_after", ()
        ):
            return self._reading(True, f"재(在) 위해 {noun}: the city's community")
        return None

    def read(self) -> Reading:
        if self.kind == "verb" and not self._has_complement():
            self.kind = "noun"  # (사진)위해 중세외국인학교: no complement, so not 위하다
        cues, prev = self.cues, self.prev
        if prev is not None and (prev.tag == "JKO" or (prev.tag == "ETN" and prev.form == "기")):
            return self._reading(False, f"after {prev.form}: verb 위하다 (for), not the city")
        if self.kind == "noun":
            harm = self._harm_noun()
            if harm:
                return self._reading(False, harm)
        diaspora = self.diaspora()
        if diaspora is not None:
            return diaspora
        place = self._place_before()
        if place:
            return self._reading(True, f"after the place {place}: the city")
        noun = self._after_noun()
        if noun in cues.get("people_after", ()):
            return self._reading(True, f"before {noun}: the city's people or institution")
        if self.kind == "verb":
            return self._reading(False, "verb 위하다 (for), not the city")
        if noun in cues.get("city_after", ()):
            return self._reading(True, f"before the place word {noun}: the city")
        coord = self._coordinated()
        if coord is not None:
            return coord
        construction = self._construction()
        if construction is not None:
            return construction
        if (
            prev is not None
            and prev.form in cues.get("harm_before", ())
            and (prev.start + prev.length <= self.start)
        ):
            return self._reading(False, f"after {prev.form}: 危害 (harm), not the city")
        return self._sentence_vote()

    def _has_complement(self) -> bool:
        """위하다 needs what it is for on its left (안전을 위해, 하기 위해, 안전 위해): at the
        start of a text or after punctuation (a closing bracket, a quote) 위해 is a noun."""
        prev = self._tok(self.first - 1)
        return prev is not None and not (
            prev.tag.startswith("S") and not prev.tag.startswith(("SL", "SH", "SN"))
        )

    def _harm_noun(self) -> str:
        """위해하다/위해한, or a harm noun after 위해 (glued or spaced) ending where a morpheme
        ends; the reason, or "" when neither."""
        after, end = self.after, self.start + len(AMBIGUOUS)
        if after is not None and after.start == end:
            if (after.form == "하" and after.tag in {"VV", "XSV", "XSA", "VA"}) or (
                after.form == "한" and after.tag == "MM"
            ):
                return "위해하다 (harmful): 危害 (harm), not the city"
            if after.form == "도" and after.tag.startswith("J"):  # 위해도 평가
                end = after.start + after.length
        at = end
        while at < len(self.text) and self.text[at] == " ":
            at += 1
        first = self.doc.starts.get(at)
        if first is None or not first.tag.startswith(_NOUNISH + ("XSN",)):
            return ""
        for noun in _harm_nouns_longest_first():
            if self.text.startswith(noun, at) and at + len(noun) in self.doc.ends:
                return f"before the noun {noun}: 危害 (harm), not the city"
        return ""

    def _place_before(self) -> str:
        i = self.first - 1
        while (tok := self._tok(i)) is not None and tok.form in _DASHES:
            i -= 1
        tok = self._tok(i)
        if self.kind == "glued" or tok is None:
            return ""
        if tok.form in self.cues.get("place_before", ()) or (
            tok.tag == "NNP" and tok.form in self.doc.cities
        ):
            return tok.form
        return ""

    def _coordinated(self) -> Reading | None:
        """A neighbour across a list comma, 와/과, a dash or brackets."""
        neighbours = []
        prev = self._tok(self.first - 1)
        if prev is not None and (prev.tag in _LINKS or prev.form in _DASHES):
            neighbours.append(self._tok(self.first - 2))
        after = self.after
        if after is not None and (after.tag in _LINKS or after.form in _DASHES):
            neighbours.append(self._tok(self.last + 2))
        for n in neighbours:
            if n is None or not n.tag.startswith(_NOUNISH):
                continue
            if self._is(n, "city_coord") or n.form in self.doc.cities:
                return self._reading(True, f"listed with {n.form}: the city")
            if self._is(n, "harm_coord"):
                return self._reading(False, f"listed with {n.form}: 危害 (harm), not the city")
        return None

    def _is(self, tok: Morpheme, cue: str) -> bool:
        forms = self.cues.get(cue, frozenset())
        if tok.tag == "SH":  # hanja: 威海, 危害食品
            return any(f in tok.form for f in forms)
        return tok.form in forms

    def _construction(self) -> Reading | None:
        """위해 + particle + predicate (위해를 가하다, 위해가 되다, 위해로부터), or a mention
        (위해라는 말) or a place (위해라는 도시) after 이라는/라는."""
        after = self.after
        if after is None or after.start != self.start + len(AMBIGUOUS):
            return None
        i = self.last + 2
        if after.tag == "VCP":  # 위해 + 이 + 라는
            link = self._tok(i)
            if link is not None and link.form in _MENTION:
                noun = self._tok(i + 1)
                if noun is not None and noun.form in self.cues.get("mention_noun", ()):
                    return self._reading(
                        False, f"위해{link.form} {noun.form}: the word, not the city"
                    )
                if noun is not None and noun.form in self.cues.get("city_after", ()):
                    return self._reading(True, f"위해{link.form} {noun.form}: the city")
            return None
        if not after.tag.startswith("J"):
            return None
        constructions = self.cues.get("harm_predicate", frozenset())
        if f"{after.form} *" in constructions:
            return self._reading(False, f"위해{after.form}: 危害 (harm), not the city")
        while (tok := self._tok(i)) is not None and tok.tag == "MAG":
            i += 1
        tok = self._tok(i)
        if tok is None:
            return None
        nxt = self._tok(i + 1)
        stem = tok.form if tok.tag.startswith(_PREDICATES) else ""
        if tok.tag == "NNG" and nxt is not None and nxt.tag in {"XSV", "XSA"}:
            stem = tok.form  # 발생+하, 우려+되
        if stem and f"{after.form} {stem}" in constructions:
            return self._reading(False, f"위해{after.form} {stem}-: 危害 (harm), not the city")
        return None

    def _sentence_vote(self) -> Reading:
        # 위해 itself is in neither list, so the sentence's counts need no correction for it
        harm, city = self.doc.votes[self.toks[self.first][1]]
        if harm != city:
            what = "the city" if city > harm else "危害 (harm), not the city"
            why = f"the sentence's words ({city} of a place, {harm} of harm): {what}"
            return self._reading(city > harm, why)
        if self.head.tag == "NNP":
            return self._reading(True, "proper noun, the city")
        return self._reading(False, "noun 危害 (harm), not the city")


@functools.cache
def analyser(name: AnalyserName = "kiwi") -> KoreanAnalyser:
    """The configured backend, built once per process (Okt starts a JVM on first use)."""
    if name == "okt":
        from nlp.korean_okt import OktAnalyser

        return OktAnalyser()
    if name != "kiwi":
        raise ValueError(f"unknown Korean analyser {name!r}; use 'kiwi' or 'okt'")
    return KiwiAnalyser()
