"""Text normal forms: one for storage (faithful), one for matching and fingerprints (folded)."""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"[^\S\n]+")
# Punctuation and symbols (any script) drop out of fingerprints: reprints often re-punctuate.
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def tidy(text: str) -> str:
    """NFC and collapsed spaces only: stored text keeps its full-width punctuation (，（）)."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def match_form(text: str) -> str:
    """NFKC (full-width → half-width) and case-folded, for comparing terms with text."""
    return unicodedata.normalize("NFKC", text).casefold()


def fingerprint_text(text: str) -> str:
    """The letters and digits only, folded: two copies of one story give one string."""
    return _NOT_WORD.sub("", match_form(text))
