"""Distributed crawling on scrapy-redis: `meiyu crawl --worker` processes on one or many
machines share each source's frontier (request queue and seen-set) in Redis.

Layout of one shared crawl, under `<redis.key_prefix>:<source>:<hash of source and window>`:

- `:requests`   scrapy-redis's priority queue (a sorted set of pickled requests);
- `:dupefilter` scrapy-redis's request fingerprints: a request is queued once per round;
- `:seed`       set, in one Lua script with the queued start requests, by the worker that
                seeded this round; the others find it and only work the queue;
- `:workers`, `:alive:<worker>`  the registered workers and, per worker, a key that a
                heartbeat thread keeps alive (expires after `redis.worker_lease_seconds`);
- `:inflight:<worker>`  the requests a worker has popped and not finished.

scrapy-redis pops a request and forgets it: a worker killed after the pop loses the request,
while its fingerprint stays in the seen-set, so nobody ever fetches it. Here the pop moves the
request into the worker's in-flight hash (one Lua script), and the worker acknowledges it
(deletes it there) only when it is done: its response or failure was handled by the spider
and everything that produced is through the item pipelines (stored, one transaction per
item) or queued in Redis (`Scraper.enqueue_scrape` completes only then), or, for a retry or
redirect from the downloader, once the follow-up request is queued. A worker whose heartbeat
key expired is dead: the next worker to look (at start, and whenever it is idle) moves its
in-flight requests back into the queue.

Guarantee: every queued request is fetched and handled at least once. A request is fetched
more than once only if the worker holding it died (or lost Redis for longer than the lease)
before acknowledging it, so the extra fetches of a killed worker are at most the requests in
its in-flight hash at that moment (those being downloaded or processed: about
`crawl.concurrent_requests`). Storing is idempotent (upserts by canonical URL, one mention
per document, source and query), so every article is stored exactly once all the same.

A round ends when the queue is empty and no live worker holds a request: the worker that
sees this (atomically) deletes the queue, seen-set and seed mark, and every worker exits; the
next `meiyu crawl` seeds a new round (stored articles are not fetched again: the DB's known
URLs). Redis must be trusted (requests are pickled, as in scrapy-redis) and not a Cluster.

While Redis is unreachable every step waits and retries (`redis.connect_retries`, from
`redis.retry_seconds` doubled), then the worker stops and exits 1; what it held goes back to
the queue when its lease expires. The queue steps are scripts that are safe to run again after
a lost reply (a request popped without the answer arriving is queued again when idle).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.request import request_from_dict
from scrapy_redis import picklecompat
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.scheduler import Scheduler as ScrapyRedisScheduler
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from twisted.internet.defer import Deferred

from kernel.config import RedisConfig
from kernel.errors import MeiyuError

log = logging.getLogger(__name__)

QID = "meiyu_qid"  # request.meta key: which queue entry a popped request came from
_T = TypeVar("_T")


class RedisUnavailable(MeiyuError):
    """Redis could not be reached (after the configured retries): exit 1, one line."""


def safe_redis_url(url: str) -> str:
    """The URL with its password hidden, for log lines and messages."""
    parts = urlsplit(url)
    if parts.password is None and "password" not in parts.query:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}" if parts.password is not None else host
    return urlunsplit(parts._replace(netloc=netloc, query=""))


def worker_id() -> str:
    """Unique per process, readable in Redis: host, pid and a random tail."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def crawl_key(prefix: str, source: str, ident: str) -> str:
    """Keys of one shared crawl: workers with the same source and window meet here."""
    return f"{prefix}:{source}:{hashlib.sha1(ident.encode()).hexdigest()[:10]}"


class Backoff:
    """Wait and retry while Redis is unreachable: `retries` more tries after the first,
    `first` seconds doubled each time (capped at one minute), one log line per wait."""

    cap_seconds = 60.0

    def __init__(self, url: str, retries: int, first: float) -> None:
        self.url = safe_redis_url(url)
        self.retries = retries
        self.first = first

    def call(self, fn: Callable[[], _T]) -> _T:
        retrying = Retrying(
            retry=retry_if_exception(_unreachable),
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=self.first, max=self.cap_seconds),
            before_sleep=self._waiting,
            reraise=True,
        )
        try:
            return retrying(fn)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if isinstance(exc, redis.AuthenticationError):
                raise RedisUnavailable(f"Redis at {self.url} refused the login") from None
            reason = " ".join(str(exc).split())
            raise RedisUnavailable(
                f"Redis at {self.url} unreachable after {self.retries + 1} attempt(s): {reason}"
            ) from None

    def _waiting(self, state: RetryCallState) -> None:
        log.warning("Redis at %s unreachable, retrying in %g s", self.url, state.upcoming_sleep)


