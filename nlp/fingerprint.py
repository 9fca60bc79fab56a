"""Content fingerprints: exact (hash) and near-duplicate (shingles) identity of a story's body.

Lines that merely repeat the headline are left out: reprints retitle a story ("（转载）",
outlet suffixes) but keep its body.
"""

from __future__ import annotations

import hashlib

from nlp.normalise import fingerprint_text


def body_letters(text: str, title: str = "") -> str:
    head = fingerprint_text(title)
    lines = (fingerprint_text(line) for line in text.splitlines())
    return "".join(line for line in lines if line and line != head)


def content_hash(text: str, title: str = "") -> str:
    return hashlib.sha256(body_letters(text, title).encode("utf-8")).hexdigest()


def shingles(text: str, title: str = "", k: int = 4) -> set[str]:
    """Character k-grams of the body's letters (CJK has no word boundaries to shingle on)."""
    letters = body_letters(text, title)
    if len(letters) <= k:
        return {letters} if letters else set()
    return {letters[i : i + k] for i in range(len(letters) - k + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0
