"""The human audit's sample as a typed value, and the file format a person fills in: what
`pipelines.audit` draws, `reports.audit_file` writes and `pipelines.audit_intake` reads."""

from __future__ import annotations

from dataclasses import dataclass

LABEL_NAMES_ZH = {"positive": "正面", "neutral": "中性", "negative": "负面"}
# The audit file's columns, in order, and its sheet's name.
COLUMNS = (
    "document_id",
    "indicator",
    "published",
    "outlet",
    "source",
    "title",
    "sentences",
    "model_label",
    "human_label",
    "annotator",
    "note",
    "model_id",
)
SHEET = "audit"


@dataclass(frozen=True)
class AuditItem:
    """One row of an audit file, as the person sees it."""

    document_id: int
    indicator: str
    published: str  # local date
    outlet: str
    source: str
    title: str
    sentences: str
    model_label: str
    model_id: str


@dataclass(frozen=True)
class AuditSample:
    indicator: str
    month: str
    model_id: str
    items: list[AuditItem]
    population: dict[str, int]  # the month's unaudited items per model label
    drawn: dict[str, int]  # of them, sampled
