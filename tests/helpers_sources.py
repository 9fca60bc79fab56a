"""What the source tests share (tests/test_source_*.py): the fixture world's engines asked
directly, spiders made on a test crawler (scrapy.utils.test.get_crawler) and walked through an
engine in process, and real `meiyu crawl` runs through the fixture site, read back from the
database.

Which kinds exist comes from kernel.sources. What a kind's fixture world holds (its source
table, planted faults, refused bodies, crawl settings and its own checks) is the `CASE` of its
test file, `tests/test_source_<kind>.py`; tests/test_source_conformance.py runs the checks
every kind shares over all of them.
"""

from __future__ import annotations

import datetime as dt
import importlib
import subprocess
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler
from sqlalchemy import create_engine, select

from crawlers.dates import parse_date
from crawlers.items import ArticleItem, KnownMention, VolumeProbeItem
from crawlers.query import Query
from crawlers.spiders import spider_class
from kernel.config import Config, load_config
from kernel.sources import SOURCE_KINDS, SourceKind
from meiyu.demo.fixturesite.corpus import Article, Page, World
from meiyu.demo.fixturesite.server import FixtureSite
from meiyu.demo.fixturesite.sources import FixtureRequest, responders
from storage.models import CrawlRun, Document, Mention, VolumeProbe
from tests.conftest import run_meiyu, write_config

SHANGHAI = ZoneInfo("Asia/Shanghai")
SEOUL = ZoneInfo("Asia/Seoul")
UTC = dt.UTC
ZONES = {"zh": "Asia/Shanghai", "ko": "Asia/Seoul"}
INDICATORS = {"zh": "a29", "ko": "a67"}  # an indicator of each language in meiyu.toml
WINDOW = (dt.date(2020, 1, 1), dt.date(2023, 12, 31))  # the fixture world's four years
# [crawl] of every end-to-end crawl: a 2 s timeout (the slow faults wait longer), retries.
CRAWL_SETTINGS: dict[str, object] = {
    "timeout_seconds": 2,
    "retry_times": 3,
    "concurrent_requests": 16,
}
Precision = Literal["exact", "minute", "day"]

_RESPONDERS = responders()


# ------------------------------------------------------------------ kinds and their cases


def search_kinds() -> list[SourceKind]:
    return [k for k in SOURCE_KINDS.values() if k.search]


def kind_of_host(host: str | None) -> SourceKind | None:
    """The search kind whose engine answers for `host` (None: an outlet's or unknown host)."""
    return next((k for k in SOURCE_KINDS.values() if host in k.hosts), None)


def case_of(kind: str) -> SourceCase | None:
    """The CASE of tests/test_source_<kind>.py; None when the kind has no test file."""
    try:
        module = importlib.import_module(f"tests.test_source_{kind}")
    except ModuleNotFoundError as exc:
        if exc.name != f"tests.test_source_{kind}":
            raise
        return None
    return getattr(module, "CASE", None)


@dataclass(frozen=True)
class Fault:
    """A fault the fixture engine plants on the first hit of `url` only.

    429: Too Many Requests with Retry-After: 0; slow: an answer later than the crawl's 2 s
    timeout; blocked: an anti-bot page served in place (its reason contains `says`);
    redirect: a 302 to an anti-bot page (its Location contains `says`)."""

    fault: Literal["429", "slow", "blocked", "redirect"]
    url: str
    says: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # sent with it (credentials)


@dataclass(frozen=True)
class CrawlCase:
    """One real `meiyu crawl` (run twice) of the kind's fixture engine, 2020–2023."""

    sources: list[dict[str, object]]
    env: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()  # never in the output or a crawl_runs row
    probes: bool = False  # the engine states totals: volume probes are stored
    dates: Precision | None = "exact"  # how the stored time matches the article's
    # Every query's own hits are stored as its mentions (False: only some of an article two
    # queries find; see the case).
    each_query: bool = True
    # The kind's own checks of the crawl, after the shared ones.
    check: Callable[[CrawlResult, World, FixtureSite], None] | None = None
    since: dt.date = WINDOW[0]
    until: dt.date = WINDOW[1]


