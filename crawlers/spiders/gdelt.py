"""GDELT DOC 2.0 API: `mode=artlist` for the mentions, `mode=timelinevolraw` for volume probes.

The parser follows the real artlist capture (../shared/fixtures/sources/gdelt/
gdelt_doc_artlist_2026-01.json); the timeline parser follows GDELT's documented JSON shape
(no real capture exists), see crawlers/parsers/gdelt.py.

artlist returns at most 250 records and has no paging, so the window is cut into
`slice_days` pieces (Query.slices) and any piece that comes back with exactly 250 records is
halved (at day boundaries, then hours, then quarter hours) and asked again, so nothing is cut
off; the capped answer itself is not used. The source's `language` picks the engine's
`sourcelang:` filter. Times sent are UTC (`startdatetime`/`enddatetime`, YYYYMMDDHHMMSS, the
end being the last second of the window); `seendate` (UTC) becomes the mention's date.

One timelinevolraw request per query window gives the engine's own article count per bucket
(day); each bucket is stored as a volume probe (window clipped to the query's window), a run
of consecutive empty days as one probe of 0 over the run.
GDELT asks for one request every 5 seconds: requests to the API go one at a time, and its
plain-text "Please limit requests" answer counts as a momentary block and is asked again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

from scrapy import Request
from scrapy.http import Response

from crawlers.items import VolumeProbeItem
from crawlers.parsers import ParseError
from crawlers.parsers.gdelt import Timeline, parse, parse_timeline
from crawlers.query import Query
from crawlers.spiders.base import BLOCKED_RETRIES, SearchSpider

API_PATH = "/api/v2/doc/doc"
MAX_RECORDS = 250  # artlist's cap per request
SOURCELANG = {"zh": "chinese", "ko": "korean"}
# The finest window a capped answer is split into; below it the cap is accepted and logged.
MIN_WINDOW = dt.timedelta(minutes=15)
_UNITS = (dt.timedelta(days=1), dt.timedelta(hours=1), MIN_WINDOW)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def gdelt_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


def split_window(
    start: dt.datetime, end: dt.datetime
) -> tuple[tuple[dt.datetime, dt.datetime], tuple[dt.datetime, dt.datetime]] | None:
    """[start, end) halved at a round UTC boundary: days while the window is longer than a
    day, then hours, then quarter hours; None when it is already as fine as it gets."""
    span = end - start
    for unit in _UNITS:
        if span > unit:
            middle = start + span / 2
            mid = _EPOCH + ((middle - _EPOCH) // unit) * unit
            if mid <= start:
                mid = start + unit
            if mid >= end:
                mid = middle
            return (start, mid), (mid, end)
    return None


class GdeltSpider(SearchSpider):
    name = "gdelt"
    parser = staticmethod(parse)
    split_stat = "meiyu/gdelt_splits"
    capped_stat = "meiyu/gdelt_capped"
    # One request at a time to the API (GDELT throttles bursts), whatever the crawl's
    # per-domain concurrency; article pages are unaffected.
    custom_settings: dict[str, Any] | None = {
        "DOWNLOAD_SLOTS": {"api.gdeltproject.org": {"concurrency": 1}}
    }

    def api_url(self, query: Query, mode: str, start: dt.datetime, end: dt.datetime) -> str:
        lang = SOURCELANG.get(query.language, query.language)
        params = {
            "query": f"{query.text} sourcelang:{lang}",
            "mode": mode,
            "format": "json",
        }
        if mode == "artlist":
            params |= {"maxrecords": str(MAX_RECORDS), "sort": "DateAsc"}
        params |= {
            "startdatetime": gdelt_time(start),
            # GDELT reads the end as inclusive: the last second of [start, end).
            "enddatetime": gdelt_time(end - dt.timedelta(seconds=1)),
        }
        return f"{self.base_url}{API_PATH}?{urlencode(params, quote_via=quote)}"

    def search_requests(self, query: Query) -> Iterable[Request]:
        yield self.timeline_request(query)
        for piece in query.slices(self.slice_days):
            yield self.window_request(piece, piece.start, piece.end)

    def window_request(self, query: Query, start: dt.datetime, end: dt.datetime) -> Request:
        request = self.search_request(self.api_url(query, "artlist", start, end), query)
        request.meta["gdelt_window"] = (start.isoformat(), end.isoformat())
        return request

    def timeline_request(self, query: Query) -> Request:
        return Request(
            self.api_url(query, "timelinevolraw", query.start, query.end),
            callback=self.parse_volume,
            errback=self.search_failed,
            cb_kwargs={"query": query},
            meta={"source": self.source.get("name")},
        )

    def parse_search(self, response: Response, query: Query, page: int) -> Iterator[Any]:
        window = response.meta.get("gdelt_window")
        try:
            result = parse(response.body, response.url)
        except ParseError:
            result = None  # the base reports it
        if window and result is not None and len(result.mentions) >= MAX_RECORDS:
            start, end = (dt.datetime.fromisoformat(t) for t in window)
            halves = split_window(start, end)
            if halves is not None:
                self.crawler.stats.inc_value(self.split_stat)
                self.logger.info(
                    "%s: %d records (the cap) for %s..%s, splitting",
                    self.name,
                    len(result.mentions),
                    start,
                    end,
                )
                for a, b in halves:
                    yield self.window_request(query, a, b)
                return
            self.crawler.stats.inc_value(self.capped_stat)
            self.logger.warning(
                "%s %s: still %d records in %s, some may be missing",
                self.name,
                response.url,
                MAX_RECORDS,
                end - start,
            )
        yield from super().parse_search(response, query, page)

    def parse_volume(self, response: Response, query: Query) -> Iterator[Any]:
        try:
            timeline = parse_timeline(response.body, response.url)
        except ParseError as exc:
            self._fail(f"{self.name} {response.url}: unparsable ({exc})", "meiyu/parse_errors")
            return
        if timeline.blocked:
            self.crawler.stats.inc_value("meiyu/antibot")
            tries = response.meta.get("meiyu_blocked_tries", 0)
            if tries < BLOCKED_RETRIES and response.request is not None:
                self.logger.warning(
                    "%s %s: %s, retrying", self.name, response.url, timeline.blocked
                )
                yield response.request.replace(
                    dont_filter=True,
                    meta={**response.meta, "meiyu_blocked_tries": tries + 1},
                    priority=response.request.priority - 10,
                )
                return
            self._fail(
                f"{self.name} {response.url}: blocked ({timeline.blocked})",
                "meiyu/antibot_failures",
            )
            return
        self.crawler.stats.inc_value("meiyu/volume_pages")
        for start, end, value in probe_windows(timeline, query.start, query.end):
            yield VolumeProbeItem(
                source=self.source["name"],
                indicator=query.indicator,
                query=query.text,
                window_start=start.isoformat(),
                window_end=end.isoformat(),
                reported_total=value,
            )


def probe_windows(
    timeline: Timeline, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime, int]]:
    """(window start, window end, count) per bucket, clipped to [start, end), in UTC; a run of
    consecutive empty buckets is one window with count 0 (a backfill's quiet years would
    otherwise be thousands of rows saying 0)."""
    out: list[tuple[dt.datetime, dt.datetime, int]] = []
    for when, value in sorted(timeline.buckets):
        a = max(when, start).astimezone(dt.UTC)
        b = min(when + timeline.resolution, end).astimezone(dt.UTC)
        if a >= b:
            continue
        if value == 0 and out and out[-1][2] == 0 and out[-1][1] == a:
            out[-1] = (out[-1][0], b, 0)
        else:
            out.append((a, b, value))
    return out
