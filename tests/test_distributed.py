"""Distributed crawling: `meiyu crawl --worker` processes share each source's frontier in a
real Redis and store into a real PostgreSQL; the fixture site counts every fetch."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import pytest
import redis
from sqlalchemy import create_engine, text

from crawlers.distributed import Backoff, Frontier, RedisUnavailable
from meiyu.demo.fixturesite.corpus import OUTLETS, World
from meiyu.demo.fixturesite.server import FixtureSite
from tests.conftest import REPO, run_meiyu, write_config
from tests.helpers_cli import meiyu_in_process

# Processes, signals and servers: the full suite, not `make check`.
pytestmark = pytest.mark.slow

REDIS_ENV = "MEIYU_TEST_REDIS_URL"
KOREAN = ("hanbando", "seohae")  # 530 articles in two sources: two shared crawls at once
OUTLET_NAMES = tuple(o.source for o in OUTLETS)


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} not set")
    return url


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; whatever is left under it is deleted afterwards."""
    name = f"meiyu-test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def _config(
    tmp_path: Path,
    db_url: str,
    site: FixtureSite,
    world: World,
    redis_url: str,
    prefix: str,
    outlets: tuple[str, ...] = KOREAN,
    **redis_keys: object,
) -> Path:
    keys = {"url": redis_url, "key_prefix": prefix, **redis_keys}
    table = "[redis]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items())
    return write_config(
        tmp_path / "meiyu.toml",
        db_url=db_url,
        proxy=site.proxy_url,
        feeds={name: world.feeds()[name] for name in outlets},
        # 4 at a time per worker, so that both workers take part in the crawl
        crawl={"backend": "redis", "concurrent_requests": 4, "per_domain_concurrency": 4},
        extra=table,
    )


class Worker:
    """A real `meiyu crawl --worker` process, its output in files (no pipe to fill up)."""

    def __init__(self, cfg: Path, tmp_path: Path, name: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEIYU_")}
        self.out_path, self.err_path = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        self._out: IO[str] = self.out_path.open("w")
        self._err: IO[str] = self.err_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "meiyu.cli", "--config", str(cfg), "crawl", "--worker"],
            cwd=REPO,
            env=env,
            stdout=self._out,
            stderr=self._err,
        )

    def wait(self, timeout: float = 300) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._out.close()
            self._err.close()

    @property
    def pages(self) -> int:
        match = re.search(r"(\d+) pages", self.out_path.read_text())
        return int(match.group(1)) if match else 0

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.wait(timeout=30)


def _planted(world: World, outlets: tuple[str, ...] = KOREAN) -> set[str]:
    return {a.url for a in world.articles if a.outlet.source in outlets}


def _feed_pages(world: World, outlets: tuple[str, ...] = KOREAN) -> set[str]:
    hosts = {o.host for o in OUTLETS if o.source in outlets}
    return {f"http://{h}{p}" for h, p in world.pages if h in hosts and p.startswith("/rss.xml")}


def _page(url: str, world: World) -> str:
    """An article's URL without the feed's tracking parameters; a feed page's as it is."""
    return url if url in _feed_pages(world, OUTLET_NAMES) else url.split("?")[0]


def _fetches(site: FixtureSite, world: World, outlets: tuple[str, ...] = KOREAN) -> Counter[str]:
    """Fetches per article and per feed page; robots.txt, asked by each worker for itself,
    is not a page of the crawl."""
    pages = _planted(world, outlets) | _feed_pages(world, outlets)
    counts: Counter[str] = Counter()
    for url, n in site.hits.items():
        if _page(url, world) in pages:
            counts[_page(url, world)] += n
    return counts