@dataclass(frozen=True)
class SourceCase:
    """A kind's fixture world, as the conformance suite exercises it."""

    kind: str
    search_url: str  # a result page's URL, for what the parser is given alone
    malformed: tuple[bytes, ...]  # bodies the parser refuses (ParseError)
    # Search kinds only:
    source: dict[str, object] = field(default_factory=dict)  # the [[sources]] table
    env: dict[str, str] = field(default_factory=dict)  # credentials the engine wants
    faults: Callable[[Any, World], list[Fault]] | None = None  # (spider, world) → planted
    blocked: bytes | None = None  # an anti-bot page of the engine
    says: str = ""  # what its blocked reason contains
    # A window of the world the spider is walked through (every page, split and hit), with
    # source settings that make it page and halve; whether it must halve; how precisely the
    # result pages show a hit's time; what they give as its outlet.
    walk: Query | None = None
    walk_source: dict[str, object] = field(default_factory=dict)
    walk_splits: bool = False
    dates: Precision = "exact"
    outlet: Callable[[Article], str | None] | None = None
    pieces: int = 48  # search pieces of the four years at slice_days = 31
    crawl: CrawlCase | None = None


# ------------------------------------------------------------------ the fixture engines


def capture(path: Path) -> bytes:
    """A real capture from ../shared; the test is skipped where the captures are absent."""
    if not path.exists():
        pytest.skip(f"real capture {path} not present")
    return path.read_bytes()


def ask(world: World, url: str, hit: int = 2, headers: dict[str, str] | None = None) -> Page:
    """The fixture engine's answer to `url` (hit 2 by default: past the first-hit faults)."""
    url = url.replace(" ", "%20")
    host = urlsplit(url).hostname or ""
    request = FixtureRequest.from_url(url, hit=hit, headers=headers)
    page = _RESPONDERS[host](world, request)
    assert page is not None, f"no fixture answer for {url}"
    return page


def resolve(world: World, url: str) -> str:
    """Where a result link leads: the engine's redirects followed, as the crawler would."""
    for _ in range(5):
        if kind_of_host(urlsplit(url).hostname) is None:
            return url
        page = ask(world, url)
        if page.status not in (301, 302, 303, 307, 308):
            return url
        url = urljoin(url, page.headers["Location"])
    raise AssertionError(f"redirect loop at {url}")


def search_query(
    text: str,
    language: str,
    since: dt.date = WINDOW[0],
    until: dt.date = WINDOW[1],
    timezone: str | None = None,
    indicator: str | None = None,
) -> Query:
    return Query(
        indicator or INDICATORS[language],
        text,
        language,
        since,
        until,
        timezone or ZONES[language],
    )


def same_time(shown: str | None, actual: dt.datetime, precision: Precision, tz: str) -> bool:
    """Whether a hit's shown time is the article's, as precisely as the engine shows it."""
    when = parse_date(shown, tz)
    if when is None:
        return False
    if precision == "day":
        zone = ZoneInfo(tz)
        return when.astimezone(zone).date() == actual.astimezone(zone).date()
    if precision == "minute":
        return when == actual.replace(second=0, microsecond=0)
    return when == actual


# ------------------------------------------------------------------ spiders in process


def make_spider(source: dict[str, object], **extra: object) -> Any:
    """The source's spider on a test crawler (get_crawler): real stats, real settings."""
    table = {**source, **extra}
    cls = spider_class(str(table["kind"]))
    return cls.from_crawler(get_crawler(cls), source=table, queries=[])


def stat(spider: Any, key: str) -> Any:
    return spider.crawler.stats.get_value(key, 0)


def answer(world: World, request: Request, spider: Any, hit: int = 2) -> HtmlResponse:
    """The response the crawler would get for `request` from the fixture engine (credentials
    added as AuthHeadersMiddleware adds them at download time)."""
    headers = {k.decode().lower(): v[0].decode() for k, v in request.headers.items()}
    if request.meta.get("meiyu_auth"):
        headers.update({k.lower(): v for k, v in spider.auth_headers().items()})
    page = ask(world, request.url, hit=hit, headers=headers)
    return HtmlResponse(
        request.url,
        status=page.status,
        headers={"Content-Type": page.content_type, **page.headers},
        body=page.body,
        request=request,
    )


@dataclass
class Walk:
    """What a spider did over a window of the fixture world."""

    searched: list[Request] = field(default_factory=list)  # engine requests, in order asked
    followed: list[Request] = field(default_factory=list)  # article requests
    known: list[KnownMention] = field(default_factory=list)
    items: list[ArticleItem] = field(default_factory=list)
    probes: list[VolumeProbeItem] = field(default_factory=list)


