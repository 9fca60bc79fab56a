"""Three-class sentiment (negative / neutral / positive) with any Hugging Face sequence
classifier: the model meiyu trains and ships under nlp/models/, or a model id or local path
the user points to (e.g. a KoELECTRA fine-tune). Offline: nothing is downloaded at run time
unless the user names a hub model and allows it.

Targeted use (the city, not the whole article): `document_sentiment` scores the title and the
sentences that speak of the place, and averages their probabilities; `documents_sentiment`
does the same for many documents in one pass (length-sorted batches across documents).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nlp.resources import MODELS

LABELS = ("negative", "neutral", "positive")
DEFAULT_MODELS = {"ko": MODELS / "ko-sentiment", "zh": MODELS / "zh-sentiment"}


def complete(folder: Path) -> bool:
    """A local model folder ready to load: a full HF model or a head on the shared encoder
    (training writes into `<name>.partial` and moves the folder in only when done)."""
    return (folder / "config.json").exists() or (folder / "head.json").exists()


def shipped(language: str) -> bool:
    """Whether the language's model is installed (complete, not a folder mid-training)."""
    return complete(DEFAULT_MODELS[language])


@dataclass(frozen=True)
class Scored:
    label: str
    scores: dict[str, float]  # sums to 1 over LABELS

    @classmethod
    def of(cls, columns: Sequence[str], row: Sequence[float]) -> Scored:
        """A model's probabilities in its own label order, as all three LABELS (a binary
        model's neutral is 0) with the most probable label."""
        scores = {label: 0.0 for label in LABELS}
        scores.update(dict(zip(columns, row, strict=True)))
        return cls(max(scores, key=scores.__getitem__), scores)


def resolve_device(wanted: str) -> str:
    """'auto' → 'cuda' where torch sees a CUDA device, else 'cpu'; 'cuda' without one is an
    error (ValueError), not a silent fall back to a much slower run."""
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"{wanted!r} asked, but torch {torch.__version__} sees no CUDA device")
    return wanted


def default_threads() -> int:
    """OMP_NUM_THREADS where it is a positive number (a machine shared by several processes
    sets it: two torch processes of 2 threads each on 2 cores ran 5× slower than 1 each),
    else every core of this machine."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return os.cpu_count() or 1


def set_threads(threads: int | None) -> int:
    """torch's intra-op threads: the given number, or `default_threads()`."""
    import torch

    n = threads or default_threads()
    torch.set_num_threads(n)
    return n


def position_limit(config: Any, tokenizer: Any) -> int:
    """The longest input a model takes, read from its own config: RoBERTa-style models
    reserve padding_idx + 1 positions; a tokenizer's own limit applies when it is smaller."""
    limit = int(getattr(config, "max_position_embeddings", 512) or 512)
    if getattr(config, "model_type", "") in {"roberta", "xlm-roberta", "camembert"}:
        limit -= int(getattr(config, "pad_token_id", 1) or 1) + 1
    own = getattr(tokenizer, "model_max_length", None)
    if isinstance(own, int) and 0 < own < limit:
        limit = own
    return max(limit, 2)


class SentimentModel:
    """Any Hugging Face sequence classifier (the from-scratch model, a hub fine-tune)."""

    def __init__(
        self, name_or_path: str | Path, max_length: int = 512, device: str = "cpu"
    ) -> None:
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
        self.model.to(device)
        self.device = device
        # Truncate to the model's own positions: a longer input crashed the 64-position model.
        self.max_length = min(max_length, position_limit(self.model.config, self.tokenizer))
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
                ).to(self.device)
                probs = self._torch.softmax(self.model(**enc).logits, dim=-1).tolist()
                for i, row in zip(idx, probs, strict=True):
                    results[i] = Scored.of(self.columns, row)
        out = [results[i] for i in range(len(texts))]
        return out


class Scorer(Protocol):
    """What the analysis stage needs of a model: an id source and `predict`."""

    columns: list[str]

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Scored]: ...


class ProbeSentiment:
    """A head on the shared pretrained encoder (nlp.e5_sentiment), as a `Scorer`."""

    def __init__(self, folder: str | Path, device: str = "cpu") -> None:
        from nlp.e5_sentiment import ProbeModel

        self.id = str(folder)
        self.probe = ProbeModel(folder, device=device)
        self.columns = self.probe.columns
        self.max_length = self.probe.max_length
        if not set(self.columns) <= set(LABELS):
            raise ValueError(f"{folder}: labels {self.columns} are not {LABELS}")

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Scored]:
        if not texts:
            return []
        probs = self.probe.probabilities(list(texts), batch_size).tolist()
        return [Scored.of(self.columns, row) for row in probs]


@functools.cache
def load(language_or_path: str, device: str = "cpu") -> Scorer:
    """The shipped model of a language ('ko', 'zh'), or any model id / local path."""
    from nlp.e5_sentiment import is_probe

    path = DEFAULT_MODELS.get(language_or_path, language_or_path)
    if is_probe(path):
        return ProbeSentiment(path, device=device)
    return SentimentModel(path, device=device)


@dataclass(frozen=True)
class DocumentSentiment:
    label: str
    scores: dict[str, float]
    evidence: list[str]  # the title and sentences that were scored


def document_sentiment(
    model: Scorer, title: str, sentences: Sequence[str], max_sentences: int = 12
) -> DocumentSentiment:
    """Mean of the probabilities of the title and the place's sentences (the rule the report
    states): a ferry accident sentence about Weihai weighs as much as the headline."""
    return documents_sentiment(model, [(title, sentences)], max_sentences)[0]


def documents_sentiment(
    model: Scorer,
    documents: Sequence[tuple[str, Sequence[str]]],
    max_sentences: int = 12,
    batch_size: int = 64,
) -> list[DocumentSentiment]:
    """`document_sentiment` of each (title, sentences) pair, all units scored in one predict
    call: batches are filled across documents instead of one short batch per document."""
    units = [
        [t for t in [title, *sents[:max_sentences]] if t.strip()] for title, sents in documents
    ]
    scored = model.predict([u for doc in units for u in doc], batch_size=batch_size)
    out = []
    start = 0
    for doc in units:
        if not doc:
            neutral = {"negative": 0.0, "neutral": 1.0, "positive": 0.0}
            out.append(DocumentSentiment("neutral", neutral, []))
            continue
        mine = scored[start : start + len(doc)]
        start += len(doc)
        mean = {label: sum(s.scores[label] for s in mine) / len(mine) for label in LABELS}
        out.append(DocumentSentiment(max(mean, key=mean.__getitem__), mean, doc))
    return out
