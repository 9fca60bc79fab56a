"""The fixture world's search engines and APIs, one module per source kind.

Each module `meiyu/demo/fixturesite/sources/<kind>.py` defines
    HOSTS: list[str]                       the real hostnames it answers for
    def respond(world, request) -> Page | None
answering like the real service (same paths, parameters, response shape, paging, faults) from
`world.search(...)`. The server asks the module registered for the request's host first.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from meiyu.demo.fixturesite.corpus import Page, World

log = logging.getLogger(__name__)

SOURCE_MODULES = [
    "naver_api",
    "naver_news",
    "daum_news",
    "gdelt",
    "google_news",
    "baidu_news",
    "sogou_weixin",
    "sitemap",
]


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


Responder = Callable[[World, FixtureRequest], "Page | None"]


def responders() -> dict[str, Responder]:
    """host → respond function of every source module present."""
    table: dict[str, Responder] = {}
    for name in SOURCE_MODULES:
        try:
            module = importlib.import_module(f"meiyu.demo.fixturesite.sources.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"meiyu.demo.fixturesite.sources.{name}":
                raise
            continue
        for host in module.HOSTS:
            table[host] = module.respond
    return table
