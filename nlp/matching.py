"""Literal term matching: the plan's own definition ("威海"+"海鲜"), applied exactly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nlp.normalise import match_form


@dataclass(frozen=True)
class TermMatch:
    matched: bool
    terms: list[str]  # every configured term found, in config order


def match_all_of(text: str, all_of: Sequence[Sequence[str]]) -> TermMatch:
    """True when every group has at least one term present as a substring.

    Substrings, not tokens: the plan counts items "containing" the terms, and Chinese
    has no spaces to tokenise on. Latin terms compare case-insensitively.
    """
    haystack = match_form(text)
    found: list[str] = []
    every_group = True
    for group in all_of:
        hits = [t for t in group if match_form(t) in haystack]
        found.extend(hits)
        every_group = every_group and bool(hits)
    return TermMatch(matched=every_group, terms=found)
