"""The hypothesis profile every fuzz test uses: fixed (derandomize=True) so CI sees the same
cases each run; MEIYU_FUZZ_EXAMPLES scales the number of cases for a long run by hand."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings

SCALE = int(os.environ.get("MEIYU_FUZZ_EXAMPLES", "0"))


def profile(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=SCALE or examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
