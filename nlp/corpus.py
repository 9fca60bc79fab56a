"""The project's own labelled news-sentiment corpora (nlp/data/*_news_sentiment/), with the
fixed train / tune / held-out split every training and evaluation script uses.

The split is by a hash of the row id, so adding rows never moves an existing row to another
part, and nobody can tune on held-out rows by accident.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from typing import Literal

from nlp.resources import DATA

Split = Literal["train", "tune", "heldout"]
LABELS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    label: str
    topic: str
    register: str

    @property
    def split(self) -> Split:
        return split_of(self.id)


def split_of(row_id: str) -> Split:
    bucket = int(hashlib.sha256(f"split:{row_id}".encode()).hexdigest(), 16) % 100
    return "train" if bucket < 70 else "tune" if bucket < 85 else "heldout"


def load(language: str, split: Split | None = None) -> list[Example]:
    folder = DATA / f"{language}_news_sentiment"
    rows: list[Example] = []
    for path in sorted(folder.glob("part_*.tsv")):
        with path.open(encoding="utf-8", newline="") as fh:
            for r in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
                ex = Example(r["id"], r["text"], r["label"], r["topic"], r["register"])
                if ex.label not in LABELS:
                    raise ValueError(f"{path.name} {ex.id}: unknown label {ex.label!r}")
                if split is None or ex.split == split:
                    rows.append(ex)
    return rows