def _stored(db_url: str) -> tuple[Counter[str], int, int]:
    """Rows per URL, documents without a mention, and mentions per document at most."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        try:
            urls = Counter(r[0] for r in conn.execute(text("SELECT url FROM documents")))
            orphans = conn.execute(
                text(
                    "SELECT count(*) FROM documents d WHERE NOT EXISTS "
                    "(SELECT 1 FROM mentions m WHERE m.document_id = d.id)"
                )
            ).scalar_one()
            most = conn.execute(
                text(
                    "SELECT coalesce(max(n), 0) FROM "
                    "(SELECT count(*) AS n FROM mentions GROUP BY document_id) t"
                )
            ).scalar_one()
        except Exception:  # schema not created yet
            return Counter(), 0, 0
    engine.dispose()
    return urls, orphans, most


def _keys(redis_url: str, pattern: str) -> list[bytes]:
    client = redis.Redis.from_url(redis_url)
    try:
        return sorted(client.scan_iter(pattern))
    finally:
        client.close()


def test_two_workers_share_the_crawl_and_fetch_each_page_once(
    tmp_path: Path,
    postgres_url: str,
    site: FixtureSite,
    world: World,
    redis_url: str,
    prefix: str,
) -> None:
    cfg = _config(tmp_path, postgres_url, site, world, redis_url, prefix)
    assert run_meiyu("--config", str(cfg), "db", "upgrade").returncode == 0
    workers = [Worker(cfg, tmp_path, name) for name in ("a", "b")]
    codes = [w.wait() for w in workers]
    assert codes == [0, 0], [w.err_path.read_text()[-2000:] for w in workers]

    fetches = _fetches(site, world)
    planted, feeds = _planted(world), _feed_pages(world)
    assert set(fetches) == planted | feeds
    assert set(fetches.values()) == {1}  # every article and feed page fetched exactly once
    # … by both workers together: each fetched part of them (robots.txt aside).
    pages = [w.pages for w in workers]
    assert all(n > 0 for n in pages) and sum(pages) >= len(planted) + len(feeds), pages
    print(f"workers fetched {pages} pages (robots.txt included)")

    urls, orphans, most = _stored(postgres_url)
    assert set(urls) == planted and set(urls.values()) == {1}
    assert orphans == 0 and most == 1  # one mention each
    assert _keys(redis_url, f"{prefix}:*") == []  # the round ended and cleaned up after itself


def test_killed_worker_loses_nothing_and_its_requests_are_fetched_again_at_most(
    tmp_path: Path,
    postgres_url: str,
    site: FixtureSite,
    world: World,
    redis_url: str,
    prefix: str,
) -> None:
    outlets = ("hanbando",)
    cfg = _config(
        tmp_path, postgres_url, site, world, redis_url, prefix, outlets, worker_lease_seconds=4.0
    )
    assert run_meiyu("--config", str(cfg), "db", "upgrade").returncode == 0
    planted = _planted(world, outlets)
    a, b = Worker(cfg, tmp_path, "a"), Worker(cfg, tmp_path, "b")
    held_pattern = f"{prefix}:*:inflight:*-{a.proc.pid}-*"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and a.proc.poll() is None:
        if len(_stored(postgres_url)[0]) >= len(planted) // 3 and _keys(redis_url, held_pattern):
            break
        time.sleep(0.1)
    assert a.proc.poll() is None, "worker a ended before it could be killed"
    a.kill()
    # What a held when it died: popped from the shared queue, not finished.
    client = redis.Redis.from_url(redis_url)
    held = {
        _page(pickle.loads(data)["url"], world)
        for key in client.scan_iter(held_pattern)
        for data in client.hkeys(key)
    }
    client.close()
    assert held, "worker a held no request when killed: nothing to recover"

    c = Worker(cfg, tmp_path, "c")  # a restarted worker joins b
    assert b.wait() == 0, b.err_path.read_text()[-2000:]
    assert c.wait() == 0, c.err_path.read_text()[-2000:]

    urls, orphans, most = _stored(postgres_url)
    assert set(urls) == planted and set(urls.values()) == {1}  # nothing lost, nothing twice
    assert orphans == 0 and most == 1
    fetches = _fetches(site, world, outlets)
    assert set(fetches) == planted | _feed_pages(world, outlets)
    again = {url for url, n in fetches.items() if n > 1}
    # Only what the killed worker held is fetched a second time, and only once more.
    assert again <= held and max(fetches.values()) <= 2, (again - held, held)
    assert _keys(redis_url, f"{prefix}:*") == []
    print(f"killed worker held {len(held)} request(s); {len(again)} fetched twice")


class TcpProxy:
    """127.0.0.1:port forwarded to Redis: `cut()` is an outage (listener and every connection
    closed), `serve()` on the same port ends it."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.db = parts.path
        self.port = 0
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self.db}"

    def serve(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self.sockets.append(listener)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets = []


def test_redis_outage_mid_crawl_is_waited_out(
    tmp_path: Path,
    postgres_url: str,
    site: FixtureSite,
    world: World,
    redis_url: str,
    prefix: str,
) -> None:
    outlets = ("seohae",)
    proxy = TcpProxy(redis_url).serve()
    cfg = _config(
        tmp_path, postgres_url, site, world, proxy.url, prefix, outlets, retry_seconds=0.5
    )
    planted = _planted(world, outlets)
    worker = Worker(cfg, tmp_path, "a")
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and worker.proc.poll() is None:
            if len(_stored(postgres_url)[0]) >= len(planted) // 3:
                break
            time.sleep(0.1)
        assert worker.proc.poll() is None, "the crawl ended before the outage"
        proxy.cut()
        waited = "unreachable, retrying in 0.5 s"
        while time.monotonic() < deadline and waited not in worker.err_path.read_text():
            time.sleep(0.1)
        time.sleep(1.0)
        stored = len(_stored(postgres_url)[0])
        proxy.serve()  # Redis is back
        assert worker.wait() == 0, worker.err_path.read_text()[-2000:]
    finally:
        proxy.cut()
    assert stored < len(planted)  # the outage came mid-crawl
    log = worker.err_path.read_text()
    assert f"WARNING crawlers.distributed: Redis at {proxy.url} {waited}" in log
    assert "error" not in log.lower()
    urls, orphans, most = _stored(postgres_url)
    assert set(urls) == planted and set(urls.values()) == {1} and orphans == 0 and most == 1
    fetches = _fetches(site, world, outlets)
    assert set(fetches) == planted | _feed_pages(world, outlets)
    assert set(fetches.values()) == {1}  # no lost reply cost a page or fetched one twice


def test_unreachable_redis_is_retried_then_one_line(
    tmp_path: Path, site: FixtureSite, world: World
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"redis://:hunter2@127.0.0.1:{port}/0"
    cfg = _config(
        tmp_path,
        f"sqlite:///{tmp_path / 'meiyu.db'}",
        site,
        world,
        url,
        "meiyu-test-unreachable",
        connect_retries=2,
        retry_seconds=0.1,
    )
    proc = run_meiyu("--config", str(cfg), "crawl", "--worker")
    assert proc.returncode == 1, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    shown = f"redis://:***@127.0.0.1:{port}/0"
    assert lines[:2] == [
        f"WARNING crawlers.distributed: Redis at {shown} unreachable, retrying in 0.1 s",
        f"WARNING crawlers.distributed: Redis at {shown} unreachable, retrying in 0.2 s",
    ], proc.stderr
    assert len(lines) == 3 and lines[2].startswith(f"error: Redis at {shown} unreachable after 3")
    assert "hunter2" not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    assert not site.hits  # nothing fetched for a crawl that cannot share its frontier


def test_worker_needs_the_redis_backend(tmp_path: Path, site: FixtureSite, world: World) -> None:
    cfg = write_config(
        tmp_path / "meiyu.toml",
        db_url=f"sqlite:///{tmp_path / 'meiyu.db'}",
        proxy=site.proxy_url,
        feeds={"seohae": world.feeds()["seohae"]},
    )
    proc = meiyu_in_process("--config", str(cfg), "crawl", "--worker")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and 'crawl.backend = "redis"' in lines[0], proc.stderr
    assert not site.hits


def test_frontier_pop_is_held_until_acked_and_a_dead_workers_share_is_requeued(
    redis_url: str, prefix: str
) -> None:
    """The queue protocol itself, two workers on one shared crawl, no Scrapy involved."""
    server = redis.Redis.from_url(redis_url)
    backoff = Backoff(redis_url, 0, 0.0)
    base = f"{prefix}:src:0"
    one = Frontier(server, base, "one", lease=1.0, backoff=backoff)
    two = Frontier(server, base, "two", lease=60.0, backoff=backoff)
    one.register()
    two.register()

    assert one.seed([("fp-a", 0, b"A"), ("fp-b", 0, b"B"), ("fp-a", 0, b"A2")]) == 2
    assert two.seed([("fp-c", 0, b"C")]) is None  # this round is seeded: joined, not seeded
    popped = {one.pop(), one.pop()}
    assert popped == {b"A", b"B"} and one.pop() is None and two.pop() is None
    assert two.finish() == ("wait", 0)  # one holds both, and is alive
    one.ack(b"A")

    time.sleep(1.2)  # one's lease expires: it is dead, B goes back to the queue
    assert two.finish() == ("work", 1)
    assert two.pop() == b"B"
    # An idle worker's leftovers were popped with the reply lost: queued again.
    assert two.finish() == ("work", 1)
    assert two.pop() == b"B"
    assert two.push(b"B2", 0, "fp-b") is False and two.push(b"B3", 0, None) is True
    assert two.pop() == b"B3"
    two.ack(b"B3")
    assert two.leave() == 1  # stopped before B was done: back to the queue
    two.register()
    assert two.pop() == b"B"
    two.ack(b"B")
    assert two.finish() == ("done", 0)  # nothing queued or held: the round is over
    assert _keys(redis_url, f"{base}:*") == [
        f"{base}:alive:two".encode(),
        f"{base}:workers".encode(),
    ]
    assert two.leave() == 0
    assert _keys(redis_url, f"{base}:*") == []
    server.close()


def test_backoff_gives_up_with_one_line() -> None:
    calls: list[int] = []

    def refuse() -> None:
        calls.append(1)
        raise redis.ConnectionError("Connection refused.")

    with pytest.raises(RedisUnavailable, match=r"unreachable after 2 attempt\(s\)"):
        Backoff("redis://u:secret@h:1/0", 1, 0.0).call(refuse)
    assert len(calls) == 2
