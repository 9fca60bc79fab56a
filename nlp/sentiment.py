"""Three-class sentiment (negative / neutral / positive) with any Hugging Face sequence
classifier: the model meiyu trains and ships under nlp/models/, or a model id or local path
the user points to (e.g. a KoELECTRA fine-tune). Offline: nothing is downloaded at run time
unless the user names a hub model and allows it.

Targeted use (the city, not the whole article): `document_sentiment` scores the title and the
sentences that speak of the place, and averages their probabilities.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nlp.resources import MODELS

LABELS = ("negative", "neutral", "positive")
DEFAULT_MODELS = {"ko": MODELS / "ko-sentiment", "zh": MODELS / "zh-sentiment"}


def shipped(language: str) -> bool:
    """Whether the language's model is installed (complete, not a folder mid-training)."""
    return (DEFAULT_MODELS[language] / "config.json").exists()


@dataclass(frozen=True)
class Scored:
    label: str
    scores: dict[str, float]  # sums to 1 over LABELS


class SentimentModel:
    def __init__(self, name_or_path: str | Path, max_length: int = 128) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        local = Path(name_or_path).exists()
        offline = local or os.environ.get("HF_HUB_OFFLINE", "1") == "1"
        self.id = str(name_or_path)
        self.tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=offline)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            str(name_or_path), local_files_only=offline
        )
        self.model.eval()
        self.max_length = max_length
        id2label = {int(k): v.lower() for k, v in self.model.config.id2label.items()}
        # A binary model (negative/positive) still answers in three classes, neutral = 0.
        self.columns = [id2label[i] for i in range(len(id2label))]
        if not set(self.columns) <= set(LABELS):
            raise ValueError(f"{name_or_path}: labels {self.columns} are not {LABELS}")
        self._torch = torch

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Scored]:
        out: list[Scored] = []
        # Length-sorted batches: far less padding, same answers.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        results: dict[int, Scored] = {}
        with self._torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                enc = self.tokenizer(
                    [texts[i] for i in idx],
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                probs = self._torch.softmax(self.model(**enc).logits, dim=-1).tolist()
                for i, row in zip(idx, probs, strict=True):
                    scores = {label: 0.0 for label in LABELS}
                    scores.update(dict(zip(self.columns, row, strict=True)))
                    results[i] = Scored(max(scores, key=scores.__getitem__), scores)
        out = [results[i] for i in range(len(texts))]
        return out


@functools.cache
def load(language_or_path: str) -> SentimentModel:
    """The shipped model of a language ('ko', 'zh'), or any model id / local path."""
    path = DEFAULT_MODELS.get(language_or_path, language_or_path)
    return SentimentModel(path)


@dataclass(frozen=True)
class DocumentSentiment:
    label: str
    scores: dict[str, float]
    evidence: list[str]  # the title and sentences that were scored


def document_sentiment(
    model: SentimentModel, title: str, sentences: Sequence[str], max_sentences: int = 12
) -> DocumentSentiment:
    """Mean of the probabilities of the title and the place's sentences (the rule the report
    states): a ferry accident sentence about Weihai weighs as much as the headline."""
    units = [t for t in [title, *sentences[:max_sentences]] if t.strip()]
    if not units:
        return DocumentSentiment("neutral", {"negative": 0.0, "neutral": 1.0, "positive": 0.0}, [])
    scored = model.predict(units)
    mean = {label: sum(s.scores[label] for s in scored) / len(scored) for label in LABELS}
    return DocumentSentiment(max(mean, key=mean.__getitem__), mean, units)
