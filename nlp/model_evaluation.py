"""The one reader of a model folder's evaluation.json (written once, after training, by
nlp.train_sentiment / nlp.train_probe): its figures for the report and the model card, and
the confusion matrix the share correction and the audit use."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LABELS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class Confusion:
    """Counts, rows = gold label, columns = predicted label, in LABELS order (an audit's are
    weighted, so not always whole numbers)."""

    counts: tuple[tuple[float, ...], ...]
    source: str  # where the counts come from, for the report

    @property
    def n(self) -> int:
        return round(sum(sum(row) for row in self.counts))


@dataclass(frozen=True)
class Figures:
    """One measured block of evaluation.json ("domain_heldout" or "real_news")."""

    n: int | None = None
    accuracy: float | None = None
    macro_f1: float | None = None
    pos_vs_neg_accuracy: float | None = None
    measured_on: str | None = None

    @classmethod
    def of(cls, block: object) -> Figures:
        b: dict[str, Any] = block if isinstance(block, dict) else {}
        return cls(
            n=b.get("n"),
            accuracy=b.get("accuracy"),
            macro_f1=b.get("macro_f1"),
            pos_vs_neg_accuracy=b.get("pos_vs_neg_accuracy"),
            measured_on=b.get("measured_on"),
        )


@dataclass(frozen=True)
class Evaluation:
    path: Path
    domain_heldout: Figures
    real_news: Figures
    raw: dict[str, Any] = field(repr=False)  # every key, for the model card


def load_evaluation(model_path: str | Path) -> Evaluation | None:
    """evaluation.json beside a local model, or None (hub ids, models without one)."""
    path = Path(model_path) / "evaluation.json"
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Evaluation(
        path=path,
        domain_heldout=Figures.of(raw.get("domain_heldout")),
        real_news=Figures.of(raw.get("real_news")),
        raw=raw,
    )


def load_confusion(model_path: str | Path) -> Confusion | None:
    """The confusion matrix beside a local model: measured on the real-news set when it was
    (the errors the model makes on real journalism), else on the written held-out set; None
    for hub ids and models without an evaluation."""
    ev = load_evaluation(model_path)
    if ev is None:
        return None
    for key in ("real_news", "domain_heldout"):
        where = f"{ev.path.parent.name}/evaluation.json {key}"
        found = _confusion_block(ev.raw.get(key) or {}, where)
        if found is not None:
            return found
    return None


def _confusion_block(block: dict[str, object], where: str) -> Confusion | None:
    confusion = block.get("confusion") or {}
    if not isinstance(confusion, dict):
        return None
    labels, rows = confusion.get("labels"), confusion.get("rows_gold_cols_pred")
    if not rows or not labels or sorted(labels) != sorted(LABELS):
        return None
    order = [labels.index(label) for label in LABELS]
    counts = tuple(tuple(int(rows[i][j]) for j in order) for i in order)
    if any(sum(row) == 0 for row in counts):
        return None
    return Confusion(counts, f"{where} (n={sum(map(sum, counts))})")