def _unreachable(exc: BaseException) -> bool:
    """Worth waiting for: no connection or no answer (a refused login is not)."""
    return isinstance(exc, (redis.ConnectionError, redis.TimeoutError)) and not isinstance(
        exc, redis.AuthenticationError
    )


def connect(cfg: RedisConfig) -> redis.Redis:
    """A client for `cfg.url` that answered PING (waiting and retrying while it does not)."""
    client = _client(cfg.url)
    try:
        Backoff(cfg.url, cfg.connect_retries, cfg.retry_seconds).call(client.ping)
    except redis.RedisError as exc:  # e.g. a database number the server does not have
        reason = " ".join(str(exc).split())
        raise RedisUnavailable(f"Redis at {safe_redis_url(cfg.url)}: {reason}") from None
    return client


def _client(url: str) -> redis.Redis:
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
    except ValueError as exc:  # not a redis:// URL
        raise RedisUnavailable(f"redis.url: {exc}") from None


def worker_settings(cfg: RedisConfig, key: str, worker: str) -> dict[str, Any]:
    """Scrapy settings of one source's crawler when the frontier is in Redis."""
    return {
        "SCHEDULER": "crawlers.distributed.RedisScheduler",  # its seen-set: RedisDupeFilter
        "REDIS_URL": cfg.url,
        "MEIYU_REDIS_KEY": key,
        "MEIYU_WORKER_ID": worker,
        "MEIYU_WORKER_LEASE": cfg.worker_lease_seconds,
        "MEIYU_REDIS_RETRIES": cfg.connect_retries,
        "MEIYU_REDIS_RETRY_SECONDS": cfg.retry_seconds,
    }


class RedisDupeFilter(RFPDupeFilter):
    """scrapy-redis's seen-set; an article found by a search query counts per query.

    One worker skips an article a second query found again and records that query's mention
    itself; across workers the second request would be dropped here with its mention, so it
    is let through (fetched again, stored once, its mention kept).
    """

    def request_fingerprint(self, request: Request) -> str:
        fp: str = super().request_fingerprint(request)
        entry = request.cb_kwargs.get("entry")
        if isinstance(entry, dict) and entry.get("query"):
            mark = f"{fp}\0{entry.get('indicator', '')}\0{entry['query']}"
            fp = hashlib.sha1(mark.encode()).hexdigest()
        return fp


# Lua, so that each step is atomic against the other workers. Keys are built inside from the
# crawl's base key (a single Redis server, not a Cluster).
_POP = """
local r = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #r == 0 then return false end
redis.call('ZREM', KEYS[1], r[1])
redis.call('HSET', KEYS[2], r[1], r[2])
return r[1]
"""
# Queue unless seen (an empty fingerprint: dont_filter). One script, so that a retry after a
# lost reply finds the request queued rather than "seen" and dropped.
_PUSH = """
if ARGV[1] ~= '' and redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
return 1
"""
_SEED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local n = 0
for i = 2, #ARGV, 3 do
  if redis.call('SADD', KEYS[3], ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i + 2])
    n = n + 1
  end
end
if n > 0 then redis.call('SET', KEYS[1], ARGV[1]) end
return n
"""
_REQUEUE = """
local function requeue(base, w)
  local inflight = base .. ':inflight:' .. w
  local entries = redis.call('HGETALL', inflight)
  for i = 1, #entries, 2 do
    redis.call('ZADD', base .. ':requests', entries[i + 1], entries[i])
  end
  redis.call('DEL', inflight)
  return #entries / 2
end
local function reap(base)
  local moved = 0
  for _, w in ipairs(redis.call('SMEMBERS', base .. ':workers')) do
    if redis.call('EXISTS', base .. ':alive:' .. w) == 0 then
      moved = moved + requeue(base, w)
      redis.call('SREM', base .. ':workers', w)
    end
  end
  return moved
end
"""
_REAP = _REQUEUE + "return reap(ARGV[1])"
_FINISH = (
    _REQUEUE
    + """
