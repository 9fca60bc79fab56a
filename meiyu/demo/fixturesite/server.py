"""Serve the fixture world on 127.0.0.1 as an HTTP proxy, so its URLs look like the real web.

The crawler is pointed at `proxy_url` (crawl.proxy); it then requests
`http://news.haibin-daily.test/rss.xml` and gets the page from here. URLs are therefore
the same on every run whatever port was free, which is what makes re-crawls idempotent.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from meiyu.demo.fixturesite.corpus import Page, World, build_world
from meiyu.demo.fixturesite.sources import FixtureRequest, responders


class FixtureSite:
    def __init__(self, world: World | None = None) -> None:
        self.world = world or build_world()
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.responders = responders()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def proxy_url(self) -> str:
        assert self._server is not None, "site not started"
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> FixtureSite:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                parts = urlsplit(self.path)
                host = parts.hostname or (self.headers.get("Host") or "").split(":")[0]
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                url = f"http://{host}{path}"
                with site.lock:
                    site.hits[url] += 1
                    hit = site.hits[url]
                page: Page | None = None
                if parts.path == "/robots.txt":
                    page = Page(b"User-agent: *\nAllow: /\n", "text/plain")
                elif host in site.responders:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    request = FixtureRequest.from_url(url, hit=hit, headers=headers)
                    page = site.responders[host](site.world, request)
                else:
                    page = site.world.pages.get((host, path)) or site.world.pages.get(
                        (host, parts.path)
                    )
                if page is None:
                    page = Page(b"<html><body>404 Not Found</body></html>", "text/html", 404)
                if page.delay:
                    time.sleep(page.delay)
                self._send(page)

            def _send(self, page: Page) -> None:
                try:
                    self.send_response(page.status)
                    self.send_header("Content-Type", page.content_type)
                    self.send_header("Content-Length", str(len(page.body)))
                    for name, value in page.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(page.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test): nothing to answer

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the crawler logs what matters

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FixtureSite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
