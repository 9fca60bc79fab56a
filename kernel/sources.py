"""The kinds of source meiyu reads: the one table every layer asks.

A `[[sources]]` table's `kind` (kernel.config) must be one of `SOURCE_KINDS`. The crawler
finds each kind's spider and parser here (crawlers.spiders.spider_class), the fixture world
its imitation of the engine (meiyu.demo.fixturesite.sources), the tests what to check for
every kind (tests/test_source_conformance.py).

The kernel imports no other layer, so spiders, parsers and fixture engines are named as dotted
strings ("package.module" or "package.module:Attribute") and resolved by whoever uses them,
with `resolve` below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["outlet", "search"]


@dataclass(frozen=True)
class SourceKind:
    """One kind of source: how it is read, by which spider and parser, and where it is served."""

    name: str  # the config's `kind`
    # "outlet": reads the feed or sitemap URLs listed in the source (`feeds`, required);
    # "search": runs the indicators' queries against an engine over a window.
    role: Role
    spider: str  # "crawlers.spiders.<module>:<Class>"
    # The module whose `parse(body, url)` reads the kind's pages (None: read elsewhere, e.g.
    # RSS/Atom by crawlers.spiders.feeds.read_feed).
    parser: str | None
    # The fixture world's imitation of the endpoint (meiyu/demo/fixturesite/sources/<kind>.py),
    # None where the world's static pages are enough (outlet feeds).
    fixture: str | None
    # Languages the engine serves, the default first; outlet kinds take any.
    languages: tuple[str, ...] = ("zh", "ko")
    # Search kinds: the real hostnames its requests go to, the search endpoint's first (the
    # source's default base_url), then hosts its result links redirect through.
    hosts: tuple[str, ...] = ()
    # Outlet kinds whose listing dates every entry (sitemaps' <lastmod>): the spider takes the
    # crawl window (since, until) and skips what lies outside it. Feeds are read whole.
    windowed: bool = False

    @property
    def outlet(self) -> bool:
        return self.role == "outlet"

    @property
    def search(self) -> bool:
        return self.role == "search"

    @property
    def default_language(self) -> str:
        return self.languages[0]

    @property
    def base_url(self) -> str | None:
        """The real engine's address (search kinds), what `base_url` defaults to."""
        return f"https://{self.hosts[0]}" if self.hosts else None


_SPIDERS = "crawlers.spiders"
_PARSERS = "crawlers.parsers"
_FIXTURES = "meiyu.demo.fixturesite.sources"

SOURCE_KINDS: dict[str, SourceKind] = {
    kind.name: kind
    for kind in (
        SourceKind(
            "rss",
            "outlet",
            spider=f"{_SPIDERS}.feeds:FeedSpider",
            parser=None,
            fixture=None,
        ),
        SourceKind(
            "sitemap",
            "outlet",
            spider=f"{_SPIDERS}.sitemap:SitemapSpider",
            parser=f"{_PARSERS}.sitemap",
            fixture=f"{_FIXTURES}.sitemap",
            windowed=True,
        ),
        SourceKind(
            "naver_api",
            "search",
            spider=f"{_SPIDERS}.naver_api:NaverApiSpider",
            parser=f"{_PARSERS}.naver_api",
            fixture=f"{_FIXTURES}.naver_api",
            languages=("ko",),
            hosts=("openapi.naver.com",),
        ),
        SourceKind(
            "naver_news",
            "search",
            spider=f"{_SPIDERS}.naver_news:NaverNewsSpider",
            parser=f"{_PARSERS}.naver_news",
            fixture=f"{_FIXTURES}.naver_news",
            languages=("ko",),
            hosts=("search.naver.com",),
        ),
        SourceKind(
            "daum_news",
            "search",
            spider=f"{_SPIDERS}.daum_news:DaumNewsSpider",
            parser=f"{_PARSERS}.daum_news",
            fixture=f"{_FIXTURES}.daum_news",
            languages=("ko",),
            hosts=("search.daum.net", "v.daum.net"),
        ),
        SourceKind(
            "gdelt",
            "search",
            spider=f"{_SPIDERS}.gdelt:GdeltSpider",
            parser=f"{_PARSERS}.gdelt",
            fixture=f"{_FIXTURES}.gdelt",
            languages=("ko", "zh"),
            hosts=("api.gdeltproject.org",),
        ),
        SourceKind(
            "google_news",
            "search",
            spider=f"{_SPIDERS}.google_news:GoogleNewsSpider",
            parser=f"{_PARSERS}.google_news",
            fixture=f"{_FIXTURES}.google_news",
            languages=("ko", "zh"),
            hosts=("news.google.com",),
        ),
        SourceKind(
            "baidu_news",
            "search",
            spider=f"{_SPIDERS}.baidu_news:BaiduNewsSpider",
            parser=f"{_PARSERS}.baidu_news",
            fixture=f"{_FIXTURES}.baidu_news",
            languages=("zh",),
            hosts=("www.baidu.com",),
        ),
        SourceKind(
            "sogou_weixin",
            "search",
            spider=f"{_SPIDERS}.sogou_weixin:SogouWeixinSpider",
            parser=f"{_PARSERS}.sogou_weixin",
            fixture=f"{_FIXTURES}.sogou_weixin",
            languages=("zh",),
            hosts=("weixin.sogou.com",),
        ),
    )
}

OUTLET_KINDS: frozenset[str] = frozenset(k.name for k in SOURCE_KINDS.values() if k.outlet)
SEARCH_KINDS: tuple[str, ...] = tuple(k.name for k in SOURCE_KINDS.values() if k.search)


def source_kind(name: str) -> SourceKind:
    """The kind called `name`; ValueError naming the valid kinds otherwise."""
    try:
        return SOURCE_KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(describe_kinds()) from None


def describe_kinds() -> str:
    """The valid kinds, quoted, as a config error lists them: "'rss', 'sitemap' … or 'x'"."""
    names = [repr(name) for name in SOURCE_KINDS]
    return f"{', '.join(names[:-1])} or {names[-1]}"


def resolve(dotted: str) -> Any:
    """The module "a.b", or the attribute "a.b:C" of it, imported."""
    module, _, attribute = dotted.partition(":")
    imported = importlib.import_module(module)
    return getattr(imported, attribute) if attribute else imported
