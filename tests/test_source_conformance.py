"""What every kind of source must do, checked once for all of them (kernel.sources.SOURCE_KINDS).

The registry: every kind's spider, parser and fixture engine resolve, and the config takes
exactly the registry's kinds. Each kind's parser refuses malformed answers. For search kinds,
through the fixture world's imitation of the engine: faults sit on the first hit only; the
spider's first requests cover the window in slices, newest first, with no credential in them;
walked through every page and split of a busy window it finds every planted article once, with
its title and date; a failed article keeps its summary under the URL the link led to; an
anti-bot page is asked again; and a real `meiyu crawl`, run twice, stores every planted article
of 2020–2023, counts the planted faults in its stats and stores nothing new the second time.

What is particular to a kind (its source table, faults, bodies, settings, own checks) is the
CASE of tests/test_source_<kind>.py.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawlers.items import ArticleItem
from crawlers.parsers import ParseError
from crawlers.spiders import OUTLET_KINDS, SPIDERS, spider_class
from crawlers.spiders.base import BLOCKED_RETRIES, ArticleSpider, SearchSpider, clean_url
from kernel.config import config_from_dict
from kernel.errors import ConfigError
from kernel.sources import SEARCH_KINDS, SOURCE_KINDS, describe_kinds, resolve
from meiyu.demo.fixturesite.corpus import World
from meiyu.demo.fixturesite.server import FixtureSite
from meiyu.demo.fixturesite.sources import responders
from tests.helpers_sources import (
    SourceCase,
    answer,
    ask,
    aware,
    case_of,
    crawl,
    make_spider,
    month,
    same_time,
    search_query,
    stat,
    walk,
)
from tests.helpers_sources import (
    resolve as follow_redirects,
)

ALL = list(SOURCE_KINDS)
CASES: dict[str, SourceCase] = {k: c for k in ALL if (c := case_of(k)) is not None}
SEARCH = list(SEARCH_KINDS)
# Search kinds whose engine has an anti-bot page
BLOCKING = [k for k in SEARCH if k in CASES and CASES[k].blocked is not None]
MALFORMED = [
    pytest.param(kind, body, id=f"{kind}-{i}")
    for kind, case in CASES.items()
    for i, body in enumerate(case.malformed)
]


def _case(kind: str) -> SourceCase:
    return CASES[kind]


def _spider(kind: str, monkeypatch: pytest.MonkeyPatch, **extra: object) -> Any:
    case = _case(kind)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    return make_spider(case.source, **extra)


def _parse(kind: str) -> Any:
    parser = SOURCE_KINDS[kind].parser
    assert parser is not None
    return resolve(parser).parse


# ------------------------------------------------------------------ the registry


@pytest.mark.parametrize("kind", ALL)
def test_every_kind_resolves(kind: str) -> None:
    row = SOURCE_KINDS[kind]
    cls = spider_class(kind)
    assert SPIDERS[kind] == row.spider and cls.name == kind
    assert issubclass(cls, ArticleSpider)
    assert issubclass(cls, SearchSpider) == row.search == (kind not in OUTLET_KINDS)
    assert row.default_language in ("zh", "ko") and set(row.languages) <= {"zh", "ko"}
    if row.parser is not None:
        assert callable(resolve(row.parser).parse)
    if row.search:
        assert cls.parser is resolve(row.parser or "").parse  # the registry names its parser
        assert row.hosts and row.base_url == f"https://{row.hosts[0]}"
        assert cls(source={"kind": kind}).base_url == row.base_url  # the default address
        assert row.fixture is not None
    else:
        assert row.hosts == () and row.base_url is None
    if row.fixture is not None:
        module = resolve(row.fixture)
        answering = responders()
        assert all(answering[h] is module.respond for h in getattr(module, "HOSTS", row.hosts))


def test_every_tested_kind_has_a_case_and_no_host_has_two_engines() -> None:
    # A kind with a parser of its own has a test file with its CASE (its conformance inputs).
    assert {k for k in ALL if SOURCE_KINDS[k].parser} == set(CASES)
    assert all(case.kind == kind for kind, case in CASES.items())
    hosts = [h for k in SOURCE_KINDS.values() for h in k.hosts]
    assert len(hosts) == len(set(hosts))


INDICATORS = {
    "a29": {"name": "x", "definition": "d", "language": "zh", "kind": "volume", "all_of": [["a"]]}
}


@pytest.mark.parametrize("kind", ALL)
def test_the_config_takes_every_kind(kind: str) -> None:
    table: dict[str, object] = {"name": "s", "kind": kind, "language": "zh", "outlet": "o"}
    if SOURCE_KINDS[kind].outlet:
        with pytest.raises(ConfigError, match=f"a {kind} source needs at least one URL"):
            config_from_dict({"indicators": INDICATORS, "sources": [table]})
        table["feeds"] = ["http://x.test/feed"]
    cfg = config_from_dict({"indicators": INDICATORS, "sources": [table]})
    assert cfg.sources[0].kind == kind


def test_the_config_names_the_kinds_when_one_is_unknown() -> None:
    table = {"name": "s", "kind": "weibo", "language": "zh", "outlet": "o"}
    with pytest.raises(ConfigError) as err:
        config_from_dict({"indicators": INDICATORS, "sources": [table]})
    assert str(err.value) == f"config: sources.0.kind: expected {describe_kinds()} (got 'weibo')"
    assert all(repr(kind) in str(err.value) for kind in ALL)


# ------------------------------------------------------------------ parsers


@pytest.mark.parametrize(("kind", "body"), MALFORMED)
def test_malformed_answers_are_parse_errors(kind: str, body: bytes) -> None:
    with pytest.raises(ParseError):
        _parse(kind)(body, _case(kind).search_url)


@pytest.mark.parametrize("kind", BLOCKING)
def test_the_anti_bot_page_is_blocked(kind: str) -> None:
    case = _case(kind)
    assert case.blocked is not None
    result = _parse(kind)(case.blocked, case.search_url)
    assert result.blocked and case.says in result.blocked and result.mentions == []


# ------------------------------------------------------------------ the fixture engines


@pytest.mark.parametrize("kind", SEARCH)
def test_faults_sit_on_the_first_hit_only(
    kind: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _case(kind)
    assert case.faults is not None
    faults = case.faults(_spider(kind, monkeypatch), world)
    assert faults and {f.fault for f in faults} >= {"429"}
    parse = _parse(kind)
    for f in faults:
        first = ask(world, f.url, hit=1, headers=f.headers)
        if f.fault == "429":
            assert first.status == 429 and first.headers == {"Retry-After": "0"}, f
        elif f.fault == "slow":
            assert first.delay > 2, f  # past the end-to-end crawl's 2 s timeout
        elif f.fault == "blocked":
            result = parse(first.body, f.url)
            assert result.blocked and f.says in result.blocked and not result.mentions, f
        else:
            location = first.headers["Location"]
            assert first.status == 302 and f.says in location, f
            assert parse(ask(world, location).body, location).blocked, f
        again = ask(world, f.url, hit=2, headers=f.headers)
        assert again.status == 200 and again.delay == 0, f  # gone on the second ask


# ------------------------------------------------------------------ spiders


@pytest.mark.parametrize("kind", SEARCH)
def test_first_requests_cover_the_window_without_credentials(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spider = _spider(kind, monkeypatch, slice_days=31)
    language = str(_case(kind).source["language"])
    query = search_query("威海" if language == "zh" else "웨이하이", language)
    requests = list(spider.search_requests(query))
    pieces = [r.cb_kwargs["query"] for r in requests if r.callback == spider.parse_search]
    assert len(pieces) == _case(kind).pieces
    assert pieces[0].until == query.until and pieces[-1].since == query.since
    # newest first, one after the other, none longer than slice_days (one piece: no slicing)
    assert all(a.since == b.until + dt.timedelta(days=1) for a, b in itertools.pairwise(pieces))
    assert len(pieces) == 1 or all(p.until - p.since < dt.timedelta(days=31) for p in pieces)
    engine = urlsplit(spider.base_url).hostname
    assert all(urlsplit(r.url).hostname == engine for r in requests)
    assert all(r.meta["source"] == spider.source["name"] for r in requests)
    # Credentials are added at download time only (never stored in the Request).
    sends_auth = type(spider).auth_headers is not SearchSpider.auth_headers
    assert all(
        r.meta["meiyu_auth"] == sends_auth for r in requests if r.callback == spider.parse_search
    )
    secret_headers = [name.encode() for name in spider.auth_headers()] + [b"Cookie"]
    assert not any(name in r.headers for r in requests for name in secret_headers)


@pytest.mark.parametrize("kind", SEARCH)
def test_the_spider_walks_the_engine_and_finds_every_planted_article(
    kind: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _case(kind)
    query = case.walk
    assert query is not None
    spider = _spider(kind, monkeypatch, **case.walk_source)
    done = walk(world, spider, spider.search_requests(query))
    planted = world.search(query.text, query.language, query.start, query.end)
    assert planted
    landed = [follow_redirects(world, r.url) for r in done.followed]
    assert sorted(landed) == sorted(a.url for a in planted)  # nothing lost, nothing twice
    # A hit met again (a halved slice asks its pages anew) is a mention of a link followed.
    assert {k.url for k in done.known} <= {clean_url(r.url) for r in done.followed}
    assert not done.items and not spider.failures
    assert (stat(spider, spider.split_stat) > 0) == case.walk_splits
    engine = urlsplit(spider.base_url).hostname
    assert all(urlsplit(r.url).hostname == engine for r in done.searched)
    secret_headers = [name.encode() for name in spider.auth_headers()]
    assert not any(
        name in r.headers for r in done.searched + done.followed for name in secret_headers
    )
    by_url = world.by_url()
    for request, url in zip(done.followed, landed, strict=True):
        entry, article = request.cb_kwargs["entry"], by_url[url]
        assert entry["title"] == article.title, url
        assert same_time(entry["published"], article.published, case.dates, query.timezone), (
            entry["published"],
            article.published,
        )
        if case.outlet is not None:
            assert entry["outlet"] == case.outlet(article), url
        assert (entry["indicator"], entry["query"]) == (query.indicator, query.text)


@pytest.mark.parametrize("kind", SEARCH)
def test_a_failed_article_keeps_its_summary_and_where_the_link_led(
    kind: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _case(kind)
    assert case.walk is not None
    spider = _spider(kind, monkeypatch)
    search = next(r for r in spider.search_requests(case.walk) if r.callback == spider.parse_search)
    mention = _parse(kind)(answer(world, search, spider).body, search.url).mentions[0]
    entry = spider.entry(mention, search.url, search.cb_kwargs["query"])
    landed = follow_redirects(world, entry["link"])
    # What Scrapy hands the errback after the redirect: the landing page's request, its 404.
    redirected = Request(landed, cb_kwargs={"entry": entry})
    response = HtmlResponse(landed, status=404, body=b"gone", request=redirected)
    failure = Failure(HttpError(response, "Ignoring non-200 response"))
    failure.request = redirected  # type: ignore[attr-defined]
    items: list[Any] = list(spider.article_failed(failure))
    assert len(items) == 1 and isinstance(items[0], ArticleItem)
    item = items[0]
    # the page the link led to (a publisher's, never the engine's hop), also as its link
    assert item.url == landed == clean_url(landed) and item.link == landed
    assert not any(host in item.url for host in SOURCE_KINDS[kind].hosts)
    assert item.text == mention.snippet and item.title == mention.title
    assert item.text_origin == "feed" and len(spider.warnings) == 1


@pytest.mark.parametrize("kind", BLOCKING)
def test_an_anti_bot_answer_is_asked_again_then_failed(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _case(kind)
    assert case.walk is not None and case.blocked is not None
    spider = _spider(kind, monkeypatch)
    search = next(r for r in spider.search_requests(case.walk) if r.callback == spider.parse_search)
    request = search
    for tries in range(1, BLOCKED_RETRIES + 1):
        response = HtmlResponse(request.url, body=case.blocked, request=request)
        out: list[Any] = list(spider.parse_search(response, **request.cb_kwargs))
        assert len(out) == 1 and isinstance(out[0], Request)
        request = out[0]
        assert request.url == search.url and request.dont_filter
        assert request.meta["meiyu_blocked_tries"] == tries
        assert request.priority < search.priority  # later, not at once
    response = HtmlResponse(request.url, body=case.blocked, request=request)
    assert list(spider.parse_search(response, **request.cb_kwargs)) == []
    assert stat(spider, "meiyu/antibot") == BLOCKED_RETRIES + 1
    assert stat(spider, "meiyu/antibot_failures") == 1 and len(spider.failures) == 1


# ------------------------------------------------------------------ end to end


@pytest.mark.parametrize("kind", SEARCH)
def test_a_crawl_stores_every_planted_article_once(
    kind: str, tmp_path: Any, site: FixtureSite, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _case(kind)
    spec = case.crawl
    assert spec is not None and case.faults is not None
    result = crawl(tmp_path, site, spec.sources, since=spec.since, until=spec.until, env=spec.env)
    assert result.first.returncode == 0, result.first.stdout + result.first.stderr
    by_url = world.by_url()
    stored = {r.url for r in result.mentions}
    for table in spec.sources:
        name = str(table["name"])
        planted = result.planted(world, name)
        want = {a.url for found in planted.values() for a in found}
        rows = [r for r in result.mentions if r.source == name]
        got = {r.url for r in rows}
        assert got == want, (name, sorted(want - got)[:5], sorted(got - want)[:5])
        assert all(r.url in {a.url for a in planted[r.query]} for r in rows)
        for q, found in planted.items():  # each query's mentions, query by query
            mentioned = {r.url for r in rows if r.query == q}
            assert mentioned == {a.url for a in found} or not spec.each_query, (name, q)
        pairs = result.config.queries_for(result.config.source(name))
        assert {(r.indicator, r.query) for r in rows} == {(i, q) for i, q in pairs if planted[q]}
        published = {r.url: r.published_at for r in rows}
        assert Counter(month(aware(p)) for p in published.values() if p) == Counter(
            month(by_url[u].published) for u in want
        )
        assert all(r.title == by_url[r.url].title for r in rows)
        if spec.dates is not None:
            tz = result.config.source(name).timezone
            assert all(
                same_time(str(aware(published[u])), by_url[u].published, spec.dates, tz)
                for u in want
            )
    # articles' own URLs only, never the engine's links
    hosts = SOURCE_KINDS[kind].hosts
    assert not [u for u in result.documents if any(host in u for host in hosts)]
    if not spec.probes:
        assert result.probes == []  # the engine states no totals
    assert result.runs and all(r.status == "ok" and not r.errors for r in result.runs)

    # Every kind of fault the engine plants was met, retried or asked again, and survived.
    faults = {f.fault for f in case.faults(_spider(kind, monkeypatch), world)}
    stats = result.stats
    if "429" in faults:
        assert stats["downloader/response_status_count/429"] >= 1
        assert result.stat("retry/reason_count/429") >= 1
    if "slow" in faults:
        timeouts = [
            v
            for k, v in stats.items()
            if k.startswith("downloader/exception_type_count/") and "TimeoutError" in k
        ]
        assert sum(timeouts) >= 1
    assert stats["retry/count"] >= len(faults & {"429", "slow"})
    if faults & {"blocked", "redirect"}:
        assert stats["meiyu/antibot"] >= 1 and stats["meiyu/antibot_failures"] == 0
    assert stats["meiyu/parse_errors"] == 0 and stats["meiyu/failures"] == 0
    for secret in spec.secrets:
        assert secret not in result.output()
        assert all(secret not in repr(r) for r in result.runs_after)

    # The same crawl again: nothing new, nothing lost.
    assert result.second is not None
    assert result.second.returncode == 0, result.second.stdout + result.second.stderr
    assert "0 new" in result.second.stdout
    assert {r.url for r in result.again} == stored
    if spec.check is not None:
        spec.check(result, world, site)