local base, me = ARGV[1], ARGV[2]
-- What is left in this idle worker's hash was popped with the reply lost: queue it again.
local moved = reap(base) + requeue(base, me)
if redis.call('ZCARD', base .. ':requests') > 0 then return {'work', moved} end
for _, w in ipairs(redis.call('SMEMBERS', base .. ':workers')) do
  if w ~= me and redis.call('HLEN', base .. ':inflight:' .. w) > 0 then return {'wait', moved} end
end
redis.call('DEL', base .. ':requests', base .. ':dupefilter', base .. ':seed')
return {'done', moved}
"""
)
_LEAVE = (
    _REQUEUE
    + """
local base, me = ARGV[1], ARGV[2]
local moved = requeue(base, me)
redis.call('SREM', base .. ':workers', me)
redis.call('DEL', base .. ':alive:' .. me)
return moved
"""
)


class Frontier:
    """One shared crawl in Redis, as seen by one worker."""

    def __init__(
        self, server: redis.Redis, base: str, worker: str, lease: float, backoff: Backoff
    ) -> None:
        self.server = server
        self.base = base
        self.worker = worker
        self.lease_ms = int(lease * 1000)
        self.backoff = backoff
        self.queue_key = f"{base}:requests"
        self.dupefilter_key = f"{base}:dupefilter"
        self.seed_key = f"{base}:seed"
        self.workers_key = f"{base}:workers"
        self.alive_key = f"{base}:alive:{worker}"
        self.inflight_key = f"{base}:inflight:{worker}"
        self._pop = server.register_script(_POP)
        self._push = server.register_script(_PUSH)
        self._seed = server.register_script(_SEED)
        self._reap = server.register_script(_REAP)
        self._finish = server.register_script(_FINISH)
        self._leave = server.register_script(_LEAVE)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Frontier:
        s = crawler.settings
        url = s["REDIS_URL"]
        backoff = Backoff(
            url, s.getint("MEIYU_REDIS_RETRIES"), s.getfloat("MEIYU_REDIS_RETRY_SECONDS")
        )
        return cls(
            _client(url),
            s["MEIYU_REDIS_KEY"],
            s["MEIYU_WORKER_ID"],
            s.getfloat("MEIYU_WORKER_LEASE"),
            backoff,
        )

    def _do(self, fn: Callable[[], _T]) -> _T:
        return self.backoff.call(fn)

    @staticmethod
    def encode(request: Request, spider: Spider) -> bytes:
        """Pickled like scrapy-redis's queue, with a fresh queue-entry id: equal requests
        (a retry) stay distinct entries, and a popped request knows its entry."""
        data = request.to_dict(spider=spider)
        data["meta"] = {**(data.get("meta") or {}), QID: secrets.token_hex(8)}
        dumped: bytes = picklecompat.dumps(data)
        return dumped

    @staticmethod
    def decode(data: bytes, spider: Spider) -> Request:
        return request_from_dict(picklecompat.loads(data), spider=spider)

    def register(self) -> None:
        """Join (and keep alive): a worker that stops heartbeating is taken as dead."""
        pipe = self.server.pipeline()
        pipe.sadd(self.workers_key, self.worker)
        pipe.set(self.alive_key, b"1", px=self.lease_ms)
        self._do(pipe.execute)

    def seed(self, entries: list[tuple[str, int, bytes]]) -> int | None:
        """Queue the start requests (fingerprint, priority, data) unless this round was
        seeded already (None); all or nothing."""
        args: list[Any] = [self.worker]
        for fp, priority, data in entries:
            args += [fp, -priority, data]
        keys = [self.seed_key, self.queue_key, self.dupefilter_key]
        n = int(self._do(lambda: self._seed(keys=keys, args=args)))
        return None if n < 0 else n

    def push(self, data: bytes, priority: int, fingerprint: str | None) -> bool:
        """Queue a request unless its fingerprint was seen (None: queue it anyway)."""
        keys = [self.queue_key, self.dupefilter_key]
        args: list[str | int | bytes] = [fingerprint or "", -priority, data]
        return bool(self._do(lambda: self._push(keys=keys, args=args)))

    def pop(self) -> bytes | None:
        data: bytes | None = self._do(lambda: self._pop(keys=[self.queue_key, self.inflight_key]))
        return data

    def ack(self, *data: bytes) -> None:
        if data:
            self._do(lambda: self.server.hdel(self.inflight_key, *data))

    def pending(self) -> int:
        return int(self._do(lambda: self.server.zcard(self.queue_key)))

    def reap(self) -> int:
        """Requeue the in-flight requests of workers whose heartbeat expired."""
        return int(self._do(lambda: self._reap(args=[self.base])))

    def finish(self) -> tuple[str, int]:
        """'work' (queued requests), 'wait' (another live worker holds some) or 'done' (the
        round is over, its keys deleted), after requeueing dead workers' requests."""
        state, moved = self._do(lambda: self._finish(args=[self.base, self.worker]))
        return state.decode(), int(moved)

    def leave(self) -> int:
        """Unregister; anything still held goes back to the queue."""
        return int(self._do(lambda: self._leave(args=[self.base, self.worker])))


