"""Content fingerprints: identical story text under different URLs gets the same hash."""

from __future__ import annotations

import hashlib

from nlp.normalise import fingerprint_text


def content_hash(text: str, title: str = "") -> str:
    """Hash of the body's letters; lines that merely repeat the headline are left out,
    since reprints retitle a story ("（转载）", outlet suffixes) but keep its body."""
    head = fingerprint_text(title)
    lines = (fingerprint_text(line) for line in text.splitlines())
    body = "".join(line for line in lines if line and line != head)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()
