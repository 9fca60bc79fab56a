"""Pages computed from the stored series, kept until the series change.

The overview, the indicator pages and their API read whole series and verdicts on every
request (tens of milliseconds each), while the series change only when `meiyu compute` or the
scheduler's aggregation writes them. Each read first asks storage.queries.series_version (one
small query); while it is the same, the computed result is served as it is. Results must not
be changed by their users (they are shared between requests).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from storage.queries import series_version

T = TypeVar("T")


class SeriesCache:
    """key → (series version, result), the `size` most recently used kept."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._data: OrderedDict[Hashable, tuple[tuple[Any, ...], Any]] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, session: Session, key: Hashable, compute: Callable[[], T]) -> T:
        """The result for `key` at the stored series' current version: computed (in `session`,
        by `compute`) when there is none yet or the series changed since."""
        version = series_version(session)
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