class Heartbeat(threading.Thread):
    """Keeps the worker's alive key (and registration) fresh from a thread of its own, so a
    busy reactor is never mistaken for a dead worker; a killed process stops it."""

    def __init__(self, frontier: Frontier, lease_ms: int) -> None:
        super().__init__(name=f"meiyu-heartbeat-{frontier.base}", daemon=True)
        self.frontier = frontier
        self.interval = lease_ms / 3000
        self.stopped = threading.Event()

    def run(self) -> None:
        f = self.frontier
        while not self.stopped.wait(self.interval):
            try:
                pipe = f.server.pipeline()
                pipe.sadd(f.workers_key, f.worker)
                pipe.set(f.alive_key, b"1", px=f.lease_ms)
                pipe.execute()
            except redis.RedisError as exc:  # the reactor's own calls retry and report
                log.debug("heartbeat to %s failed: %s", f.backoff.url, exc)


class RedisScheduler(ScrapyRedisScheduler):
    """scrapy-redis's scheduler with acknowledged pops, atomic seeding and a shared end.

    The engine asks it for requests as usual; a popped request stays in this worker's in-flight
    hash until `_finished` acknowledges it.
    """

    def __init__(self, crawler: Crawler, frontier: Frontier) -> None:
        super().__init__(
            server=frontier.server,
            persist=True,
            dupefilter=RedisDupeFilter(frontier.server, key=frontier.dupefilter_key),
            dupefilter_key=frontier.dupefilter_key,
        )
        self.crawler = crawler
        self.frontier = frontier
        self.stats = crawler.stats
        self.held: dict[str, bytes] = {}  # entry id → queue data, popped and not finished
        self.scraping: set[str] = set()  # entry ids whose response is being handled
        self.heartbeat = Heartbeat(frontier, frontier.lease_ms)
        self.failed: str | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedisScheduler:
        return cls(crawler, Frontier.from_crawler(crawler))

    def open(self, spider: Spider) -> None:
        self.spider = spider
        self.frontier.register()
        self.heartbeat.start()
        moved = self.frontier.reap()
        if moved:
            log.info("%d request(s) of stopped workers put back in the queue", moved)
            self._stat("meiyu/requeued", moved)
        # A response is finished when the scraper has handled it completely: callback or
        # errback output through the item pipelines (stored) or queued.
        scraper = self.crawler.engine.scraper if self.crawler.engine else None
        if scraper is None or not hasattr(scraper, "enqueue_scrape"):
            raise RuntimeError("this Scrapy version has no Scraper.enqueue_scrape to track")
        handle = scraper.enqueue_scrape

        def enqueue_scrape(result: Any, request: Request, *rest: Any) -> Deferred[Any]:
            qid = request.meta.get(QID)
            if qid:
                self.scraping.add(qid)
            return handle(result, request, *rest).addBoth(self._finished, qid)

        scraper.enqueue_scrape = enqueue_scrape  # type: ignore[method-assign]
        self.crawler.signals.connect(self._idle, signal=signals.spider_idle)

    def close(self, reason: str) -> None:
        self.heartbeat.stopped.set()
        if self.failed:  # what it held goes back when its lease expires
            return
        try:
            moved = self.frontier.leave()
        except RedisUnavailable as exc:
            log.error("%s; its unfinished requests go back when its lease expires", exc)
            return
        if moved:
            log.warning(
                "stopped (%s): %d unfinished request(s) put back in the queue", reason, moved
            )

    def __len__(self) -> int:
        return self.frontier.pending()

    def has_pending_requests(self) -> bool:
        return self._guard(lambda: self.frontier.pending() > 0, False)

    def enqueue_request(self, request: Request) -> bool:
        old = request.meta.get(QID)
        # A retry or redirect from the downloader replaces the request it came from; a
        # request a callback made with response.request.replace() is a new one.
        follow_up = old in self.held and old not in self.scraping

        fingerprint = None if request.dont_filter else self.df.request_fingerprint(request)
        data = self.frontier.encode(request, self.spider)

        def enqueue() -> bool:
            queued = self.frontier.push(data, request.priority, fingerprint)
            if queued:
                self._stat("scheduler/enqueued/redis")
            else:
                self.df.log(request, self.spider)
            if follow_up:  # queued first, or a redirect to a page seen already
                self._ack(str(old))
            return queued

        return self._guard(enqueue, False)

    def next_request(self) -> Request | None:
        data = self._guard(self.frontier.pop, None)
        if data is None:
            return None
        request = self.frontier.decode(data, self.spider)
        self.held[request.meta[QID]] = data
        self._stat("scheduler/dequeued/redis")
        return request

    def _finished(self, result: _T, qid: str | None) -> _T:
        if qid:
            self.scraping.discard(qid)
            self._guard(lambda: self._ack(qid), None)
        return result

    def _ack(self, qid: str) -> None:
        data = self.held.pop(qid, None)
        if data is not None:
            self.frontier.ack(data)

    def _idle(self, spider: Spider) -> None:
        """The engine has nothing in progress: close only when the whole round is over."""
        # Nothing this worker popped is in progress, so all of it is finished.
        done, self.held = list(self.held.values()), {}

        def finish() -> tuple[str, int]:
            self.frontier.ack(*done)
            return self.frontier.finish()

        outcome = self._guard(finish, None)
        if outcome is None:
            return
        state, moved = outcome
        if moved:
            log.warning(
                "%d request(s) put back in the queue (a worker stopped, or Redis's answer to a"
                " pop was lost)",
                moved,
            )
            self._stat("meiyu/requeued", moved)
        if state != "done":
            self._look_again_soon()
            raise DontCloseSpider

    def _look_again_soon(self) -> None:
        """Scrapy looks at an idle engine every 5 s; waiting for the other workers, look every
        second instead (best effort: the engine's private slot, skipped if it has none)."""
        nextcall = getattr(getattr(self.crawler.engine, "_slot", None), "nextcall", None)
        if nextcall is not None:
            nextcall.schedule(1.0)

    def _guard(self, fn: Callable[[], _T], fallback: _T) -> _T:
        """Run a Redis step; once the retries are spent, stop this worker (exit 1): what it
        held goes back to the queue when its lease expires."""
        if self.failed:
            return fallback
        try:
            return fn()
        except RedisUnavailable as exc:
            if not self.failed:
                self.failed = str(exc)
                self.crawler.stats.set_value("meiyu/redis_error", self.failed)
                log.error("%s; stopping this worker", exc)
                engine: Any = self.crawler.engine
                if hasattr(engine, "close_spider_async"):
                    deferred_from_coro(engine.close_spider_async(reason="redis_unreachable"))
                elif engine is not None:  # Scrapy before 2.14
                    engine.close_spider(self.spider, reason="redis_unreachable")
            return fallback

    def _stat(self, key: str, n: int = 1) -> None:
        if self.stats is not None:
            self.stats.inc_value(key, n)


class SharedStart:
    """Spider mixin: the start requests go to Redis once per round, from the first worker.

    They are collected, then queued in one script together with the round's seed mark, so a
    worker killed while seeding leaves the round unseeded rather than half seeded.
    """

    crawler: Crawler

    async def start(self) -> AsyncIterator[Any]:
        spider: Any = self
        requests: list[Request] = []
        async for out in super().start():  # type: ignore[misc]
            if isinstance(out, Request):
                requests.append(out)
            else:
                yield out
        if not requests:
            return
        frontier = Frontier.from_crawler(self.crawler)
        df = RedisDupeFilter(frontier.server, key=frontier.dupefilter_key)
        entries = [
            (df.request_fingerprint(r), r.priority, frontier.encode(r, spider)) for r in requests
        ]
        queued = frontier.seed(entries)
        frontier.server.close()
        if queued is None:
            log.info("%s: joining the shared crawl %s", spider.name, frontier.base)
        else:
            log.info("%s: seeded %s with %d request(s)", spider.name, frontier.base, queued)


def shared(cls: type[Spider]) -> type[Spider]:
    """`cls` with its start requests seeded once into the shared crawl."""
    return type(cls.__name__, (SharedStart, cls), {})
