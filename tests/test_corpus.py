"""The project's labelled news-sentiment corpora: well-formed, big enough, split for good."""

from __future__ import annotations

from collections import Counter

import pytest

from nlp.corpus import LABELS, load, split_of


@pytest.mark.parametrize(("language", "minimum"), [("ko", 2000), ("zh", 1500)])
def test_corpus_size_labels_and_split(language: str, minimum: int) -> None:
    rows = load(language)
    assert len(rows) >= minimum
    assert len({r.id for r in rows}) == len(rows)
    assert len({r.text for r in rows}) == len(rows)
    labels = Counter(r.label for r in rows)
    assert set(labels) == set(LABELS) and min(labels.values()) > len(rows) * 0.25
    splits = Counter(r.split for r in rows)
    assert 0.6 < splits["train"] / len(rows) < 0.8 and splits["heldout"] > 100
    assert all(r.text.strip() and "\t" not in r.text for r in rows)


def test_split_is_stable() -> None:
    # fixed by the row id alone (pinned here): adding rows never moves an existing one
    pinned = {
        "koA0001": "train",
        "koA0032": "tune",
        "koA0045": "heldout",
        "koA0046": "heldout",
        "koA0050": "tune",
        "zhA0001": "train",
    }
    assert {i: split_of(i) for i in pinned} == pinned
    assert {split_of(f"x{i}") for i in range(200)} == {"train", "tune", "heldout"}
