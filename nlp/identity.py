"""Which sentiment model an indicator uses and the version of the series it produces: the one
place pipelines (which compute) and reports (which select the series to show) ask."""

from __future__ import annotations

from pathlib import Path

from kernel.config import IndicatorConfig
from kernel.identity import model_id, series_version
from nlp.sentiment import DEFAULT_MODELS, complete


def model_for(ind: IndicatorConfig) -> str:
    return ind.sentiment_model or str(DEFAULT_MODELS[ind.language])


def model_available(ind: IndicatorConfig) -> bool:
    """A configured model, or a complete shipped one (a folder being trained is not)."""
    return ind.sentiment_model is not None or complete(Path(model_for(ind)))


def sentiment_model_id(ind: IndicatorConfig) -> str | None:
    """The id of the model that scores this indicator's items, or None when it has none."""
    return model_id(model_for(ind)) if model_available(ind) else None


def definition_version(ind: IndicatorConfig) -> str:
    """The series a value belongs to: the terms and sources, and for a share the model too."""
    mid = sentiment_model_id(ind) if ind.kind == "positive_share" else None
    return series_version(ind.version(), mid)
