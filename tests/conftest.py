"""Shared fixtures: real SQLite files, a real PostgreSQL database per session, the fixture site."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from meiyu.demo.fixturesite.corpus import World, build_world
from meiyu.demo.fixturesite.server import FixtureSite


def _share_the_cores() -> None:
    """Under pytest-xdist, each worker and the `meiyu` processes it starts use their share of
    the cores (OMP_NUM_THREADS, honoured by torch and by `[nlp] threads = 0`): two workers of
    two torch threads each on 2 cores made the model-bound tests about 5× slower. Set here, at
    import, before any test imports torch; an OMP_NUM_THREADS already set is kept."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
        if "torch" in sys.modules:  # a plugin imported it first: tell it as well
            sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


_share_the_cores()

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PG_ENV = "MEIYU_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh database on the real server for this test session, dropped afterwards.

    Skipped only when MEIYU_TEST_POSTGRES_URL is unset; CI (.ci/run) always sets it.
    """
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} not set")
    name = f"meiyu_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """The session database, emptied before each test (schema dropped, so migrations rerun)."""
    engine = create_engine(postgres_server_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield postgres_server_url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meiyu.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def world() -> World:
    return build_world()


@pytest.fixture
def site(world: World) -> Iterator[FixtureSite]:
    """A fresh server per test: its hit counts (and first-hit faults) start from zero."""
    with FixtureSite(world) as running:
        yield running


def run_meiyu(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: int = 300,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """The real command in a real process (Scrapy's reactor runs once per process)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MEIYU_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "meiyu.cli", *args],
        cwd=cwd or REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
    )


def write_config(
    path: Path,
    *,
    db_url: str,
    proxy: str | None,
    feeds: dict[str, list[str]] | None = None,
    search: list[dict[str, object]] | None = None,
    crawl: dict[str, object] | None = None,
    extra: str = "",
) -> Path:
    """A config like the shipped one (same indicators), with the given sources.

    feeds: outlet name → feed URLs (rss sources for the fixture world's outlets);
    search: source tables for search kinds, e.g. {"name": "naver-api", "kind": "naver_api",
            "language": "ko", "outlet": "Naver", "base_url": "http://openapi.naver.com"};
    crawl: extra [crawl] keys (timeout_seconds, retry_times, jobs_dir, …).
    """
    from meiyu.demo.fixturesite.corpus import OUTLETS

    def toml_value(v: object) -> str:
        return json.dumps(v, ensure_ascii=False)

    shipped = (REPO / "meiyu.toml").read_text(encoding="utf-8")
    indicators = shipped[shipped.index("[indicators.a29]") :]
    crawl_keys = {
        "download_delay": 0.0,
        "concurrent_requests": 16,
        "per_domain_concurrency": 8,
        "retry_backoff_seconds": 0.1,
        **(crawl or {}),
    }
    if proxy:
        crawl_keys["proxy"] = proxy
    lines = [f"[database]\nurl = {toml_value(db_url)}\n", "[crawl]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in crawl_keys.items()]
    outlets = {o.source: o for o in OUTLETS}
    tables: list[dict[str, object]] = []
    for name, urls in (feeds or {}).items():
        o = outlets.get(name)
        lang, tz, outlet = (o.language, o.timezone, o.name) if o else ("zh", "Asia/Shanghai", name)
        tables.append(
            {
                "name": name,
                "kind": "rss",
                "language": lang,
                "outlet": outlet,
                "timezone": tz,
                "feeds": urls,
            }
        )
    tables += search or []
    for table in tables:
        lines.append("\n[[sources]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n\n" + extra + "\n" + indicators, encoding="utf-8")
    return path


class HTMLTags(HTMLParser):
    """Start tags and text of a page, as a browser would build them (escaping tests)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(html: str) -> HTMLTags:
    page = HTMLTags()
    page.feed(html)
    return page


# `make check`, the edit loop's fast tier (MEIYU_FAST_TIER=1): tests that start `meiyu`
# processes, crawl the fixture site, build the wheel or need PostgreSQL are left out (they
# run in `make test`). Read from each test's own source and fixtures, so a new slow test is
# left out without anyone remembering to mark it; what that reading misses (helpers that start
# processes, PDF rendering, long model runs) carries the `slow` marker.
_SLOW_CALLS = ("run_meiyu(", "subprocess.", "Popen(", "FixtureSite(", "run_crawl(", "crawl_site(")
_SLOW_FIXTURES = {"site", "postgres_url", "postgres_server_url"}


def _is_slow(item: pytest.Item) -> bool:
    import inspect

    if item.get_closest_marker("slow") or item.get_closest_marker("wheel"):
        return True
    if _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "postgresql" in callspec.id:
        return True
    try:
        source = inspect.getsource(item.function)  # type: ignore[attr-defined]
    except (AttributeError, OSError, TypeError):
        return False
    return any(call in source for call in _SLOW_CALLS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("MEIYU_FAST_TIER") != "1":
        return
    slow = [item for item in items if _is_slow(item)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not _is_slow(item)]
