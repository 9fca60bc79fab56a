"""Pages computed from the stored series, kept until the series change.

The overview, the indicator pages and their API read whole series and verdicts on every
request (tens of milliseconds each), while the series change only when `meiyu compute` or the
scheduler's aggregation writes them. A read first asks storage.queries.series_version (three
small aggregates, a few milliseconds on a large database), at most once per `recheck` seconds
for the whole process (0: on every read); while it is the same, the computed result is served
as it is. So a recompute shows on the pages within `recheck` seconds. Results must not be
changed by their users (they are shared between requests).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from storage.queries import series_version

T = TypeVar("T")


class SeriesCache:
    """key → (series version, result), the `size` most recently used kept; the version asked
    again once `recheck` seconds have passed since it was last asked (`clock`: seconds)."""

    def __init__(
        self,
        size: int = 256,
        recheck: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size, self.recheck, self.clock = size, recheck, clock
        self._lock = threading.Lock()
        self._data: OrderedDict[Hashable, tuple[tuple[Any, ...], Any]] = OrderedDict()
        self._version: tuple[tuple[Any, ...], float] | None = None  # (version, asked at)
        self.hits = self.misses = self.version_reads = 0

    def version(self, session: Session) -> tuple[Any, ...]:
        """The stored series' version: the one last read, while it is younger than `recheck`."""
        now = self.clock()
        with self._lock:
            known = self._version
            if known is not None and now - known[1] < self.recheck:
                return known[0]
            self.version_reads += 1
        version = series_version(session)
        with self._lock:
            self._version = (version, now)
        return version

    def get(self, session: Session, key: Hashable, compute: Callable[[], T]) -> T:
        """The result for `key` at the stored series' current version: computed (in `session`,
        by `compute`) when there is none yet or the series changed since."""
        version = self.version(session)
        with self._lock:
            found = self._data.get(key)
            if found is not None and found[0] == version:
                self._data.move_to_end(key)
                self.hits += 1
                return found[1]
            self.misses += 1
        value = compute()
        with self._lock:
            self._data[key] = (version, value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value