def walk(world: World, spider: Any, requests: Iterable[Request], limit: int = 5000) -> Walk:
    """Every request `requests` lead to, answered by the fixture engine (past its first-hit
    faults), breadth first: next pages and halves as the spider asks them."""
    done = Walk()
    pending = deque(requests)
    while pending:
        request = pending.popleft()
        done.searched.append(request)
        assert len(done.searched) <= limit, "the spider does not stop"
        assert request.callback is not None
        response = answer(world, request, spider)
        assert response.status == 200, request.url
        for out in request.callback(response, **request.cb_kwargs):
            if isinstance(out, Request) and out.callback == spider.parse_article:
                done.followed.append(out)
            elif isinstance(out, Request):
                pending.append(out)
            elif isinstance(out, KnownMention):
                done.known.append(out)
            elif isinstance(out, ArticleItem):
                done.items.append(out)
            elif isinstance(out, VolumeProbeItem):
                done.probes.append(out)
            else:
                raise AssertionError(f"unexpected output {out!r}")
    return done


# ------------------------------------------------------------------ real crawls


@dataclass(frozen=True)
class Row:
    source: str
    indicator: str
    query: str
    snippet: str
    url: str
    published_at: dt.datetime | None
    title: str
    outlet: str | None


@dataclass
class CrawlResult:
    config: Config
    since: dt.date
    until: dt.date
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str] | None
    mentions: list[Row]  # after the first crawl
    documents: list[str]  # every stored URL, after the first crawl
    probes: list[Any]  # volume_probes rows
    runs: list[Any]  # crawl_runs rows of the first crawl
    again: list[Row]  # mentions after the second crawl
    runs_after: list[Any]  # every crawl_runs row after the second crawl

    @property
    def stats(self) -> Counter[str]:
        """The first crawl's Scrapy stats, counts summed over its runs."""
        total: Counter[str] = Counter()
        for run in self.runs:
            for key, value in run.stats.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    total[key] += value
        return total

    def stat(self, part: str) -> int:
        """The sum of every stat whose key contains `part`."""
        return int(sum(v for k, v in self.stats.items() if part in k))

    def output(self) -> str:
        procs = [p for p in (self.first, self.second) if p is not None]
        return "".join(p.stdout + p.stderr for p in procs)

    def window(self, name: str) -> Query:
        source = self.config.source(name)
        return Query("", "", source.language, self.since, self.until, source.timezone)

    def planted(self, world: World, name: str) -> dict[str, list[Article]]:
        """Query text → the world's hits in the crawl's window, for each query of `name`."""
        source = self.config.source(name)
        window = self.window(name)
        return {
            q: world.search(q, source.language, window.start, window.end)
            for _, q in self.config.queries_for(source)
        }


def _read(db_url: str) -> tuple[list[Row], list[str], list[Any], list[Any]]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        mentions = [
            Row(*r)
            for r in conn.execute(
                select(
                    Mention.source,
                    Mention.indicator,
                    Mention.query,
                    Mention.snippet,
                    Document.url,
                    Document.published_at,
                    Document.title,
                    Document.outlet,
                ).join(Document, Mention.document_id == Document.id)
            )
        ]
        documents = list(conn.execute(select(Document.url)).scalars())
        probes = list(conn.execute(select(VolumeProbe)).all())
        runs = list(conn.execute(select(CrawlRun).order_by(CrawlRun.id)).all())
    engine.dispose()
    return mentions, documents, probes, runs


def crawl(
    tmp_path: Path,
    site: FixtureSite,
    sources: list[dict[str, object]],
    *,
    since: dt.date = WINDOW[0],
    until: dt.date = WINDOW[1],
    env: dict[str, str] | None = None,
    settings: dict[str, object] | None = None,
    args: Iterable[str] = (),
    twice: bool = True,
) -> CrawlResult:
    """`meiyu crawl` of `sources` through the fixture site into a fresh SQLite file, and (by
    default) the same crawl again; what each left in the database."""
    db_url = f"sqlite:///{tmp_path / 'meiyu.db'}"
    cfg = write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        search=sources,
        crawl=CRAWL_SETTINGS if settings is None else settings,
    )
    command = ["--config", str(cfg), "crawl"]
    for table in sources:
        command += ["--source", str(table["name"])]
    command += [*args, "--since", since.isoformat(), "--until", until.isoformat()]
    first = run_meiyu(*command, env=env)
    mentions, documents, probes, runs = _read(db_url)
    second = run_meiyu(*command, env=env) if twice else None
    again, _, _, runs_after = _read(db_url) if twice else (mentions, documents, probes, runs)
    return CrawlResult(
        config=load_config(cfg, env={}),
        since=since,
        until=until,
        first=first,
        second=second,
        mentions=mentions,
        documents=documents,
        probes=probes,
        runs=runs,
        again=again,
        runs_after=runs_after,
    )


def month(moment: dt.datetime) -> str:
    """The report month (Asia/Shanghai) of an aware moment."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m")


def aware(value: object) -> dt.datetime:
    """A stored time as an aware datetime (SQLite hands back naive UTC or ISO text)."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
