"""Indicator values as typed data: what `compute` stores and every reader (`meiyu series`, the
monthly report, the weekly brief, the dashboard) reads back, validated, through `storage`.

Two kinds of stored value:
- `ValueDetails`, beside each period's number in indicator_values: the count's interval,
  per-source counts, relevance, coverage, the engines' own totals, and for a share the tone
  counts, the Wilson interval, the corrected share and (weeks) the comparison with the
  trailing weeks.
- `StoredAssessment`, one row of assessments: the plan's test (明显提升 or not) of a month or
  a year against the baseline, or why it could not be run.
Both carry `schema_version`; a row written by another schema is refused when read, with a
one-line error that says to run `meiyu compute` again. Non-finite floats (an undefined rate
ratio, an unbounded interval) are stored as the strings "NaN" / "Infinity".
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.dataclasses import dataclass

from kernel.errors import MeiyuError

SCHEMA_VERSION: Literal[1] = 1
# The exact Poisson (Garwood) 95% interval of a zero count, (0, −ln 0.025): a month inside the
# observed span with no stored value is a real zero (tests/test_uncertainty.py checks it
# against pipelines.uncertainty.poisson_interval(0)).
EMPTY_COUNT_INTERVAL = (0.0, 3.6888794541139354)
RISE, FLAT, FALL = "明显提升", "无明显变化", "明显下降"
UNCOMPARABLE = "无法比较"

_CONFIG = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="strings")
_DC_CONFIG = ConfigDict(extra="forbid", ser_json_inf_nan="strings")


class _Typed(BaseModel):
    model_config = _CONFIG


# ---------------------------------------------------------------- tests (pydantic dataclasses:
# built positionally by pipelines.uncertainty and pipelines.assess)


@dataclass(frozen=True, config=_DC_CONFIG)
class RateComparison:
    """Current vs baseline rate of events per unit of exposure (e.g. items per month)."""

    baseline_count: int
    baseline_exposure: float
    current_count: int
    current_exposure: float
    ratio: float  # current rate / baseline rate (inf when the baseline had none)
    ratio_interval: tuple[float, float]
    p_value: float


@dataclass(frozen=True, config=_DC_CONFIG)
class ShareComparison:
    baseline: tuple[int, int]  # (positive, n)
    current: tuple[int, int]
    difference: float  # current share − baseline share
    difference_interval: tuple[float, float]
    p_value: float


@dataclass(frozen=True, config=_DC_CONFIG)
class Dispersion:
    """φ of the monthly counts (1 = Poisson) and the quasi-Poisson test it leads to."""

    phi: float
    months: int  # months it was estimated from
    p_value: float  # quasi-Poisson Wald p (equals the exact p when φ ≤ 1)
    ratio_interval: tuple[float, float]


@dataclass(frozen=True, config=_DC_CONFIG)
class ShareAssessment:
    current: tuple[int, int]  # (positive, scored)
    baseline: tuple[int, int]
    current_interval: tuple[float, float]  # Wilson 95%
    baseline_interval: tuple[float, float]
    comparison: ShareComparison
    # corrected for classifier error (pooled counts of the months), when the model's
    # confusion matrix is known: (share, (lo, hi))
    corrected_current: tuple[float, tuple[float, float]] | None = None
    corrected_baseline: tuple[float, tuple[float, float]] | None = None
    correction_matrix: str | None = None  # which confusion matrix, and its size


@dataclass(frozen=True, config=_DC_CONFIG)
class Assessment:
    indicator: str
    name: str
    kind: str
    period: str
    baseline: str
    current_months: list[str]
    baseline_months: list[str]
    current_count: int  # matched items (volume) or relevant scored items (share)
    baseline_count: int
    current_interval: tuple[float, float]  # 95% interval of the period's expected count
    baseline_interval: tuple[float, float]
    comparison: RateComparison
    dispersion: Dispersion
    share: ShareAssessment | None
    verdict: str
    p_value: float  # the one the verdict used


class StoredAssessment(_Typed):
    """The plan's test of one period as `compute` stored it: the result, or why there is none
    (e.g. the baseline has no data)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    indicator: str
    period: str
    baseline: str
    definition_version: str
    assessment: Assessment | None = None
    error: str | None = None


# ---------------------------------------------------------------- a period's details


class Coverage(_Typed):
    """Items / all dated documents of the same language and sources in the period."""

    documents: int
    share: float
    share_interval: tuple[float, float]  # Wilson 95%


class CorrectedShare(_Typed):
    share: float
    interval: tuple[float, float]  # parametric bootstrap 95%
    shares: dict[str, float]  # all three corrected shares
    method: str
    confusion: str  # which matrix, and its size


class Trailing(_Typed):
    """A week's share against the pooled weeks before it (the weekly brief's comparison)."""

    weeks: int
    positive: int
    scored: int
    interval: tuple[float, float]  # Wilson 95% of the pooled weeks
    difference: float | None = None
    difference_interval: tuple[float, float] | None = None
    p_value: float | None = None
    verdict: str = UNCOMPARABLE


class ValueDetails(_Typed):
    schema_version: Literal[1] = SCHEMA_VERSION
    interval: tuple[float, float]  # exact Poisson 95% of the item count
    per_source: dict[str, int] = {}
    relevant: int = 0
    relevant_stories: int = 0
    coverage: Coverage | None = None
    reported_totals: dict[str, int] | None = None  # the engines' own totals, per source
    # a share indicator's tone (and the tone behind a volume when a model scores it)
    sentiment_model: str | None = None
    scored: int | None = None
    positive: int | None = None
    neutral: int | None = None
    negative: int | None = None
    share_interval: tuple[float, float] | None = None  # Wilson 95% of positive / scored
    corrected: CorrectedShare | None = None
    trailing: Trailing | None = None  # weeks of a share indicator

    def tone(self, label: str) -> int:
        return int(getattr(self, label) or 0)


# ---------------------------------------------------------------- to and from storage

_M = TypeVar("_M", bound=BaseModel)


def to_stored(value: BaseModel, exclude_none: bool = True) -> dict[str, Any]:
    """The JSON a column stores: non-finite floats as strings and, by default, None fields
    left out (an assessment keeps them: its dataclasses have no defaults to fall back on)."""
    return json.loads(value.model_dump_json(exclude_none=exclude_none))


def _read(model: type[_M], raw: object, what: str) -> _M:
    data = dict(raw) if isinstance(raw, dict) else {}
    data.setdefault("schema_version", SCHEMA_VERSION)  # rows before the field: schema 1
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "row"
        raise MeiyuError(
            f"stored {what} does not match schema {SCHEMA_VERSION} ({where}: {first['msg']}); "
            "run `meiyu compute` to store it again"
        ) from None


def read_details(raw: object) -> ValueDetails:
    return _read(ValueDetails, raw, "indicator value")


def read_assessment(raw: object) -> StoredAssessment:
    return _read(StoredAssessment, raw, "assessment")
