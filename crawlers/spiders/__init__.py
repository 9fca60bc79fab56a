"""Spiders, one per kind of source. The kinds and their spiders are listed once, in
kernel.sources; `spider_class` imports a kind's class lazily (so one broken or heavy source
module cannot stop the others)."""

from __future__ import annotations

from typing import Any

from kernel.sources import OUTLET_KINDS, SOURCE_KINDS, resolve

# OUTLET_KINDS: kinds that read a list of outlet URLs (feeds/sitemaps) rather than queries.
__all__ = ["OUTLET_KINDS", "SPIDERS", "spider_class"]

# kind → "module:Class" of its spider (kernel.sources.SOURCE_KINDS says the same).
SPIDERS: dict[str, str] = {name: kind.spider for name, kind in SOURCE_KINDS.items()}


def spider_class(kind: str) -> Any:
    return resolve(SOURCE_KINDS[kind].spider)
