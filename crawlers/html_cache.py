"""Raw pages for `meiyu export --with-html`, read back from Scrapy's HTTP cache.

The database keeps the extracted text, not the page; the page survives only in Scrapy's
filesystem cache when `crawl.http_cache` is on. A cache entry is keyed by the request, while a
document is keyed by its canonical URL (rel=canonical, tracking parameters removed), so the
cache is indexed once by the same two identities the spider gives a page — its cleaned
response URL and its canonical URL — into a temporary SQLite file (bounded memory).
"""

from __future__ import annotations

import ast
import gzip
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from scrapy.utils.project import data_path
from w3lib.http import headers_raw_to_dict

from crawlers.encoding import decode
from crawlers.runner import settings_for
from crawlers.spiders.base import canonical_url, clean_url
from kernel.config import Config
from kernel.errors import UserError

_FILESYSTEM = "scrapy.extensions.httpcache.FilesystemCacheStorage"


def cache_dir(cfg: Config) -> Path:
    """Where `meiyu crawl` puts the cache (Scrapy places a relative folder under .scrapy/)."""
    return Path(data_path(settings_for(cfg)["HTTPCACHE_DIR"]))


def _charset(headers: Mapping[bytes, list[bytes]]) -> str | None:
    for key, values in headers.items():
        if key.lower() == b"content-type" and values:
            for part in values[0].decode("latin-1").split(";")[1:]:
                name, _, value = part.strip().partition("=")
                if name.lower() == "charset":
                    return value.strip("\"' ")
    return None


def check_cache(cfg: Config) -> Path:
    """The cache folder, or one line saying why there is no HTML to export."""
    settings = settings_for(cfg)
    root = cache_dir(cfg)
    if settings["HTTPCACHE_STORAGE"] != _FILESYSTEM:
        raise UserError(f"--with-html reads {_FILESYSTEM} only")
    if not root.is_dir():
        raise UserError(
            "--with-html: raw HTML is not stored in the database; meiyu keeps pages only in "
            f"Scrapy's HTTP cache ({root}), which does not exist: set crawl.http_cache = true "
            "and crawl again"
        )
    return root


class CachedPages:
    """url → the cached page, decoded with the crawl's own charset rules."""

    def __init__(self, cfg: Config, on_entry: Callable[[], Any] | None = None) -> None:
        self.root = check_cache(cfg)
        self._gzip = settings_for(cfg).getbool("HTTPCACHE_GZIP")
        self._tmp = tempfile.TemporaryDirectory(prefix="meiyu-html-")
        self.db = sqlite3.connect(Path(self._tmp.name) / "index.db")
        self.db.execute("CREATE TABLE page (url TEXT PRIMARY KEY, entry TEXT, ts REAL)")
        self.entries = 0
        self._index(on_entry)

    def _entries(self) -> Iterator[Path]:
        # <cache>/<spider>/<fingerprint[:2]>/<fingerprint>/
        for spider in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for shard in sorted(p for p in spider.iterdir() if p.is_dir()):
                yield from sorted(p for p in shard.iterdir() if (p / "meta").is_file())

    def _read(self, entry: Path, name: str) -> bytes:
        if self._gzip:
            with gzip.open(entry / name, "rb") as gz:
                return gz.read()
        return (entry / name).read_bytes()

    def _index(self, on_entry: Callable[[], Any] | None) -> None:
        rows: list[tuple[str, str, float]] = []
        for entry in self._entries():
            self.entries += 1
            if on_entry:
                on_entry()
            try:
                meta = ast.literal_eval(self._read(entry, "meta").decode("utf-8"))
                if meta.get("status") != 200 or meta.get("method", "GET") != "GET":
                    continue
                headers = headers_raw_to_dict(self._read(entry, "response_headers"))
                ctype = [v[0] for k, v in headers.items() if k.lower() == b"content-type" and v]
                if ctype and b"html" not in ctype[0].lower():
                    continue  # feeds, JSON APIs
                url, ts = str(meta["response_url"]), float(meta.get("timestamp", 0))
                keys = {clean_url(url)}
                body = self._read(entry, "response_body")
                if b"canonical" in body:
                    keys.add(canonical_url(url, decode(body, _charset(headers))))
            except (OSError, ValueError, SyntaxError, KeyError):
                continue  # a half-written entry of a killed crawl
            rows += [(k, str(entry), ts) for k in keys]
            if len(rows) >= 5000:
                self._store(rows)
        self._store(rows)

    def _store(self, rows: list[tuple[str, str, float]]) -> None:
        # A page cached twice (two spiders, a re-fetch): the newest copy wins.
        self.db.executemany(
            "INSERT INTO page VALUES (?, ?, ?) ON CONFLICT(url) DO UPDATE SET "
            "entry = excluded.entry, ts = excluded.ts WHERE excluded.ts > page.ts",
            rows,
        )
        self.db.commit()
        rows.clear()

    def pages(self, wanted: Sequence[tuple[str, str]]) -> dict[str, str]:
        """(url, language) pairs → decoded page for those in the cache."""
        language = dict(wanted)
        urls = list(language)
        out: dict[str, str] = {}
        for i in range(0, len(urls), 900):
            chunk = urls[i : i + 900]
            marks = ",".join("?" * len(chunk))
            for url, entry in self.db.execute(
                f"SELECT url, entry FROM page WHERE url IN ({marks})", chunk
            ):
                try:
                    path = Path(entry)
                    headers = headers_raw_to_dict(self._read(path, "response_headers"))
                    body = self._read(path, "response_body")
                except OSError:
                    continue
                out[url] = decode(body, _charset(headers), language[url])
        return out

    def close(self) -> None:
        self.db.close()
        self._tmp.cleanup()
