"""The fixture world's search engines and APIs, one module per source kind.

Each kind of kernel.sources with a `fixture` names its module here,
`meiyu/demo/fixturesite/sources/<kind>.py`, which defines
    def respond(world, request) -> Page | None
answering like the real service (same paths, parameters, response shape, paging, faults) from
`world.search(...)`, for the kind's real hostnames (`SourceKind.hosts`) or, where the kind
has none of its own (outlet sitemaps), for the module's `HOSTS: list[str]`. The server asks
the module registered for the request's host first.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from kernel.sources import SOURCE_KINDS
from meiyu.demo.fixturesite.corpus import Page, World

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FixtureRequest:
    url: str  # the full URL as requested, e.g. http://openapi.naver.com/v1/search/news.json?...
    host: str
    path: str  # without the query string
    params: dict[str, list[str]]  # parsed query string (parse_qs, blank values kept)
    headers: dict[str, str]
    hit: int  # how many times this exact URL has been requested, this one included (1, 2, …)

    @classmethod
    def from_url(
        cls, url: str, hit: int = 1, headers: dict[str, str] | None = None
    ) -> FixtureRequest:
        """The request as the server sees it: absolute URL split, query string parsed."""
        parts = urlsplit(url)
        return cls(
            url=url,
            host=parts.hostname or "",
            path=parts.path,
            params=parse_qs(parts.query, keep_blank_values=True),
            headers=headers or {},
            hit=hit,
        )


def fault_covers(
    query: str, start: dt.datetime | None, end: dt.datetime | None, fault: tuple[str, dt.datetime]
) -> bool:
    """Whether a search for `query` over [start, end) reaches a planted fault (query, instant):
    a fault fires only on the slice of the time range that holds it (open ends hold all)."""
    return (
        query == fault[0]
        and (start is None or start <= fault[1])
        and (end is None or fault[1] < end)
    )


Responder = Callable[[World, FixtureRequest], "Page | None"]


def responders() -> dict[str, Responder]:
    """host → respond function of every source kind's fixture module present."""
    table: dict[str, Responder] = {}
    for kind in SOURCE_KINDS.values():
        if kind.fixture is None:
            continue
        try:
            module = importlib.import_module(kind.fixture)
        except ModuleNotFoundError as exc:
            if exc.name != kind.fixture:
                raise
            continue
        for host in getattr(module, "HOSTS", None) or kind.hosts:
            table[host] = module.respond
    return table
